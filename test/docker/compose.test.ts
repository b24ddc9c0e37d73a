// The compose demo, checked without Docker: compose.yaml's paths, ports, secret and environment
// against the files and config they name; then the demo itself, run directly with Node — the
// real origin and traffic scripts against an in-process hopwatch configured like the container —
// proving every failure kind the dashboard shows gets counted.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { verifyPassword } from '../../src/policy/passwords.ts';
import { startHopwatch } from '../../src/server.ts';
import { scrape } from '../helpers/metrics.ts';
import { LogCapture } from '../helpers/proxy.ts';
import { closedPort } from '../helpers/upstreams.ts';
import { readDockerfile, repoPath } from './dockerfile.ts';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  init?: boolean;
  read_only?: boolean;
  command?: string[];
  working_dir?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  secrets?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: unknown;
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
}

const DOCKER = repoPath('docker/');
const compose = parse(readFileSync(join(DOCKER, 'compose.yaml'), 'utf8')) as Compose;
const service = (name: string): Service => {
  const s = compose.services[name];
  assert.ok(s, `service ${name}`);
  return s;
};
const fromCompose = (path: string) => join(DOCKER, path); // paths in compose.yaml are relative to it
/** Folders other parts of issue #4 fill: their paths are checked once the folder exists. */
const pending = (hostPath: string) => /^\.\/(prometheus|grafana)\//.test(hostPath) && !existsSync(fromCompose(hostPath.split('/').slice(0, 2).join('/')));

function mounts(s: Service): Array<{ host: string; target: string }> {
  return (s.volumes ?? []).map((v) => {
    const [host = '', target = ''] = v.split(':');
    return { host, target };
  });
}
/** The repository file behind a path inside a container, through its bind mounts. */
function hostFile(s: Service, containerPath: string): string | undefined {
  const m = mounts(s).find((m) => containerPath === m.target || containerPath.startsWith(`${m.target}/`));
  return m && fromCompose(m.host + containerPath.slice(m.target.length));
}
function published(s: Service): Array<{ ip: string; host: number; container: number }> {
  return (s.ports ?? []).map((p) => {
    const [ip = '', host = '', container = ''] = p.split(':');
    return { ip, host: Number(host), container: Number(container) };
  });
}

const hopwatch = service('hopwatch');
const usersFile = fromCompose(compose.secrets.users?.file ?? 'missing');
/** The config the hopwatch container runs: the image's file, compose's environment, the secret. */
function containerConfig(extraEnv: NodeJS.ProcessEnv = {}): Config {
  const env = { ...hopwatch.environment, HOPWATCH_AUTH__USERS_FILE: usersFile, ...extraEnv };
  return loadConfig({ file: repoPath('docker/hopwatch.yaml'), env });
}

describe('docker/compose.yaml', () => {
  it('runs hopwatch, the demo origin and traffic, Prometheus and Grafana from pinned images', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['grafana', 'hopwatch', 'origin', 'prometheus', 'traffic']);
    const base = readDockerfile().at(-1)!.image;
    assert.equal(service('origin').image, base, 'the demo runs on the image hopwatch is built from');
    assert.equal(service('traffic').image, base);
    assert.match(service('prometheus').image ?? '', /^prom\/prometheus:v2\.\d+\.\d+$/);
    assert.match(service('grafana').image ?? '', /^grafana\/grafana:\d+\.\d+\.\d+$/);
  });

  it('builds hopwatch from the repository Dockerfile and runs it with an init, read-only', () => {
    assert.ok(hopwatch.build);
    assert.ok(existsSync(join(fromCompose(hopwatch.build.context), hopwatch.build.dockerfile ?? 'Dockerfile')));
    assert.equal(hopwatch.init, true);
    assert.equal(hopwatch.read_only, true, 'hopwatch writes nothing to disk');
    for (const name of ['origin', 'traffic']) assert.equal(service(name).init, true, name);
  });

  it('mounts only paths that exist, and the demo scripts the commands name', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const m of mounts(s)) {
        assert.match(m.host, /^\.\.?\//, `${name}: ${m.host} is a path relative to compose.yaml`);
        if (!pending(m.host)) assert.ok(existsSync(fromCompose(m.host)), `${name}: ${m.host} exists`);
      }
    }
    for (const name of ['origin', 'traffic']) {
      const s = service(name);
      const [node, script = ''] = s.command ?? [];
      assert.equal(node, 'node');
      const file = hostFile(s, script.startsWith('/') ? script : `${s.working_dir}/${script}`);
      assert.ok(file && existsSync(file), `${name} runs ${script}, found in the mounted folder`);
    }
  });

  it('publishes the ports hopwatch listens on, on 127.0.0.1 only', () => {
    const config = containerConfig();
    const ports = published(hopwatch);
    assert.deepEqual(ports.map((p) => p.container).sort(), [config.http.port, config.socks.port, config.admin.port].sort());
    for (const p of ports) assert.equal(p.host, p.container, 'the same port number outside');
    for (const [name, s] of Object.entries(compose.services)) {
      for (const p of published(s)) assert.equal(p.ip, '127.0.0.1', `${name} publishes ${p.host} on loopback only`);
    }
  });

  it('hands hopwatch its users as a secret file, and the resulting config is valid and not open', () => {
    assert.deepEqual(hopwatch.secrets, ['users']);
    assert.equal(hopwatch.environment?.HOPWATCH_AUTH__USERS_FILE, '/run/secrets/users');
    assert.ok(existsSync(usersFile));
    assert.match(readFileSync(usersFile, 'utf8'), /DEMO ONLY/);
    const config = containerConfig();
    assert.equal(config.auth.users.length, 1);
    assert.match(config.auth.users[0]!.password, /^scrypt\$/, 'stored as a hash');
    assert.equal(hopwatch.healthcheck, undefined, "the image's HEALTHCHECK applies");
  });

  it('points the traffic generator at hopwatch and the origin, with credentials hopwatch accepts', async () => {
    const config = containerConfig();
    const env = service('traffic').environment ?? {};
    const origin = service('origin').environment ?? {};
    assert.equal(env.PROXY_HOST, 'hopwatch');
    assert.equal(Number(env.PROXY_PORT), config.http.port);
    assert.equal(Number(env.SOCKS_PORT), config.socks.port);
    assert.equal(env.ORIGIN_HOST, 'origin');
    for (const [mine, theirs] of [['ORIGIN_PORT', 'PORT'], ['TLS_PORT', 'TLS_PORT'], ['SILENT_PORT', 'SILENT_PORT'], ['NOT_TLS_PORT', 'NOT_TLS_PORT']] as const) {
      assert.ok(env[mine] && env[mine] === origin[theirs], `traffic ${mine} = origin ${theirs}`);
    }
    assert.ok(!Object.values(origin).includes(env.REFUSED_PORT ?? ''), 'nothing listens on REFUSED_PORT');
    assert.ok(Number(env.SLOW_MS) > config.timeouts.responseMs, 'the slow path outlasts timeouts.responseMs');
    const user = config.auth.users.find((u) => u.username === env.PROXY_USER);
    assert.ok(user, `${env.PROXY_USER} is a user`);
    assert.equal(await verifyPassword(user.password, env.PROXY_PASSWORD ?? ''), true);
    assert.deepEqual(service('traffic').depends_on, { hopwatch: { condition: 'service_healthy' }, origin: { condition: 'service_started' } });
  });

  it('Prometheus scrapes hopwatch\'s admin port and loads rules from the mounted folder', { skip: !existsSync(join(DOCKER, 'prometheus/prometheus.yml')) }, () => {
    const prometheus = service('prometheus');
    const file = hostFile(prometheus, '/etc/prometheus/prometheus.yml');
    assert.ok(file && existsSync(file), 'prometheus.yml is mounted at /etc/prometheus/prometheus.yml');
    const config = parse(readFileSync(file, 'utf8')) as { rule_files?: string[]; scrape_configs: Array<{ static_configs?: Array<{ targets: string[] }> }> };
    const targets = config.scrape_configs.flatMap((c) => c.static_configs ?? []).flatMap((s) => s.targets);
    assert.ok(targets.includes(`hopwatch:${containerConfig().admin.port}`), `targets ${targets.join(', ')}`);
    for (const rules of config.rule_files ?? []) {
      const inContainer = rules.startsWith('/') ? rules : `/etc/prometheus/${rules}`;
      assert.ok(hostFile(prometheus, inContainer), `${rules} lies in a mounted folder`);
    }
  });

  it('Grafana gets the provisioning and dashboards folders, and a home dashboard that exists', () => {
    const grafana = service('grafana');
    const env = grafana.environment ?? {};
    assert.equal(env.GF_AUTH_ANONYMOUS_ENABLED, 'true');
    assert.equal(env.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer');
    assert.ok(hostFile(grafana, '/etc/grafana/provisioning'));
    const home = hostFile(grafana, env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '');
    assert.ok(home, 'the home dashboard lies in a mounted folder');
    if (!pending('./grafana/dashboards')) assert.ok(existsSync(home), `${home} exists`);
  });
});

describe('the demo, run directly with Node', () => {
  /** Starts docker/demo/origin.mjs on ephemeral loopback ports; resolves with them. */
  async function startOrigin() {
    const child = spawn(process.execPath, [repoPath('docker/demo/origin.mjs')], {
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', TLS_PORT: '0', SILENT_PORT: '0', NOT_TLS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await Promise.race([
      once(createInterface({ input: child.stdout! }), 'line'),
      once(child, 'exit').then(([code]) => Promise.reject(new Error(`origin.mjs exited with ${String(code)}`))),
    ])) as [string];
    const { ports } = JSON.parse(line) as { ports: { http: number; tls: number; silent: number; notTls: number } };
    return { ports, stop: () => child.kill() };
  }

  /** The compose setup on loopback: the container config, its users, ephemeral ports, short timeouts. */
  async function startContainerLikeHopwatch() {
    const config = containerConfig({
      ...Object.fromEntries(['HTTP', 'SOCKS', 'ADMIN'].flatMap((l) => [[`HOPWATCH_${l}__HOST`, '127.0.0.1'], [`HOPWATCH_${l}__PORT`, '0']])),
      HOPWATCH_TIMEOUTS__RESPONSE_MS: '400',
      HOPWATCH_TIMEOUTS__TLS_MS: '400',
      HOPWATCH_TIMEOUTS__IDLE_MS: '1000', // above tlsMs, so a silent TLS peer is a tls_timeout
      HOPWATCH_TIMEOUTS__DNS_MS: '1500',
      HOPWATCH_SHUTDOWN_GRACE_MS: '0',
    });
    assert.equal(config.socks.enabled, true);
    const hopwatch = await startHopwatch({ config, logDestination: new LogCapture() });
    return hopwatch;
  }

  it('traffic.mjs --once makes hopwatch count every kind of outcome the dashboard shows; the loop keeps sending', async (t) => {
    const origin = await startOrigin();
    t.after(origin.stop);
    const hw = await startContainerLikeHopwatch();
    t.after(() => hw.close());
    const traffic = service('traffic').environment ?? {};
    const env = {
      PATH: process.env.PATH,
      PROXY_HOST: '127.0.0.1',
      PROXY_PORT: String(hw.addresses.http!.port),
      SOCKS_PORT: String(hw.addresses.socks!.port),
      PROXY_USER: traffic.PROXY_USER,
      PROXY_PASSWORD: traffic.PROXY_PASSWORD,
      ORIGIN_HOST: '127.0.0.1',
      ORIGIN_PORT: String(origin.ports.http),
      TLS_PORT: String(origin.ports.tls),
      SILENT_PORT: String(origin.ports.silent),
      NOT_TLS_PORT: String(origin.ports.notTls),
      REFUSED_PORT: String(await closedPort()),
      SLOW_MS: '1000', // a response_timeout; healthy requests take up to a third: under responseMs
      TIMEOUT_MS: '8000',
    };
    const script = repoPath('docker/demo/traffic.mjs');
    const { stdout } = await promisify(execFile)(process.execPath, [script, '--once'], { env, timeout: 20_000 });

    const admin = `http://127.0.0.1:${hw.addresses.admin!.port}`;
    const text = await scrape(admin);
    const counted = new Map<string, number>();
    for (const m of text.matchAll(/^hopwatch_requests_total\{protocol="(\w+)",code="(\w+)"[^}]*\} (\S+)$/gm)) {
      const key = `${m[1]} ${m[2]}`;
      counted.set(key, (counted.get(key) ?? 0) + Number(m[3]));
    }
    const count = (key: string) => counted.get(key) ?? 0;
    const expected = [
      'http ok', 'http upstream_500', 'http upstream_503', 'http upstream_401', 'http upstream_404', 'http upstream_429',
      'http upstream_closed', 'http upstream_bad_response', 'http response_timeout', 'http response_incomplete',
      'http idle_timeout', 'http connect_refused', 'http auth_invalid', 'http auth_missing', 'http tls_cert_untrusted',
      'http tls_protocol_error', 'connect ok', 'connect tls_protocol_error', 'connect tls_timeout', 'socks5 ok',
      'socks5 connect_refused',
    ];
    const missing = expected.filter((key) => count(key) === 0);
    const dns = [...counted].filter(([key, n]) => key.startsWith('http dns_') && n > 0);
    if (!dns.length) missing.push('http dns_* (no real DNS here: any dns_ code will do)');
    const seen = [...counted].filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(', ');
    assert.deepEqual(missing, [], `counted: ${seen}\ntraffic.mjs said:\n${stdout}`);
    assert.equal(count('http upstream_closed'), 2, 'the reset and the early close');
    assert.ok(/hopwatch_auth_failures_total\{protocol="http",reason="wrong_password"\} [1-9]/.test(text));
    assert.ok(/hopwatch_auth_failures_total\{protocol="http",reason="missing"\} [1-9]/.test(text));
    assert.ok(/hopwatch_hop_duration_seconds_count\{protocol="http",hop="tls"\} [1-9]/.test(text), 'a TLS handshake was timed');

    // The loop mode: RATE requests a second until stopped.
    const before = [...counted.values()].reduce((a, b) => a + b, 0);
    const loop = spawn(process.execPath, [script], { env: { ...env, RATE: '20' }, stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    loop.kill();
    await once(loop, 'exit');
    await new Promise((resolve) => setTimeout(resolve, 300)); // exchanges cut by the kill finish
    const after = [...(await scrape(admin)).matchAll(/^hopwatch_requests_total\{[^}]*\} (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    assert.ok(after - before >= 10, `the loop sent ${after - before} requests in 1.5 s at RATE=20`);
  });
});
