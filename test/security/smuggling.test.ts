// Request smuggling: a request whose framing two parsers could read two ways is refused with
// 400 request_malformed at hop parse, and nothing of it (nor anything pipelined behind it)
// reaches the origin. Raw sockets put the exact bytes on the wire; a recording origin shows what
// got through. Most of these llhttp refuses itself; the rest hopwatch refuses on top of it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it, type TestContext } from 'node:test';
import { rawExchange, viaProxy } from '../helpers/client.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import {
  RESPONSE_ANSWER_FIELDS, SOCKET_ANSWER_FIELDS, assertFieldNames, assertTextBody, parseSfMember, readHead, readHeads, recordingOrigin, settle,
  type RawHead, type RecordingOrigin,
} from './support.ts';

const T = { timeout: 10_000 };

let proxy: TestProxy;
let origin: RecordingOrigin;
let o: string;
before(async () => {
  origin = await recordingOrigin();
  o = origin.origin;
  proxy = await startProxy();
});
after(async () => {
  await proxy.close();
  await origin.close();
});
beforeEach(async () => {
  // A pooled upstream connection is the fastest path a smuggled request could take: keep one.
  await viaProxy(proxy.port, `${o}/warm`, { agent: false });
  await settle(20);
  origin.reset();
});

/** Checks the origin saw nothing, then that the proxy still forwards (and only that). */
async function assertNothingForwarded(): Promise<void> {
  await settle();
  assert.equal(origin.bytes().length, 0, `the origin received ${JSON.stringify(origin.bytes().toString('latin1').slice(0, 300))}`);
  const marker = await viaProxy(proxy.port, `${o}/marker`);
  assert.equal(marker.body, 'origin saw GET /marker');
  assert.deepEqual(origin.requests.map((r) => r.url), ['/marker']);
}

/** Checks a 400 request_malformed answer and its log line; returns both. */
async function assertRefused(head: RawHead, detail: RegExp) {
  assert.equal(head.status, 400, head.body);
  assert.equal(head.headers.connection, 'close');
  const member = parseSfMember(head.headers['proxy-status'] ?? '');
  assert.equal(member.params.get('error'), 'http_request_error');
  assert.equal(member.params.get('status-code'), 400);
  const body = assertTextBody(head.body, 400, 'request_malformed');
  assert.match(body.detail, detail);
  assert.equal(body.id, head.headers['x-request-id']);
  const log = await proxy.logs.exchange(head.headers['x-request-id']);
  assert.equal(log.code, 'request_malformed');
  assert.equal(log.hop, 'parse');
  assert.equal(log.status, 400);
  assert.equal(log.source, 'proxy');
  assert.match(String(log.detail), detail);
  return log;
}

/** Sends `bytes` on a fresh connection, expects one refusal, and nothing at the origin. */
async function expectRefused(bytes: string | Buffer, detail: RegExp): Promise<void> {
  const heads = readHeads(await rawExchange(proxy.port, bytes));
  assert.equal(heads.length, 1, 'exactly one answer on the connection');
  const head = heads[0]!;
  // Node's parse errors are answered on the raw socket, hopwatch's own refusals through Node.
  assertFieldNames(head, head.names.includes('Date') ? RESPONSE_ANSWER_FIELDS : SOCKET_ANSWER_FIELDS);
  await assertRefused(head, detail);
  await assertNothingForwarded();
}

const LLHTTP = /^HPE_[A-Z_]+: /;
const req = (head: string, body = '') => `POST ${o}/a HTTP/1.1\r\nHost: x\r\n${head}\r\n${body}`;

describe('smuggling: Content-Length and Transfer-Encoding together or twice → 400, nothing forwarded', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['Content-Length then Transfer-Encoding', () => req('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\nX'), /^HPE_INVALID_TRANSFER_ENCODING: /],
    ['Transfer-Encoding then Content-Length', () => req('Transfer-Encoding: chunked\r\nContent-Length: 6\r\n', '0\r\n\r\nX'), /^HPE_INVALID_CONTENT_LENGTH: /],
    ['Content-Length twice, same value', () => req('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), /^HPE_UNEXPECTED_CONTENT_LENGTH: /],
    ['Content-Length twice, different values', () => req('Content-Length: 5\r\nContent-Length: 11\r\n', 'hello world'), /^HPE_UNEXPECTED_CONTENT_LENGTH: /],
    ['Content-Length as a list', () => req('Content-Length: 5, 5\r\n', 'hello'), /^HPE_INVALID_CONTENT_LENGTH: /],
    ['Content-Length with a sign', () => req('Content-Length: +5\r\n', 'hello'), /^HPE_INVALID_CONTENT_LENGTH: /],
    ['Content-Length with a space before the colon', () => req('Content-Length : 5\r\n', 'hello'), LLHTTP],
    ['HTTP/1.0 with Transfer-Encoding and Content-Length', () => `POST ${o}/a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello`, LLHTTP],
  ];
  for (const [what, bytes, detail] of cases) it(what, T, () => expectRefused(bytes(), detail));
});

describe('smuggling: obsolete line folding → 400, nothing forwarded', () => {
  const cases: Array<[string, () => string]> = [
    ['a field continued on a line starting with a space', () => req('X-A: one\r\n two\r\n')],
    ['a field continued on a line starting with a tab', () => req('X-A: one\r\n\ttwo\r\n')],
    ['Transfer-Encoding folded onto the next line', () => req('Transfer-Encoding:\r\n chunked\r\n', '0\r\n\r\n')],
    ['Content-Length folded onto the next line', () => req('Content-Length:\r\n 5\r\n', 'hello')],
    ['a continuation line right after the request line', () => `GET ${o}/a HTTP/1.1\r\n X-A: b\r\nHost: x\r\n\r\n`],
  ];
  for (const [what, bytes] of cases) it(what, T, () => expectRefused(bytes(), LLHTTP));
});

describe('smuggling: Transfer-Encoding other than a single chunked → 400, nothing forwarded', () => {
  const ONLY_CHUNKED = /^(HPE_INVALID_TRANSFER_ENCODING: |Transfer-Encoding ".*": only chunked is accepted$)/;
  const cases: Array<[string, string, RegExp]> = [
    ['chunked, identity', 'Transfer-Encoding: chunked, identity\r\n', ONLY_CHUNKED],
    ['identity, chunked (llhttp accepts it: chunked is last)', 'Transfer-Encoding: identity, chunked\r\n', /^Transfer-Encoding "identity, chunked": only chunked is accepted$/],
    ['gzip, chunked (the gzip coding would be dropped with the field)', 'Transfer-Encoding: gzip, chunked\r\n', /^Transfer-Encoding "gzip, chunked": only chunked is accepted$/],
    ['identity and chunked in two fields', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n', /^Transfer-Encoding "identity, chunked": only chunked is accepted$/],
    ['gzip and chunked in two fields', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', /^Transfer-Encoding "gzip, chunked": only chunked is accepted$/],
    ['xchunked', 'Transfer-Encoding: xchunked\r\n', ONLY_CHUNKED],
    ['chunkedx', 'Transfer-Encoding: chunkedx\r\n', ONLY_CHUNKED],
    ['chunked with a parameter', 'Transfer-Encoding: chunked;q=1\r\n', ONLY_CHUNKED],
    ['identity alone', 'Transfer-Encoding: identity\r\n', ONLY_CHUNKED],
    ['chunked twice in two fields', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', ONLY_CHUNKED],
    ['chunked, chunked', 'Transfer-Encoding: chunked, chunked\r\n', ONLY_CHUNKED],
    ['chunked, with an empty element after it', 'Transfer-Encoding: chunked,\r\n', ONLY_CHUNKED],
    ['a tab after chunked (llhttp refuses it, stricter than RFC 9110 OWS)', 'Transfer-Encoding: chunked\t\r\n', /^HPE_INVALID_TRANSFER_ENCODING: /],
    ['a vertical tab before chunked', 'Transfer-Encoding:\x0bchunked\r\n', /^HPE_INVALID_HEADER_TOKEN: /],
    ['a form feed before chunked', 'Transfer-Encoding:\x0cchunked\r\n', /^HPE_INVALID_HEADER_TOKEN: /],
    ['an empty Transfer-Encoding', 'Transfer-Encoding:\r\n', /^HPE_INVALID_TRANSFER_ENCODING: /],
    ['Transfer_Encoding (an underscore) beside Content-Length', 'Transfer_Encoding: chunked\r\nContent-Length: 5\r\n', /^Transfer_Encoding: a framing field spelled with "_" is refused/],
    ['Content_Length (an underscore) beside Transfer-Encoding', 'Content_Length: 5\r\nTransfer-Encoding: chunked\r\n', /^Content_Length: a framing field spelled with "_" is refused/],
  ];
  for (const [what, fields, detail] of cases) it(what, T, () => expectRefused(req(fields, '5\r\nhello\r\n0\r\n\r\n'), detail));

  it('Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: faulty framing)', T, () =>
    expectRefused(`POST ${o}/a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, /^Transfer-Encoding in an HTTP\/1\.0 request: its framing cannot be trusted/));
});

describe('smuggling: line endings and the request line → 400, nothing forwarded', () => {
  const cases: Array<[string, () => string]> = [
    ['bare LF line endings throughout', () => `GET ${o}/a HTTP/1.1\nHost: x\n\n`],
    ['a bare LF after one field', () => `GET ${o}/a HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n`],
    ['a bare LF ending the head', () => `GET ${o}/a HTTP/1.1\r\nHost: x\r\n\n`],
    ['a bare LF after the request line', () => `GET ${o}/a HTTP/1.1\nHost: x\r\n\r\n`],
    ['a bare CR inside the head', () => `GET ${o}/a HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n`],
    ['a tab between method and target', () => `GET\t${o}/a HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['HTTP/1.2', () => `GET ${o}/a HTTP/1.2\r\nHost: x\r\n\r\n`],
    ['a NUL in a field value', () => `GET ${o}/a HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n`],
  ];
  for (const [what, bytes] of cases) it(what, T, () => expectRefused(bytes(), LLHTTP));
});

describe('smuggling: chunked bodies with bad chunk sizes → 400, nothing forwarded', () => {
  const chunked = (body: string) => req('Transfer-Encoding: chunked\r\n', body);
  const cases: Array<[string, string]> = [
    ['a size that is not hex', 'zz\r\nhello\r\n0\r\n\r\n'],
    ['a negative size', '-5\r\nhello\r\n0\r\n\r\n'],
    ['a size that overflows 64 bits', 'FFFFFFFFFFFFFFFFF5\r\nhello\r\n0\r\n\r\n'],
    ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['a space after the size', '5 \r\nhello\r\n0\r\n\r\n'],
    ['a size smaller than the data', '3\r\nhello\r\n0\r\n\r\n'],
    ['data running into the next size line', '5\r\nhelloXX0\r\n\r\n'],
    ['bare LF after the size', '5\nhello\n0\n\n'],
    ['a control byte in a chunk extension', '5;a=\x01\r\nhello\r\n0\r\n\r\n'],
    ['a size line with an embedded request', `5\r\nhello\r\n0 GET ${o}/smuggled HTTP/1.1\r\n\r\n`],
  ];
  for (const [what, body] of cases) it(what, T, () => expectRefused(chunked(body), LLHTTP));

  it('a chunk size that breaks in a later packet: the upstream request is cut, never completed', T, async (t: TestContext) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(chunked('5\r\nhello\r\n'));
    // Streaming means the head and the good chunk may go on: wait until the origin has them.
    while (origin.requests.length === 0) await settle(10);
    socket.write('zz\r\nmore\r\n0\r\n\r\n');
    await once(socket, 'close');
    const head = readHead(Buffer.concat(chunks).toString('latin1'));
    assertFieldNames(head, RESPONSE_ANSWER_FIELDS);
    await assertRefused(head, /^HPE_INVALID_CHUNK_SIZE: /);
    const [upstream] = origin.requests;
    await upstream!.settled;
    assert.equal(upstream!.complete, false, 'the origin never saw the end of the body');
    assert.ok(!origin.bytes().toString('latin1').includes('0\r\n\r\n'), 'no last-chunk reached the origin');
    await settle();
    assert.equal(origin.requests.length, 1);
  });
});

describe('smuggling: pipelined requests behind a refused one are not forwarded', () => {
  it('behind Content-Length with Transfer-Encoding (llhttp stops parsing)', T, async () => {
    await expectRefused(req('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\nGET ${o}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`), LLHTTP);
  });

  it('behind Transfer-Encoding: gzip, chunked (parsed, refused by hopwatch): the next request is recorded as not served', T, async () => {
    const since = proxy.logs.lines.length;
    await expectRefused(
      req('Transfer-Encoding: gzip, chunked\r\n', `0\r\n\r\nGET ${o}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`),
      /only chunked is accepted/,
    );
    const tail = await proxy.logs.nextExchange(since, (l) => l.path === '/smuggled');
    assert.equal(tail.code, 'request_malformed');
    assert.equal(tail.hop, 'parse');
    assert.match(String(tail.detail), /^pipelined behind request 1 of this connection, which was answered with a close: not served$/);
  });

  it('behind an origin-form request and behind an ftp:// request', T, async () => {
    for (const first of [`GET /x HTTP/1.1\r\nHost: x\r\n\r\n`, `GET ftp://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n`]) {
      const heads = readHeads(await rawExchange(proxy.port, `${first}GET ${o}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`));
      assert.deepEqual(heads.map((h) => h.status), [400], 'one answer');
    }
    await assertNothingForwarded();
  });

  it('a good request, a refused one, then another: the first is served in order, the third is not', T, async () => {
    const since = proxy.logs.lines.length;
    const raw = await rawExchange(
      proxy.port,
      `GET ${o}/first HTTP/1.1\r\nHost: x\r\n\r\n` +
        req('Transfer-Encoding: identity, chunked\r\n', '0\r\n\r\n') +
        `GET ${o}/third HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const [first, second, ...more] = readHeads(raw);
    assert.equal(first?.status, 200);
    assert.equal(first.body, 'origin saw GET /first');
    assert.equal(second?.status, 400);
    assert.match(second.body, /only chunked is accepted/);
    assert.equal(more.length, 0, 'two answers, none for the third');
    const third = await proxy.logs.nextExchange(since, (l) => l.path === '/third');
    assert.equal(third.code, 'request_malformed');
    await settle();
    assert.deepEqual(origin.requests.map((r) => r.url), ['/first']);
  });

  it('a good request, then a broken head: the first answer comes first, the 400 after it', T, async () => {
    const raw = await rawExchange(proxy.port, `GET ${o}/first HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\0\r\n\r\n`);
    const heads = readHeads(raw);
    assert.deepEqual(heads.map((h) => h.status), [200, 400], 'a 400 sent at once would pass for the answer to GET /first');
    assert.equal(heads[0]!.body, 'origin saw GET /first');
    assert.equal((await proxy.logs.exchange(heads[0]!.headers['x-request-id'])).code, 'ok');
    await assertRefused(heads[1]!, LLHTTP);
  });

  it('a CONNECT pipelined behind a refused request opens no tunnel', T, async () => {
    const since = proxy.logs.lines.length;
    const raw = await rawExchange(
      proxy.port,
      req('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n') +
        `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    assert.deepEqual(readHeads(raw).map((h) => h.status), [400], 'one answer, no 200 Connection Established');
    const tunnel = await proxy.logs.nextExchange(since, (l) => l.protocol === 'connect');
    assert.equal(tunnel.code, 'request_malformed');
    await assertNothingForwarded();
    assert.equal(origin.connections(), 0, 'no connection was even opened for the tunnel');
  });
});

describe('smuggling: what llhttp accepts, and what the origin then gets', () => {
  // Valid forms: hopwatch re-frames the body itself, so the origin sees one framing only.
  const valid: Array<[string, string]> = [
    ['chunked after a space', 'Transfer-Encoding:  chunked\r\n'],
    ['chunked after a tab', 'Transfer-Encoding:\tchunked\r\n'],
    ['chunked with a trailing space', 'Transfer-Encoding: chunked \r\n'],
    ['CHUNKED in capitals', 'Transfer-Encoding: CHUNKED\r\n'],
    ['chunked after an empty list element', 'Transfer-Encoding: , chunked\r\n'],
  ];
  for (const [what, fields] of valid) {
    it(`${what}: forwarded with hopwatch's own framing, one framing field only`, T, async () => {
      const raw = await rawExchange(proxy.port, req(`${fields}Connection: close\r\n`, '5\r\nhello\r\n0\r\n\r\n'));
      assert.equal(readHead(raw).status, 200);
      const [seen] = origin.requests;
      assert.equal(seen?.body, 'hello');
      // The upstream client re-frames the body: chunked, or a Content-Length when it had it all.
      const framing = seen!.rawHeaders.filter((_, i) => i % 2 === 0 && /^(transfer-encoding|content-length)$/i.test(seen!.rawHeaders[i]!));
      assert.equal(framing.length, 1, `one framing field, not ${framing.join(' and ')}`);
      assert.match(origin.bytes().toString('latin1'), /\r\n(transfer-encoding: chunked|content-length: 5)\r\n/i);
    });
  }

  // FINDING: llhttp skips repeated spaces in the request line and has no strict flag against it;
  // the raw line never reaches hopwatch. Harmless here because hopwatch re-serialises the line.
  const lines: Array<[string, () => string]> = [
    ['two spaces before the target', () => `GET  ${o}/a HTTP/1.1`],
    ['two spaces before the version', () => `GET ${o}/a  HTTP/1.1`],
  ];
  for (const [what, line] of lines) {
    it(`${what}: accepted by llhttp; the origin gets a single-space request line`, T, async () => {
      const raw = await rawExchange(proxy.port, `${line()}\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(readHead(raw).status, 200);
      assert.match(origin.bytes().toString('latin1'), /^GET \/a HTTP\/1\.1\r\n/);
    });
  }
});

describe('smuggling: --insecure-http-parser cannot loosen the listener', () => {
  it('a hopwatch process started with the flag still refuses Content-Length with Transfer-Encoding', { timeout: 20_000 }, async (t: TestContext) => {
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-insecure-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ http: { port: 0 }, admin: { enabled: false }, log: { level: 'info' } }));
    const child = spawn(process.execPath, ['--insecure-http-parser', 'src/cli.ts', 'serve', '--config', config], {
      cwd: new URL('../..', import.meta.url),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hopwatch did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const http = /"http":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1];
        if (http) {
          clearTimeout(timer);
          resolve(Number(http));
        }
      });
      child.once('exit', (code) => reject(new Error(`hopwatch exited with ${code}: ${out}`)));
    });
    const raw = await rawExchange(port, req('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\nGET ${o}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`));
    const head = readHead(raw);
    assert.equal(head.status, 400);
    assert.match(head.body, /HPE_INVALID_TRANSFER_ENCODING/);
    await settle();
    assert.equal(origin.bytes().length, 0);
  });
});
