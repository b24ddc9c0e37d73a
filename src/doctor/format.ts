// Human output: one block per layer as it finishes (✓ passed, ✗ failed, ⚠ degraded, – skipped)
// with its time, then the verdict. The JSON output carries the same facts.
import type { Address, CertificateFacts, DoctorReport, LayerResult, LayerStatus, TcpAttempt, Verdict } from './types.ts';
import { authority } from './wire.ts';

const MARKS: Record<LayerStatus, string> = { ok: '✓', failed: '✗', degraded: '⚠', skipped: '–' };
const TITLES: Record<LayerResult['layer'], string> = {
  dns: 'DNS', tcp: 'TCP', tls: 'TLS', http: 'HTTP direct', proxy: 'via proxy', socks: 'via SOCKS', health: 'proxy health',
};

export function ms(value: number): string {
  return value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`;
}

export function formatHeader(report: Pick<DoctorReport, 'target'>, timeoutMs: number): string {
  const t = report.target;
  return `hopwatch doctor ${t.url}  (${authority(t.host, t.port)}, ${timeoutMs} ms per step)\n`;
}

export function formatLayer(layer: LayerResult): string {
  const time = layer.status === 'skipped' ? '' : ms(layer.ms);
  const lines = [`${MARKS[layer.status]} ${TITLES[layer.layer].padEnd(12)} ${time.padStart(8)}  ${headline(layer)}`];
  lines.push(...details(layer).map((l) => `    ${l}`));
  lines.push(...layer.notes.filter((n) => layer.status !== 'skipped' || n !== headline(layer)).map((n) => `    note: ${n}`));
  return lines.join('\n') + '\n';
}

function failure(layer: LayerResult): string {
  return [layer.code, layer.detail].filter(Boolean).join(': ');
}

function headline(layer: LayerResult): string {
  if (layer.status === 'skipped') return layer.notes[0] ?? 'skipped';
  const failed = layer.status !== 'ok';
  switch (layer.layer) {
    case 'dns':
      return failed
        ? `${failure(layer)}${layer.rcode ? ` (rcode ${layer.rcode})` : ''}`
        : `${layer.answers.map(showAddress).join(', ')}  (resolver: ${layer.server})`;
    case 'tcp':
      return failed ? failure(layer) : layer.attempts.length > 1 ? `all ${layer.attempts.length} addresses connected` : 'connected';
    case 'tls':
      return failed ? failure(layer) : `${layer.version ?? 'TLS'} with ${layer.address}${layer.sni ? ` (SNI ${layer.sni})` : ''}`;
    case 'http':
      return failed && layer.httpStatus === undefined ? failure(layer) : `${answer(layer)} from ${layer.address}${failed ? `  ${failure(layer)}` : ''}`;
    case 'proxy': {
      const how = layer.mode === 'connect' ? `CONNECT${layer.connectStatus ? ` ${layer.connectStatus}` : ''}, then ` : '';
      const got = layer.httpStatus !== undefined ? answer(layer) : '';
      return `${how}${got}${failed ? `${got ? '  ' : ''}${failure(layer)}` : ''}  via ${layer.proxy}`;
    }
    case 'socks': {
      const reply = layer.reply === undefined ? '' : `reply 0x${layer.reply.toString(16).padStart(2, '0')} ${layer.replyMeaning}, `;
      const got = layer.httpStatus !== undefined ? answer(layer) : '';
      return `${reply}${got}${failed ? `${got ? '  ' : ''}${failure(layer)}` : ''}  via ${layer.proxy}`;
    }
    case 'health': {
      if (layer.healthz === undefined) return failure(layer);
      const findings = layer.findings === null ? 'no findings available' : `${layer.findings.length} finding(s) for this destination`;
      return `/healthz ${layer.healthz}, /readyz ${layer.readyz ?? '-'}, ${findings}${failed ? `  ${failure(layer)}` : ''}`;
    }
  }
}

function answer(layer: { httpStatus?: number; ttfbMs?: number; totalMs?: number }): string {
  return `${layer.httpStatus}, first byte ${ms(layer.ttfbMs ?? 0)}, complete ${ms(layer.totalMs ?? 0)}`;
}

function showAddress(a: Address): string {
  return `${a.address} (${a.family === 6 ? 'AAAA' : 'A'})`;
}

function details(layer: LayerResult): string[] {
  switch (layer.layer) {
    case 'tcp':
      return layer.attempts.map(attemptLine);
    case 'tls':
      return layer.certificate ? certificateLines(layer.certificate, layer.sni ?? layer.address ?? '') : [];
    case 'proxy':
      return [
        ...(layer.proxyStatus ? [`Proxy-Status: ${layer.proxyStatus}`] : []),
        ...(layer.requestId ? [`X-Request-Id: ${layer.requestId}`] : []),
      ];
    case 'socks':
      return layer.candidates ? [`hopwatch answers this reply for: ${layer.candidates.join(', ')}`] : [];
    case 'health':
      return (layer.findings ?? []).map((f) => `finding: ${JSON.stringify(f)}`);
    default:
      return [];
  }
}

function attemptLine(a: TcpAttempt): string {
  const where = a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  const outcome = a.outcome === 'connected' ? '' : `  ${a.outcome}${a.detail ? `: ${a.detail}` : ''}`;
  return `${a.outcome === 'connected' ? '✓' : '✗'} ${where.padEnd(22)} ${ms(a.ms).padStart(8)}${outcome}`;
}

function certificateLines(cert: CertificateFacts, host: string): string[] {
  const when =
    cert.validity === 'expired' ? `EXPIRED ${-cert.daysLeft} day(s) ago`
      : cert.validity === 'not_yet_valid' ? 'NOT YET VALID'
        : `${cert.daysLeft} day(s) left`;
  return [
    `certificate: ${cert.subject}, issued by ${cert.issuer}`,
    `valid ${cert.validFrom.slice(0, 10)} → ${cert.validTo.slice(0, 10)}: ${when}`,
    `names: ${cert.names.join(', ') || '(none)'}: ${cert.coversHost ? 'cover' : 'do NOT cover'} ${host}`,
  ];
}

export function formatVerdict(verdict: Verdict): string {
  const lines = [verdict.healthy ? `Verdict: ✓ healthy: ${verdict.summary}` : `Verdict: ✗ ${verdict.summary}`];
  if (verdict.cause) lines.push(`  Cause:   ${verdict.cause}`);
  if (verdict.action) lines.push(`  Action:  ${verdict.action}`);
  const l = verdict.latency;
  if (l.directTtfbMs !== null || l.proxyTtfbMs !== null || l.socksTtfbMs !== null) {
    const parts = [
      l.directTtfbMs !== null ? `direct ${ms(l.directTtfbMs)}` : 'direct -',
      ...(l.proxyTtfbMs !== null ? [`via proxy ${ms(l.proxyTtfbMs)}`] : []),
      ...(l.socksTtfbMs !== null ? [`via SOCKS ${ms(l.socksTtfbMs)}`] : []),
    ];
    const overhead = l.overheadMs !== null && l.ratio !== null ? ` (proxy adds ${ms(l.overheadMs)}, ${l.ratio.toFixed(1)}×)` : '';
    lines.push(`  Latency: first byte ${parts.join(', ')}${overhead}`);
  }
  return lines.join('\n') + '\n';
}
