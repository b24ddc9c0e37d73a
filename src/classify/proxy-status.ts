// RFC 9209 Proxy-Status members. Values are RFC 8941 structured fields: strings are quoted,
// may hold only printable ASCII, and escape `"` and `\`.
import { CATALOGUE } from './catalogue.ts';
import type { HopFailure } from './failure.ts';

const MAX_DETAILS = 200;

export function sfString(text: string): string {
  let out = '';
  for (const ch of text.slice(0, MAX_DETAILS)) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c > 0x7e) out += '?';
    else if (ch === '"' || ch === '\\') out += '\\' + ch;
    else out += ch;
  }
  return `"${out}"`;
}

/** `hopwatch; error=dns_error; rcode="NXDOMAIN"; details="…"` for a proxy-generated failure. */
export function proxyStatusForFailure(proxyName: string, failure: HopFailure): string {
  const entry = CATALOGUE[failure.code];
  let member = proxyName;
  if (entry.proxyStatus) member += `; error=${entry.proxyStatus}`;
  if (entry.proxyStatus === 'http_request_error' && entry.status) member += `; status-code=${entry.status}`;
  const p = failure.params;
  if (p.rcode) member += `; rcode=${sfString(p.rcode)}`;
  if (p['alert-id'] !== undefined) member += `; alert-id=${p['alert-id']}`;
  if (p['alert-message']) member += `; alert-message=${p['alert-message']}`;
  if (p['received-status'] !== undefined) member += `; received-status=${p['received-status']}`;
  if (failure.detail) member += `; details=${sfString(failure.detail)}`;
  return member;
}

/** The member added to an error status the upstream produced itself: who answered, no error type. */
export function proxyStatusForUpstream(proxyName: string, status: number): string {
  return `${proxyName}; received-status=${status}`;
}
