import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, validateConfig } from '../../src/config/load.ts';
import { Exchange } from '../../src/exchange/record.ts';
import { Lifecycle } from '../../src/exchange/lifecycle.ts';
import { AccessPolicy, normalizeAddress, registerAccess } from '../../src/policy/access.ts';
import { connectVia, viaProxy } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { httpOrigin, type Upstream } from '../helpers/upstreams.ts';

const policy = (access: Record<string, unknown>) => new AccessPolicy(validateConfig({ access }).access);

describe('AccessPolicy', () => {
  it('admits clients by CIDR, IPv4-mapped IPv6 included', () => {
    const p = policy({ allowClients: ['10.0.0.0/8', '2001:db8::/32'] });
    assert.equal(p.clientAllowed('10.1.2.3'), true);
    assert.equal(p.clientAllowed('::ffff:10.1.2.3'), true);
    assert.equal(p.clientAllowed('2001:db8::7'), true);
    assert.equal(p.clientAllowed('11.0.0.1'), false);
    assert.equal(p.clientAllowed('::1'), false);
    assert.equal(normalizeAddress('::FFFF:127.0.0.1'), '127.0.0.1');
  });

  it('calls a client with no peer address (reset before accept) gone, not denied', async () => {
    const lifecycle = new Lifecycle();
    const p = policy({ allowClients: ['0.0.0.0/0', '::/0'] });
    registerAccess(lifecycle, () => p);
    const gone = await lifecycle.runInterceptors('client', new Exchange(lifecycle, 'connect', '', 0));
    assert.equal(gone?.code, 'client_abort');
    assert.equal(gone?.hop, 'client');
    assert.equal(await lifecycle.runInterceptors('client', new Exchange(lifecycle, 'connect', '192.0.2.1', 1)), undefined);
    const strict = new Lifecycle();
    registerAccess(strict, () => policy({ allowClients: ['10.0.0.0/8'] }));
    assert.equal((await strict.runInterceptors('client', new Exchange(strict, 'http', '192.0.2.1', 1)))?.code, 'client_denied');
  });

  it('matches destination names exactly or by suffix, and literals by range', () => {
    const p = policy({ denyDestinations: ['.corp.example', 'db.example.com', '10.0.0.0/8', 'fd00::/8'] });
    assert.equal(p.destinationDenied('a.b.corp.example', 443)?.code, 'destination_denied');
    assert.equal(p.destinationDenied('corp.example', 443)?.code, 'destination_denied');
    assert.equal(p.destinationDenied('DB.example.com.', 443)?.code, 'destination_denied');
    assert.equal(p.destinationDenied('notcorp.example', 443), undefined);
    assert.equal(p.destinationDenied('www.example.com', 443), undefined);
    assert.equal(p.destinationDenied('10.9.9.9', 80)?.code, 'destination_ip_denied');
    assert.equal(p.destinationDenied('::ffff:10.9.9.9', 80)?.code, 'destination_ip_denied');
    assert.equal(p.destinationDenied('fd12::1', 80)?.code, 'destination_ip_denied');
  });

  it('denies private, loopback, link-local and metadata destinations only when switched on', () => {
    const off = policy({});
    const on = policy({ denyPrivateDestinations: true });
    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.5.5', '192.168.1.1', '169.254.169.254', '100.64.0.1', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:192.168.0.1']) {
      assert.equal(off.addressDenied(address), undefined, address);
      assert.equal(on.addressDenied(address), 'access.denyPrivateDestinations', address);
    }
    assert.equal(on.addressDenied('93.184.216.34'), undefined);
    assert.equal(on.addressDenied('2606:2800:220:1::1'), undefined);
    assert.equal(on.destinationDenied('metadata.google.internal', 80)?.code, 'destination_denied');
    assert.equal(on.destinationDenied('api.localhost', 80)?.code, 'destination_denied');
  });

  it('allows tunnel ports from single ports and ranges; the default is 80, 443 and 1024-65535', () => {
    const byDefault = policy({});
    assert.deepEqual([22, 25, 80, 443, 1023, 1024, 8443, 65535].map((p) => byDefault.portAllowed(p)), [false, false, true, true, false, true, true, true]);
    const narrow = policy({ allowPorts: ['443', '8000-8099'] });
    assert.deepEqual([80, 443, 8000, 8099, 8100].map((p) => narrow.portAllowed(p)), [false, true, true, true, false]);
  });
});

describe('no open proxy by accident', () => {
  const open = { http: { host: '0.0.0.0' }, access: { allowClients: ['0.0.0.0/0', '::/0'] } };
  function problems(config: Record<string, unknown>): readonly string[] {
    try {
      validateConfig(config);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
  }

  it('refuses a non-loopback listener with no users and every client allowed, naming the listener and the fixes', () => {
    const found = problems(open);
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0]!, /^\/http\/host: 0\.0\.0\.0 is reachable from other machines/);
    assert.match(found[0]!, /auth\.users/);
    assert.match(found[0]!, /allowOpenProxy: true/);
    assert.match(problems({ ...open, http: { enabled: false }, socks: { enabled: true, host: '::' } })[0]!, /^\/socks\/host: ::/);
  });

  it('accepts it with users, a narrower allow-list, a loopback bind, or allowOpenProxy', () => {
    assert.deepEqual(problems({ ...open, auth: { users: [{ username: 'a', password: 'b' }] } }), []);
    assert.deepEqual(problems({ ...open, access: { allowClients: ['10.0.0.0/8'] } }), []);
    assert.deepEqual(problems({ ...open, http: { host: '127.0.0.1' } }), []);
    assert.deepEqual(problems({ ...open, allowOpenProxy: true }), []);
  });
});

describe('access policy through the proxy', () => {
  let dns: FakeDns;
  let origin: Upstream;
  const proxies: TestProxy[] = [];
  const start = async (config: Record<string, unknown>) => {
    const proxy = await startProxy({ dns: { servers: [dns.address] }, ...config });
    proxies.push(proxy);
    return proxy;
  };
  before(async () => {
    origin = await httpOrigin((_req, res) => res.end('reached'));
    dns = await startDnsServer({
      'api.blocked.test': { a: ['127.0.0.1'] },
      'sneaky.test': { a: ['127.0.0.2'] },
      'mixed.test': { a: ['127.0.0.1', '127.0.0.2'] },
      'fine.test': { a: ['127.0.0.1'] },
    });
  });
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await dns.close();
    await origin.close();
  });

  it('a client outside allowClients gets 403 before any credentials are asked for', async () => {
    const proxy = await start({ access: { allowClients: ['10.0.0.0/8'] }, auth: { users: [{ username: 'u', password: 'p' }] } });
    const before = await scrape(proxy.adminUrl);
    const res = await viaProxy(proxy.port, `${origin.origin}/`);
    assert.equal(res.status, 403, 'not 407: the client may not use the proxy at all');
    assert.match(String(res.headers['proxy-status']), /^hopwatch; error=http_request_denied; details="client 127\.0\.0\.1 is not in access\.allowClients"/);
    const log = await proxy.logs.exchange(res.headers['x-request-id']);
    assert.equal(log.code, 'client_denied');
    assert.equal(log.hop, 'client');
    assert.equal(log.category, 'access');
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${origin.port}`);
    assert.equal(tunnel.status, 403);
    assert.equal((await proxy.logs.exchange(tunnel.headers['x-request-id'])).code, 'client_denied');
    const after = await scrape(proxy.adminUrl);
    assert.equal(sample(after, 'hopwatch_requests_total', { code: 'client_denied' }) - sample(before, 'hopwatch_requests_total', { code: 'client_denied' }), 2);
    assert.equal(sample(after, 'hopwatch_auth_failures_total') - sample(before, 'hopwatch_auth_failures_total'), 0);
  });

  it('a denied name is refused at the policy hop, before DNS', async () => {
    const proxy = await start({ access: { denyDestinations: ['.blocked.test'] } });
    const queriesBefore = dns.queries.length;
    const res = await viaProxy(proxy.port, `http://api.blocked.test:${origin.port}/`);
    assert.equal(res.status, 403);
    assert.match(String(res.headers['proxy-status']), /error=http_request_denied/);
    const log = await proxy.logs.exchange(res.headers['x-request-id']);
    assert.equal(log.code, 'destination_denied');
    assert.equal(log.hop, 'policy');
    assert.equal(dns.queries.length, queriesBefore, 'the name was never resolved');
  });

  it('a name resolving into a denied range is refused after DNS, whatever the name', async () => {
    const proxy = await start({ access: { denyDestinations: ['127.0.0.2/32'] } });
    for (const [url, hop] of [
      [`http://sneaky.test:${origin.port}/`, 'connect'],
      [`http://mixed.test:${origin.port}/`, 'connect'],
      [`http://127.0.0.2:${origin.port}/`, 'policy'],
      [`http://[::ffff:127.0.0.2]:${origin.port}/`, 'policy'],
    ] as const) {
      const res = await viaProxy(proxy.port, url);
      assert.equal(res.status, 403, url);
      assert.match(String(res.headers['proxy-status']), /^hopwatch; error=destination_ip_prohibited/, url);
      const log = await proxy.logs.exchange(res.headers['x-request-id']);
      assert.equal(log.code, 'destination_ip_denied', url);
      assert.equal(log.hop, hop, url);
      assert.equal(log.attempts, undefined, `${url}: no connection was attempted`);
    }
    assert.equal((await viaProxy(proxy.port, `http://fine.test:${origin.port}/`)).status, 200);
  });

  it('denyPrivateDestinations stops a public-looking name that points at loopback (SSRF)', async () => {
    const proxy = await start({ access: { denyPrivateDestinations: true } });
    const res = await viaProxy(proxy.port, `http://fine.test:${origin.port}/`);
    assert.equal(res.status, 403);
    const log = await proxy.logs.exchange(res.headers['x-request-id']);
    assert.equal(log.code, 'destination_ip_denied');
    assert.match(String(log.detail), /access\.denyPrivateDestinations/);
    const metadata = await viaProxy(proxy.port, 'http://169.254.169.254/latest/meta-data/');
    assert.equal(metadata.status, 403);
    const tunnel = await connectVia(proxy.port, `localhost:${origin.port}`);
    assert.equal(tunnel.status, 403);
  });

  it('tunnels only reach allowed ports; forwarded HTTP is not port-limited', async () => {
    const proxy = await start({ access: { allowPorts: ['443'] } });
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${origin.port}`);
    assert.equal(tunnel.status, 403);
    assert.match(tunnel.headers['proxy-status']!, /error=http_request_denied/);
    const log = await proxy.logs.exchange(tunnel.headers['x-request-id']);
    assert.equal(log.code, 'port_denied');
    const forwarded = await viaProxy(proxy.port, `${origin.origin}/`);
    assert.equal(forwarded.status, 200);
  });
});
