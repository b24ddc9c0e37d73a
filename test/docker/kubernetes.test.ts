// docker/kubernetes/: every manifest parses, they reference each other consistently (names,
// labels, named ports, volumes, the secret file), and the ConfigMap's hopwatch.yaml plus the
// Secret's users pass hopwatch's own config loader, open-proxy guard included.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseAllDocuments, parseDocument } from 'yaml';
import { loadConfig, validateConfig } from '../../src/config/load.ts';
import { allowsEveryone, isLoopbackHost } from '../../src/config/semantics.ts';
import type { Config } from '../../src/config/schema.ts';
import { isHashed } from '../../src/policy/passwords.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'docker/kubernetes');
const NAMESPACE = 'hopwatch';
/** What the image's CMD passes to --config (see the Dockerfile). */
const IMAGE_CONFIG_PATH = '/etc/hopwatch/hopwatch.yaml';
/** The image's non-root user. */
const IMAGE_UID = 1000;

// ---- the shapes this test reads (everything optional: the test asserts what must be there) ----

type Labels = Record<string, string>;
interface Meta {
  name?: string;
  namespace?: string;
  labels?: Labels;
}
interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
}
interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface ContainerPort {
  name?: string;
  containerPort?: number;
  protocol?: string;
}
interface VolumeMount {
  name?: string;
  mountPath?: string;
  readOnly?: boolean;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type?: string };
}
interface Container {
  name?: string;
  image?: string;
  env?: Array<{ name?: string; value?: string }>;
  ports?: ContainerPort[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds?: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: VolumeMount[];
}
interface KeyItems {
  items?: Array<{ key?: string; path?: string }>;
}
interface Volume {
  name?: string;
  configMap?: KeyItems & { name?: string };
  secret?: KeyItems & { secretName?: string };
  emptyDir?: object;
}
interface Deployment extends Manifest {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Labels };
    template?: {
      metadata?: Meta;
      spec?: {
        terminationGracePeriodSeconds?: number;
        securityContext?: SecurityContext;
        topologySpreadConstraints?: Array<{ labelSelector?: { matchLabels?: Labels } }>;
        containers?: Container[];
        volumes?: Volume[];
      };
    };
  };
}
interface Service extends Manifest {
  spec?: { type?: string; selector?: Labels; ports?: Array<{ name?: string; port?: number; targetPort?: string | number }> };
}
interface PodMonitor extends Manifest {
  spec?: { selector?: { matchLabels?: Labels }; podMetricsEndpoints?: Array<{ port?: string; path?: string }> };
}
interface Pdb extends Manifest {
  spec?: { minAvailable?: number | string; selector?: { matchLabels?: Labels } };
}
interface Hpa extends Manifest {
  spec?: {
    scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: Array<{ type?: string; resource?: { name?: string; target?: { type?: string; averageUtilization?: number } } }>;
  };
}
interface ConfigMap extends Manifest {
  data?: Record<string, string>;
}
interface Secret extends Manifest {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Kustomization extends Manifest {
  namespace?: string;
  resources?: string[];
}

// ---- loading ----

interface Loaded {
  file: string;
  doc: Manifest;
}

const files = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

function parseFile(file: string): Manifest[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'), { uniqueKeys: true, prettyErrors: true });
  assert.ok(Array.isArray(docs), `${file}: no YAML documents`);
  const out: Manifest[] = [];
  for (const doc of docs) {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${file}: YAML errors`);
    assert.deepEqual(doc.warnings.map((e) => e.message), [], `${file}: YAML warnings`);
    const value: unknown = doc.toJS();
    if (value === null) continue; // an empty document (a trailing ---)
    assert.ok(typeof value === 'object' && !Array.isArray(value), `${file}: a document is not a mapping`);
    out.push(value as Manifest);
  }
  return out;
}

const loaded: Loaded[] = files.flatMap((file) => parseFile(file).map((doc) => ({ file, doc })));
const KUSTOMIZATION = 'Kustomization';
const resources = loaded.filter((l) => l.doc.kind !== KUSTOMIZATION);

function one<T extends Manifest>(kind: string): T {
  const found = resources.filter((l) => l.doc.kind === kind);
  assert.equal(found.length, 1, `expected exactly one ${kind}, found ${found.length}`);
  return found[0]!.doc as T;
}

const deployment = one<Deployment>('Deployment');
const service = one<Service>('Service');
const podMonitor = one<PodMonitor>('PodMonitor');
const pdb = one<Pdb>('PodDisruptionBudget');
const hpa = one<Hpa>('HorizontalPodAutoscaler');
const configMap = one<ConfigMap>('ConfigMap');
const secret = one<Secret>('Secret');
const namespace = one<Manifest>('Namespace');

const podSpec = deployment.spec?.template?.spec ?? {};
const podLabels: Labels = deployment.spec?.template?.metadata?.labels ?? {};
const containers = podSpec.containers ?? [];
assert.equal(containers.length, 1, 'the Deployment runs one container');
const container: Container = containers[0]!;
const containerPorts = container.ports ?? [];
const volumes = podSpec.volumes ?? [];
const mounts = container.volumeMounts ?? [];
const env = new Map((container.env ?? []).map((e) => [e.name ?? '', e.value ?? '']));

/** A label selector matches the pods when every one of its labels is on them. */
function assertSelects(selector: Labels | undefined, what: string) {
  assert.ok(selector && Object.keys(selector).length > 0, `${what}: empty selector (it would select everything or nothing)`);
  for (const [key, value] of Object.entries(selector)) {
    assert.equal(podLabels[key], value, `${what}: selects ${key}=${value}, the Deployment's pods have ${key}=${String(podLabels[key])}`);
  }
}

function portNamed(name: string | number | undefined, what: string): ContainerPort {
  assert.equal(typeof name, 'string', `${what}: refer to the container port by name`);
  const port = containerPorts.find((p) => p.name === name);
  assert.ok(port, `${what}: no container port named ${String(name)} (have ${containerPorts.map((p) => p.name).join(', ')})`);
  return port;
}

/** The files a volume puts under its mount: key → file name. */
function volumeFiles(volume: Volume, available: Record<string, string>): Map<string, string> {
  const source = volume.configMap ?? volume.secret ?? {};
  const items = source.items ?? Object.keys(available).map((key) => ({ key, path: key }));
  return new Map(items.map((i) => [i.key ?? '', i.path ?? '']));
}

function mountOf(volume: Volume): VolumeMount {
  const mount = mounts.find((m) => m.name === volume.name);
  assert.ok(mount?.mountPath, `volume ${String(volume.name)} is not mounted`);
  return mount;
}

function secretData(s: Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return { ...out, ...(s.stringData ?? {}) };
}

const configVolume = volumes.find((v) => v.configMap);
const secretVolume = volumes.find((v) => v.secret);
assert.ok(configVolume && secretVolume, 'the Deployment mounts a ConfigMap and a Secret');
const secretValues = secretData(secret);

const configText = configMap.data?.['hopwatch.yaml'];
assert.ok(configText, 'the ConfigMap has a hopwatch.yaml key');
const configDoc = parseDocument(configText, { uniqueKeys: true, prettyErrors: true });
assert.deepEqual(configDoc.errors.map((e) => e.message), [], 'hopwatch.yaml: YAML errors');
const rawConfig = configDoc.toJS() as Record<string, unknown>;

/** Where HOPWATCH_AUTH__USERS_FILE must point: the mounted file of the Secret key holding the users. */
const USERS_ENV = 'HOPWATCH_AUTH__USERS_FILE';
const usersPath = env.get(USERS_ENV);
assert.ok(usersPath, `the container sets ${USERS_ENV}`);
const usersMount = mountOf(secretVolume);
const usersKey = [...volumeFiles(secretVolume, secretValues)].find(
  ([, path]) => posix.join(usersMount.mountPath!, path) === usersPath,
)?.[0];
const usersText = usersKey === undefined ? undefined : secretValues[usersKey];
const users: unknown = usersText === undefined ? undefined : parseDocument(usersText).toJS();

/** The ConfigMap's file merged with the Secret's users, checked by hopwatch's own validator. */
function validated(): Config {
  const auth = (rawConfig.auth ?? {}) as Record<string, unknown>;
  return validateConfig(structuredClone({ ...rawConfig, auth: { ...auth, users } }), 'configmap.yaml + secret.yaml');
}

// ---- the checks ----

describe('Kubernetes manifests (docker/kubernetes/)', () => {
  it('every file parses, and every document has apiVersion, kind and metadata.name', () => {
    assert.ok(files.length >= 9, `expected the manifests, found ${files.join(', ')}`);
    for (const { file, doc } of loaded) {
      assert.ok(doc.apiVersion, `${file}: apiVersion`);
      assert.ok(doc.kind, `${file}: kind`);
      if (doc.kind !== KUSTOMIZATION) assert.ok(doc.metadata?.name, `${file}: metadata.name`);
    }
  });

  it('the kustomization lists exactly the manifest files, in the same namespace', () => {
    const kustomization = loaded.find((l) => l.doc.kind === KUSTOMIZATION)?.doc as Kustomization | undefined;
    assert.ok(kustomization, 'kustomization.yaml');
    assert.equal(kustomization.namespace, NAMESPACE);
    const manifestFiles = [...new Set(resources.map((r) => r.file))].sort();
    assert.deepEqual([...(kustomization.resources ?? [])].sort(), manifestFiles);
  });

  it('everything lives in the hopwatch namespace, which enforces the restricted pod security standard', () => {
    assert.equal(namespace.metadata?.name, NAMESPACE);
    assert.equal(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    for (const { file, doc } of resources) {
      if (doc.kind === 'Namespace') continue;
      assert.equal(doc.metadata?.namespace, NAMESPACE, `${file}: ${String(doc.kind)} ${String(doc.metadata?.name)}`);
    }
  });

  it('the Deployment, Service, PodMonitor, PDB and spread constraints select the Deployment\'s pods', () => {
    assertSelects(deployment.spec?.selector?.matchLabels, 'Deployment spec.selector');
    assertSelects(service.spec?.selector, 'Service spec.selector');
    assertSelects(podMonitor.spec?.selector?.matchLabels, 'PodMonitor spec.selector');
    assertSelects(pdb.spec?.selector?.matchLabels, 'PodDisruptionBudget spec.selector');
    for (const [i, c] of (podSpec.topologySpreadConstraints ?? []).entries()) {
      assertSelects(c.labelSelector?.matchLabels, `topologySpreadConstraints[${i}]`);
    }
  });

  it('the HPA scales the Deployment on CPU between 2 and 10, and the PDB leaves room for a drain', () => {
    assert.deepEqual(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata?.name });
    assert.equal(hpa.spec?.minReplicas, 2);
    assert.equal(hpa.spec?.maxReplicas, 10);
    const cpu = hpa.spec?.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
    assert.equal(cpu?.resource?.target?.type, 'Utilization');
    assert.ok((cpu.resource.target.averageUtilization ?? 0) > 0);
    // Utilization is relative to the request: without one the HPA cannot compute it.
    assert.ok(container.resources?.requests?.cpu, 'a CPU request (the HPA measures utilisation against it)');
    assert.ok(container.resources.requests.memory, 'a memory request');
    assert.ok(container.resources.limits?.memory, 'a memory limit');
    assert.equal(deployment.spec?.replicas, hpa.spec?.minReplicas, 'the Deployment starts at the HPA floor');
    assert.equal(pdb.spec?.minAvailable, 1);
    assert.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, 'minAvailable below the replica floor, or a node drain blocks');
  });

  it('every named port referenced exists on the container, and the Service exposes http, socks and admin', () => {
    const names = containerPorts.map((p) => p.name);
    assert.equal(new Set(names).size, names.length, 'container port names are unique');
    portNamed(container.livenessProbe?.httpGet?.port, 'livenessProbe');
    portNamed(container.readinessProbe?.httpGet?.port, 'readinessProbe');
    assert.equal(service.spec?.type, 'ClusterIP');
    const servicePorts = service.spec.ports ?? [];
    assert.deepEqual(servicePorts.map((p) => p.name).sort(), ['admin', 'http', 'socks']);
    for (const p of servicePorts) {
      const target = portNamed(p.targetPort, `Service port ${String(p.name)}`);
      assert.equal(p.port, target.containerPort, `Service port ${String(p.name)} uses the container's number`);
    }
    const endpoints = podMonitor.spec?.podMetricsEndpoints ?? [];
    assert.equal(endpoints.length, 1);
    for (const e of endpoints) portNamed(e.port, 'PodMonitor podMetricsEndpoints');
  });

  it('probes: liveness /healthz and readiness /readyz on the admin port; the PodMonitor scrapes admin /metrics', () => {
    assert.deepEqual(container.livenessProbe?.httpGet, { path: '/healthz', port: 'admin' });
    assert.deepEqual(container.readinessProbe?.httpGet, { path: '/readyz', port: 'admin' });
    assert.deepEqual(podMonitor.spec?.podMetricsEndpoints?.[0] && {
      port: podMonitor.spec.podMetricsEndpoints[0].port,
      path: podMonitor.spec.podMetricsEndpoints[0].path,
    }, { port: 'admin', path: '/metrics' });
  });

  it('the termination grace period outlasts the preStop pause plus shutdownGraceMs', () => {
    const config = validated();
    const grace = podSpec.terminationGracePeriodSeconds;
    assert.ok(typeof grace === 'number', 'terminationGracePeriodSeconds is set');
    const preStopMs = (container.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
    assert.equal(config.shutdownGraceMs, 20_000);
    assert.ok(
      grace * 1000 > preStopMs + config.shutdownGraceMs,
      `terminationGracePeriodSeconds ${grace} s must exceed preStop ${preStopMs} ms + shutdownGraceMs ${config.shutdownGraceMs} ms`,
    );
  });

  it('the ConfigMap\'s hopwatch.yaml with the Secret\'s users passes hopwatch\'s validator and open-proxy guard', () => {
    assert.ok(Array.isArray(users) && users.length > 0, `${USERS_ENV} names a Secret key holding a non-empty YAML list`);
    const config = validated();
    assert.equal(config.auth.users.length, users.length);
    for (const user of config.auth.users) assert.ok(isHashed(user.password), `${user.username}: store a hash, not a password`);
    assert.equal(config.allowOpenProxy, false);
    assert.equal(allowsEveryone(config), false, 'access.allowClients is narrower than everyone');
    assert.equal(config.access.denyPrivateDestinations, false);
    assert.equal(config.log.level, 'info');
    // Inside a pod a loopback listener is unreachable by the Service, the kubelet and Prometheus.
    for (const name of ['http', 'socks', 'admin'] as const) {
      assert.equal(config[name].enabled, true, `${name} enabled`);
      assert.ok(!isLoopbackHost(config[name].host), `${name} binds ${config[name].host}: unreachable from outside the pod`);
    }
  });

  it('the container\'s ports are the config\'s listener ports', () => {
    const config = validated();
    const byName = new Map(containerPorts.map((p) => [p.name, p.containerPort]));
    assert.deepEqual(Object.fromEntries(byName), { http: config.http.port, socks: config.socks.port, admin: config.admin.port });
  });

  it('mounts: config at the image\'s --config path, the users file where HOPWATCH_AUTH__USERS_FILE points, every volume exists', () => {
    const volumeNames = new Set(volumes.map((v) => v.name));
    for (const m of mounts) assert.ok(volumeNames.has(m.name), `volumeMount ${String(m.name)} has no volume`);
    assert.equal(configVolume.configMap?.name, configMap.metadata?.name);
    assert.equal(secretVolume.secret?.secretName, secret.metadata?.name);
    for (const [key] of volumeFiles(configVolume, configMap.data ?? {})) assert.ok(key in (configMap.data ?? {}), `ConfigMap key ${key}`);
    for (const [key] of volumeFiles(secretVolume, secretValues)) assert.ok(key in secretValues, `Secret key ${key}`);

    const configMount = mountOf(configVolume);
    assert.equal(configMount.readOnly, true);
    assert.equal(usersMount.readOnly, true);
    const configPath = [...volumeFiles(configVolume, configMap.data ?? {})]
      .filter(([key]) => key === 'hopwatch.yaml')
      .map(([, path]) => posix.join(configMount.mountPath!, path));
    assert.deepEqual(configPath, [IMAGE_CONFIG_PATH]);
    assert.equal(env.get('HOPWATCH_CONFIG'), IMAGE_CONFIG_PATH);
    assert.ok(usersKey !== undefined, `${USERS_ENV}=${String(usersPath)} is not a file of the mounted Secret`);
  });

  it('hopwatch\'s loader reads the mounted files through the container\'s environment', () => {
    // Lay the mounted files out under a temporary root and run loadConfig as the container would.
    const root = mkdtempSync(join(tmpdir(), 'hopwatch-k8s-'));
    const place = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    for (const [key, path] of volumeFiles(configVolume, configMap.data ?? {})) place(posix.join(mountOf(configVolume).mountPath!, path), configMap.data?.[key] ?? '');
    for (const [key, path] of volumeFiles(secretVolume, secretValues)) place(posix.join(usersMount.mountPath!, path), secretValues[key] ?? '');
    const mountPaths = mounts.map((m) => m.mountPath ?? '').filter(Boolean);
    const containerEnv: NodeJS.ProcessEnv = {};
    for (const [name, value] of env) {
      if (!name.startsWith('HOPWATCH_')) continue;
      const mounted = mountPaths.some((p) => value.startsWith(p + '/'));
      containerEnv[name] = mounted ? join(root, value) : value;
    }
    const config = loadConfig({ file: join(root, IMAGE_CONFIG_PATH), env: containerEnv });
    assert.deepEqual(config.auth.users, validated().auth.users);
    assert.deepEqual(config, validated());
  });

  it('the pod runs as the image\'s non-root user, read-only, without privileges', () => {
    const pod = podSpec.securityContext ?? {};
    const own = container.securityContext ?? {};
    assert.equal(own.runAsNonRoot ?? pod.runAsNonRoot, true, 'runAsNonRoot');
    assert.equal(own.runAsUser ?? pod.runAsUser, IMAGE_UID, 'runAsUser');
    assert.equal(own.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
    assert.equal(own.allowPrivilegeEscalation, false, 'allowPrivilegeEscalation');
    assert.deepEqual(own.capabilities?.drop, ['ALL']);
    assert.equal(own.capabilities.add, undefined);
    assert.equal((own.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', 'seccompProfile (restricted standard)');
  });

  it('the image tag and version label are the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(container.image, `ghcr.io/hopwatch/hopwatch:${version}`);
    assert.equal(podLabels['app.kubernetes.io/version'], version);
  });
});
