import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CATALOGUE, CODES, codeForUpstreamStatus } from '../../src/classify/catalogue.ts';
import { CATALOGUE_DOC, renderCatalogue } from '../../src/classify/catalogue-doc.ts';
import { HopFailure } from '../../src/classify/failure.ts';
import { proxyStatusForFailure, sfString } from '../../src/classify/proxy-status.ts';
import { classify } from '../../src/classify/rules.ts';

describe('docs/errors.md', () => {
  const doc = readFileSync(CATALOGUE_DOC, 'utf8');
  const tableCodes = [...doc.matchAll(/^\| \[`([a-z0-9_]+)`\]/gm)].map((m) => m[1]!);
  const sectionCodes = [...doc.matchAll(/^### ([a-z0-9_]+)$/gm)].map((m) => m[1]!);

  it('lists every code of the catalogue, in the table and as a section', () => {
    const missing = CODES.filter((c) => !tableCodes.includes(c) || !sectionCodes.includes(c));
    assert.deepEqual(missing, [], 'codes missing from docs/errors.md: run `npm run docs`');
  });

  it('lists no code the catalogue does not have', () => {
    const unknown = [...new Set([...tableCodes, ...sectionCodes])].filter((c) => !(c in CATALOGUE));
    assert.deepEqual(unknown, [], 'docs/errors.md documents codes that do not exist: run `npm run docs`');
  });

  it('says for each code exactly what the catalogue says (status, type, SOCKS reply, advice)', () => {
    assert.equal(doc, renderCatalogue(), 'docs/errors.md is stale: run `npm run docs`');
  });
});

describe('the catalogue', () => {
  it('gives every proxy-decided failure a status, an RFC 9209 type and advice', () => {
    for (const code of CODES) {
      const e = CATALOGUE[code];
      assert.ok(e.cause.length > 10 && e.action.length > 5, code);
      // SOCKS handshake failures are answered in SOCKS, never with an HTTP status.
      if (e.source === 'proxy' && e.hop !== 'deliver' && !code.startsWith('socks_')) {
        assert.ok(e.status !== null, `${code} needs a status`);
        assert.ok(e.proxyStatus !== null, `${code} needs a Proxy-Status type`);
      }
      if (e.source === 'upstream') assert.equal(e.proxyStatus, null, `${code}: the origin's status carries no error type`);
    }
  });

  it('maps the upstream\'s own statuses to bounded codes', () => {
    assert.equal(codeForUpstreamStatus(200), 'ok');
    assert.equal(codeForUpstreamStatus(304), 'ok');
    assert.equal(codeForUpstreamStatus(503), 'upstream_503');
    assert.equal(codeForUpstreamStatus(418), 'upstream_4xx');
    assert.equal(codeForUpstreamStatus(599), 'upstream_5xx');
  });
});

describe('classify: Node errors to codes, by hop', () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });
  const cases: Array<[Parameters<typeof classify>[0], Error, string]> = [
    ['dns', err('ENOTFOUND'), 'dns_nxdomain'],
    ['dns', err('ENODATA'), 'dns_nodata'],
    ['dns', err('ESERVFAIL'), 'dns_server_failure'],
    ['dns', err('EREFUSED'), 'dns_server_failure'],
    ['dns', err('ETIMEOUT'), 'dns_timeout'],
    ['connect', err('ECONNREFUSED'), 'connect_refused'],
    ['connect', err('ETIMEDOUT'), 'connect_timeout'],
    ['connect', err('ENETUNREACH'), 'net_unreachable'],
    ['connect', err('EHOSTUNREACH'), 'host_unreachable'],
    ['tls', err('CERT_HAS_EXPIRED'), 'tls_cert_expired'],
    ['tls', err('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls_cert_hostname_mismatch'],
    ['tls', err('DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls_cert_untrusted'],
    ['tls', err('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'), 'tls_alert'],
    ['tls', err('ERR_SSL_WRONG_VERSION_NUMBER'), 'tls_protocol_error'],
    ['upstream', err('ECONNRESET'), 'upstream_closed'],
    ['upstream', err('HPE_INVALID_CONSTANT'), 'upstream_bad_response'],
    ['deliver', err('ECONNRESET'), 'response_incomplete'],
    ['upstream', new Error('no code at all'), 'internal_error'],
  ];
  for (const [hop, error, expected] of cases) {
    it(`${hop} ${(error as { code?: string }).code ?? 'uncoded'} → ${expected}`, () => {
      const failure = classify(hop, error);
      assert.equal(failure.code, expected);
      assert.equal(failure.hop, hop);
    });
  }

  it('uses the last error of an AggregateError (several addresses tried)', () => {
    const agg = Object.assign(new AggregateError([err('ECONNREFUSED'), err('ENETUNREACH')], ''), { code: 'ECONNREFUSED' });
    assert.equal(classify('connect', agg).code, 'net_unreachable');
  });

  it('keeps the rcode and the alert id as Proxy-Status parameters', () => {
    assert.deepEqual(classify('dns', err('ESERVFAIL')).params, { rcode: 'SERVFAIL' });
    assert.deepEqual(classify('tls', err('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE')).params, { 'alert-id': 40, 'alert-message': 'handshake_failure' });
  });

  it('passes an already classified failure through unchanged', () => {
    const f = new HopFailure('response_timeout', 'slow');
    assert.equal(classify('upstream', f), f);
  });
});

describe('Proxy-Status', () => {
  it('formats the RFC 9209 member with the type\'s parameters', () => {
    assert.equal(
      proxyStatusForFailure('hopwatch', new HopFailure('dns_nxdomain', 'no.such: NXDOMAIN', { params: { rcode: 'NXDOMAIN' } })),
      'hopwatch; error=dns_error; rcode="NXDOMAIN"; details="no.such: NXDOMAIN"',
    );
    assert.equal(
      proxyStatusForFailure('hopwatch', new HopFailure('request_header_too_large', 'big')),
      'hopwatch; error=http_request_error; status-code=431; details="big"',
    );
  });

  it('keeps details a valid structured-field string whatever the input', () => {
    assert.equal(sfString('a "quoted" \\ path'), '"a \\"quoted\\" \\\\ path"');
    assert.equal(sfString('line\r\nbreak\u00e9\u0000'), '"line??break??"');
    assert.ok(sfString('x'.repeat(1000)).length <= 202);
  });
});
