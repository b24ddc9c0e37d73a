// Bulk data through CONNECT and SOCKS5 tunnels, byte for byte: the relay reads the upstream into
// buffers it reuses and frees the client's reads once written (src/front/tunnel.ts,
// upstream-reads.ts), so every byte is checked after the trip, with readers fast and slow (a
// slow one leaves writes pending, which is when a reused buffer must not be read into), in
// writes of odd sizes, and the record's byte counts each way.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectVia } from '../helpers/client.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { tcpServer, type Upstream } from '../helpers/upstreams.ts';

const SIZE = 6 * 1024 * 1024 + 12_345;
const DATA = randomBytes(SIZE);
const DIGEST = createHash('sha256').update(DATA).digest('hex');

/** Writes DATA in pieces of varying size (1 B to 300 KiB), waiting for drain. */
async function writeAll(socket: net.Socket): Promise<void> {
  let at = 0;
  let i = 0;
  while (at < SIZE) {
    const size = [1, 700, 65_536, 300 * 1024, 4096, 131_071][i++ % 6]!;
    const piece = DATA.subarray(at, Math.min(SIZE, at + size));
    at += piece.length;
    if (!socket.write(piece)) await once(socket, 'drain');
  }
}

/**
 * The origin: reads "get\n" (sends DATA and closes) or "put\n" (reads SIZE bytes, answers their
 * sha256 and closes); "slowput\n" pauses reading for a moment every 256 KiB, so the proxy's
 * writes to it back up.
 */
function serve(socket: net.Socket): void {
  let head = Buffer.alloc(0);
  const onHead = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    socket.off('data', onHead);
    const verb = head.subarray(0, nl).toString();
    const rest = head.subarray(nl + 1);
    if (verb === 'get') {
      void writeAll(socket).then(() => socket.end());
      return;
    }
    const hash = createHash('sha256');
    let got = 0;
    let nextPause = 256 * 1024;
    const take = (bytes: Buffer) => {
      hash.update(bytes);
      got += bytes.length;
      if (got >= SIZE) socket.end(`${hash.digest('hex')}\n`);
      else if (verb === 'slowput' && got >= nextPause) {
        nextPause += 256 * 1024;
        socket.pause();
        setTimeout(() => socket.resume(), 10);
      }
    };
    if (rest.length) take(rest);
    socket.on('data', take);
  };
  socket.on('data', onHead);
}

/** Reads to the end; `slow` pauses for a moment after every 256 KiB, so the proxy's writes back up. */
function readAll(socket: net.Socket, slow: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let nextPause = 256 * 1024;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (slow && got >= nextPause) {
        nextPause += 256 * 1024;
        socket.pause();
        setTimeout(() => socket.resume(), 10);
      }
    });
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
  });
}

async function socksTunnel(port: number, target: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const request = Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 0]);
  request.writeUInt16BE(target, 11);
  socket.write(request); // greeting and request at once: the proxy reads them in order
  const replies = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 12) return;
      socket.off('data', onData);
      socket.pause();
      if (got.length > 12) socket.unshift(got.subarray(12));
      resolve(got.subarray(0, 12));
    };
    socket.on('data', onData);
  });
  assert.deepEqual([...replies.subarray(0, 4)], [0x05, 0x00, 0x05, 0x00], 'method and success replies');
  return socket;
}

let proxy: TestProxy;
let origin: Upstream;
before(async () => {
  proxy = await startProxy({ socks: { enabled: true, port: 0 } });
  origin = await tcpServer(serve);
});
after(async () => {
  await origin.close();
  await proxy.close();
});

async function open(via: 'connect' | 'socks'): Promise<{ socket: net.Socket; id?: string }> {
  if (via === 'socks') return { socket: await socksTunnel(proxy.socksPort!, origin.port) };
  const res = await connectVia(proxy.port, `127.0.0.1:${origin.port}`);
  assert.equal(res.status, 200);
  return { socket: res.socket, id: res.headers['x-request-id'] };
}

for (const via of ['connect', 'socks'] as const) {
  describe(`bulk through ${via === 'connect' ? 'CONNECT' : 'SOCKS5'}, byte for byte`, () => {
    for (const slow of [false, true]) {
      it(`download, ${slow ? 'slow' : 'fast'} reader: every byte arrives, counted on the record`, async () => {
        const since = proxy.logs.lines.length;
        const { socket } = await open(via);
        const received = readAll(socket, slow);
        socket.write('get\n');
        const body = await received;
        socket.destroy();
        assert.equal(body.length, SIZE);
        assert.equal(createHash('sha256').update(body).digest('hex'), DIGEST);
        const log = await proxy.logs.nextExchange(since, (l) => l.protocol === (via === 'connect' ? 'connect' : 'socks5'));
        assert.equal(log.code, 'ok');
        assert.deepEqual(log.bytes, { from_client: 4, to_upstream: 4, from_upstream: SIZE, to_client: SIZE });
        assert.equal(log.end, 'upstream_closed');
      });
    }

    for (const verb of ['put', 'slowput']) {
      it(`upload in odd-sized writes, ${verb === 'put' ? 'fast' : 'slow'} origin: every byte arrives, then the answer comes back`, async () => {
        const since = proxy.logs.lines.length;
        const { socket } = await open(via);
        const answer = readAll(socket, false);
        socket.write(`${verb}\n`);
        await writeAll(socket);
        assert.equal((await answer).toString(), `${DIGEST}\n`);
        socket.destroy();
        const log = await proxy.logs.nextExchange(since, (l) => l.protocol === (via === 'connect' ? 'connect' : 'socks5'));
        assert.equal(log.code, 'ok');
        const head = verb.length + 1;
        assert.deepEqual(log.bytes, { from_client: SIZE + head, to_upstream: SIZE + head, from_upstream: 65, to_client: 65 });
      });
    }
  });
}

it('many tunnels at once, each its own bytes', async () => {
  const results = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const { socket } = await open(i % 2 ? 'socks' : 'connect');
      const received = readAll(socket, i % 3 === 0);
      socket.write('get\n');
      const body = await received;
      socket.destroy();
      return createHash('sha256').update(body).digest('hex');
    }),
  );
  assert.deepEqual(results, Array(6).fill(DIGEST));
});
