// `npm run bench` in its smallest size: the keep-alive section with --quick (direct, the bare
// forwarder, hopwatch with and without its request log), checking that the run completes and
// writes the raw results with every field the table is made of. No performance assertion:
// numbers from a test machine running other tests say nothing, and claims come only from the
// full bench.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const RUN = fileURLToPath(new URL('../bench/run.ts', import.meta.url));

interface FigureRow {
  name: string;
  unit: string;
  direct: number | null;
  baseline: number | null;
  hopwatch: number | null;
  vsDirect: number | null;
  vsBaseline: number | null;
  baselineName: string;
}

describe('npm run bench', () => {
  it('--quick --only keepalive writes a table and raw results with every figure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-bench-test-'));
    const out = join(dir, 'latest.json');
    try {
      const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        // 1 s windows after 0.3 s of warm-up keep the four runs (and three proxy starts) near 8 s;
        // the limit leaves room for a machine busy with the rest of the suite.
        const args = [RUN, '--quick', '--only', 'keepalive', '--duration', '1', '--warmup', '0.3', '--out', out];
        execFile(process.execPath, args, { env: { PATH: process.env.PATH }, timeout: 45_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
      });
      assert.equal(code, 0, `${stdout}\n${stderr}`);
      assert.match(stdout, /figure +direct +baseline +hopwatch +hopwatch\/direct +hopwatch\/baseline/);

      const record = JSON.parse(readFileSync(out, 'utf8')) as { node: string; placement: { description: string }; figures: FigureRow[]; notes: string[]; raw: Record<string, unknown> };
      assert.equal(record.node, process.version);
      assert.ok(record.placement.description);
      const byName = new Map(record.figures.map((f) => [f.name, f]));
      for (const name of ['keep-alive', 'keep-alive p50', 'keep-alive p99', 'keep-alive, request log off']) {
        const figure = byName.get(name);
        assert.ok(figure, `figure "${name}" missing`);
        for (const key of ['direct', 'baseline', 'hopwatch', 'vsDirect', 'vsBaseline'] as const) {
          assert.equal(typeof figure[key], 'number', `${name}.${key}`);
          assert.ok(figure[key]! > 0, `${name}.${key} is ${figure[key]}`);
        }
        assert.equal(figure.baselineName, 'bare forwarder');
      }
      const peak = byName.get('peak RSS under keep-alive');
      assert.ok(peak && peak.hopwatch! > 0 && peak.baseline! > 0, 'peak RSS of both proxies');
      assert.ok(record.notes.some((n) => n.startsWith('request logging costs')));
      assert.ok(record.raw.keepalive, 'raw keep-alive measurements');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
