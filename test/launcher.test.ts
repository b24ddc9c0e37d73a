// src/main.js, the command users run: it must start hopwatch through its shebang with the flags
// it declares, fill Node's compile cache so later starts skip the TypeScript stripper, and
// refuse an old Node with a message instead of a stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { LAUNCHER, launcherNodeFlags } from '../harness/launcher.ts';

// The shebang runs `node` from PATH: this test's own Node first, as npm's PATH does.
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());
}

describe('src/main.js', () => {
  it('is executable and runs hopwatch through its shebang', () => {
    assert.ok(statSync(LAUNCHER).mode & 0o111, 'executable bit set (git keeps it)');
    const run = spawnSync(LAUNCHER, ['--version'], { encoding: 'utf8', env: { PATH, NODE_COMPILE_CACHE: '' } });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('declares the V8 flags users run with', () => {
    assert.deepEqual(launcherNodeFlags(), ['--max-semi-space-size=8']);
  });

  it('fills the compile cache with the stripped TypeScript, so later starts need no stripper', () => {
    const cache = mkdtempSync(join(tmpdir(), 'hopwatch-compile-cache-'));
    try {
      const first = spawnSync(process.execPath, [LAUNCHER, 'check-config'], { encoding: 'utf8', env: { PATH, NODE_COMPILE_CACHE: cache } });
      assert.equal(first.status, 0, first.stderr);
      const entries = files(cache).length;
      assert.ok(entries > 20, `a cache entry per module (${entries})`);
      // The second start reads every hopwatch module from the cache: Node's own trace says so.
      const second = spawnSync(process.execPath, [LAUNCHER, 'check-config'], {
        encoding: 'utf8',
        env: { PATH, NODE_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
      });
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stderr, /retrieving transpile cache for StrippedTypeScript file:\/\/\S+\/src\/cli\.ts\.\.\.success/);
      assert.doesNotMatch(second.stderr, /transpile cache for StrippedTypeScript \S+\.\.\.(?!success)/);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('refuses a Node older than 24 with a message, when one is installed', (t) => {
    const old = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
      if (!existsSync(p)) return false;
      const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' });
      return v.status === 0 && Number(v.stdout.split('.')[0]) < 24;
    });
    if (!old) return t.skip('no Node older than 24 on this machine');
    const run = spawnSync(old, [LAUNCHER, '--version'], { encoding: 'utf8', env: { PATH } });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^hopwatch: needs Node 24 or later, this is v\d+/);
    assert.doesNotMatch(run.stderr, /ERR_UNKNOWN_FILE_EXTENSION|at /);
  });
});
