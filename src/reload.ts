// Reloading the configuration without a restart (SIGHUP, POST /reload): the new file is
// validated as a whole — a config with any problem is rejected with every problem named and the
// old one stays — then users, access rules, timeouts, limits, resolvers and the log level change
// for exchanges that start from then on. Open connections are left alone. Listener addresses,
// header-size limits, the proxy name, the analysis windows and the number of workers are fixed
// at start: changing them needs a restart.
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { ConfigError } from './config/load.ts';
import type { Config } from './config/schema.ts';

export type ReloadResult =
  | { result: 'success'; changed: string[] }
  | { result: 'failure'; problems: readonly string[] };

/** Keys whose change needs a restart: sockets are bound, parsers sized, names handed out. */
const RESTART_ONLY = ['http', 'socks', 'admin', 'proxyName', 'analysis', 'workers'] as const;

export interface ReloadParts {
  /** Reads and validates the configuration again (throws ConfigError). */
  load: () => Config;
  current: () => Config;
  /** Puts a validated configuration into effect. */
  apply: (next: Config) => void;
  logger: Logger;
  /**
   * Where hopwatch_config_reloads_total is counted and the outcome logged. Absent in a cluster
   * worker: its primary validated the config, counts the reload once and logs it once.
   */
  registry?: Registry;
}

export function createReloader(parts: ReloadParts): () => ReloadResult {
  const count = parts.registry ? reloadCounter(parts.registry) : undefined;
  return () => {
    const checked = checkReload(parts.load, parts.current());
    if (checked.result === 'success') parts.apply(checked.next);
    const outcome = withoutConfig(checked);
    if (count) {
      count(outcome.result);
      logReload(parts.logger, outcome);
    } else {
      parts.logger.debug({ result: outcome.result }, 'config applied');
    }
    return outcome;
  };
}

/** hopwatch_config_reloads_total, both results at zero; returns the function that counts one. */
export function reloadCounter(registry: Registry): (result: ReloadResult['result']) => void {
  const reloads = new Counter({
    name: 'hopwatch_config_reloads_total',
    help: 'Configuration reloads (SIGHUP, POST /reload), by result: success, or failure (the old config stays).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  reloads.inc({ result: 'success' }, 0);
  reloads.inc({ result: 'failure' }, 0);
  return (result) => reloads.inc({ result });
}

export function logReload(logger: Logger, outcome: ReloadResult, fields: Record<string, unknown> = {}): void {
  if (outcome.result === 'success') logger.info({ changed: outcome.changed, ...fields }, 'config reloaded');
  else logger.error({ problems: outcome.problems, ...fields }, 'config reload rejected: the old configuration stays');
}

export type CheckedReload = { result: 'success'; changed: string[]; next: Config } | { result: 'failure'; problems: readonly string[] };

/** Reads the configuration again and decides whether it can replace `current`, without applying it. */
export function checkReload(load: () => Config, current: Config): CheckedReload {
  let next: Config;
  try {
    next = load();
  } catch (err) {
    return { result: 'failure', problems: err instanceof ConfigError ? err.problems : [String(err)] };
  }
  const fixed = [...RESTART_ONLY, 'limits.maxHeaderBytes'].filter((key) => !same(pick(current, key), pick(next, key)));
  if (fixed.length) {
    return { result: 'failure', problems: fixed.map((key) => `/${key.replace('.', '/')}: changing it needs a restart (the rest was not applied either)`) };
  }
  return { result: 'success', changed: changedKeys(current, next), next };
}

export function withoutConfig(checked: CheckedReload): ReloadResult {
  return checked.result === 'success' ? { result: 'success', changed: checked.changed } : checked;
}

function pick(config: Config, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Top-level sections (and their keys one level down) that differ, for the log line. */
function changedKeys(a: Config, b: Config): string[] {
  const out: string[] = [];
  for (const key of Object.keys(b) as Array<keyof Config>) {
    const left = a[key];
    const right = b[key];
    if (same(left, right)) continue;
    if (left && right && typeof left === 'object' && !Array.isArray(left)) {
      for (const inner of Object.keys(right)) {
        if (!same((left as Record<string, unknown>)[inner], (right as Record<string, unknown>)[inner])) out.push(`${key}.${inner}`);
      }
    } else {
      out.push(key);
    }
  }
  return out;
}
