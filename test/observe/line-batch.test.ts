// The log's lines are joined per turn of the event loop (src/observe/line-batch.ts): fewer
// writes, the same bytes in the same order, nothing lost at flush or at exit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LineBatch, type LineSink } from '../../src/observe/line-batch.ts';

function fakeSink(maxWrite = 16 * 1024): LineSink & { writes: string[]; flushed: number } {
  return {
    writes: [],
    flushed: 0,
    maxWrite,
    write(data) {
      this.writes.push(data);
      return true;
    },
    flush(cb) {
      this.flushed++;
      cb?.();
    },
    flushSync() {
      this.flushed++;
    },
  };
}

describe('LineBatch', () => {
  it('writes the lines of one turn together, in order, at the end of the turn', async () => {
    const sink = fakeSink();
    const batch = new LineBatch(sink);
    batch.write('a\n');
    batch.write('b\n');
    batch.write('c\n');
    assert.deepEqual(sink.writes, [], 'nothing written during the turn');
    await nextTurn();
    assert.deepEqual(sink.writes, ['a\nb\nc\n']);
    batch.write('d\n');
    await nextTurn();
    assert.deepEqual(sink.writes, ['a\nb\nc\n', 'd\n']);
  });

  it('never joins past the destination\'s maxWrite (bytes, not characters), and never cuts a line', async () => {
    const sink = fakeSink(100);
    const batch = new LineBatch(sink);
    const lines = Array.from({ length: 7 }, (_, i) => `${'é'.repeat(10)}${String(i).padStart(18, '-')}\n`); // 39 bytes, 29 characters
    for (const line of lines) batch.write(line);
    await nextTurn();
    assert.equal(sink.writes.join(''), lines.join(''));
    for (const w of sink.writes) assert.ok(Buffer.byteLength(w) <= 100, `${Buffer.byteLength(w)} bytes in one write`);
    assert.ok(sink.writes.every((w) => w.endsWith('\n')));
    assert.equal(sink.writes.length, 4);
  });

  it('flush() writes what it holds before the destination flushes', () => {
    const sink = fakeSink();
    const batch = new LineBatch(sink);
    batch.write('held\n');
    let called = false;
    batch.flush(() => (called = true));
    assert.deepEqual(sink.writes, ['held\n']);
    assert.equal(called, true);
  });

  it('a process that exits in the same turn as it logs still writes the line, to a pipe or a file', () => {
    const log = fileURLToPath(new URL('../../src/observe/log.ts', import.meta.url));
    const script = `const { createLogger } = await import(${JSON.stringify(log)}); createLogger('info').info({ n: 1 }, 'last words'); process.exit(3);`;
    const args = ['--input-type=module', '-e', script];
    const env = { PATH: process.env.PATH };
    const piped = spawnSync(process.execPath, args, { encoding: 'utf8', env });
    assert.equal(piped.status, 3, piped.stderr);
    assert.match(piped.stdout, /"msg":"last words"/);
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-line-batch-'));
    try {
      const file = join(dir, 'out.log');
      const fd = openSync(file, 'w');
      const toFile = spawnSync(process.execPath, args, { encoding: 'utf8', env, stdio: ['ignore', fd, 'pipe'] });
      closeSync(fd);
      assert.equal(toFile.status, 3, toFile.stderr);
      assert.match(readFileSync(file, 'utf8'), /"msg":"last words"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
