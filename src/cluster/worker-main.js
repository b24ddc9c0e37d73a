// What node:cluster runs in each worker (src/cluster/primary.ts forks it). JavaScript for the
// reason src/main.js is: with the compile cache on before the first .ts import, a worker never
// loads the TypeScript stripper, which would hold ~30 MiB of every worker's RSS for its life.
// The node flags (src/main.js's shebang) come from the primary's execArgv, which fork passes on.
import module from 'node:module';

module.enableCompileCache?.();
const { runWorker } = await import('./worker.ts');
runWorker();
