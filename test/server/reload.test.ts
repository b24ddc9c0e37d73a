import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fromLoopback } from '../../src/admin/server.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { connectVia, viaProxy } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy } from '../helpers/proxy.ts';
import { httpOrigin, silentServer, tcpServer } from '../helpers/upstreams.ts';

/** A proxy whose reloadConfig returns whatever `next` holds when asked. */
async function reloadable(initial: Record<string, unknown> = {}) {
  const holder: { next: () => Config } = { next: () => proxy.hopwatch.config };
  const proxy = await startProxy(initial, { reloadConfig: () => holder.next() });
  const set = (raw: Record<string, unknown>) => {
    // The same listeners as the test proxy's (ephemeral ports): a listener change is restart-only.
    holder.next = () => validateConfig({ ...raw, http: { port: 0 }, admin: { port: 0 } });
  };
  const setRaw = (raw: unknown) => {
    holder.next = () => validateConfig(raw);
  };
  return { proxy, set, setRaw };
}

describe('reload', () => {
  it('applies new users and access rules to new exchanges; an open tunnel keeps working', async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    const echo = await tcpServer((s) => s.pipe(s));
    t.after(() => Promise.all([origin.close(), echo.close()]));
    const { proxy, set } = await reloadable();
    t.after(() => proxy.close());
    assert.equal((await viaProxy(proxy.port, `${origin.origin}/`)).status, 200);
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${echo.port}`);

    set({ auth: { users: [{ username: 'alice', password: 'fresh-secret' }] } });
    const outcome = proxy.hopwatch.reload();
    assert.equal(outcome.result, 'success');
    assert.ok(outcome.result === 'success' && outcome.changed.includes('auth.users'));

    const refused = await viaProxy(proxy.port, `${origin.origin}/`);
    assert.equal(refused.status, 407, 'new exchanges need the new credentials');
    const auth = { 'Proxy-Authorization': `Basic ${Buffer.from('alice:fresh-secret').toString('base64')}` };
    assert.equal((await viaProxy(proxy.port, `${origin.origin}/`, { headers: auth })).status, 200);

    tunnel.socket.write('still open');
    const [echoed] = (await once(tunnel.socket, 'data')) as [Buffer];
    assert.equal(echoed.toString(), 'still open', 'the reload dropped no open connection');
    tunnel.socket.destroy();

    const line = await proxy.logs.waitFor((l) => l.msg === 'config reloaded');
    assert.ok(!JSON.stringify(line).includes('fresh-secret'), 'the log names keys, never values');
  });

  it('rejects a bad config whole, naming every problem, and keeps the old one', async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    t.after(() => origin.close());
    const { proxy, setRaw } = await reloadable({ timeouts: { responseMs: 5000 } });
    t.after(() => proxy.close());
    const before = await scrape(proxy.adminUrl);
    setRaw({ http: { port: 0 }, admin: { port: 0 }, timeouts: { responseMs: 'soon', dnsMs: 0 }, auth: { users: [{ username: 'x', password: 'y' }] } });
    const outcome = proxy.hopwatch.reload();
    assert.equal(outcome.result, 'failure');
    assert.ok(outcome.result === 'failure');
    assert.ok(outcome.problems.includes('/timeouts/responseMs: must be integer'), outcome.problems.join('\n'));
    assert.ok(outcome.problems.includes('/timeouts/dnsMs: must be >= 1'), outcome.problems.join('\n'));
    assert.equal(proxy.hopwatch.config.timeouts.responseMs, 5000);
    assert.equal((await viaProxy(proxy.port, `${origin.origin}/`)).status, 200, 'the users in the bad file were not applied');
    const after = await scrape(proxy.adminUrl);
    assert.equal(sample(after, 'hopwatch_config_reloads_total', { result: 'failure' }) - sample(before, 'hopwatch_config_reloads_total', { result: 'failure' }), 1);
    const line = await proxy.logs.waitFor((l) => l.msg === 'config reload rejected: the old configuration stays');
    assert.equal(line.level, 'error');
  });

  it('refuses listener changes, which need a restart', async (t) => {
    const { proxy, setRaw } = await reloadable();
    t.after(() => proxy.close());
    setRaw({ http: { port: 1 }, admin: { port: 0 }, log: { level: 'debug' } });
    const outcome = proxy.hopwatch.reload();
    assert.deepEqual(outcome, { result: 'failure', problems: ['/http: changing it needs a restart (the rest was not applied either)'] });
    assert.equal(proxy.hopwatch.config.log.level, 'info');
  });

  it('changes timeouts, limits and the log level for what comes next', async (t) => {
    const silent = await silentServer();
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    t.after(() => Promise.all([silent.close(), origin.close()]));
    const { proxy, set } = await reloadable({ timeouts: { responseMs: 10_000 } });
    t.after(() => proxy.close());
    set({ timeouts: { responseMs: 150 }, limits: { maxConnections: 1 }, log: { level: 'warn' } });
    assert.equal(proxy.hopwatch.reload().result, 'success');

    const started = performance.now();
    const slow = await viaProxy(proxy.port, `${silent.origin}/`);
    assert.equal(slow.status, 504);
    assert.ok(performance.now() - started < 5_000, 'the new responseMs applies');

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    assert.equal((await viaProxy(proxy.port, `${origin.origin}/held`, { agent })).status, 200);
    const second = await viaProxy(proxy.port, `${origin.origin}/`);
    assert.equal(second.status, 503, 'one connection is held open by the agent: the new limit of 1 applies');

    const since = proxy.logs.lines.length;
    await viaProxy(proxy.port, `${origin.origin}/quiet`, { agent });
    await proxy.close();
    assert.ok(!proxy.logs.lines.slice(since).some((l) => l.path === '/quiet'), 'info lines are off at level warn');
  });

  it('POST /reload on the admin listener applies it and answers the outcome as JSON', async (t) => {
    const { proxy, set } = await reloadable();
    t.after(() => proxy.close());
    set({ log: { level: 'debug' } });
    const res = await fetch(`${proxy.adminUrl}/reload`, { method: 'POST' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { result: string; changed: string[] };
    assert.equal(body.result, 'success');
    assert.ok(body.changed.includes('log.level'), body.changed.join(', '));
    assert.equal((await fetch(`${proxy.adminUrl}/reload`)).status, 405, 'GET does not reload');
    assert.equal(fromLoopback('127.0.0.1'), true);
    assert.equal(fromLoopback('::ffff:127.0.0.1'), true);
    assert.equal(fromLoopback('10.1.2.3'), false, 'only the machine itself may reload');
  });
});

describe('SIGHUP', () => {
  it('reloads the file the process was started with; a broken file is rejected and the process keeps serving', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-hup-'));
    const file = join(dir, 'hopwatch.yaml');
    writeFileSync(file, 'http:\n  port: 0\nadmin:\n  port: 0\n');
    const child = spawn(process.execPath, [new URL('../../src/cli.ts', import.meta.url).pathname, 'serve', '--config', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH },
    });
    t.after(() => child.kill('SIGKILL'));
    const lines: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    let partial = '';
    child.stdout!.on('data', (c: Buffer) => {
      partial += c.toString();
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(partial.slice(0, nl)) as Record<string, unknown>);
        partial = partial.slice(nl + 1);
        for (const wake of waiters.splice(0)) wake();
      }
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
      for (const wake of waiters.splice(0)) wake();
    });
    // A line that never comes, or a child that died (SIGHUP unhandled kills), fails instead of hanging.
    const waitFor = async (msg: string) => {
      const deadline = Date.now() + 20_000;
      while (!lines.some((l) => l.msg === msg)) {
        if (exited) throw new Error(`the process exited before logging "${msg}"`);
        if (Date.now() > deadline) throw new Error(`no "${msg}" line within 20 s`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1_000).unref();
        });
      }
      return lines.find((l) => l.msg === msg)!;
    };
    const listening = await waitFor('hopwatch listening');
    const port = (s: unknown) => Number(String(s).split(':').at(-1));
    const adminPort = port(listening.admin);

    writeFileSync(file, 'http:\n  port: 0\nadmin:\n  port: 0\nlog:\n  level: debug\n');
    child.kill('SIGHUP');
    const reloaded = await waitFor('config reloaded');
    assert.deepEqual(reloaded.changed, ['log.level']);

    writeFileSync(file, 'timeouts:\n  connectMs: never\n');
    child.kill('SIGHUP');
    const rejected = await waitFor('config reload rejected: the old configuration stays');
    assert.ok((rejected.problems as string[]).includes('/timeouts/connectMs: must be integer'));
    const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
    assert.equal(health.status, 200, 'still serving');
  });
});
