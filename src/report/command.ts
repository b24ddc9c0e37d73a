// `hopwatch report [FILE…]`: hopwatch's JSON log lines (files, or stdin) → one report, as text
// or, with --json, one object. Kept apart from src/cli.ts so the CLI only routes to it.
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { WINDOW_MS } from '../analysis/options.ts';
import { ReportBuilder, type Report } from './aggregate.ts';
import { formatReport } from './format.ts';
import { jsonLines, openInputs } from './lines.ts';

export const REPORT_USAGE = `Usage: hopwatch report [FILE…] [--json] [--top N] [--window-ms MS]

Reads hopwatch's JSON log lines from the files (or stdin; "-" is stdin too) as a stream, and
prints error rates by code, hop and destination, P50/P95/P99 per hop, refused logins apart from
other 4xx, and the recurrence findings the proxy would have raised over the same lines.

  --json           one JSON object instead of text
  --top N          destinations and users listed (default 10)
  --window-ms MS   the analysis window (default ${WINDOW_MS}, as analysis.windowMs)
`;

export interface ReportIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export async function buildReport(inputs: readonly Readable[], options: { top?: number; windowMs?: number } = {}): Promise<Report> {
  const builder = new ReportBuilder(options.windowMs ? { windowMs: options.windowMs } : {});
  for await (const record of jsonLines(inputs, builder.counts)) builder.add(record);
  return builder.finish(options.top ?? 10);
}

export async function reportCommand(argv: readonly string[], io: ReportIo = process): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        top: { type: 'string' },
        'window-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr.write(`hopwatch report: ${(err as Error).message}\n\n${REPORT_USAGE}`);
    return 64;
  }
  if (values.help) {
    io.stdout.write(REPORT_USAGE);
    return 0;
  }
  const top = values.top === undefined ? 10 : Number(values.top);
  const windowMs = values['window-ms'] === undefined ? WINDOW_MS : Number(values['window-ms']);
  if (!Number.isInteger(top) || top < 1 || !Number.isInteger(windowMs) || windowMs < 1) {
    io.stderr.write(`hopwatch report: --top and --window-ms take positive integers\n\n${REPORT_USAGE}`);
    return 64;
  }
  let inputs: Readable[];
  try {
    inputs = await openInputs(positionals, io.stdin);
  } catch (err) {
    io.stderr.write(`hopwatch report: ${(err as Error).message}\n`);
    return 66; // EX_NOINPUT
  }
  const report = await buildReport(inputs, { top, windowMs });
  io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return 0;
}
