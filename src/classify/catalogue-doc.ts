// Renders docs/errors.md from the catalogue (npm run docs). The doc is generated so it cannot
// drift; test/classify/catalogue-doc.test.ts fails when either side has a code the other lacks.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HOPS } from '../exchange/hops.ts';
import { CATALOGUE, CODES, type CatalogueEntry, type Code } from './catalogue.ts';

export const CATALOGUE_DOC = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));

const socks = (e: CatalogueEntry) => (e.socks === null ? '—' : `0x${e.socks.toString(16).padStart(2, '0')}`);
const status = (e: CatalogueEntry) => (e.status === null ? (e.source === 'upstream' ? 'the origin\'s' : 'as sent') : String(e.status));
const type = (e: CatalogueEntry) => (e.proxyStatus ? `\`${e.proxyStatus}\`` : '—');

function section(code: Code): string {
  const e = CATALOGUE[code];
  return [
    `### ${code}`,
    '',
    `| hop | HTTP status | Proxy-Status error | SOCKS5 reply | category | source | temporary |`,
    `|---|---|---|---|---|---|---|`,
    `| \`${e.hop}\` | ${status(e)} | ${type(e)} | ${socks(e)} | ${e.category} | ${e.source} | ${e.temporary ? 'yes' : 'no'} |`,
    '',
    `**Meaning:** ${e.cause}.`,
    '',
    `**How to fix:** ${e.action}.`,
    '',
  ].join('\n');
}

export function renderCatalogue(): string {
  const rows = CODES.map((code) => {
    const e = CATALOGUE[code];
    return `| [\`${code}\`](#${code}) | \`${e.hop}\` | ${status(e)} | ${type(e)} | ${socks(e)} | ${e.temporary ? 'yes' : 'no'} | ${e.cause} |`;
  });
  return [
    '# Error catalogue',
    '',
    '<!-- Generated from src/classify/catalogue.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every exchange hopwatch handles (an HTTP request, a CONNECT tunnel, a SOCKS5 session) ends with',
    'exactly one **code** from this list. The code is in the log line (`code`), in the metrics',
    '(`hopwatch_requests_total{code=…}`, `hopwatch_errors_total{code=…}`) and, when hopwatch',
    'itself answers, in the response: `Proxy-Status: hopwatch; error=<type>; details="…"` (RFC 9209)',
    'and a short body with the same fields.',
    '',
    `The **hop** says where the exchange stopped: ${HOPS.map((h) => `\`${h}\``).join(' → ')}.`,
    'The **source** says who produced the status the client saw: `proxy` (hopwatch decided),',
    '`upstream` (the origin\'s own status, passed through unchanged: `Proxy-Status` then carries only',
    '`received-status`), or `client` (the client went away). **Temporary** is the default judgement of',
    'the proxy error guide: a temporary failure may well pass on a retry, a structural one recurs',
    'until its cause is fixed.',
    '',
    'On SOCKS5 the **SOCKS5** column is the reply code sent for the request. Failures before the',
    'request are answered in the handshake instead: a client that speaks no SOCKS5 (or is too slow)',
    'is closed without a reply, and a refused login gets `05 FF` (no acceptable method) or the',
    'RFC 1929 status `01`.',
    '',
    '| code | hop | HTTP | Proxy-Status error | SOCKS5 | temporary | meaning |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Codes',
    '',
    ...CODES.map(section),
  ].join('\n');
}

if (import.meta.main) writeFileSync(CATALOGUE_DOC, renderCatalogue());
