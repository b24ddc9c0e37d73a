// Reading a proxy's error answer back into a catalogue code: hopwatch's body names the code
// exactly ("407 Proxy Authentication Required: auth_missing at hop auth"); any RFC 9209 proxy's
// Proxy-Status names an error type, which narrows it to the codes with that type and status.
import { CATALOGUE, CODES, codeForUpstreamStatus, type Code } from '../classify/catalogue.ts';

export interface ProxyStatusMember {
  name: string;
  params: Record<string, string>;
}

/** RFC 9209 / RFC 8941 list: members split on commas outside quoted strings, params on semicolons. */
export function parseProxyStatus(value: string): ProxyStatusMember[] {
  const members: ProxyStatusMember[] = [];
  for (const text of splitOutsideQuotes(value, ',')) {
    const [name = '', ...params] = splitOutsideQuotes(text, ';').map((p) => p.trim());
    const member: ProxyStatusMember = { name, params: {} };
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = eq < 0 ? param : param.slice(0, eq);
      const raw = eq < 0 ? '?1' : param.slice(eq + 1);
      member.params[key] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(["\\])/g, '$1') : raw;
    }
    if (name) members.push(member);
  }
  return members;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted && ch === '\\') {
      current += ch + (text[++i] ?? '');
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

/** The member that reports an error (the one nearest the origin comes first), else the last. */
export function reportingMember(value: string | undefined): ProxyStatusMember | undefined {
  if (!value) return undefined;
  const members = parseProxyStatus(value);
  return members.find((m) => m.params.error) ?? members.at(-1);
}

function isCode(text: string): text is Code {
  return Object.hasOwn(CATALOGUE, text);
}

/** The code a proxy's answer stands for; `hadCredentials` tells a bare 407's two meanings apart. */
export function codeFromAnswer(status: number, proxyStatus: string | undefined, body: string, hadCredentials: boolean): Code {
  // hopwatch's text body names the code on its first line; its JSON body carries it as "code".
  const text = /^\d{3} [^\n:]*: ([a-z0-9_]+) at hop [a-z]+/.exec(body)?.[1];
  if (text && isCode(text)) return text;
  try {
    const json = JSON.parse(body) as { code?: unknown };
    if (typeof json.code === 'string' && isCode(json.code)) return json.code;
  } catch {
    // not JSON: fall through to Proxy-Status
  }
  const member = reportingMember(proxyStatus);
  const received = Number(member?.params['received-status']);
  if (received) return codeForUpstreamStatus(received);
  // A bare 407 (or one with only a generic error type) cannot say which; the request can.
  if (status === 407) return hadCredentials ? 'auth_invalid' : 'auth_missing';
  const type = member?.params.error;
  if (type) {
    const candidates = CODES.filter((c) => CATALOGUE[c].proxyStatus === type);
    const exact = candidates.find((c) => CATALOGUE[c].status === status);
    const found = exact ?? candidates[0];
    if (found) return found;
  }
  return codeForUpstreamStatus(status);
}
