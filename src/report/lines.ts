// Log lines from files or stdin, one at a time: readline over a stream, so a gigabyte of logs
// is never held in memory. Lines that are not JSON objects are counted and skipped (a log
// shipper's prefix, a truncated last line, pino-pretty output).
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export type LogRecord = Record<string, unknown>;

export interface LineCounts {
  read: number;
  notJson: number;
}

/** Opens each path ('-' is stdin); fails before reading anything when one cannot be opened. */
export async function openInputs(paths: readonly string[], stdin: Readable): Promise<Readable[]> {
  if (paths.length === 0) return [stdin];
  const streams: Readable[] = [];
  for (const path of paths) {
    if (path === '-') {
      streams.push(stdin);
      continue;
    }
    const stream = createReadStream(path);
    try {
      await once(stream, 'open');
    } catch (err) {
      for (const s of streams) if (s !== stdin) s.destroy();
      throw err;
    }
    streams.push(stream);
  }
  return streams;
}

export async function* jsonLines(inputs: readonly Readable[], counts: LineCounts): AsyncGenerator<LogRecord> {
  for (const input of inputs) {
    const rl = createInterface({ input, crlfDelay: Infinity });
    for await (const line of rl) {
      if (line.trim() === '') continue;
      counts.read++;
      const record = parse(line);
      if (record) yield record;
      else counts.notJson++;
    }
  }
}

function parse(line: string): LogRecord | undefined {
  if (line.trimStart()[0] !== '{') return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}
