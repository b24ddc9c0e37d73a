// The cluster primary (workers > 1). It forks the workers (src/cluster/worker.ts), each the
// whole proxy on the HTTP and SOCKS listeners they share through node:cluster, and handles no
// proxy traffic itself. It serves the admin listener for all of them (/metrics summed, /errors
// merged, /readyz, POST /reload), validates a reload once and hands it to every worker, drains
// them all on SIGTERM, and replaces a worker that dies unasked, with backoff.
//
// Connections: every worker accepts on the listening socket itself, which the primary opened
// and shares (node:cluster's SCHED_NONE), rather than node's default on Linux, round-robin, where
// the primary accepts each connection and hands it over the IPC channel. Measured with
// `npm run bench -- --only workers` on two cores: keep-alive costs about the same either way
// (135-150 µs of CPU per request); a new connection (Connection: close, every tunnel) cost
// ~230 µs more with round-robin, whose one-at-a-time hand-over peaked near 2,400 connections/s
// where the shared socket reached 4,000-5,000/s, both workers busy. NODE_CLUSTER_SCHED_POLICY=rr, node's own
// variable, still chooses round-robin.
import cluster, { type Worker } from 'node:cluster';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { pino, type DestinationStream, type Logger } from 'pino';
import { createAdminServer } from '../admin/server.ts';
import type { ErrorsReport } from '../analysis/engine.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../observe/log.ts';
import { checkReload, logReload, withoutConfig, type ReloadResult } from '../reload.ts';
import { hostPort, listen, newViaName, warnUnreachableListeners } from '../server.ts';
import { VERSION } from '../version.ts';
import { RestartBackoff, type BackoffOptions } from './backoff.ts';
import { mergeErrorReports } from './errors.ts';
import { isFromWorker, type Bound, type FromWorker, type Question, type ToWorker } from './messages.ts';
import { ClusterMetrics, createPrimaryMetrics, type Family, type RestartReason, type WorkerAnswer } from './metrics.ts';

const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.js', import.meta.url));
/** A worker that does not answer a scrape within this is reported as unavailable (503). */
const ASK_TIMEOUT_MS = 5_000;
/** After shutdownGraceMs, workers get this long to flush and exit before they are killed. */
const EXIT_MARGIN_MS = 5_000;

/** `workers` as a number of processes: "auto" is one per CPU this process may run on. */
export function workerCount(setting: Config['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

export interface PrimaryOptions {
  config: Config;
  workers: number;
  /** Reads and validates the configuration again (SIGHUP, POST /reload). */
  reloadConfig: () => Config;
  /** Where the primary's own log lines go; stdout when absent. */
  logDestination?: DestinationStream;
  backoff?: BackoffOptions;
}

export interface ClusterPrimary {
  readonly logger: Logger;
  readonly addresses: { http?: Bound; socks?: Bound; admin?: AddressInfo };
  reload(): Promise<ReloadResult>;
  close(): Promise<void>;
}

/** A worker that could not start while the cluster was starting; the CLI exits with exitCode. */
export class WorkerStartError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'WorkerStartError';
    this.exitCode = exitCode;
  }
}

class WorkerGone extends Error {}

/** One of the N places a worker runs in; a replacement takes its predecessor's slot and number. */
interface Slot {
  readonly number: number;
  readonly backoff: RestartBackoff;
  worker?: Worker;
  state: 'starting' | 'serving' | 'stopped';
  /** It said hello and was sent its configuration: from then on it hears reloads. */
  greeted: boolean;
  forkedAt: number;
  /** Set when the worker said why it could not start. */
  failure?: { message: string; exitCode: number };
  restartTimer?: NodeJS.Timeout;
}

interface Pending {
  worker: Worker;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export async function startPrimary(options: PrimaryOptions): Promise<ClusterPrimary> {
  let config = options.config;
  const logger = createLogger(config.log.level, options.logDestination ?? pino.destination({ dest: 1, sync: false, maxWrite: 4096 }));
  const viaName = newViaName(config.proxyName);
  const slots: Slot[] = Array.from({ length: options.workers }, (_, i) => ({
    number: i + 1,
    backoff: new RestartBackoff(options.backoff),
    state: 'stopped',
    greeted: false,
    forkedAt: 0,
  }));
  const bySlot = new Map<Worker, Slot>();
  const pending = new Map<number, Pending>();
  let nextAsk = 0;
  let started = false;
  let closing: Promise<void> | undefined;
  /** Resolves close()'s wait once the last worker has exited. */
  let allExited: (() => void) | undefined;
  const addresses: ClusterPrimary['addresses'] = {};
  const serving = () => slots.filter((s) => s.state === 'serving');

  const own = createPrimaryMetrics(() => serving().length);
  const metrics = new ClusterMetrics(own.registry, async () => {
    const asked = serving().map(async (slot): Promise<WorkerAnswer | undefined> => {
      const worker = slot.worker!;
      try {
        return { id: worker.id, families: (await ask(slot, { kind: 'metrics' })) as Family[] };
      } catch (err) {
        if (err instanceof WorkerGone) return undefined; // died meanwhile: its counts were kept
        throw Object.assign(new Error(`worker ${slot.number}: ${(err as Error).message}`), { status: 503 });
      }
    });
    return (await Promise.all(asked)).filter((a): a is WorkerAnswer => a !== undefined);
  });

  function post(worker: Worker, message: ToWorker): boolean {
    if (!worker.isConnected()) return false;
    worker.send(message, (err) => {
      if (err) logger.debug({ err: err.message }, 'message to a worker lost');
    });
    return true;
  }

  function ask(slot: Slot, question: Question): Promise<unknown> {
    const worker = slot.worker;
    const id = ++nextAsk;
    return new Promise((resolve, reject) => {
      if (!worker || !post(worker, { type: 'hopwatch:ask', id, question })) return reject(new WorkerGone());
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no answer within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      pending.set(id, { worker, resolve, reject, timer });
    });
  }

  function fork(slot: Slot): void {
    slot.restartTimer = undefined;
    slot.failure = undefined;
    slot.state = 'starting';
    slot.greeted = false;
    slot.forkedAt = performance.now();
    const worker = cluster.fork();
    slot.worker = worker;
    bySlot.set(worker, slot);
  }

  // ---- startup ----------------------------------------------------------------------------------
  // The admin listener first: a port already taken fails before any worker exists.
  let admin: HttpServer | undefined;
  const adminServer = createAdminServer(metrics, {
    ready: () => !closing && serving().length > 0,
    errors: async (target) => {
      const asked = serving().map(async (slot) => {
        try {
          return { worker: slot.number, report: (await ask(slot, { kind: 'errors', target })) as ErrorsReport };
        } catch (err) {
          if (err instanceof WorkerGone) return undefined;
          throw Object.assign(new Error(`worker ${slot.number}: ${(err as Error).message}`), { status: 503 });
        }
      });
      return mergeErrorReports((await Promise.all(asked)).filter((a) => a !== undefined));
    },
    reload: () => reload(),
  });
  if (config.admin.enabled) {
    addresses.admin = await listen(adminServer, 'admin', config.admin.host, config.admin.port);
    admin = adminServer;
  }

  let startup: { resolve(): void; reject(err: Error): void } | undefined;
  const allServing = new Promise<void>((resolve, reject) => (startup = { resolve, reject }));

  const onMessage = (worker: Worker, message: unknown) => {
    const slot = bySlot.get(worker);
    if (!slot || !isFromWorker(message)) return;
    handle(slot, worker, message);
  };
  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    const slot = bySlot.get(worker);
    if (slot) exited(slot, worker, code, signal);
  };
  if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], serialization: 'advanced' });
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);

  function handle(slot: Slot, worker: Worker, message: FromWorker): void {
    switch (message.type) {
      case 'hopwatch:hello':
        slot.greeted = post(worker, { type: 'hopwatch:start', worker: slot.number, viaName, config });
        return;
      case 'hopwatch:listening':
        slot.state = 'serving';
        addresses.http ??= message.http;
        addresses.socks ??= message.socks;
        if (!started && slots.every((s) => s.state === 'serving')) startup?.resolve();
        return;
      case 'hopwatch:failed':
        slot.failure = { message: message.message, exitCode: message.exitCode };
        return;
      case 'hopwatch:answer': {
        const ask = pending.get(message.id);
        if (!ask) return; // answered after its timeout
        pending.delete(message.id);
        clearTimeout(ask.timer);
        if (message.error !== undefined) ask.reject(new Error(message.error));
        else ask.resolve(message.value);
        return;
      }
    }
  }

  function exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    bySlot.delete(worker);
    for (const [id, ask] of pending) {
      if (ask.worker !== worker) continue;
      pending.delete(id);
      clearTimeout(ask.timer);
      ask.reject(new WorkerGone());
    }
    metrics.retire(worker.id);
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.state = 'stopped';
    if (closing) {
      if (slots.every((s) => !s.worker)) allExited?.();
      return;
    }
    if (!started) {
      const why = slot.failure ?? { message: `worker ${slot.number} exited (${signal ?? `code ${code}`}) before it listened`, exitCode: 1 };
      startup?.reject(new WorkerStartError(why.message, why.exitCode));
      return;
    }
    const reason: RestartReason = signal ? 'killed' : code === 0 ? 'exited' : 'crashed';
    own.countRestart(reason);
    const delay = slot.backoff.next(performance.now() - slot.forkedAt);
    logger.error({ worker: slot.number, pid: worker.process.pid, code, signal, reason, restart_in_ms: delay }, 'worker died: replacing it');
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  }

  for (const slot of slots) fork(slot);
  try {
    await allServing;
  } catch (err) {
    // Nothing serves yet: stop the others at once and report why the cluster could not start.
    closing = Promise.resolve();
    const gone = new Promise<void>((resolve) => (allExited = resolve));
    for (const slot of slots) slot.worker?.process.kill('SIGKILL');
    if (slots.some((s) => s.worker)) await gone;
    detach();
    admin?.close();
    throw err;
  }
  started = true;
  warnUnreachableListeners(config, logger);
  logger.info(
    { http: hostPort(addresses.http), socks: hostPort(addresses.socks), admin: hostPort(addresses.admin), workers: options.workers, pid: process.pid, version: VERSION },
    'hopwatch listening',
  );

  // ---- reload -----------------------------------------------------------------------------------
  let reloading: Promise<unknown> = Promise.resolve();
  function reload(): Promise<ReloadResult> {
    // One at a time: a second SIGHUP waits for the workers to take the first.
    const next = reloading.then(reloadNow);
    reloading = next.catch(() => {});
    return next;
  }
  async function reloadNow(): Promise<ReloadResult> {
    const checked = checkReload(options.reloadConfig, config);
    const outcome = withoutConfig(checked);
    if (checked.result === 'success') {
      config = checked.next;
      logger.level = config.log.level;
      // Workers still starting take it too (they queue it behind their start); one that has not
      // said hello yet will be started with the new configuration.
      const told = slots.filter((s) => s.worker && s.greeted);
      const answers = await Promise.allSettled(told.map((slot) => ask(slot, { kind: 'reload', config })));
      answers.forEach((answer, i) => {
        const failed = answer.status === 'rejected' ? String(answer.reason) : (answer.value as ReloadResult).result === 'failure' ? JSON.stringify(answer.value) : undefined;
        if (failed && !(answer.status === 'rejected' && answer.reason instanceof WorkerGone)) {
          logger.error({ worker: told[i]!.number, problem: failed }, 'a worker did not apply the reloaded configuration');
        }
      });
      // A worker forked from now on is started with the new configuration anyway.
    }
    own.countReload(outcome.result);
    logReload(logger, outcome, { workers: serving().length });
    return outcome;
  }

  // ---- shutdown ---------------------------------------------------------------------------------
  function detach(): void {
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
  }

  return {
    logger,
    addresses,
    reload,
    close() {
      closing ??= (async () => {
        const gone = new Promise<void>((resolve) => (allExited = resolve));
        for (const slot of slots) {
          clearTimeout(slot.restartTimer);
          if (slot.worker) post(slot.worker, { type: 'hopwatch:drain' });
        }
        if (slots.some((s) => s.worker)) {
          // Workers cut what is left at shutdownGraceMs; one that still has not exited a while
          // later (stuck, or never told) is killed, so the primary always ends.
          const kill = setTimeout(() => {
            for (const slot of slots) slot.worker?.process.kill('SIGKILL');
          }, config.shutdownGraceMs + EXIT_MARGIN_MS);
          await gone;
          clearTimeout(kill);
        }
        detach();
        logger.info({ workers: options.workers }, 'workers stopped');
        if (admin) {
          const adminClosed = new Promise<void>((resolve) => admin!.close(() => resolve()));
          admin.closeAllConnections();
          await adminClosed;
        }
        await new Promise<void>((resolve) => logger.flush(() => resolve()));
      })();
      return closing;
    },
  };
}
