// The benchmark's origin: answers every request with the same 100-byte body and a
// Content-Length, so the load generator's parser stays trivial and responses are identical
// whichever path (direct, bare forwarder, hopwatch) they took.
// Usage: node bench/origin.ts PORT
import http from 'node:http';

/** 100 bytes of plain ASCII, no escapes: nginx's `return` sends the same text verbatim. */
export const BODY = `${'hopwatch-bench '.repeat(6)}${'x'.repeat(10)}`;

if (import.meta.main) {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: origin.ts PORT');
  const body = Buffer.from(BODY);
  const headers = { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  });
  // Longer than any run's quiet gaps, so keep-alive connections are never closed under a client.
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
