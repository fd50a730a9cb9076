/**
 * The Helm chart deploy/helm/tideline-cloud, linted and rendered by the real
 * `helm` with several values files: the store URL and keys reach the pod only
 * through Secret references, existing Secrets, probes on the cloud's /livez
 * and /readyz (checked against the cloud's own HTTP app), labels, replicas, resources and
 * the values schema.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { READY_TIMEOUT_MS } from '../../src/cloud/http/app.js';
import { repoRoot } from '../helpers/paths.js';
import { helmWorkspace, k8sObjects, type K8sObject } from './helm-binary.js';

const chart = join(repoRoot, 'deploy', 'helm', 'tideline-cloud');
const exampleValues = join(chart, 'ci', 'example-values.yaml');
const STORE_PASSWORD = 'example-store-password';
const MASTER_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  timeoutSeconds: number;
  periodSeconds: number;
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: EnvVar[];
  ports: Array<{ name: string; containerPort: number }>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
  livenessProbe: Probe;
  readinessProbe: Probe;
}
interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    strategy?: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        securityContext: Record<string, unknown>;
        containers: Container[];
        volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
      };
    };
  };
}
interface Service extends K8sObject {
  spec: {
    selector: Record<string, string>;
    ports: Array<{ name: string; port: number; targetPort: string | number }>;
  };
}

const { valuesFile, runHelm } = helmWorkspace('tideline-helm-cloud-');

/** helm template with the example values (unless `base` is false) plus `extra`. */
function templateArgs(extra?: unknown, base = true): string[] {
  const args = ['template', 'r1', chart];
  if (base) args.push('-f', exampleValues);
  if (extra !== undefined) args.push('-f', valuesFile(extra));
  return args;
}

function render(extra?: unknown, base = true): K8sObject[] {
  const r = runHelm(templateArgs(extra, base));
  assert.equal(r.code, 0, r.err);
  return k8sObjects(r.out);
}

function renderFails(extra: unknown, base = true): string {
  const r = runHelm(templateArgs(extra, base));
  assert.notEqual(r.code, 0, 'helm template fails');
  return r.err;
}

function one<T extends K8sObject>(docs: K8sObject[], kind: string): T {
  const found = docs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as T;
}

function container(docs: K8sObject[]): Container {
  return one<Deployment>(docs, 'Deployment').spec.template.spec.containers[0]!;
}

function secretRef(c: Container, name: string): { name: string; key: string } | undefined {
  const e = c.env.find((v) => v.name === name);
  return e?.valueFrom?.secretKeyRef;
}

describe('helm chart tideline-cloud', () => {
  it('lints with the example values, and refuses to render without a store', () => {
    const lint = runHelm(['lint', chart, '-f', exampleValues]);
    assert.equal(lint.code, 0, lint.out + lint.err);
    const err = renderFails(undefined, false);
    assert.match(err, /store\.url: set the store's URL/);
  });

  it('runs `cloud serve` on all interfaces with the store URL and master key from the Secret only', () => {
    const docs = render();
    const c = container(docs);
    assert.deepEqual(c.args, ['cloud', 'serve', '--host', '0.0.0.0', '--port', '8000']);
    assert.equal(c.image, 'ghcr.io/example/tideline:0.1.0');
    const secret = one(docs, 'Secret');
    assert.deepEqual(Object.keys(secret.stringData ?? {}).sort(), [
      'TIDELINE_MASTER_KEY',
      'TIDELINE_STATE_URL',
    ]);
    assert.match(secret.stringData!['TIDELINE_STATE_URL']!, /^postgres:\/\//);
    assert.equal(secret.stringData!['TIDELINE_MASTER_KEY'], MASTER_KEY);
    for (const name of ['TIDELINE_STATE_URL', 'TIDELINE_MASTER_KEY']) {
      assert.deepEqual(secretRef(c, name), { name: secret.metadata.name, key: name });
    }
    assert.equal(secretRef(c, 'TIDELINE_SIGNING_KEY'), undefined, 'no signing key unless given');
    // No secret value anywhere but in the Secret: not in env, args or annotations.
    const deployment = JSON.stringify(one(docs, 'Deployment'));
    assert.ok(!deployment.includes(STORE_PASSWORD), 'store password outside the Secret');
    assert.ok(!deployment.includes(MASTER_KEY), 'master key outside the Secret');
    assert.ok(c.env.every((e) => e.value === undefined || !/postgres:/.test(e.value)));
  });

  it('probes /livez for liveness and /readyz for readiness, paths the cloud really serves', () => {
    const docs = render();
    const c = container(docs);
    assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/livez', port: 'http' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      assert.ok(probe.timeoutSeconds >= 1 && probe.timeoutSeconds < probe.periodSeconds);
    }
    // /readyz answers 503 itself when the store is slow; the probe waits longer than that.
    assert.ok(c.readinessProbe.timeoutSeconds * 1000 > READY_TIMEOUT_MS);
    // The paths are the cloud's own: its HTTP app registers them.
    const app = readFileSync(join(repoRoot, 'src', 'cloud', 'http', 'app.ts'), 'utf8');
    assert.match(app, /app\.get\('\/livez'/);
    assert.match(app, /app\.get\('\/readyz'/);
  });

  it('labels every object and selects the pods it labels, through the Service too', () => {
    const docs = render();
    assert.deepEqual(docs.map((d) => d.kind).sort(), ['Deployment', 'Secret', 'Service']);
    for (const d of docs) {
      const labels = d.metadata.labels ?? {};
      assert.equal(labels['app.kubernetes.io/name'], 'tideline-cloud', d.kind);
      assert.equal(labels['app.kubernetes.io/instance'], 'r1', d.kind);
      assert.equal(labels['app.kubernetes.io/component'], 'cloud', d.kind);
      assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm', d.kind);
    }
    const dep = one<Deployment>(docs, 'Deployment');
    const podLabels = dep.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) {
      assert.equal(podLabels[k], v, `pod label ${k}`);
    }
    const svc = one<Service>(docs, 'Service');
    assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
    assert.deepEqual(svc.spec.ports, [
      { name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' },
    ]);
  });

  it('reads the store URL and keys from existing Secrets and then makes no Secret', () => {
    const docs = render({
      store: { url: '', existingSecret: { name: 'pg-app', key: 'uri' } },
      masterKey: { value: '', existingSecret: { name: 'tideline-keys' } },
      signingKey: { existingSecret: { name: 'tideline-keys', key: 'signing' } },
    });
    assert.equal(docs.filter((d) => d.kind === 'Secret').length, 0);
    const c = container(docs);
    assert.deepEqual(secretRef(c, 'TIDELINE_STATE_URL'), { name: 'pg-app', key: 'uri' });
    assert.deepEqual(secretRef(c, 'TIDELINE_MASTER_KEY'), {
      name: 'tideline-keys',
      key: 'TIDELINE_MASTER_KEY',
    });
    assert.deepEqual(secretRef(c, 'TIDELINE_SIGNING_KEY'), {
      name: 'tideline-keys',
      key: 'signing',
    });
    const err = renderFails({ store: { existingSecret: { name: 'pg-app' } } });
    assert.match(err, /store: set store\.url or store\.existingSecret\.name, not both/);
  });

  it('sets replicas, resources, extra env, cookies and the standard deployment from values', () => {
    const docs = render({
      replicaCount: 3,
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '3', memory: '2Gi' } },
      extraEnvVars: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=1536' }],
      secureCookies: false,
      standardExecutors: { enabled: true, runExecutors: 4, applyExecutors: 2 },
    });
    const dep = one<Deployment>(docs, 'Deployment');
    assert.equal(dep.spec.replicas, 3);
    assert.equal(dep.spec.strategy, undefined, 'rolling updates on PostgreSQL');
    const c = container(docs);
    assert.deepEqual(c.resources, {
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { cpu: '3', memory: '2Gi' },
    });
    assert.ok(
      c.env.some((e) => e.name === 'NODE_OPTIONS' && e.value === '--max-old-space-size=1536'),
    );
    assert.ok(c.args.includes('--no-secure-cookies'));
    const at = (flag: string): string | undefined => c.args[c.args.indexOf(flag) + 1];
    assert.ok(c.args.includes('--executors'));
    assert.equal(at('--run-executors'), '4');
    assert.equal(at('--apply-executors'), '2');
    // The defaults: one replica, Secure cookies, no cloud-run executors.
    const plain = container(render());
    assert.ok(!plain.args.includes('--no-secure-cookies') && !plain.args.includes('--executors'));
    assert.equal(one<Deployment>(render(), 'Deployment').spec.replicas, 1);
  });

  it('passes the lease, retry, log and token settings to `cloud serve`, and only those set', () => {
    const c = container(
      render({
        settings: {
          leaseTtl: '45s',
          maxAttempts: 5,
          retryBackoff: '1.5m',
          logRetention: '30d',
          tokenTtl: '10m',
        },
      }),
    );
    const at = (flag: string): string | undefined =>
      c.args.includes(flag) ? c.args[c.args.indexOf(flag) + 1] : undefined;
    assert.deepEqual(
      ['--lease-ttl', '--max-attempts', '--retry-backoff', '--log-retention', '--token-ttl'].map(
        at,
      ),
      ['45s', '5', '1.5m', '30d', '10m'],
    );
    const some = container(render({ settings: { leaseTtl: '1m' } }));
    assert.equal(some.args[some.args.indexOf('--lease-ttl') + 1], '1m');
    for (const flag of ['--max-attempts', '--retry-backoff', '--log-retention', '--token-ttl']) {
      assert.ok(!some.args.includes(flag), flag);
    }
    const plain = container(render());
    assert.ok(!plain.args.some((a) => a.startsWith('--lease') || a.startsWith('--token')));
    for (const bad of [
      { leaseTtl: '30' },
      { leaseTtl: '30 s' },
      { leaseTtl: '-5s' },
      { logRetention: '1 week' },
      { tokenTtl: 15 },
      { maxAttempts: 0 },
      { maxAttempts: '3' },
      { maxAttempts: 101 },
      { leaseTtl: '30s', heartbeat: '5s' },
    ]) {
      assert.match(renderFails({ settings: bad }), /settings/, JSON.stringify(bad));
    }
  });

  it('refuses settings that cannot work: many replicas on SQLite, cloud executors without a key', () => {
    assert.match(
      renderFails({ store: { url: 'sqlite:/app/data/tideline.db' }, replicaCount: 2 }),
      /replicaCount: a SQLite store serves one replica only/,
    );
    const sqlite = render({
      store: { url: 'sqlite:/app/data/tideline.db' },
      persistence: { existingClaim: 'tideline-data' },
    });
    const dep = one<Deployment>(sqlite, 'Deployment');
    assert.equal(dep.spec.strategy?.type, 'Recreate');
    const data = dep.spec.template.spec.volumes.find((v) => v.name === 'data');
    assert.deepEqual(data?.persistentVolumeClaim, { claimName: 'tideline-data' });
    assert.match(
      renderFails({ masterKey: { value: '' }, standardExecutors: { enabled: true } }),
      /standardExecutors\.enabled: the cloud's executors need the master key/,
    );
  });

  it('validates values against values.schema.json', () => {
    assert.match(renderFails({ store: { url: 'mysql://db/tideline' } }), /store\.url/);
    assert.match(renderFails({ masterKey: { value: 'too-short' } }), /masterKey\.value/);
    assert.match(renderFails({ replicaCount: 'two' }), /replicaCount/);
    assert.match(renderFails({ replicas: 2 }), /replicas/);
  });

  it('runs as a non-root user with a read-only root file system', () => {
    const dep = one<Deployment>(render(), 'Deployment');
    const pod = dep.spec.template.spec.securityContext;
    assert.equal(pod['runAsNonRoot'], true);
    assert.notEqual(pod['runAsUser'], 0);
    const c = dep.spec.template.spec.containers[0]!;
    assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
    assert.equal(c.securityContext['readOnlyRootFilesystem'], true);
  });
});
