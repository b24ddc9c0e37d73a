// The doctor's parsing: its arguments, and a proxy's answer read back into a catalogue code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DoctorUsageError, parseDoctorArgs } from '../../src/doctor/args.ts';
import { codeFromAnswer, parseProxyStatus, reportingMember } from '../../src/doctor/proxy-answer.ts';

function options(args: string[]) {
  const parsed = parseDoctorArgs(args);
  assert.equal(parsed.help, false);
  return parsed.help ? assert.fail('help') : parsed.options;
}

describe('doctor arguments', () => {
  it('reads the target, default ports and the defaults', () => {
    const o = options(['https://user:pw@[::1]/a?b=1']);
    assert.deepEqual(o.target, { url: 'https://[::1]/a?b=1', scheme: 'https', host: '::1', port: 443, path: '/a?b=1' });
    assert.deepEqual([o.timeoutMs, o.json, o.proxy, o.dnsServer], [5000, false, undefined, undefined]);
  });

  it('decodes proxy credentials and never shows the password', () => {
    const o = options(['http://x/', '--proxy', 'http://al%40ce:p%3Ass@127.0.0.1:8080', '--socks', 'socks5://127.0.0.1:1080', '--dns-server', '127.0.0.1:5353', '--json', '--timeout', '250']);
    assert.deepEqual([o.proxy?.username, o.proxy?.password, o.proxy?.display], ['al@ce', 'p:ss', 'http://al%40ce:***@127.0.0.1:8080']);
    assert.deepEqual([o.socks?.remoteDns, o.socks?.username], [false, undefined]);
    assert.deepEqual([o.dnsServer, o.json, o.timeoutMs], ['127.0.0.1:5353', true, 250]);
  });

  it('refuses what it cannot use, as usage errors', () => {
    const bad = [[], ['a', 'b'], ['ftp://x/'], ['http://x/', '--timeout', '0'], ['http://x/', '--proxy', 'https://p:1'], ['http://x/', '--socks', 'socks5h://p'],
      ['http://x/', '--dns-server', 'resolver.local'], ['http://x/', '--dns-server', '127.0.0.1:99999'], ['http://x/', '--admin', 'ftp://a'], ['http://x/', '--what']];
    for (const args of bad) assert.throws(() => parseDoctorArgs(args), DoctorUsageError, args.join(' '));
    assert.deepEqual(parseDoctorArgs(['--help']), { help: true });
  });
});

describe('reading a proxy\'s answer', () => {
  it('parses Proxy-Status members and their parameters, quotes and escapes included', () => {
    const members = parseProxyStatus('origin-lb; error=connection_timeout, hopwatch; error=dns_error; rcode="NXDOMAIN"; details="a, b; \\"c\\""');
    assert.deepEqual(members, [
      { name: 'origin-lb', params: { error: 'connection_timeout' } },
      { name: 'hopwatch', params: { error: 'dns_error', rcode: 'NXDOMAIN', details: 'a, b; "c"' } },
    ]);
    assert.equal(reportingMember('a; received-status=503')?.params['received-status'], '503');
  });

  it('names the code: from hopwatch\'s body, its JSON, received-status, the error type, or a bare 407', () => {
    assert.equal(codeFromAnswer(407, undefined, '407 Proxy Authentication Required: auth_invalid at hop auth\n', false), 'auth_invalid');
    assert.equal(codeFromAnswer(502, undefined, '{"code":"tls_alert"}', false), 'tls_alert');
    assert.equal(codeFromAnswer(503, 'hopwatch; received-status=503', 'overloaded', false), 'upstream_503');
    assert.equal(codeFromAnswer(504, 'squid; error=dns_timeout', '', false), 'dns_timeout');
    assert.equal(codeFromAnswer(403, 'other; error=http_request_denied', '', false), 'client_denied');
    assert.equal(codeFromAnswer(407, undefined, '', false), 'auth_missing');
    assert.equal(codeFromAnswer(407, 'p; error=http_request_error', '', true), 'auth_invalid');
    assert.equal(codeFromAnswer(500, undefined, 'oops', false), 'upstream_500');
  });
});
