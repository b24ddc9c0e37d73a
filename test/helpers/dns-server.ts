// A tiny authoritative DNS server on 127.0.0.1 (UDP, ephemeral port) that a test programs per
// name, so every resolver outcome (records, NXDOMAIN, NODATA, SERVFAIL, REFUSED, silence) can be
// produced on demand. It speaks just enough RFC 1035 for c-ares: one question, A/AAAA answers.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { isIPv6 } from 'node:net';

/** What the server does for a name: answer these records, or fail in one way. */
export type DnsBehaviour = { a?: readonly string[]; aaaa?: readonly string[] } | 'nxdomain' | 'nodata' | 'servfail' | 'refused' | 'silent';

export interface DnsQuery {
  name: string;
  /** 'A', 'AAAA' or the numeric QTYPE. */
  type: string;
}

export interface FakeDns {
  /** "127.0.0.1:PORT", as dns.servers takes it. */
  address: string;
  queries: DnsQuery[];
  /**
   * Programs (or reprograms) a name, or only its A or AAAA questions (a server that drops AAAA
   * queries, say). Names nobody programmed get NXDOMAIN.
   */
  set(name: string, behaviour: DnsBehaviour, type?: 'A' | 'AAAA'): void;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE: Record<string, number> = { nxdomain: 3, servfail: 2, refused: 5 };

export async function startDnsServer(zone: Record<string, DnsBehaviour> = {}): Promise<FakeDns> {
  const names = new Map(Object.entries(zone).map(([k, v]) => [k.toLowerCase(), v]));
  const queries: DnsQuery[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, peer) => {
    const question = parseQuestion(msg);
    if (!question) return; // not a query we understand: a real server would FORMERR, silence is enough here
    const type = question.type === TYPE_A ? 'A' : question.type === TYPE_AAAA ? 'AAAA' : String(question.type);
    queries.push({ name: question.name, type });
    const behaviour = names.get(`${question.name} ${type}`) ?? names.get(question.name) ?? 'nxdomain';
    if (behaviour === 'silent') return;
    socket.send(reply(msg, question, behaviour), peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries,
    set: (name, behaviour, type) => void names.set(type ? `${name.toLowerCase()} ${type}` : name.toLowerCase(), behaviour),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

interface Question {
  name: string;
  type: number;
  /** Offset just past QCLASS: the question's bytes are msg[12, end). */
  end: number;
}

/** The first question of a standard query, or undefined for anything else. */
function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg[2]! & 0x80 || msg.readUInt16BE(4) < 1) return undefined; // a response, or no question
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const length = msg[at];
    if (length === undefined || length > 63) return undefined; // truncated, or a compression pointer queries never use
    at += 1;
    if (length === 0) break;
    labels.push(msg.toString('latin1', at, at + length));
    at += length;
  }
  if (at + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at), end: at + 4 };
}

function reply(query: Buffer, question: Question, behaviour: Exclude<DnsBehaviour, 'silent'>): Buffer {
  const records = typeof behaviour === 'object' ? answersFor(question.type, behaviour) : [];
  const rcode = typeof behaviour === 'string' ? (RCODE[behaviour] ?? 0) : 0; // nodata is NOERROR, no answers
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // ID
  // QR, the query's opcode and RD, RA, and the rcode.
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4); // QDCOUNT: the question is echoed
  header.writeUInt16BE(records.length, 6); // ANCOUNT; NSCOUNT and ARCOUNT stay 0 (no EDNS)
  return Buffer.concat([header, query.subarray(12, question.end), ...records]);
}

function answersFor(type: number, records: { a?: readonly string[]; aaaa?: readonly string[] }): Buffer[] {
  const addresses = type === TYPE_A ? (records.a ?? []) : type === TYPE_AAAA ? (records.aaaa ?? []) : [];
  return addresses.map((address) => {
    const rdata = type === TYPE_A ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // NAME: a pointer to the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // CLASS IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
}

function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address) || address.includes('.')) throw new Error(`not a plain IPv6 address: ${address}`);
  const [head = '', tail] = address.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const missing = tail === undefined ? [] : Array<string>(8 - groups(head).length - groups(tail).length).fill('0');
  const out = Buffer.alloc(16);
  [...groups(head), ...missing, ...groups(tail ?? '')].forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
