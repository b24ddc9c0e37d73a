// The demo traffic generator: sends a mix of healthy and failing requests through hopwatch —
// HTTP forwarding, CONNECT tunnels (plain and TLS), SOCKS5 sessions — against the demo origin
// (origin.mjs), so every dashboard panel moves within a minute. Plain JavaScript, no
// dependencies. Demo only.
//
//   node traffic.mjs          forever: RATE requests a second, every other one a failure kind
//   node traffic.mjs --once   each kind once, all at the same time; prints the outcomes and exits
//
// Environment (defaults fit docker/compose.yaml):
//   PROXY_HOST hopwatch, PROXY_PORT 8080, SOCKS_PORT 1080, PROXY_USER demo, PROXY_PASSWORD demo-password
//   ORIGIN_HOST origin, ORIGIN_PORT 8000, TLS_PORT 8443, SILENT_PORT 8001, NOT_TLS_PORT 8444
//   REFUSED_PORT 8009 (nothing listens there), SLOW_MS 3000 (above hopwatch's timeouts.responseMs,
//   a response_timeout; healthy requests take up to a third of it)
//   RATE 5 (requests a second), TIMEOUT_MS 30000 (a client gives up on one request)
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

const env = process.env;
const PROXY_HOST = env.PROXY_HOST ?? 'hopwatch';
const PROXY_PORT = Number(env.PROXY_PORT ?? 8080);
const SOCKS_PORT = Number(env.SOCKS_PORT ?? 1080);
const USER = env.PROXY_USER ?? 'demo';
const PASSWORD = env.PROXY_PASSWORD ?? 'demo-password';
const ORIGIN = env.ORIGIN_HOST ?? 'origin';
const PORT = {
  http: Number(env.ORIGIN_PORT ?? 8000),
  tls: Number(env.TLS_PORT ?? 8443),
  silent: Number(env.SILENT_PORT ?? 8001),
  notTls: Number(env.NOT_TLS_PORT ?? 8444),
  refused: Number(env.REFUSED_PORT ?? 8009),
};
const SLOW_MS = Number(env.SLOW_MS ?? 3000);
const RATE = Number(env.RATE ?? 5);
const TIMEOUT_MS = Number(env.TIMEOUT_MS ?? 30_000);

const web = `http://${ORIGIN}:${PORT.http}`;
const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });

/** Forwards one request (absolute-form); resolves with the status, or how it failed. */
function viaProxy(url, authorization = basic(USER, PASSWORD)) {
  return new Promise((resolve) => {
    const headers = { host: new URL(url).host, ...(authorization && { 'proxy-authorization': authorization }) };
    const req = http.request({ host: PROXY_HOST, port: PROXY_PORT, path: url, headers, agent, timeout: TIMEOUT_MS });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (err) => resolve(err.code ?? err.message));
    req.on('response', (res) => {
      res.on('error', () => {});
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('close', () => resolve(`${res.statusCode}, body cut`)); // no-op after 'end'
      res.resume();
    });
    req.end();
  });
}

/** A CONNECT tunnel to the origin's `port`; rejects with the proxy's status when it refuses. */
function tunnel(port) {
  return new Promise((resolve, reject) => {
    const path = `${ORIGIN}:${port}`;
    const headers = { host: path, 'proxy-authorization': basic(USER, PASSWORD) };
    const req = http.request({ host: PROXY_HOST, port: PROXY_PORT, method: 'CONNECT', path, headers, agent: false, timeout: TIMEOUT_MS });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.on('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new Error(`CONNECT ${res.statusCode}`));
    });
    req.end();
  });
}

/** A SOCKS5 session (RFC 1928, username/password per RFC 1929) to the origin's `port`, by hand. */
async function socks5(port) {
  const socket = net.connect(SOCKS_PORT, PROXY_HOST);
  const read = reader(socket);
  const [user, password, host] = [USER, PASSWORD, ORIGIN].map((s) => Buffer.from(s));
  socket.write(Buffer.from([5, 1, 0x02])); // version 5, one method offered: username/password
  if ((await read.bytes(2))[1] !== 0x02) throw new Error('SOCKS5 method refused');
  socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([password.length]), password]));
  if ((await read.bytes(2))[1] !== 0x00) throw new Error('SOCKS5 login refused');
  // CONNECT (1) to a domain name (address type 3): the proxy resolves it, as socks5h:// does.
  socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, host.length]), host, Buffer.from([port >> 8, port & 0xff])]));
  const [, reply, , type] = await read.bytes(4);
  if (reply !== 0x00) throw new Error(`SOCKS5 reply 0x${reply.toString(16).padStart(2, '0')}`);
  await read.bytes(type === 1 ? 4 + 2 : type === 4 ? 16 + 2 : (await read.bytes(1))[0] + 2); // bound address
  return { socket, read };
}

/** Buffers a socket's bytes: `bytes(n)` waits for exactly n, `rest()` for everything until close. */
function reader(socket) {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let failure;
  let wake = () => {};
  socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error('client timeout')));
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake();
  });
  socket.on('error', (err) => (failure = err));
  socket.on('close', () => {
    ended = true;
    wake();
  });
  const until = async (done) => {
    while (!done() && !ended) await new Promise((resolve) => (wake = resolve));
  };
  return {
    async bytes(n) {
      await until(() => buffered.length >= n);
      if (buffered.length < n) throw failure ?? new Error('closed by the proxy');
      const out = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      return out;
    },
    async rest() {
      await until(() => false);
      return buffered;
    },
  };
}

/** GET /ok over an established tunnel; resolves with the origin's status. */
async function getOk(socket, read = reader(socket)) {
  socket.write(`GET /ok HTTP/1.1\r\nHost: ${ORIGIN}\r\nConnection: close\r\n\r\n`);
  const text = (await read.rest()).toString('latin1');
  return /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 'closed without a response';
}

/** TLS over a tunnel, without verifying (the demo certificate is self-signed). */
function startTls(socket) {
  return new Promise((resolve, reject) => {
    const servername = net.isIP(ORIGIN) ? undefined : ORIGIN;
    const secure = tls.connect({ socket, servername, rejectUnauthorized: false });
    secure.setTimeout(TIMEOUT_MS, () => secure.destroy(new Error('client timeout')));
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', reject);
  });
}

// Each kind of traffic, named for what hopwatch should record.
const healthy = {
  ok: () => viaProxy(`${web}/ok`),
  'ok (slower)': () => viaProxy(`${web}/slow?ms=${Math.floor((Math.random() * SLOW_MS) / 3)}`),
  'connect ok': async () => getOk(await tunnel(PORT.http)),
  'connect + tls ok': async () => getOk(await startTls(await tunnel(PORT.tls))),
  'socks5 ok': async () => {
    const { socket, read } = await socks5(PORT.http);
    return getOk(socket, read);
  },
};
const failing = {
  upstream_500: () => viaProxy(`${web}/500`),
  upstream_503: () => viaProxy(`${web}/503`),
  upstream_401: () => viaProxy(`${web}/401`),
  upstream_404: () => viaProxy(`${web}/missing`),
  upstream_429: () => viaProxy(`${web}/429`),
  'upstream_closed (reset)': () => viaProxy(`${web}/reset`),
  'upstream_closed (close)': () => viaProxy(`${web}/close`),
  upstream_bad_response: () => viaProxy(`${web}/garbage`),
  response_timeout: () => viaProxy(`${web}/slow?ms=${SLOW_MS}`),
  response_incomplete: () => viaProxy(`${web}/midbody`),
  idle_timeout: () => viaProxy(`${web}/stall`),
  'dns_* (nxdomain)': () => viaProxy('http://does-not-exist.invalid/'),
  connect_refused: () => viaProxy(`http://${ORIGIN}:${PORT.refused}/`),
  auth_invalid: () => viaProxy(`${web}/ok`, basic(USER, 'wrong-password')),
  auth_missing: () => viaProxy(`${web}/ok`, null),
  tls_cert_untrusted: () => viaProxy(`https://${ORIGIN}:${PORT.tls}/ok`),
  'tls_protocol_error (https)': () => viaProxy(`https://${ORIGIN}:${PORT.notTls}/`),
  'tls_protocol_error (connect)': async () => getOk(await startTls(await tunnel(PORT.notTls))),
  'tls_timeout (connect)': async () => getOk(await startTls(await tunnel(PORT.silent))),
  'socks5 connect_refused': async () => getOk((await socks5(PORT.refused)).socket),
};

const run = (send) => send().then(String, (err) => err.code ?? err.message);

if (process.argv.includes('--once')) {
  const all = Object.entries({ ...healthy, ...failing });
  // `ok` first, alone: then hopwatch has the login cached, and the rest need no scrypt each.
  const outcomes = [await run(all[0][1])];
  outcomes.push(...(await Promise.all(all.slice(1).map(([, send]) => run(send)))));
  all.forEach(([kind], i) => console.log(`${kind.padEnd(30)} ${outcomes[i]}`));
  process.exit(0);
}

// Forever: healthy and failing kinds alternate, each list in turn.
const lists = [Object.entries(healthy), Object.entries(failing)];
const counts = {};
let tick = 0;
setInterval(() => {
  const list = lists[tick % 2];
  const [, send] = list[Math.floor(tick / 2) % list.length];
  tick++;
  run(send).then((outcome) => (counts[outcome] = (counts[outcome] ?? 0) + 1));
}, 1000 / RATE);
setInterval(() => {
  console.log(JSON.stringify({ msg: 'demo traffic, outcomes in the last 30 s', counts }));
  for (const key of Object.keys(counts)) delete counts[key];
}, 30_000);
console.log(JSON.stringify({ msg: 'demo traffic started', proxy: `${PROXY_HOST}:${PROXY_PORT}`, socks: SOCKS_PORT, origin: ORIGIN, rate: RATE }));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
