// The soak in its CI size: six seconds of mixed traffic against a child hopwatch, without the
// warm-up. At this length RSS growth is printed but not judged (memory is still reaching its
// working size); descriptors, heap at rest, codes, outcomes and output are. The note's run is
// `npm run soak -- --minutes 10`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const RUN = fileURLToPath(new URL('../soak/run.ts', import.meta.url));

interface Summary {
  ok: boolean;
  runs: number;
  samples: number;
  rssGrowthPercent: number;
  rssJudged: boolean;
  fdsBaseline: number;
  fdsAfter: number;
  codes: Record<string, number>;
  unexpectedCodes: string[];
  failed: string[];
}

describe('npm run soak', () => {
  it('--minutes 0.1: traffic through every front-end, samples, growth, and only intended codes', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // No warm-up: at this length RSS is not judged, so reaching the plateau would only cost time.
      execFile(process.execPath, [RUN, '--minutes', '0.1', '--warmup', 'none'], { env: { PATH: process.env.PATH }, timeout: 90_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
    });
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Summary;
    assert.equal(summary.ok, true);
    assert.deepEqual(summary.failed, []);
    assert.deepEqual(summary.unexpectedCodes, []);
    assert.equal(summary.rssJudged, false);
    assert.ok(summary.samples >= 5, `${summary.samples} samples`);
    assert.ok(summary.runs > 50, `${summary.runs} scenario runs`);
    assert.ok(summary.fdsAfter <= summary.fdsBaseline);
    // Every fault class produced its code, so the traffic really was mixed.
    for (const c of ['ok', 'connect_refused', 'response_timeout', 'upstream_closed', 'upstream_bad_response', 'dns_nxdomain', 'dns_server_failure', 'client_abort', 'upstream_503', 'auth_invalid']) {
      assert.ok((summary.codes[c] ?? 0) > 0, `no ${c} in ${JSON.stringify(summary.codes)}`);
    }
    // The shape: the sample table, the growth and descriptor lines, the checks.
    assert.match(stdout, /^ +t s +RSS MB +heap MB +V8 total MB +fds +handles +conns +requests$/m);
    assert.match(stdout, /^ +\d+\.\d +\d+\.\d +\d+\.\d +\d+\.\d +\d+ +\d+ +\d+ +\d+$/m);
    assert.match(stdout, /^RSS after warm-up .*: [\d.]+ MB → [\d.]+ MB, [+-][\d.]+ %$/m);
    assert.match(stdout, /^open fds: \d+ at start, baseline \d+, \d+ after traffic/m);
    assert.match(stdout, /^ {2}ok {3}only the codes the traffic caused/m);
  });
});
