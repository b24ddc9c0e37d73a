// `hopwatch doctor`: arguments → runner → progress lines (or one JSON object) → exit code.
// Kept apart from src/cli.ts so the CLI only routes to it.
import type { Writable } from 'node:stream';
import { DOCTOR_USAGE, DoctorUsageError, parseDoctorArgs } from './args.ts';
import { formatHeader, formatLayer, formatVerdict } from './format.ts';
import { runDoctor } from './runner.ts';

export const EXIT_HEALTHY = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Times to 0.1 ms and the ratio to 0.01 in JSON: the float noise below that is not a measurement. */
function rounded(key: string, value: unknown): unknown {
  if (typeof value !== 'number') return value;
  if (key === 'ms' || key.endsWith('Ms')) return Math.round(value * 10) / 10;
  return key === 'ratio' ? Math.round(value * 100) / 100 : value;
}

export async function doctorCommand(argv: readonly string[], out: Writable = process.stdout, err: Writable = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseDoctorArgs(argv);
  } catch (e) {
    if (!(e instanceof DoctorUsageError)) throw e;
    err.write(`hopwatch doctor: ${e.message}\n\n${DOCTOR_USAGE}`);
    return EXIT_USAGE;
  }
  if (parsed.help) {
    out.write(DOCTOR_USAGE);
    return EXIT_HEALTHY;
  }
  const { options } = parsed;
  if (!options.json) out.write(formatHeader(options, options.timeoutMs));
  const report = await runDoctor(options, (layer) => {
    if (!options.json) out.write(formatLayer(layer));
  });
  out.write(options.json ? `${JSON.stringify(report, rounded, 2)}\n` : formatVerdict(report.verdict));
  return report.verdict.healthy ? EXIT_HEALTHY : EXIT_FAILED;
}
