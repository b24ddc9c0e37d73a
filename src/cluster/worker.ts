// A cluster worker (workers > 1): the whole proxy (startHopwatch) on the listeners it shares
// with its siblings, without an admin listener of its own. The primary (src/cluster/primary.ts)
// forks src/cluster/worker-main.js, which runs this. A worker never reads the config file: the
// primary hands it the validated configuration, its number and the shared Via pseudonym, asks
// it for metrics, findings and reloads, and tells it when to drain.
import { pino } from 'pino';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ListenError, startHopwatch, type Hopwatch } from '../server.ts';
import { isToWorker, type Bound, type FromWorker, type Question } from './messages.ts';

/**
 * Every worker writes to the same stdout. A pipe keeps writes of up to PIPE_BUF bytes (4096 on
 * Linux) whole, and pino's destination only ever writes whole lines joined up to maxWrite, so
 * with this maxWrite no line is cut by another worker's (lines themselves are far shorter).
 */
const PIPE_BUF = 4096;

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, undefined, () => resolve());
  });
}

function bound(address: { address: string; port: number } | undefined): Bound | undefined {
  return address && { address: address.address, port: address.port };
}

export function runWorker(): void {
  let hopwatch: Promise<Hopwatch> | undefined;
  let latest: Config | undefined;
  let signals = 0;
  let exiting = false;

  const drain = () => {
    if (exiting) return;
    exiting = true;
    const done = (code: number) => () => process.exit(code);
    if (!hopwatch) return process.exit(0);
    hopwatch.then((h) => h.close()).then(done(0), done(1));
  };

  // The primary decides about reloads; a terminal's hangup reaches the whole process group.
  process.on('SIGHUP', () => {});
  // systemd (KillMode=control-group) and a terminal's Ctrl-C signal every process of the group,
  // not only the primary: a worker drains as the primary would have asked it to.
  const stop = () => {
    if (++signals > 1) process.exit(1);
    drain();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  process.on('message', (message: unknown) => {
    if (!isToWorker(message)) return;
    switch (message.type) {
      case 'hopwatch:start': {
        if (hopwatch) return;
        latest = message.config;
        hopwatch = startHopwatch({
          config: message.config,
          reloadConfig: () => latest!,
          worker: { id: message.worker, viaName: message.viaName },
          logDestination: pino.destination({ dest: 1, sync: false, maxWrite: PIPE_BUF }),
        });
        hopwatch.then(
          (h) => send({ type: 'hopwatch:listening', http: bound(h.addresses.http), socks: bound(h.addresses.socks) }),
          async (err: unknown) => {
            const known = err instanceof ListenError || err instanceof ConfigError;
            const text = known ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
            await send({ type: 'hopwatch:failed', message: text, exitCode: err instanceof ConfigError ? 78 : 1 });
            process.exit(err instanceof ConfigError ? 78 : 1);
          },
        );
        return;
      }
      case 'hopwatch:ask': {
        const { id, question } = message;
        answer(question).then(
          (value) => send({ type: 'hopwatch:answer', id, value }),
          (err: unknown) => send({ type: 'hopwatch:answer', id, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      case 'hopwatch:drain':
        drain();
        return;
    }
  });

  async function answer(question: Question): Promise<unknown> {
    if (!hopwatch) throw new Error('not started yet');
    const h = await hopwatch;
    switch (question.kind) {
      case 'metrics':
        return h.registry.getMetricsAsJSON();
      case 'errors':
        return h.errors(question.target);
      case 'reload':
        latest = question.config;
        return h.reload();
    }
  }

  void send({ type: 'hopwatch:hello' });
}
