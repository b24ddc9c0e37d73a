// `workers: 2` through the real CLI: a primary and two node:cluster workers sharing the HTTP and
// SOCKS5 listeners. What only the whole process tree shows: both workers serve, /metrics is their
// sum, signals and reloads reach every worker, a killed worker is replaced.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { SocksClient } from 'socks';
import { viaProxy } from '../helpers/client.ts';
import { serve, writeConfig, type ServeProcess } from '../helpers/cluster.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { heldOrigin, httpOrigin, tcpServer } from '../helpers/upstreams.ts';

const T = { timeout: 30_000 };
const CLUSTER = 'workers: 2\nhttp:\n  port: 0\nsocks:\n  enabled: true\n  port: 0\nadmin:\n  port: 0\n';
const ALICE = { 'Proxy-Authorization': `Basic ${Buffer.from('alice:fresh-secret').toString('base64')}` };

function stopAfter(t: { after(fn: () => unknown): void }, proc: ServeProcess): void {
  t.after(() => {
    proc.child.kill('SIGKILL'); // its workers follow: they exit when the primary's channel closes
    return proc.gone;
  });
}

const workersOf = (lines: Array<Record<string, unknown>>) => [...new Set(lines.map((l) => l.worker))].sort();

/**
 * Sends requests one at a time, each on a new connection, until both workers have answered one
 * whose exchange line matches `match` (at most 100: which worker accepts a connection is the
 * kernel's choice). Resolves with the number sent.
 */
async function untilBothWorkers(proc: ServeProcess, send: () => Promise<unknown>, match: (l: Record<string, unknown>) => boolean = () => true): Promise<number> {
  const since = proc.exchanges().length;
  let sent = 0;
  while (workersOf(proc.exchanges().slice(since).filter(match)).length < 2) {
    assert.ok(sent < 100, `100 connections, and still not both workers: ${JSON.stringify(workersOf(proc.exchanges().slice(since)))}`);
    await send();
    await proc.exchangeCount(since + ++sent);
  }
  return sent;
}

const havePromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

describe('workers: 2', () => {
  it('serves HTTP and SOCKS5 from both workers; /metrics is their sum, once per family', T, async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    const echo = await tcpServer((s) => s.pipe(s));
    t.after(() => Promise.all([origin.close(), echo.close()]));
    const proc = await serve(CLUSTER);
    stopAfter(t, proc);

    const K = await untilBothWorkers(proc, async () => assert.equal((await viaProxy(proc.http, `${origin.origin}/`)).status, 200));
    for (let i = 0; i < 4; i++) {
      const { socket } = await SocksClient.createConnection({
        proxy: { host: '127.0.0.1', port: proc.socks!, type: 5 },
        command: 'connect',
        destination: { host: '127.0.0.1', port: echo.port },
      });
      socket.write('ping');
      await once(socket, 'data');
      socket.end();
    }
    await proc.exchangeCount(K + 4);
    const lines = proc.exchanges();
    assert.ok(lines.every((l) => l.worker === 1 || l.worker === 2), 'each line names its worker');

    const text = await scrape(proc.adminUrl);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'ok' }), K);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'socks5', code: 'ok' }), 4);
    assert.equal(sample(text, 'hopwatch_request_duration_seconds_count', { protocol: 'http' }), K, 'histograms are summed too');
    assert.equal(sample(text, 'hopwatch_workers'), 2);
    assert.equal(sample(text, 'hopwatch_build_info'), 1, 'one build, not one per worker');
    assert.equal(sample(text, 'hopwatch_connections_max'), 2 * 10_000, 'limits are per worker: the capacity is their sum');
    assert.equal(sample(text, 'hopwatch_config_reloads_total', { result: 'success' }), 0);
    for (const family of ['hopwatch_requests_total', 'hopwatch_workers', 'process_cpu_seconds_total', 'hopwatch_config_reloads_total']) {
      assert.equal(text.match(new RegExp(`^# TYPE ${family} `, 'gm'))?.length, 1, `${family}: one TYPE line`);
    }

    assert.equal((await fetch(`${proc.adminUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${proc.adminUrl}/readyz`)).status, 200);
    const errors = (await (await fetch(`${proc.adminUrl}/errors`)).json()) as { workers: number; findings: unknown[]; codes: object };
    assert.equal(errors.workers, 2);
    assert.ok(Array.isArray(errors.findings));

    if (!havePromtool) {
      if (process.env.REQUIRE_TEST_TOOLS) assert.fail('promtool is required (install Debian\'s prometheus)');
      t.diagnostic('promtool not installed: `promtool check metrics` skipped');
      return;
    }
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(result.status, 0, `promtool: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout.trim() + result.stderr.trim(), '', 'no lint findings');
  });

  it('SIGTERM: /readyz 503, an in-flight request finishes, every worker drains, the primary exits 0', T, async (t) => {
    const origin = await heldOrigin();
    t.after(() => origin.close());
    const proc = await serve(`${CLUSTER}shutdownGraceMs: 5000\n`);
    stopAfter(t, proc);
    const req = http.request({ host: '127.0.0.1', port: proc.http, path: `${origin.origin}/slow`, agent: false });
    req.end();
    await origin.arrived;

    proc.child.kill('SIGTERM');
    await proc.logs.waitFor((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM');
    const ready = await fetch(`${proc.adminUrl}/readyz`);
    assert.equal(ready.status, 503, 'draining: load balancers must stop sending');

    origin.release();
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    let body = '';
    for await (const chunk of res) body += String(chunk);
    assert.equal(res.statusCode, 200);
    assert.equal(body, 'finished during the drain');
    assert.equal(res.headers.connection, 'close');
    assert.equal(await proc.gone, 0, 'the primary exits 0 once every worker has');

    const drained = proc.logs.lines.filter((l) => l.msg === 'drained');
    assert.deepEqual(workersOf(drained), [1, 2], 'each worker drained');
    assert.ok(drained.every((l) => l.cut === 0), 'nothing was cut');
    const line = proc.exchanges().find((l) => l.path === '/slow');
    assert.equal(line?.code, 'ok', 'the exchange line was flushed before the worker exited');
  });

  it('a second signal exits at once, workers included', T, async (t) => {
    const origin = await heldOrigin(); // never released
    t.after(() => origin.close());
    const proc = await serve(`${CLUSTER}shutdownGraceMs: 60000\n`);
    stopAfter(t, proc);
    const req = http.request({ host: '127.0.0.1', port: proc.http, path: `${origin.origin}/held`, agent: false });
    req.on('error', () => {});
    req.end();
    await origin.arrived;
    proc.child.kill('SIGTERM');
    await proc.logs.waitFor((l) => l.msg === 'shutting down');
    const started = performance.now();
    proc.child.kill('SIGTERM');
    assert.equal(await proc.gone, 1);
    assert.ok(performance.now() - started < 10_000, 'nobody waited for the 60 s grace period');
  });

  it('SIGHUP gives every worker the new users; a bad file, or a new worker count, is rejected whole; each reload counted once', T, async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    t.after(() => origin.close());
    const proc = await serve(CLUSTER);
    stopAfter(t, proc);

    writeFileSync(proc.configFile, `${CLUSTER}auth:\n  users:\n    - { username: alice, password: fresh-secret }\n`);
    proc.child.kill('SIGHUP');
    const reloaded = await proc.logs.waitFor((l) => l.msg === 'config reloaded');
    assert.deepEqual(reloaded.changed, ['auth.users']);
    assert.equal(reloaded.workers, 2);
    // Both workers refuse without credentials, and both take alice's.
    await untilBothWorkers(proc, async () => assert.equal((await viaProxy(proc.http, `${origin.origin}/`)).status, 407, 'the new users apply on every connection'));
    await untilBothWorkers(proc, async () => assert.equal((await viaProxy(proc.http, `${origin.origin}/`, { headers: ALICE })).status, 200));
    assert.equal(proc.logs.lines.filter((l) => l.msg === 'config reloaded').length, 1, 'logged once, by the primary');

    writeFileSync(proc.configFile, `${CLUSTER}auth:\n  users:\n    - { username: bob, password: other-secret }\ntimeouts:\n  dnsMs: 0\n`);
    const bad = await fetch(`${proc.adminUrl}/reload`, { method: 'POST' });
    assert.equal(bad.status, 422);
    const outcome = (await bad.json()) as { result: string; problems: string[] };
    assert.ok(outcome.problems.includes('/timeouts/dnsMs: must be >= 1'), outcome.problems.join('\n'));
    writeFileSync(proc.configFile, CLUSTER.replace('workers: 2', 'workers: 3'));
    const more = (await (await fetch(`${proc.adminUrl}/reload`, { method: 'POST' })).json()) as { problems: string[] };
    assert.ok(more.problems.some((p) => p.startsWith('/workers: changing it needs a restart')), more.problems.join('\n'));
    for (let i = 0; i < 4; i++) {
      assert.equal((await viaProxy(proc.http, `${origin.origin}/`, { headers: ALICE })).status, 200, 'alice stays: nothing of the rejected files applied');
    }

    const text = await scrape(proc.adminUrl);
    assert.equal(sample(text, 'hopwatch_config_reloads_total', { result: 'success' }), 1, 'once per reload, not once per worker');
    assert.equal(sample(text, 'hopwatch_config_reloads_total', { result: 'failure' }), 2);
  });

  it('a worker killed with SIGKILL is replaced and counted; its sibling serves meanwhile; sums do not go down', T, async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    t.after(() => origin.close());
    const proc = await serve(CLUSTER);
    stopAfter(t, proc);
    const victim = (await proc.logs.waitFor((l) => l.msg === 'worker listening' && l.worker === 1)).pid as number;
    const before = await untilBothWorkers(proc, async () => assert.equal((await viaProxy(proc.http, `${origin.origin}/`)).status, 200));
    assert.equal(sample(await scrape(proc.adminUrl), 'hopwatch_requests_total', { protocol: 'http', code: 'ok' }), before);

    process.kill(victim, 'SIGKILL');
    const died = await proc.logs.waitFor((l) => l.msg === 'worker died: replacing it');
    assert.equal(died.worker, 1);
    assert.equal(died.reason, 'killed');
    assert.equal(died.signal, 'SIGKILL');
    for (let i = 0; i < 4; i++) assert.equal((await viaProxy(proc.http, `${origin.origin}/`)).status, 200, 'the other worker serves meanwhile');

    const replacement = await proc.logs.waitFor((l) => l.msg === 'worker listening' && l.worker === 1 && l.pid !== victim, 'the replacement', 0, 20_000);
    const text = await scrape(proc.adminUrl);
    assert.equal(sample(text, 'hopwatch_worker_restarts_total', { reason: 'killed' }), 1);
    assert.equal(sample(text, 'hopwatch_worker_restarts_total'), 1);
    assert.equal(sample(text, 'hopwatch_workers'), 2);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'ok' }), before + 4, 'the dead worker\'s counts stay in the sum');

    // The replacement (a new pid under number 1) serves alongside the survivor.
    await untilBothWorkers(proc, async () => assert.equal((await viaProxy(proc.http, `${origin.origin}/`)).status, 200));
    assert.notEqual(replacement.pid, victim);
  });

  it('a listener that cannot bind stops the start: named, exit 1, no worker left behind', T, async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as net.AddressInfo).port;
    const file = writeConfig(`workers: 2\nhttp:\n  port: ${taken}\nadmin:\n  port: 0\n`);
    const child = spawn(process.execPath, [new URL('../../src/cli.ts', import.meta.url).pathname, 'serve', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    // stdout closes once the primary and every worker have exited.
    const [[code]] = await Promise.all([once(child, 'exit'), once(child.stdout, 'close')]);
    blocker.close();
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`cannot listen for http on 127\\.0\\.0\\.1:${taken}: the address is already in use`));
  });
});
