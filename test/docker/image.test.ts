// The image, checked by reading the Dockerfile (no Docker engine runs here) and by running its
// HEALTHCHECK script and loading its config exactly as the container would.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { closedPort } from '../helpers/upstreams.ts';
import { startProxy } from '../helpers/proxy.ts';
import { launcherNodeFlags } from '../../harness/launcher.ts';
import { dockerIgnores, execForm, readDockerfile, readDockerignore, repoPath, type Instruction } from './dockerfile.ts';

const run = promisify(execFile);
const stages = readDockerfile();
const runtime = stages.at(-1)!;
const all = (keyword: string, list: Instruction[] = runtime.instructions) => list.filter((i) => i.keyword === keyword);
const only = (keyword: string) => {
  const found = all(keyword);
  assert.equal(found.length, 1, `the runtime stage has one ${keyword}`);
  return found[0]!;
};
const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string; license: string };

/** Where a file copied into the runtime stage came from: `COPY [--flags] src… dest` (dest absolute or under WORKDIR). */
function copies(): Array<{ from: string | undefined; sources: string[]; dest: string; chown: string | undefined }> {
  let workdir = '/';
  const out = [];
  for (const i of runtime.instructions) {
    if (i.keyword === 'WORKDIR') workdir = i.rest;
    if (i.keyword !== 'COPY') continue;
    const parts = i.rest.split(/\s+/);
    const dest = parts.pop()!;
    out.push({ from: i.flags.from, sources: parts, dest: dest.startsWith('/') ? dest : `${workdir}/${dest.replace(/^\.\//, '')}`, chown: i.flags.chown });
  }
  return out;
}
const CONFIG_IN_IMAGE = '/etc/hopwatch/hopwatch.yaml';
const configSource = () => {
  const copy = copies().find((c) => c.dest === CONFIG_IN_IMAGE);
  assert.ok(copy, `the Dockerfile copies a config to ${CONFIG_IN_IMAGE}`);
  return repoPath(copy.sources[0]!);
};
const USERS = repoPath('docker/demo/users.yaml');

describe('Dockerfile', () => {
  it('is multi-stage: a deps stage installs production dependencies without scripts, the runtime copies them', () => {
    assert.ok(stages.length >= 2, 'at least two stages');
    const deps = stages.find((s) => s.name === 'deps');
    assert.ok(deps, 'a stage named deps');
    assert.ok(all('RUN', deps.instructions).some((r) => /\bnpm ci\b/.test(r.rest) && r.rest.includes('--omit=dev') && r.rest.includes('--ignore-scripts')));
    assert.ok(copies().some((c) => c.from === 'deps' && c.dest.endsWith('/node_modules')), 'node_modules comes from deps');
    assert.ok(!all('RUN').some((r) => /\bnpm (ci|install)\b/.test(r.rest)), 'the runtime stage installs nothing itself');
  });

  it('every stage is the same Node 24 slim image, pinned to a patch version (optionally a digest), never latest', () => {
    for (const stage of stages) {
      assert.match(stage.image, /^node:24\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
      assert.doesNotMatch(stage.image, /latest/);
    }
    assert.equal(new Set(stages.map((s) => s.image)).size, 1, 'both FROM lines name the same image');
  });

  it('runs as the node user with NODE_ENV=production, its files owned by node', () => {
    assert.ok(all('ENV').some((e) => /^NODE_ENV[= ]production$/.test(e.rest)));
    const user = only('USER').rest;
    assert.ok(!['root', '0', '0:0'].includes(user), `USER ${user} is not root`);
    assert.equal(user, 'node');
    for (const c of copies()) assert.equal(c.chown, 'node:node', `COPY ${c.sources.join(' ')} has --chown=node:node`);
  });

  it('fills Node\'s compile cache at build time, as the user that will read it', () => {
    // Cache entries are kept per uid, so a cache filled by root is never read by `node`; filled,
    // it spares every start the TypeScript stripper's memory (src/main.js).
    const order = runtime.instructions;
    const user = order.findIndex((i) => i.keyword === 'USER');
    const env = order.findIndex((i) => i.keyword === 'ENV' && /^NODE_COMPILE_CACHE=\/home\/node\//.test(i.rest));
    const fill = order.findIndex((i) => i.keyword === 'RUN' && /src\/main\.js/.test(i.rest) && /check-config/.test(i.rest));
    assert.ok(user >= 0 && env > user && fill > env, 'USER node, then ENV NODE_COMPILE_CACHE under /home/node, then a RUN of src/main.js');
    assert.ok(order.slice(fill).every((i) => i.keyword !== 'COPY'), 'no source is copied after the cache is filled');
  });

  it('starts node itself (exec form, not npm) on the copied config', () => {
    const cmd = execForm(only('CMD').rest);
    assert.ok(cmd, 'CMD is in exec form, so SIGTERM reaches node');
    // The flags of src/main.js's shebang, which `npm start` and the bin run with.
    const flags = launcherNodeFlags();
    assert.ok(flags.includes('--max-semi-space-size=8'), flags.join(' '));
    assert.deepEqual(cmd, ['node', ...flags, 'src/main.js', 'serve', '--config', CONFIG_IN_IMAGE]);
    assert.ok(!all('ENTRYPOINT').length, 'no ENTRYPOINT wraps it');
    assert.ok(existsSync(repoPath('src/main.js')));
    assert.ok(copies().some((c) => c.sources.includes('src') && c.dest === '/app/src'), 'src is copied to /app/src (WORKDIR /app)');
    assert.ok(copies().some((c) => c.sources.includes('package.json')), 'package.json is copied ("type": "module", the version)');
  });

  it('has a HEALTHCHECK that needs no curl: node runs a script the image contains, with a short timeout', () => {
    const check = only('HEALTHCHECK');
    assert.ok(Number.parseInt(check.flags.timeout ?? '30', 10) <= 5, 'timeout of at most 5 s');
    const cmd = execForm(check.rest.replace(/^CMD\s+/, ''));
    assert.ok(cmd, 'HEALTHCHECK CMD in exec form');
    assert.equal(cmd[0], 'node');
    const copy = copies().find((c) => c.dest === cmd[1]);
    assert.ok(copy, `${cmd[1]} is copied into the image`);
    assert.ok(existsSync(repoPath(copy.sources[0]!)));
  });

  it('EXPOSEs exactly the ports the shipped config listens on', () => {
    const config = loadConfig({ file: configSource(), env: { HOPWATCH_AUTH__USERS_FILE: USERS } });
    const exposed = only('EXPOSE').rest.split(/\s+/).map((p) => Number(p.replace(/\/tcp$/, '')));
    assert.deepEqual(exposed.sort(), [config.http.port, config.socks.port, config.admin.port].sort());
  });

  it('carries the OCI labels, with the package version and licence', () => {
    const labels = all('LABEL').map((l) => l.rest).join(' ');
    for (const key of ['title', 'description', 'source', 'version', 'licenses']) {
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`), key);
    }
    assert.match(labels, new RegExp(`licenses="${pkg.license}"`));
    assert.ok(all('ARG').some((a) => a.rest === `VERSION=${pkg.version}`), 'ARG VERSION defaults to package.json version');
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignore = readDockerignore();
    for (const c of copies().filter((c) => !c.from)) {
      for (const source of c.sources) {
        assert.ok(existsSync(repoPath(source)), `${source} exists`);
        assert.ok(!dockerIgnores(ignore, source), `${source} is not excluded by .dockerignore`);
      }
    }
    for (const source of ['package-lock.json', 'src/cli.ts', 'config/default.yaml']) assert.ok(!dockerIgnores(ignore, source), source);
    for (const kept of ['.git/HEAD', 'node_modules/yaml/package.json', 'test/cli.test.ts', 'bench/x.ts', 'docker/grafana/dashboards/x.json', 'docker/prometheus/prometheus.yml', 'docker/kubernetes/deployment.yaml', 'docker/demo/users.yaml', 'README.md', '.env']) {
      assert.ok(dockerIgnores(ignore, kept), `${kept} stays out of the build context`);
    }
  });
});

describe('the config shipped in the image (docker/hopwatch.yaml)', () => {
  it('with users from HOPWATCH_AUTH__USERS_FILE: valid, listening on 0.0.0.0 with SOCKS on, 20 s shutdown grace', () => {
    const config = loadConfig({ file: configSource(), env: { HOPWATCH_AUTH__USERS_FILE: USERS } });
    assert.equal(config.auth.users.length, 1);
    for (const listener of [config.http, config.socks, config.admin]) {
      assert.equal(listener.enabled, true);
      assert.equal(listener.host, '0.0.0.0');
    }
    assert.deepEqual([config.http.port, config.socks.port, config.admin.port], [8080, 1080, 9464]);
    assert.equal(config.shutdownGraceMs, 20_000);
    assert.equal(config.allowOpenProxy, false);
  });

  it('without users: refused by the open-proxy guard, naming both proxy listeners and the fixes', () => {
    assert.throws(
      () => loadConfig({ file: configSource(), env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 2, err.message);
        assert.match(err.problems[0]!, /^\/http\/host: 0\.0\.0\.0 .*add auth\.users/);
        assert.match(err.problems[1]!, /^\/socks\/host: 0\.0\.0\.0 /);
        return true;
      },
    );
  });
});

describe('docker/healthcheck.mjs', () => {
  const script = repoPath('docker/healthcheck.mjs');
  const check = async (env: NodeJS.ProcessEnv) => {
    // Only PATH besides the given variables: the script must not depend on the test's environment.
    const result = await run(process.execPath, [script], { env: { PATH: process.env.PATH, ...env }, timeout: 10_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? '' }),
    );
    return result;
  };

  it('exits 0 against a running hopwatch, by URL or by HOPWATCH_ADMIN__PORT', async () => {
    const proxy = await startProxy();
    try {
      assert.deepEqual(await check({ HEALTHCHECK_URL: `${proxy.adminUrl}/healthz` }), { code: 0, stderr: '' });
      assert.deepEqual(await check({ HOPWATCH_ADMIN__PORT: String(proxy.hopwatch.addresses.admin!.port) }), { code: 0, stderr: '' });
      // A path that does not answer 200 is unhealthy.
      const wrong = await check({ HEALTHCHECK_URL: `${proxy.adminUrl}/nope` });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /answered 404/);
    } finally {
      await proxy.close();
    }
  });

  it('exits 1, saying why, when nothing listens', async () => {
    const port = await closedPort();
    const result = await check({ HEALTHCHECK_URL: `http://127.0.0.1:${port}/healthz` });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unhealthy: .*ECONNREFUSED/);
  });
});
