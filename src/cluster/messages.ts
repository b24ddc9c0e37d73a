// What the cluster primary and its workers say to each other over node:cluster's IPC channel
// (advanced serialisation). Every type starts with "hopwatch:", so messages of others on the
// same channel (prom-client's, if anyone used its cluster mode) are told apart and ignored.
import type { Config } from '../config/schema.ts';

export type Question =
  /** The worker's registry as prom-client JSON (getMetricsAsJSON). */
  | { kind: 'metrics' }
  /** The worker's GET /errors report. */
  | { kind: 'errors'; target?: string }
  /** Apply this configuration, already validated by the primary; answers a ReloadResult. */
  | { kind: 'reload'; config: Config };

export type ToWorker =
  /** The answer to hello: who the worker is and what to run. */
  | { type: 'hopwatch:start'; worker: number; viaName: string; config: Config }
  | { type: 'hopwatch:ask'; id: number; question: Question }
  /** Drain as on SIGTERM, then exit 0. */
  | { type: 'hopwatch:drain' };

export interface Bound {
  address: string;
  port: number;
}

export type FromWorker =
  /** Sent once the worker listens for messages (messages sent before that would be lost). */
  | { type: 'hopwatch:hello' }
  | { type: 'hopwatch:listening'; http?: Bound; socks?: Bound }
  /** startHopwatch failed (a port in use, say): the worker exits with exitCode after this. */
  | { type: 'hopwatch:failed'; message: string; exitCode: number }
  | { type: 'hopwatch:answer'; id: number; value?: unknown; error?: string };

function typed(message: unknown): string | undefined {
  const type = (message as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type.startsWith('hopwatch:') ? type : undefined;
}

export function isToWorker(message: unknown): message is ToWorker {
  return typed(message) !== undefined;
}

export function isFromWorker(message: unknown): message is FromWorker {
  return typed(message) !== undefined;
}
