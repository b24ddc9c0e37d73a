// DNS classification end to end: a fake DNS server the test programs per name, the proxy
// configured to ask it (dns.servers), and every resolver outcome checked on the wire
// (status, Proxy-Status), in the log line and in the metrics. Plus the Resolver on its own.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { after, afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import { HopFailure } from '../../src/classify/failure.ts';
import { Resolver } from '../../src/upstream/resolve.ts';
import { connectVia, viaProxy } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { httpOrigin, type Upstream } from '../helpers/upstreams.ts';

const DNS_MS = 300;
/** Node timers run on a millisecond loop clock that can lag performance.now() by a few ms. */
const TIMER_SLACK_MS = 10;

const ZONE = {
  'ok.test': { a: ['127.0.0.1'] },
  'v6.test': { aaaa: ['::1'] },
  'dual.test': { a: ['127.0.0.1'], aaaa: ['::1'] },
  'nodata.test': 'nodata',
  'servfail.test': 'servfail',
  'refused.test': 'refused',
  'silent.test': 'silent',
} as const;

/** Each failing name and what hopwatch must make of it. */
const FAILURES = [
  { name: 'nx.test', code: 'dns_nxdomain', rcode: 'NXDOMAIN', temporary: false },
  { name: 'nodata.test', code: 'dns_nodata', rcode: 'NODATA', temporary: false },
  { name: 'servfail.test', code: 'dns_server_failure', rcode: 'SERVFAIL', temporary: true },
  { name: 'refused.test', code: 'dns_server_failure', rcode: 'REFUSED', temporary: true },
] as const;

let fake: FakeDns;
let origin: Upstream;

before(async () => {
  fake = await startDnsServer(ZONE);
  origin = await httpOrigin((_req, res) => res.end('hello from origin'));
});

after(async () => {
  await fake.close();
  await origin.close();
});

function requestId(headers: Record<string, string | string[] | undefined>): string {
  const id = headers['x-request-id'];
  assert.equal(typeof id, 'string', 'every answer carries X-Request-Id');
  return id as string;
}

/** Successful answers carry no X-Request-Id (only error answers do): find the line by target. */
function exchangeTo(proxy: TestProxy, since: number, target: string): Promise<LogLine> {
  return proxy.logs.nextExchange(since, (l) => l.target === target);
}

function durations(line: LogLine): Record<string, unknown> {
  return line.durations_ms as Record<string, unknown>;
}

describe('Resolver against a programmed DNS server', () => {
  const resolver = () => new Resolver({ timeoutMs: DNS_MS, servers: [fake.address] });

  test('A and AAAA records are both asked for and returned with their family', async () => {
    assert.deepEqual(await resolver().resolve('ok.test'), [{ address: '127.0.0.1', family: 4 }]);
    assert.deepEqual(await resolver().resolve('v6.test'), [{ address: '::1', family: 6 }]);
    assert.deepEqual(await resolver().resolve('dual.test'), [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    const asked = fake.queries.filter((q) => q.name === 'dual.test').map((q) => q.type).sort();
    assert.deepEqual(asked, ['A', 'AAAA']);
  });

  for (const { name, code, rcode } of FAILURES) {
    test(`${rcode} for ${name} → ${code}`, async () => {
      await assert.rejects(resolver().resolve(name), (err: unknown) => {
        assert.ok(err instanceof HopFailure);
        assert.equal(err.code, code);
        assert.equal(err.hop, 'dns');
        assert.equal(err.params.rcode, rcode);
        assert.match(err.detail, new RegExp(name.replace('.', '\\.')));
        return true;
      });
    });
  }

  test('an answer for one family does not wait out a server silent on the other', async () => {
    fake.set('half.test', { a: ['127.0.0.1'] });
    fake.set('half.test', 'silent', 'AAAA');
    const started = performance.now();
    assert.deepEqual(await resolver().resolve('half.test'), [{ address: '127.0.0.1', family: 4 }]);
    // The point is not waiting for the deadline, so this bound is the assertion, not a guess.
    assert.ok(performance.now() - started < DNS_MS, 'resolved before the dns deadline');
  });

  test('a silent server → dns_timeout after timeoutMs, with no rcode', async () => {
    const started = performance.now();
    await assert.rejects(resolver().resolve('silent.test'), (err: unknown) => {
      assert.ok(err instanceof HopFailure);
      assert.equal(err.code, 'dns_timeout');
      assert.equal(err.params.rcode, undefined);
      return true;
    });
    assert.ok(performance.now() - started >= DNS_MS - TIMER_SLACK_MS, 'not before the deadline');
  });

  test('IP literals and localhost are answered without asking the server', async () => {
    const before = fake.queries.length;
    assert.deepEqual(await resolver().resolve('192.0.2.7'), [{ address: '192.0.2.7', family: 4 }]);
    assert.deepEqual(await resolver().resolve('::1'), [{ address: '::1', family: 6 }]);
    const local = await resolver().resolve('localhost');
    assert.ok(local.some((a) => a.address === '127.0.0.1'));
    assert.equal(fake.queries.length, before);
  });

  test('an abort rejects at once with the signal reason', async () => {
    const abort = new AbortController();
    const pending = resolver().resolve('silent.test', abort.signal);
    const reason = new HopFailure('client_abort', 'gone');
    abort.abort(reason);
    await assert.rejects(pending, (err: unknown) => err === reason);
  });
});

/** getaddrinfo cannot be pointed at the fake server: it is stubbed to fail the way glibc does. */
function failLookup(code: string): void {
  mock.method(dns.promises, 'lookup', async (hostname: string) => {
    throw Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, syscall: 'getaddrinfo', hostname });
  });
}

describe('Resolver with the system resolver: a failed getaddrinfo is diagnosed', () => {
  // The diagnosis asks "the system's servers" directly: those are the fake one here.
  beforeEach(() => mock.method(dns.promises, 'getServers', () => [fake.address]));
  afterEach(() => mock.restoreAll());
  const resolver = () => new Resolver({ timeoutMs: DNS_MS, servers: [] });

  const cases = [
    { lookup: 'ENOTFOUND', name: 'nx.test', code: 'dns_nxdomain', rcode: 'NXDOMAIN' },
    { lookup: 'ENOTFOUND', name: 'nodata.test', code: 'dns_nodata', rcode: 'NODATA' },
    { lookup: 'EAI_AGAIN', name: 'servfail.test', code: 'dns_server_failure', rcode: 'SERVFAIL' },
    { lookup: 'EAI_AGAIN', name: 'refused.test', code: 'dns_server_failure', rcode: 'REFUSED' },
  ] as const;
  for (const { lookup, name, code, rcode } of cases) {
    test(`getaddrinfo ${lookup} for ${name} → ${code}, rcode ${rcode} from the direct query`, async () => {
      failLookup(lookup);
      await assert.rejects(resolver().resolve(name), (err: unknown) => {
        assert.ok(err instanceof HopFailure);
        assert.equal(err.code, code);
        assert.equal(err.params.rcode, rcode);
        return true;
      });
    });
  }

  for (const name of ['silent.test', 'ok.test']) {
    test(`getaddrinfo ENOTFOUND, ${name} gives no rcode directly → dns_nxdomain claiming no rcode`, async () => {
      failLookup('ENOTFOUND');
      await assert.rejects(resolver().resolve(name), (err: unknown) => {
        assert.ok(err instanceof HopFailure);
        // getaddrinfo answered "not found"; a diagnosis that learnt nothing must not turn that
        // into a timeout, nor claim an rcode nobody received (ENOTFOUND is NXDOMAIN or NODATA).
        assert.equal(err.code, 'dns_nxdomain');
        assert.equal(err.params.rcode, undefined);
        return true;
      });
    });
  }
});

describe('proxy with dns.servers', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startProxy({ dns: { servers: [fake.address] }, timeouts: { dnsMs: DNS_MS } });
  });
  after(() => proxy.close());

  for (const { name, code, rcode, temporary } of FAILURES) {
    test(`HTTP to ${name} → 502 ${code}, rcode ${rcode}, logged and counted`, async () => {
      const labels = { code, hop: 'dns' };
      const before = await scrape(proxy.adminUrl);
      const res = await viaProxy(proxy.port, `http://${name}:${origin.port}/`);
      assert.equal(res.status, 502);
      assert.match(String(res.headers['proxy-status']), new RegExp(`^hopwatch; error=dns_error; rcode="${rcode}"; details="[^"]*${name}[^"]*"$`));

      const line = await proxy.logs.exchange(requestId(res.headers));
      assert.equal(line.code, code);
      assert.equal(line.hop, 'dns');
      assert.equal(line.category, 'network');
      assert.equal(line.proxy_status, 'dns_error');
      assert.equal(line.rcode, rcode);
      assert.equal(line.temporary, temporary);
      assert.equal(line.status, 502);
      assert.equal(typeof durations(line).dns, 'number');
      assert.equal(line.upstream_ip, undefined, 'no connect was attempted');

      const after = await scrape(proxy.adminUrl);
      assert.equal(sample(after, 'hopwatch_requests_total', labels) - sample(before, 'hopwatch_requests_total', labels), 1);
      assert.equal(sample(after, 'hopwatch_errors_total', labels) - sample(before, 'hopwatch_errors_total', labels), 1);
      assert.equal(
        sample(after, 'hopwatch_errors_total', { ...labels, temporary: String(temporary) }) -
          sample(before, 'hopwatch_errors_total', { ...labels, temporary: String(temporary) }),
        1,
      );
    });
  }

  test('HTTP to a silent server → 504 dns_timeout, no sooner than dnsMs', async () => {
    const labels = { code: 'dns_timeout', hop: 'dns' };
    const before = await scrape(proxy.adminUrl);
    const started = performance.now();
    const res = await viaProxy(proxy.port, `http://silent.test:${origin.port}/`);
    const took = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match(String(res.headers['proxy-status']), /^hopwatch; error=dns_timeout; details="[^"]*silent\.test[^"]*"$/);
    assert.ok(took >= DNS_MS - TIMER_SLACK_MS, `answered after ${took} ms, before the ${DNS_MS} ms deadline`);

    const line = await proxy.logs.exchange(requestId(res.headers));
    assert.equal(line.code, 'dns_timeout');
    assert.equal(line.hop, 'dns');
    assert.equal(line.temporary, true);
    assert.equal(line.rcode, undefined);
    assert.ok((durations(line).dns as number) >= DNS_MS - TIMER_SLACK_MS);

    const after = await scrape(proxy.adminUrl);
    assert.equal(sample(after, 'hopwatch_errors_total', labels) - sample(before, 'hopwatch_errors_total', labels), 1);
  });

  test('HTTP to a name with A records reaches the origin, with the dns time logged', async () => {
    const since = proxy.logs.lines.length;
    const res = await viaProxy(proxy.port, `http://ok.test:${origin.port}/`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello from origin');
    const line = await exchangeTo(proxy, since, `ok.test:${origin.port}`);
    assert.equal(line.code, 'ok');
    assert.equal(line.upstream_ip, '127.0.0.1');
    assert.equal(typeof durations(line).dns, 'number');
    assert.ok(fake.queries.some((q) => q.name === 'ok.test' && q.type === 'A'));
  });

  test('CONNECT to NXDOMAIN → 502 with Proxy-Status, never a silent close', async () => {
    const res = await connectVia(proxy.port, `nx.test:${origin.port}`);
    res.socket.destroy();
    assert.equal(res.status, 502);
    assert.match(res.headers['proxy-status'] ?? '', /^hopwatch; error=dns_error; rcode="NXDOMAIN"; details=/);
    const line = await proxy.logs.exchange(requestId(res.headers));
    assert.equal(line.code, 'dns_nxdomain');
    assert.equal(line.protocol, 'connect');
    assert.equal(typeof durations(line).dns, 'number');
  });

  test('CONNECT to SERVFAIL and to a silent server: 502 and 504, each classified', async () => {
    const failed = await connectVia(proxy.port, `servfail.test:${origin.port}`);
    failed.socket.destroy();
    assert.equal(failed.status, 502);
    assert.match(failed.headers['proxy-status'] ?? '', /rcode="SERVFAIL"/);

    const silent = await connectVia(proxy.port, `silent.test:${origin.port}`);
    silent.socket.destroy();
    assert.equal(silent.status, 504);
    assert.match(silent.headers['proxy-status'] ?? '', /^hopwatch; error=dns_timeout;/);
    assert.equal((await proxy.logs.exchange(requestId(silent.headers))).code, 'dns_timeout');
  });

  test('CONNECT to a name with A records opens the tunnel', async () => {
    const since = proxy.logs.lines.length;
    const res = await connectVia(proxy.port, `ok.test:${origin.port}`);
    assert.equal(res.status, 200);
    res.socket.write('GET / HTTP/1.1\r\nHost: ok.test\r\nConnection: close\r\n\r\n');
    let reply = '';
    for await (const chunk of res.socket) reply += (chunk as Buffer).toString('latin1');
    assert.match(reply, /hello from origin$/);
    const line = await exchangeTo(proxy, since, `ok.test:${origin.port}`);
    assert.equal(line.protocol, 'connect');
    assert.equal(line.code, 'ok');
    assert.equal(line.upstream_ip, '127.0.0.1');
    assert.equal(typeof durations(line).dns, 'number');
  });
});

describe('proxy with the system resolver', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startProxy();
  });
  after(() => proxy.close());

  test('a failed system lookup is answered with the rcode the diagnosis learnt', async () => {
    mock.method(dns.promises, 'getServers', () => [fake.address]);
    failLookup('ENOTFOUND');
    try {
      const res = await viaProxy(proxy.port, `http://nodata.test:${origin.port}/`);
      assert.equal(res.status, 502);
      assert.match(String(res.headers['proxy-status']), /^hopwatch; error=dns_error; rcode="NODATA"; details=/);
      assert.equal((await proxy.logs.exchange(requestId(res.headers))).code, 'dns_nodata');
    } finally {
      mock.restoreAll();
    }
  });

  test('localhost resolves from /etc/hosts', async () => {
    const since = proxy.logs.lines.length;
    const res = await viaProxy(proxy.port, `http://localhost:${origin.port}/`);
    assert.equal(res.status, 200);
    const line = await exchangeTo(proxy, since, `localhost:${origin.port}`);
    assert.equal(line.code, 'ok');
    assert.equal(typeof durations(line).dns, 'number');
  });

  test('an IP literal skips DNS', async () => {
    const since = proxy.logs.lines.length;
    const res = await viaProxy(proxy.port, `http://127.0.0.1:${origin.port}/`);
    assert.equal(res.status, 200);
    const line = await exchangeTo(proxy, since, `127.0.0.1:${origin.port}`);
    assert.equal(line.code, 'ok');
    assert.equal(line.upstream_ip, '127.0.0.1');
    assert.equal(durations(line).dns, undefined);
  });
});
