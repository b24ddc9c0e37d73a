// A process's resources at rest: once its client connections are gone and no descriptor has
// closed for a while (pooled upstream sockets and lingering refusals close on their own
// timers), after full garbage collections. Measured the same way before and after traffic, so
// the difference is what the traffic left behind.
import type { HopwatchChild } from './child.ts';
import { memory } from './memory.ts';
import { fdCount } from './proc.ts';
import { settleQuiet } from './settle.ts';

export interface AtRest {
  rss: number;
  /** V8 heap in use after the collections: live objects only. */
  heap: number;
  external: number;
  fds: number;
  /** Client connections still open when the wait ended (0 unless it timed out). */
  connections: number;
  /** How long the wait for quiet took, in ms. */
  settleMs: number;
}

export async function atRest(child: HopwatchChild, timeoutMs = 30_000): Promise<AtRest> {
  const quiet = await settleQuiet(child.pid, child.ports.admin, 2_000, timeoutMs);
  await child.collectGarbage();
  const fds = fdCount(child.pid);
  const m = await memory(child.pid, child.ports.admin);
  return { ...m, fds, connections: quiet.last.connections, settleMs: quiet.ms };
}
