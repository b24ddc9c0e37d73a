// Preloaded into the measured child (node --expose-gc --import this-file): on SIGUSR2 it runs
// full garbage collections, so memory is compared at a point where V8 holds only live objects.
// Node never collects an idle heap on its own, and V8 sizes its heap to the traffic it saw:
// without this, RSS after the traffic measures that sizing and when the last GC happened to run.
// The child writes nothing for it; the harness waits for the memory to settle.
const collect = (globalThis as { gc?: (options?: { type: 'major'; execution: 'sync' }) => void }).gc;
if (collect) {
  process.on('SIGUSR2', () => {
    collect({ type: 'major', execution: 'sync' });
    collect({ type: 'major', execution: 'sync' });
  });
}
