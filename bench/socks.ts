// New SOCKS5 sessions per second through hopwatch and through a bare Node relay (bench/bare-socks.ts),
// measured in one run against the same echo origin with the same load, so the ratio compares like
// with like. A session: connect, greet (no auth), CONNECT to the origin, one byte there and back,
// close. hopwatch runs from src/cli.ts with its default logging (to /dev/null) and metrics.
// Usage: node bench/socks.ts [--seconds 5] [--concurrency 20]
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves with exactly `n` more bytes from the socket (sessions here exchange tiny messages). */
function read(socket: net.Socket, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got < n) return;
      socket.off('data', onData).off('close', reject);
      resolve();
    };
    socket.on('data', onData).once('close', reject);
  });
}

async function session(port: number, request: Buffer): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  socket.write(Buffer.from([0x05, 0x01, 0x00]));
  await read(socket, 2);
  socket.write(request);
  await read(socket, 10);
  socket.write('x');
  await read(socket, 1);
  socket.end();
  await once(socket, 'close');
}

/** Sessions per second over `seconds`, after a one-second warm-up. */
async function measure(port: number, request: Buffer): Promise<number> {
  let count = 0;
  const run = async (until: number, counting: boolean) => {
    while (performance.now() < until) {
      await session(port, request);
      if (counting) count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => run(performance.now() + 1_000, false)));
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => run(start + seconds * 1_000, true)));
  return count / ((performance.now() - start) / 1_000);
}

async function started(child: ChildProcess, port: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${child.spawnargs.join(' ')} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const probe = net.connect(port, '127.0.0.1', () => {
        probe.destroy();
        resolve(true);
      }).once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50)); // nothing to await: the child says nothing
  }
}

const origin = net.createServer((s) => s.on('error', () => {}).pipe(s)).listen(0, '127.0.0.1');
await once(origin, 'listening');
const request = Buffer.from([0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 0]);
request.writeUInt16BE((origin.address() as net.AddressInfo).port, 8);

const [barePort, hopPort] = [await freePort(), await freePort()];
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOPWATCH_SOCKS__ENABLED: 'true', HOPWATCH_SOCKS__PORT: String(hopPort), HOPWATCH_HTTP__ENABLED: 'false', HOPWATCH_ADMIN__ENABLED: 'false' };
const bare = spawn(process.execPath, ['bench/bare-socks.ts', String(barePort)], { cwd: ROOT, stdio: 'inherit' });
const hopwatch = spawn(process.execPath, ['src/cli.ts', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
try {
  await Promise.all([started(bare, barePort), started(hopwatch, hopPort)]);
  const bareRate = await measure(barePort, request);
  const hopRate = await measure(hopPort, request);
  console.log(`bare relay: ${bareRate.toFixed(0)} sessions/s`);
  console.log(`hopwatch:   ${hopRate.toFixed(0)} sessions/s`);
  console.log(`ratio hopwatch/bare: ${(hopRate / bareRate).toFixed(2)} (${concurrency} concurrent clients, ${seconds} s each)`);
} finally {
  bare.kill();
  hopwatch.kill();
  origin.close();
}
