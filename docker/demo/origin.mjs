// The demo origin: an upstream that fails in every way hopwatch classifies, each on its own path
// or port, so the traffic generator (traffic.mjs) can make every dashboard panel move.
// Plain JavaScript, no dependencies: `node origin.mjs` on any recent Node. Demo only.
//
//   PORT          8000  HTTP, the paths below
//   TLS_PORT      8443  the same paths over HTTPS, with a self-signed certificate made at start
//   SILENT_PORT   8001  accepts TCP and never says anything (response / TLS timeouts)
//   NOT_TLS_PORT  8444  plain HTTP where TLS is expected (tls_protocol_error)
//   HOST          0.0.0.0
//
//   /ok            200                          /500 /503 /401 /429 …  that status
//   /slow?ms=N     headers after N ms (response_timeout when N > timeouts.responseMs)
//   /reset         TCP reset before any response (upstream_closed)
//   /close         FIN before any response (upstream_closed)
//   /garbage       bytes that are not HTTP (upstream_bad_response)
//   /midbody       closes halfway through the body (response_incomplete)
//   /stall         stops halfway through the body and stays open (idle_timeout)
//   anything else  404
//
// Ports set to 0 are picked by the system; the first line on stdout is JSON naming them all.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { once } from 'node:events';
import { selfSigned } from './self-signed.mjs';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const HOST = process.env.HOST ?? '0.0.0.0';
const BODY = 'hello from the hopwatch demo origin\n'.repeat(30); // ~1 KB

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://origin');
  const socket = req.socket;
  switch (url.pathname) {
    case '/ok':
      return res.end(BODY);
    case '/slow': {
      const timer = setTimeout(() => res.end(BODY), Number(url.searchParams.get('ms') ?? 1000));
      return res.on('close', () => clearTimeout(timer));
    }
    case '/reset':
      return socket.resetAndDestroy();
    case '/close':
      return socket.end();
    case '/garbage':
      return socket.end('SSH-2.0-definitely-not-http\r\n\r\n');
    case '/midbody':
      res.writeHead(200, { 'content-length': BODY.length });
      return res.write(BODY.slice(0, 100), () => socket.destroy());
    case '/stall':
      res.writeHead(200, { 'content-length': BODY.length });
      return res.write(BODY.slice(0, 100)); // and nothing more, until the proxy gives up
    default: {
      const status = /^\/([45]\d\d)$/.exec(url.pathname)?.[1];
      res.writeHead(status ? Number(status) : 404, status === '429' ? { 'retry-after': '1' } : {});
      return res.end(`${status ?? 404} from the demo origin\n`);
    }
  }
}

async function listen(server, port) {
  server.listen(port, HOST);
  await once(server, 'listening');
  return server.address().port;
}

const ports = {
  http: await listen(http.createServer(handle), env('PORT', 8000)),
  tls: await listen(https.createServer(selfSigned(['origin', 'localhost', '127.0.0.1']), handle), env('TLS_PORT', 8443)),
  silent: await listen(net.createServer((s) => s.on('error', () => {}).resume()), env('SILENT_PORT', 8001)),
  notTls: await listen(http.createServer(handle), env('NOT_TLS_PORT', 8444)),
};
console.log(JSON.stringify({ msg: 'demo origin listening', host: HOST, ports }));

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
