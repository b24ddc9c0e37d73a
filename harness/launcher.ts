// src/main.js is what users run (`npm start`, the bin, the image's CMD); its shebang carries the
// node flags hopwatch is meant to run with. Tools that start hopwatch themselves (the bench, the
// Dockerfile check) read them here, so there is one place that decides them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const LAUNCHER = fileURLToPath(new URL('../src/main.js', import.meta.url));

/** The flags after `node` on src/main.js's `#!/usr/bin/env -S node …` line. */
export function launcherNodeFlags(): string[] {
  const first = readFileSync(LAUNCHER, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node((?: --?[\w-]+(?:=\S+)?)*)$/.exec(first);
  if (!match) throw new Error(`src/main.js: unexpected shebang ${JSON.stringify(first)}`);
  return match[1]!.trim().split(' ').filter(Boolean);
}
