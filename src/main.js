#!/usr/bin/env -S node --max-semi-space-size=8
// The command people and containers run (`npm start`, the image's CMD, the `hopwatch` bin).
// It is JavaScript, not TypeScript, for one reason: memory. Node strips types with a
// WebAssembly module that, once loaded, keeps ~30 MiB of the process's RSS for its whole life.
// Node's compile cache also stores the stripped source, so with the cache enabled before the
// first .ts file is imported, every start after the first never loads the stripper at all
// (measured: 128 → 101 MiB at rest). A cache that cannot be written (read-only filesystem,
// no tmpdir) costs nothing but that saving.
//
// The shebang's --max-semi-space-size=8 caps V8's young generation at 3 × 8 MiB: left to
// itself V8 grows it to 64 MiB under load, which was most of the difference between RSS at
// rest and under load (98 → 250 MiB peak at 5k req/s), for garbage that dies young anyway. The
// cost is more scavenges, each as cheap as what is alive at that moment: a proxy keeps little.
// bench/procs.ts reads the flags from this line, so the bench measures what users run.
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  // Older Nodes fail on the first .ts import with ERR_UNKNOWN_FILE_EXTENSION: say what to do.
  process.stderr.write(`hopwatch: needs Node 24 or later, this is ${process.version}; \`npm start\` and \`npx hopwatch\` use the node@24 it installs\n`);
  process.exit(1);
}
module.enableCompileCache?.();
await import('./cli.ts');
