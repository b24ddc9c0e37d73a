// Summarises a V8 .cpuprofile (from node --cpu-prof): the functions with the most self time,
// self time by area (hopwatch's src/, Node core, each npm package, GC), and the inclusive time
// of hopwatch's own functions, which is what says how much each of its stages costs (self time
// lands mostly in Node core and packages, below hopwatch's frames). Readable without DevTools.
//
// Usage: node bench/profile-top.ts [FILE.cpuprofile] [--top 10]
// Without FILE, the newest profile in bench/results/prof/ is read.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  area: string;
  ms: number;
  /** Percent of the time the process was busy (idle excluded). */
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: SelfTime[];
  areas: Array<{ area: string; ms: number; percent: number }>;
  /** hopwatch src functions by inclusive time (self plus everything they called). */
  inclusive: SelfTime[];
  /** Packages by inclusive time: what pino or prom-client cost including the Node core they call. */
  packagesInclusive: Array<{ area: string; ms: number; percent: number }>;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Which part of the process a frame belongs to, for the by-area totals. */
function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node core';
  // Node's TypeScript stripping (amaro) runs as wasm while modules load.
  if (url.startsWith('wasm:')) return 'wasm';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/src/')) return 'hopwatch src';
  return 'other';
}

function whereOf(frame: CallFrame): string {
  if (!frame.url) return '';
  const path = frame.url.startsWith('file://') ? relative(ROOT, fileURLToPath(frame.url)) : frame.url;
  return `${path}:${frame.lineNumber + 1}`;
}

export function summarise(profile: CpuProfile, top = 10): ProfileSummary {
  const byNode = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byNode.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // timeDeltas[i] is the gap before sample i, so the time spent in sample i's frame is the gap
  // after it (timeDeltas[i + 1]); the last sample's share is unknown and left out.
  const selfUs = new Map<number, number>();
  const inclusiveUs = new Map<string, { frame: CallFrame; us: number }>();
  const areaInclusiveUs = new Map<string, number>();
  for (let i = 0; i + 1 < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const us = profile.timeDeltas[i + 1]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
    // Each hopwatch function on this sample's stack gets the sample once, even if recursive.
    const seen = new Set<string>();
    const areas = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byNode.get(at)!.callFrame;
      const area = areaOf(frame);
      if (frame.url && !areas.has(area)) {
        areas.add(area);
        areaInclusiveUs.set(area, (areaInclusiveUs.get(area) ?? 0) + us);
      }
      if (area !== 'hopwatch src') continue;
      const key = keyOf(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = inclusiveUs.get(key) ?? { frame, us: 0 };
      entry.us += us;
      inclusiveUs.set(key, entry);
    }
  }
  // One function can appear under many call paths: merge them by function and location.
  const byFunction = new Map<string, { frame: CallFrame; us: number }>();
  const byArea = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byNode.get(id)!.callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const key = keyOf(frame);
    const entry = byFunction.get(key) ?? { frame, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs || 1;
  const ranked = (entries: Iterable<{ frame: CallFrame; us: number }>) =>
    [...entries]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ frame, us }) => ({
        name: frame.functionName || '(anonymous)',
        where: whereOf(frame),
        area: areaOf(frame),
        ms: us / 1000,
        percent: (us / busyUs) * 100,
      }));
  const functions = ranked(byFunction.values());
  const inclusive = ranked(inclusiveUs.values());
  const areas = [...byArea.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([area, us]) => ({ area, ms: us / 1000, percent: (us / busyUs) * 100 }));
  const packagesInclusive = [...areaInclusiveUs.entries()]
    .filter(([area]) => area !== 'hopwatch src' && area !== 'node core' && area !== 'other')
    .sort((a, b) => b[1] - a[1])
    .map(([area, us]) => ({ area, ms: us / 1000, percent: (us / busyUs) * 100 }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, busyMs: busyUs / 1000, functions, areas, inclusive, packagesInclusive };
}

function keyOf(frame: CallFrame): string {
  return `${frame.functionName}\0${frame.url}\0${frame.lineNumber}\0${frame.columnNumber}`;
}

export function formatSummary(summary: ProfileSummary): string {
  const lines = [
    `profile: ${summary.totalMs.toFixed(0)} ms sampled, ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle (percentages are of busy time)`,
    '',
    'top self time:',
    ...summary.functions.map(
      (f, i) => `${String(i + 1).padStart(3)}. ${f.percent.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`,
    ),
    '',
    'self time by area:',
    ...summary.areas.slice(0, 12).map((a) => `     ${a.percent.toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(6)} ms  ${a.area}`),
    '',
    'packages by inclusive time (self + the Node core they call):',
    ...summary.packagesInclusive.slice(0, 8).map((a) => `     ${a.percent.toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(6)} ms  ${a.area}`),
    '',
    'hopwatch src by inclusive time (self + callees):',
    ...summary.inclusive.map(
      (f, i) => `${String(i + 1).padStart(3)}. ${f.percent.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`,
    ),
  ];
  return lines.join('\n');
}

export function newestProfile(dir: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) throw new Error(`no .cpuprofile in ${dir}`);
  return files[0];
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '10' } } });
  const file = positionals[0] ?? newestProfile(join(ROOT, 'bench/results/prof'));
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${file}\n${formatSummary(summarise(profile, Number(values.top)))}\n`);
}
