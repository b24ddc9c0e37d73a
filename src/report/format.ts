// The report as a person reads it: one section per question, widest numbers aligned.
import { DESTINATIONS_PER_CODE } from '../analysis/destinations.ts';
import type { Finding } from '../analysis/findings.ts';
import type { Report } from './aggregate.ts';

const n = (v: number) => v.toLocaleString('en-US');
const pct = (r: number) => `${(r * 100).toFixed(2)} %`;
const pad = (s: string, w: number) => s.padEnd(w);
const num = (v: number | string, w: number) => String(v).padStart(w);
const list = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${n(v)}`).join(', ') || 'none';

export function formatReport(r: Report): string {
  const out: string[] = [];
  const { lines, totals } = r;
  out.push(`hopwatch report: ${n(totals.exchanges)} exchanges${r.period.from ? ` from ${r.period.from} to ${r.period.to}` : ''}`);
  out.push(`  ${n(lines.read)} lines read: ${n(lines.exchanges)} exchanges, ${n(lines.auth_failures)} auth_failure, ${n(lines.skipped_other)} other lines and ${n(lines.skipped_not_json)} non-JSON lines skipped`);
  out.push('');
  out.push(`Totals: ${n(totals.ok)} ok, ${n(totals.errors)} errors (${pct(totals.error_rate)}); ${list(totals.by_protocol)}`);

  if (r.by_code.length) {
    out.push('', `${pad('Errors by code', 28)}${num('count', 9)}${num('share', 10)}  ${pad('hop', 10)}source`);
    for (const c of r.by_code) out.push(`  ${pad(c.code, 26)}${num(n(c.count), 9)}${num(pct(c.rate), 10)}  ${pad(c.hop, 10)}${c.source}`);
    out.push('', `${pad('Errors by hop', 28)}${num('count', 9)}${num('share', 10)}`);
    for (const h of r.by_hop) out.push(`  ${pad(h.hop, 26)}${num(n(h.errors), 9)}${num(pct(h.rate), 10)}`);
  }

  const d = r.by_destination;
  if (d.top.length) {
    const width = Math.max(26, ...d.top.map((t) => t.target.length + 2));
    out.push('', `${pad(`Destinations (top ${d.top.length} of ${n(d.distinct)}${d.truncated ? ', small ones forgotten' : ''})`, width + 2)}${num('total', 8)}${num('errors', 8)}${num('rate', 10)}  codes`);
    for (const t of d.top) out.push(`  ${pad(t.target, width)}${num(n(t.total), 8)}${num(n(t.errors), 8)}${num(pct(t.error_rate), 10)}  ${list(t.codes)}`);
  }

  const hops = Object.entries(r.latency_ms);
  if (hops.length) {
    out.push('', `${pad('Latency (ms)', 12)}${num('count', 10)}${num('p50', 10)}${num('p95', 10)}${num('p99', 10)}${num('max', 10)}`);
    for (const [hop, p] of hops) out.push(`  ${pad(hop, 10)}${num(n(p.count), 10)}${num(p.p50, 10)}${num(p.p95, 10)}${num(p.p99, 10)}${num(p.max, 10)}`);
  }

  const a = r.auth;
  out.push('', `Proxy logins refused: ${n(a.refused)}${a.refused ? ` (${list(a.by_reason)}; by user: ${a.by_user.map((u) => `${u.user} ${n(u.count)}`).join(', ')})` : ''}`);
  out.push(`Origin auth statuses: 401 × ${n(a.origin_401)}, 407 × ${n(a.origin_407)}`);
  out.push(`Other 4xx: ${n(r.other_4xx.total)}${r.other_4xx.total ? ` (${list(r.other_4xx.by_code)})` : ''}`);

  const f = r.findings;
  const opened = Object.values(f.opened).reduce((x, y) => x + y, 0);
  out.push('', `Findings (window ${f.window_ms / 1000} s): ${n(opened)} opened (${list(f.opened)}), ${n(f.open_at_end)} open at the end`);
  for (const finding of f.list) out.push(...formatFinding(finding));
  if (f.list.length < opened) out.push(`  … ${n(opened - f.list.length)} more not listed`);
  return `${out.join('\n')}\n`;
}

export function formatFinding(f: Finding): string[] {
  const e = f.evidence;
  const what = [f.kind, f.code, f.address ? `${f.address} of ${f.target}` : f.target].filter(Boolean).join(' ');
  const facts = [
    `${n(e.count)} ${f.kind === 'latency_shift' ? 'slow responses' : 'failures'}`,
    typeof e.destinations === 'number' ? `${e.destinations}${e.destinations >= DESTINATIONS_PER_CODE ? '+' : ''} destinations` : undefined,
    f.kind === 'latency_shift' ? `ttfb ${String(e.recent_ttfb_ms)} ms vs baseline ${String(e.baseline_ttfb_ms)} ms` : undefined,
    Array.isArray(e.healthy_siblings) ? `healthy: ${e.healthy_siblings.join(', ')}` : undefined,
    `${e.first_seen} → ${e.last_seen}`,
  ].filter(Boolean);
  return [
    `  [${f.state === 'open' ? 'open' : `closed ${f.closed_at}`}] ${what}: ${facts.join('; ')}`,
    `      ${f.conclusion}`,
    `      Action: ${f.action}`,
    `      e.g. ${e.examples.join(', ')}`,
  ];
}
