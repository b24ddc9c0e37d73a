// Header rewriting for forwarded HTTP messages, both directions (RFC 9110 §7.6.1): hop-by-hop
// fields and every field the Connection header nominates are dropped, and so are the proxy's
// own credentials. Works on raw header arrays to keep case, order and repeated fields.

/** Fields that describe one connection, never the message. */
const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  // The proxy's own credentials and challenges belong to this hop only.
  'proxy-authorization', 'proxy-authenticate',
  // hopwatch already answered 100-continue itself; the upstream gets the body as it comes.
  'expect',
]);

export interface Forwardable {
  /** The fields to send on, as a raw array (name, value, name, value…). */
  headers: string[];
  /** Every Via value, joined. */
  via: string | undefined;
  /** Whether the message announces a body (Content-Length above 0, or Transfer-Encoding). */
  hasBody: boolean;
}

/** Copies `raw` (name, value, name, value…) without hop-by-hop fields and without `drop`. */
export function forwardable(raw: readonly string[], drop?: ReadonlySet<string>): Forwardable {
  let nominated: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) {
        const name = token.trim().toLowerCase();
        if (name) (nominated ??= new Set()).add(name);
      }
    }
  }
  const headers: string[] = [];
  let via: string | undefined;
  let hasBody = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding' || (lower === 'content-length' && raw[i + 1]!.trim() !== '0')) hasBody = true;
    if (HOP_BY_HOP.has(lower) || nominated?.has(lower) || drop?.has(lower)) continue;
    if (lower === 'via') via = via ? `${via}, ${raw[i + 1]}` : raw[i + 1];
    headers.push(name, raw[i + 1]!);
  }
  return { headers, via, hasBody };
}
