import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { codesFor } from '../../src/observe/metrics.ts';
import { connectVia, viaProxy } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { afterRequestHead, closedPort, httpOrigin, silentServer, type Upstream } from '../helpers/upstreams.ts';

function havePromtool(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

let proxy: TestProxy;
const upstreams: Upstream[] = [];
before(async () => {
  proxy = await startProxy({ timeouts: { responseMs: 200 } });
});
after(async () => {
  await proxy.close();
  await Promise.all(upstreams.map((u) => u.close()));
});

describe('/metrics before any traffic', () => {
  it('has every expected series at zero, so rates and ratios work from the start', async () => {
    const text = await scrape(proxy.adminUrl);
    for (const code of codesFor('http')) {
      assert.match(text, new RegExp(`^hopwatch_requests_total\\{protocol="http",code="${code}",[^}]*\\} 0$`, 'm'), code);
    }
    for (const code of codesFor('http').filter((c) => c !== 'ok')) {
      assert.match(text, new RegExp(`^hopwatch_errors_total\\{protocol="http",code="${code}",`, 'm'), code);
    }
    assert.match(text, /^hopwatch_requests_total\{protocol="connect",code="connect_refused",/m);
    assert.doesNotMatch(text, /^hopwatch_requests_total\{protocol="connect",code="upstream_500",/m, 'tunnels never pass an HTTP status through');
    assert.match(text, /^hopwatch_hop_duration_seconds_count\{protocol="http",hop="dns"\} 0$/m);
    assert.match(text, /^hopwatch_connections_max 10000$/m);
    assert.match(text, /^hopwatch_auth_failures_total\{protocol="http",reason="wrong_password"\} 0$/m);
    assert.doesNotMatch(text, /protocol="socks5"/, 'no SOCKS series while the SOCKS listener is off');
    assert.match(text, /^hopwatch_build_info\{version="[^"]+",node_version="v24\./m);
    assert.match(text, /^process_cpu_seconds_total /m, 'default process metrics');
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });
});

describe('/metrics after successes and each failure class', () => {
  let text = '';
  before(async () => {
    const origin = await httpOrigin((req, res) => {
      if (req.url === '/500') res.writeHead(500).end('no');
      else res.end('x'.repeat(100));
    });
    const garbage = await afterRequestHead((s) => s.end('garbage\r\n\r\n'));
    const silent = await silentServer();
    const resetting = await afterRequestHead((s) => s.resetAndDestroy());
    upstreams.push(origin, garbage, silent, resetting);
    const refused = await closedPort();
    await viaProxy(proxy.port, `${origin.origin}/`);
    await viaProxy(proxy.port, `${origin.origin}/`);
    await viaProxy(proxy.port, `${origin.origin}/500`);
    await viaProxy(proxy.port, `http://127.0.0.1:${refused}/`);
    await viaProxy(proxy.port, `${garbage.origin}/`);
    await viaProxy(proxy.port, `${silent.origin}/`);
    await viaProxy(proxy.port, `${resetting.origin}/`);
    await viaProxy(proxy.port, 'ftp://example.invalid/');
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${origin.port}`);
    tunnel.socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    tunnel.socket.resume();
    await proxy.logs.nextExchange(0, (l) => l.protocol === 'connect');
    await connectVia(proxy.port, `127.0.0.1:${refused}`);
    await proxy.logs.nextExchange(0, (l) => l.protocol === 'connect' && l.code === 'connect_refused');
    text = await scrape(proxy.adminUrl);
  });

  it('counts each outcome under its code, hop and source', () => {
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'ok' }), 2);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'upstream_500', source: 'upstream' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'connect_refused', hop: 'connect' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'upstream_bad_response' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'response_timeout' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'upstream_closed' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'http', code: 'unsupported_scheme', hop: 'parse' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'connect', code: 'ok' }), 1);
    assert.equal(sample(text, 'hopwatch_requests_total', { protocol: 'connect', code: 'connect_refused' }), 1);
    assert.equal(sample(text, 'hopwatch_errors_total', { protocol: 'http', proxy_status: 'connection_refused', temporary: 'false' }), 1);
    assert.equal(sample(text, 'hopwatch_errors_total', { protocol: 'http', proxy_status: 'http_response_timeout', temporary: 'true' }), 1);
  });

  it('observes hop durations and bytes', () => {
    assert.ok(sample(text, 'hopwatch_hop_duration_seconds_count', { protocol: 'http', hop: 'connect' }) >= 1);
    assert.equal(sample(text, 'hopwatch_hop_duration_seconds_count', { protocol: 'http', hop: 'ttfb' }), 3);
    assert.equal(sample(text, 'hopwatch_request_duration_seconds_count', { protocol: 'http' }), 8);
    assert.ok(sample(text, 'hopwatch_transferred_bytes_total', { protocol: 'http', direction: 'upstream_to_client' }) >= 200);
    assert.ok(sample(text, 'hopwatch_transferred_bytes_total', { protocol: 'connect', direction: 'client_to_upstream' }) > 0);
  });

  it('never puts hosts, addresses or ports in labels', () => {
    for (const line of text.split('\n').filter((l) => l.startsWith('hopwatch_'))) {
      assert.doesNotMatch(line, /127\.0\.0\.1|example\.invalid|:\d{2,5}"/, line);
    }
  });

  it('passes `promtool check metrics`', (t) => {
    if (!havePromtool()) {
      if (process.env.REQUIRE_TEST_TOOLS) assert.fail('promtool is required (install Debian\'s prometheus)');
      t.skip('promtool not installed');
      return;
    }
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(result.status, 0, `promtool: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout.trim() + result.stderr.trim(), '', 'no lint findings');
  });
});

describe('admin listener', () => {
  it('answers /healthz, /readyz and 404 elsewhere; refuses other methods', async () => {
    assert.equal((await fetch(`${proxy.adminUrl}/healthz`)).status, 200);
    const ready = await fetch(`${proxy.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), 'ready\n');
    assert.equal((await fetch(`${proxy.adminUrl}/nope`)).status, 404);
    assert.equal((await fetch(`${proxy.adminUrl}/metrics`, { method: 'POST' })).status, 405);
  });

  it('turns /readyz to 503 while shutting down', async () => {
    const other = await startProxy();
    const closing = other.close();
    const res = await fetch(`${other.adminUrl}/readyz`).catch(() => undefined);
    // Either the listener already stopped accepting or it says it is draining: never "ready".
    if (res) assert.equal(res.status, 503);
    await closing;
  });
});
