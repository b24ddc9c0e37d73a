// The admin listener, apart from the proxy port (where GET http://x/metrics is a proxied
// request): /metrics for Prometheus, /healthz for liveness, /readyz for readiness, /errors for
// the recurrence analysis' findings. One process serves it: the proxy itself, or with
// `workers` > 1 the cluster primary, whose answers gather every worker's (src/cluster/).
import http from 'node:http';
import type { Registry } from 'prom-client';
import type { ReloadResult } from '../reload.ts';

/** A prom-client Registry, or the cluster primary's aggregate of its workers' registries. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

export interface AdminState {
  /** False while draining, so load balancers stop sending new work. */
  ready(): boolean;
  /** GET /errors[?target=host:port]: findings and failing codes as JSON. */
  errors?: (target?: string) => unknown | Promise<unknown>;
  /** Reads and applies the configuration again (POST /reload). */
  reload?: () => ReloadResult | Promise<ReloadResult>;
}

/** Reload changes what the proxy allows: only from the machine itself, whatever admin.host is. */
export function fromLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

export function createAdminServer(registry: MetricsSource, state: AdminState): http.Server {
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/reload' && req.method === 'POST' && state.reload) {
      req.resume();
      if (!fromLoopback(req.socket.remoteAddress)) {
        res.writeHead(403, { 'Content-Type': 'text/plain' }).end('reload is allowed from loopback only\n');
        return;
      }
      Promise.resolve(state.reload()).then(
        (outcome) => res.writeHead(outcome.result === 'success' ? 200 : 422, { 'Content-Type': 'application/json' }).end(JSON.stringify(outcome) + '\n'),
        (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`reload failed: ${err.message}\n`),
      );
      return;
    }
    if (path === '/reload') {
      res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/plain' }).end('POST /reload reloads the configuration\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
          // A status on the error: 503 when a cluster worker did not answer (the next scrape may).
          (err: Error & { status?: number }) => res.writeHead(err.status ?? 500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
        );
        return;
      case '/healthz':
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
        return;
      case '/errors': {
        const target = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('target') ?? undefined;
        Promise.resolve(state.errors?.(target) ?? { window_ms: 0, findings: [], codes: {} }).then(
          (body) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(body)}\n`),
          (err: Error & { status?: number }) => res.writeHead(err.status ?? 500, { 'Content-Type': 'text/plain' }).end(`errors failed: ${err.message}\n`),
        );
        return;
      }
      case '/readyz': {
        const ready = state.ready();
        res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ready ? 'ready\n' : 'draining\n');
        return;
      }
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz or /errors\n');
    }
  });
  return server;
}
