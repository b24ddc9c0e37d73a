// Layer 6, the proxy's own view (--admin): is it alive (/healthz), taking work (/readyz), and has
// its recurrence analysis seen this destination fail (/errors)? A 404 from /errors means this
// hopwatch has no analysis: no findings available, not a failure.
import { classify } from '../classify/rules.ts';
import { failLayer } from './http.ts';
import type { HealthLayer, Target } from './types.ts';
import { authority } from './wire.ts';

export async function healthLayer(admin: string, target: Target, timeoutMs: number): Promise<HealthLayer> {
  const layer: HealthLayer = { layer: 'health', status: 'ok', ms: 0, admin, findings: null, notes: [] };
  const started = performance.now();
  try {
    layer.healthz = (await get(admin, '/healthz', timeoutMs)).status;
    layer.readyz = (await get(admin, '/readyz', timeoutMs)).status;
    if (layer.healthz !== 200) failLayer(layer, { code: 'internal_error', detail: `/healthz answered ${layer.healthz}` });
    else if (layer.readyz !== 200) failLayer(layer, { code: 'proxy_shutdown', detail: `/readyz answered ${layer.readyz}: the proxy is not taking new work (draining)` });
    const errors = await get(admin, `/errors?target=${encodeURIComponent(authority(target.host, target.port))}`, timeoutMs);
    if (errors.status === 404) layer.notes.push('no findings available: this hopwatch has no /errors endpoint');
    else if (errors.status !== 200) layer.notes.push(`/errors answered ${errors.status}: findings unavailable`);
    else layer.findings = mentioning(errors.body, target);
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    const failure = timedOut ? { code: 'response_timeout' as const, detail: `no answer within ${timeoutMs} ms` } : classify('connect', err instanceof Error && err.cause !== undefined ? err.cause : err);
    failLayer(layer, { code: failure.code, detail: `cannot reach the admin listener at ${admin}: ${failure.detail}` });
  }
  layer.ms = performance.now() - started;
  return layer;
}

async function get(admin: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`${admin}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/**
 * The findings that name this destination. The /errors document's exact shape belongs to the
 * analysis, so every list in it (the document itself, or lists up to two levels down, not lists
 * inside entries) is searched for entries that mention host:port anywhere.
 */
export function mentioning(body: string, target: Target): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return [];
  }
  const lists: unknown[][] = [];
  const collect = (value: unknown, depth: number) => {
    if (Array.isArray(value)) lists.push(value);
    else if (value && typeof value === 'object' && depth < 2) for (const v of Object.values(value)) collect(v, depth + 1);
  };
  collect(doc, 0);
  const needle = authority(target.host, target.port);
  const seen = new Set<unknown>();
  for (const list of lists) for (const item of list) if (JSON.stringify(item).includes(needle)) seen.add(item);
  return [...seen];
}
