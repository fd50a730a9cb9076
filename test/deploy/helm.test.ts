/**
 * The Helm chart deploy/helm/tideline-executors, linted and rendered by the
 * real `helm` with several values files: secret detection, existing and
 * external secrets, replicas, resources, probes, the environment an executor
 * reads (checked with readExecutorSettings itself), and values.schema.json.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readExecutorSettings } from '../../src/executor/config.js';
import { repoRoot } from '../helpers/paths.js';
import { helmWorkspace, k8sObjects, type K8sObject } from './helm-binary.js';

const chart = join(repoRoot, 'deploy', 'helm', 'tideline-executors');
const exampleValues = join(chart, 'ci', 'example-values.yaml');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: EnvVar[];
  envFrom: Array<{ secretRef: { name: string } }>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
  livenessProbe: Record<string, unknown>;
  readinessProbe: Record<string, unknown>;
}
interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    template: {
      spec: {
        securityContext: Record<string, unknown>;
        terminationGracePeriodSeconds: number;
        containers: Container[];
      };
    };
  };
}

const { valuesFile, runHelm } = helmWorkspace('tideline-helm-');

/** Renders the chart with the example values plus `extra` (later files win). */
function render(extra?: unknown): K8sObject[] {
  const args = ['template', 'r1', chart, '-f', exampleValues];
  if (extra !== undefined) args.push('-f', valuesFile(extra));
  const r = runHelm(args);
  assert.equal(r.code, 0, r.err);
  return k8sObjects(r.out);
}

function renderFails(extra: unknown): string {
  const r = runHelm(['template', 'r1', chart, '-f', exampleValues, '-f', valuesFile(extra)]);
  assert.notEqual(r.code, 0, 'helm template fails');
  return r.err;
}

/**
 * The example values plus `extra`, refused by values.schema.json in both
 * `helm lint` and `helm template`; their messages.
 */
function schemaRefuses(extra: unknown): string {
  const file = valuesFile(extra);
  const what = JSON.stringify(extra);
  const lint = runHelm(['lint', chart, '-f', exampleValues, '-f', file]);
  assert.notEqual(lint.code, 0, `helm lint refuses ${what}`);
  const template = runHelm(['template', 'r1', chart, '-f', exampleValues, '-f', file]);
  assert.notEqual(template.code, 0, `helm template refuses ${what}`);
  assert.match(template.err, /don't meet the specifications of the schema/, what);
  return `${lint.out}\n${template.err}`;
}

function deployment(docs: K8sObject[], kind: 'apply' | 'run'): Deployment {
  const d = docs.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith(`-${kind}`));
  assert.ok(d, `a ${kind} Deployment`);
  return d as Deployment;
}

function container(docs: K8sObject[], kind: 'apply' | 'run'): Container {
  return deployment(docs, kind).spec.template.spec.containers[0]!;
}

function envNames(c: Container): string[] {
  return c.env.map((e) => e.name);
}

function envValue(c: Container, name: string): string | undefined {
  return c.env.find((e) => e.name === name)?.value;
}

function secrets(docs: K8sObject[]): K8sObject[] {
  return docs.filter((o) => o.kind === 'Secret');
}

describe('helm chart tideline-executors', () => {
  it('lints with the example values, and refuses to render without the cloud settings', () => {
    const lint = runHelm(['lint', chart, '-f', exampleValues]);
    assert.equal(lint.code, 0, lint.out + lint.err);
    const bare = runHelm(['template', 'r1', chart]);
    assert.notEqual(bare.code, 0);
    assert.match(bare.err, /global\.cloud\.url/);
  });

  it('renders an apply and a run Deployment with their commands, probes and non-root security', () => {
    const docs = render();
    for (const kind of ['apply', 'run'] as const) {
      const d = deployment(docs, kind);
      const c = container(docs, kind);
      assert.deepEqual(c.args.slice(0, 2), ['executor', kind]);
      assert.equal(c.image, 'ghcr.io/example/tideline:0.1.0');
      assert.equal(d.spec.template.spec.securityContext['runAsNonRoot'], true);
      assert.notEqual(d.spec.template.spec.securityContext['runAsUser'], 0);
      assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
      const port = Number(c.args[c.args.indexOf('--health-port') + 1]);
      assert.ok(port > 0);
      assert.deepEqual(c.livenessProbe['httpGet'], { path: '/livez', port: 'health' });
      assert.deepEqual(c.readinessProbe['httpGet'], { path: '/readyz', port: 'health' });
      const grace = Number(c.args[c.args.indexOf('--grace') + 1]);
      assert.ok(
        d.spec.template.spec.terminationGracePeriodSeconds > grace,
        'pods outlive the drain',
      );
    }
  });

  it('puts the client secret and password-like parameters in a Secret, the rest in plain env', () => {
    const docs = render();
    const [secret, ...more] = secrets(docs);
    assert.ok(secret && more.length === 0, 'one generated Secret');
    assert.deepEqual(Object.keys(secret.stringData ?? {}).sort(), [
      'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD',
      'TCLOUD_CLIENT_SECRET',
    ]);
    assert.equal(secret.stringData?.['TCLOUD_CLIENT_SECRET'], 'example-client-secret');
    for (const kind of ['apply', 'run'] as const) {
      const c = container(docs, kind);
      assert.equal(envValue(c, 'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__HOST'), '10.10.10.10');
      assert.equal(envValue(c, 'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT'), '5432');
      assert.ok(!envNames(c).includes('SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD'));
      assert.ok(!envNames(c).includes('TCLOUD_CLIENT_SECRET'));
      assert.ok(!JSON.stringify(c.env).includes('example_password'));
      assert.deepEqual(c.envFrom, [{ secretRef: { name: secret.metadata.name } }]);
    }
  });

  it('gives executors exactly the environment readExecutorSettings accepts', () => {
    const docs = render();
    const secret = secrets(docs)[0]!;
    for (const kind of ['apply', 'run'] as const) {
      const env: Record<string, string> = { ...secret.stringData };
      for (const e of container(docs, kind).env) if (e.value !== undefined) env[e.name] = e.value;
      const settings = readExecutorSettings(env);
      assert.equal(settings.credentials.url, 'https://tideline.example.com/sqlmesh/acme/analytics');
      assert.equal(settings.credentials.clientId, 'tlc_0123456789abcdef01234567');
      assert.equal(settings.credentials.clientSecret, 'example-client-secret');
      assert.equal(settings.defaultGateway, 'gateway_a');
      const c = settings.gateways[0]!.connection;
      assert.equal(c.type, 'postgres');
      if (c.type === 'postgres') {
        assert.deepEqual(
          [c.host, c.port, c.database, c.user, c.password],
          ['10.10.10.10', 5432, 'example_db', 'example_user', 'example_password'],
        );
      }
    }
  });

  it('honours secretParams (forced into the Secret) and nonSecretParams (kept plain)', () => {
    const docs = render({
      global: {
        sqlmesh: {
          gateways: { gateway_a: { connection: { api_token: 'visible', sslmode: 'require' } } },
          secretParams: ['USER'],
          nonSecretParams: ['api_token'],
        },
      },
    });
    const data = secrets(docs)[0]!.stringData ?? {};
    assert.equal(data['SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__USER'], 'example_user');
    assert.ok(!('SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__API_TOKEN' in data));
    const c = container(docs, 'run');
    assert.ok(!envNames(c).includes('SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__USER'));
    assert.equal(envValue(c, 'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__API_TOKEN'), 'visible');
    assert.equal(envValue(c, 'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__SSLMODE'), 'require');
  });

  it('uses an existing Secret instead of generating one', () => {
    const docs = render({
      global: { cloud: { clientSecret: '' } },
      secrets: { existingSecret: 'warehouse-credentials' },
    });
    assert.equal(secrets(docs).length, 0);
    for (const kind of ['apply', 'run'] as const) {
      const c = container(docs, kind);
      assert.deepEqual(c.envFrom, [{ secretRef: { name: 'warehouse-credentials' } }]);
      assert.ok(!envNames(c).includes('SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD'));
    }
  });

  it('renders an ExternalSecret with the key prefix that fills the Secret the pods read', () => {
    const docs = render({
      global: { cloud: { clientSecret: '' } },
      secrets: {
        externalSecrets: {
          enabled: true,
          secretStore: { name: 'vault', kind: 'ClusterSecretStore' },
          keyPrefix: 'tideline/prod/',
        },
      },
    });
    assert.equal(secrets(docs).length, 0);
    const es = docs.find((o) => o.kind === 'ExternalSecret');
    assert.ok(es, 'an ExternalSecret');
    assert.match(es.apiVersion, /^external-secrets\.io\//);
    const spec = es.spec as {
      secretStoreRef: { name: string; kind: string };
      target: { name: string };
      data: Array<{ secretKey: string; remoteRef: { key: string } }>;
    };
    assert.deepEqual(spec.secretStoreRef, { name: 'vault', kind: 'ClusterSecretStore' });
    assert.deepEqual(spec.data.map((d) => [d.secretKey, d.remoteRef.key]).sort(), [
      [
        'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD',
        'tideline/prod/SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD',
      ],
      ['TCLOUD_CLIENT_SECRET', 'tideline/prod/TCLOUD_CLIENT_SECRET'],
    ]);
    assert.deepEqual(container(docs, 'apply').envFrom, [{ secretRef: { name: spec.target.name } }]);
    assert.match(
      renderFails({ secrets: { externalSecrets: { enabled: true, secretStore: { name: '' } } } }),
      /secretStore\.name/,
    );
  });

  it('sets replicas, resources, extra env and an extra secret per executor kind', () => {
    const docs = render({
      apply: {
        replicaCount: 1,
        resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '3Gi' } },
      },
      run: {
        replicaCount: 3,
        extraEnvVars: [{ name: 'TCLOUD_CONCURRENCY', value: '8' }],
        envFromSecret: 'short-lived-tokens',
      },
    });
    assert.equal(deployment(docs, 'apply').spec.replicas, 1);
    assert.equal(deployment(docs, 'run').spec.replicas, 3);
    assert.deepEqual(container(docs, 'apply').resources, {
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { cpu: '2', memory: '3Gi' },
    });
    assert.equal(container(docs, 'run').resources.limits['memory'], '4Gi');
    const run = container(docs, 'run');
    assert.equal(envValue(run, 'TCLOUD_CONCURRENCY'), '8');
    assert.ok(!envNames(container(docs, 'apply')).includes('TCLOUD_CONCURRENCY'));
    assert.deepEqual(
      run.envFrom.map((e) => e.secretRef.name),
      ['r1-tideline-executors-secrets', 'short-lived-tokens'],
    );
  });

  it('names variables SQLMESH__GATEWAYS__<GW>__CONNECTION__<PARAM> with the default gateway first', () => {
    const gateways = {
      gateway_a: { connection: { type: 'postgres', host: 'a.internal', database: 'a', user: 'a' } },
      gateway_b: { connection: { type: 'duckdb', database: '/app/data/local.duckdb' } },
      analytics: { connection: { type: 'duckdb', database: '/app/data/analytics.duckdb' } },
    };
    for (const [defaultGateway, first] of [
      ['gateway_b', 'GATEWAY_B'],
      ['', 'ANALYTICS'],
    ] as const) {
      const docs = render({ global: { sqlmesh: { gateways, defaultGateway } } });
      const c = container(docs, 'run');
      const names = envNames(c).filter((n) => n.startsWith('SQLMESH__GATEWAYS__'));
      for (const n of names)
        assert.match(n, /^SQLMESH__GATEWAYS__[A-Z0-9_]+__CONNECTION__[A-Z0-9_]+$/);
      assert.equal(names[0], `SQLMESH__GATEWAYS__${first}__CONNECTION__TYPE`);
      assert.equal(envValue(c, 'SQLMESH__DEFAULT_GATEWAY'), first);
      const env: Record<string, string> = { ...secrets(docs)[0]!.stringData };
      for (const e of c.env) if (e.value !== undefined) env[e.name] = e.value;
      const settings = readExecutorSettings(env);
      assert.equal(settings.defaultGateway, first.toLowerCase());
      assert.deepEqual(settings.gateways.map((g) => g.name).sort(), [
        'analytics',
        'gateway_a',
        'gateway_b',
      ]);
    }
    assert.match(
      renderFails({ global: { sqlmesh: { defaultGateway: 'nowhere' } } }),
      /defaultGateway: nowhere is not one of/,
    );
  });

  it('can probe with `executor <kind> --check` instead of the health port', () => {
    const docs = render({ healthCheck: { mode: 'exec' } });
    for (const kind of ['apply', 'run'] as const) {
      const c = container(docs, kind);
      const probe = c.livenessProbe as { exec: { command: string[] }; timeoutSeconds: number };
      assert.deepEqual(probe.exec.command, ['tideline', 'executor', kind, '--check']);
      assert.ok(probe.timeoutSeconds >= 30, 'a generous timeout');
    }
    assert.match(renderFails({ healthCheck: { mode: 'tcp' } }), /healthCheck\.mode/);
  });

  it('refuses wrong types, unknown keys and bad addresses through values.schema.json', () => {
    const cases: Array<[unknown, RegExp]> = [
      [
        { apply: { replicaCount: 'two' } },
        /apply\.replicaCount: Invalid type\. Expected: integer, given: string/,
      ],
      [{ run: { replicaCount: -1 } }, /run\.replicaCount: Must be greater than or equal to 0/],
      [{ run: { graceSeconds: '60s' } }, /run\.graceSeconds: Invalid type/],
      // Typos: an unknown key anywhere the chart reads is refused.
      [{ run: { replicas: 2 } }, /run: Additional property replicas is not allowed/],
      [{ replicaCount: 2 }, /Additional property replicaCount is not allowed/],
      [
        { global: { cloud: { clientSecrt: 'x' } } },
        /global\.cloud: Additional property clientSecrt is not allowed/,
      ],
      [
        { secrets: { externalSecret: { enabled: true } } },
        /secrets: Additional property externalSecret is not allowed/,
      ],
      [
        { apply: { resources: { limit: { memory: '1Gi' } } } },
        /apply\.resources: Additional property limit is not allowed/,
      ],
      [
        { global: { sqlmesh: { gateways: { gateway_b: { conection: { type: 'duckdb' } } } } } },
        /Additional property conection is not allowed/,
      ],
      [{ healthCheck: { mode: 'tcp' } }, /healthCheck\.mode must be one of the following/],
      // Addresses: http(s)://host[:port] only, the chart adds /sqlmesh/<org>/<project>.
      ...[
        'tideline.example.com',
        'ftp://tideline.example.com',
        'https://tideline.example.com/sqlmesh/acme/analytics',
        'https://user:pass@tideline.example.com',
      ].map((url): [unknown, RegExp] => [
        { global: { cloud: { url } } },
        /global\.cloud\.url: Does not match pattern/,
      ]),
      [{ global: { cloud: { org: 'acme/analytics' } } }, /global\.cloud\.org: Does not match/],
      [{ global: { cloud: { clientId: 'executor' } } }, /global\.cloud\.clientId: Does not match/],
      [
        { global: { sqlmesh: { secretParams: 'user' } } },
        /global\.sqlmesh\.secretParams: Invalid type/,
      ],
      [
        { global: { sqlmesh: { nonSecretParams: [5] } } },
        /global\.sqlmesh\.nonSecretParams\.0: Invalid type/,
      ],
      [
        { global: { sqlmesh: { gateways: { gateway__b: { connection: { type: 'duckdb' } } } } } },
        /Property name of "gateway__b" does not match/,
      ],
      [
        { global: { sqlmesh: { gateways: { gateway_b: { connection: { database: 'x' } } } } } },
        /type is required/,
      ],
      [
        { secrets: { externalSecrets: { refreshInterval: 3600 } } },
        /refreshInterval: Invalid type/,
      ],
      [{ podLabels: { version: 2 } }, /podLabels\.version: Invalid type/],
    ];
    for (const [extra, message] of cases) {
      assert.match(schemaRefuses(extra), message, JSON.stringify(extra));
    }
  });

  it('accepts every values file under ci/ and the addresses the executors take', () => {
    const ci = readdirSync(join(chart, 'ci')).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(ci.includes('example-values.yaml'));
    for (const f of ci) {
      const lint = runHelm(['lint', chart, '-f', join(chart, 'ci', f)]);
      assert.equal(lint.code, 0, `${f}: ${lint.out}${lint.err}`);
      const template = runHelm(['template', 'r1', chart, '-f', join(chart, 'ci', f)]);
      assert.equal(template.code, 0, `${f}: ${template.err}`);
    }
    for (const url of ['http://cloud-tideline-cloud:8000', 'https://tideline.example.com/']) {
      const c = container(render({ global: { cloud: { url } } }), 'run');
      const settings = readExecutorSettings({
        ...Object.fromEntries(
          c.env.flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])),
        ),
        TCLOUD_CLIENT_SECRET: 'example-client-secret',
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD: 'example_password',
      });
      assert.equal(settings.credentials.url, `${url.replace(/\/$/, '')}/sqlmesh/acme/analytics`);
    }
  });

  it('passes lists as JSON and lists an empty secret parameter with an empty value', () => {
    const gateways = {
      local: {
        connection: { type: 'duckdb', database: '/app/data/local.duckdb', extensions: ['httpfs'] },
      },
      gateway_b: {
        connection: { type: 'postgres', host: 'b', database: 'b', user: 'b', password: null },
      },
    };
    const docs = render({ global: { sqlmesh: { gateways } } });
    const data = secrets(docs)[0]!.stringData ?? {};
    assert.equal(data['SQLMESH__GATEWAYS__GATEWAY_B__CONNECTION__PASSWORD'], '');
    const c = container(docs, 'apply');
    assert.equal(envValue(c, 'SQLMESH__GATEWAYS__LOCAL__CONNECTION__EXTENSIONS'), '["httpfs"]');
    const env: Record<string, string> = { ...data };
    for (const e of c.env) if (e.value !== undefined) env[e.name] = e.value;
    const local = readExecutorSettings(env).gateways.find((g) => g.name === 'local');
    assert.equal(local?.connection.type, 'duckdb');
    if (local?.connection.type === 'duckdb')
      assert.deepEqual(local.connection.extensions, ['httpfs']);
    // With External Secrets the empty parameter only names a key to fetch.
    const external = render({
      global: { cloud: { clientSecret: '' }, sqlmesh: { gateways } },
      secrets: { externalSecrets: { enabled: true, secretStore: { name: 'vault' } } },
    });
    const es = external.find((o) => o.kind === 'ExternalSecret');
    const keys = (es?.spec as { data: Array<{ secretKey: string }> }).data.map((d) => d.secretKey);
    assert.ok(keys.includes('SQLMESH__GATEWAYS__GATEWAY_B__CONNECTION__PASSWORD'), keys.join());
  });
});
