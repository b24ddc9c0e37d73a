// The baseline: the least a Node forward proxy can do (node:http server → keep-alive agent,
// bodies piped both ways). Its gap to hopwatch is the cost of hopwatch's own work.
// Usage: node bench/bare-forwarder.ts PORT
import http from 'node:http';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: bare-forwarder.ts PORT');

// Same pooling as hopwatch's UpstreamAgent, so both keep one upstream socket per client.
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/');
  const up = http.request(
    { agent, host: url.hostname, port: url.port || 80, method: req.method, path: url.pathname + url.search, headers: req.headers },
    (upRes) => {
      // The origin's connection fields describe its hop, not ours.
      const { connection: _c, 'keep-alive': _k, ...headers } = upRes.headers;
      res.writeHead(upRes.statusCode ?? 502, headers);
      upRes.pipe(res);
    },
  );
  up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  req.pipe(up);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
