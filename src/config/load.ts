// Configuration precedence: schema defaults < file (YAML or JSON) < HOPWATCH_* environment.
// Everything is validated in one ajv pass over the merged object so that every problem is
// reported at once, before anything binds a port.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { CONFIG_SCHEMA, schemaAt } from './json-schema.ts';
import type { Config } from './schema.ts';
import { checkSemantics } from './semantics.ts';

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));
export const ENV_PREFIX = 'HOPWATCH_';
/** Environment variables with the prefix that are not config keys. */
const ENV_NOT_KEYS = new Set(['HOPWATCH_CONFIG']);

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: true });
const validate = ajv.compile<Config>(CONFIG_SCHEMA);

export interface LoadOptions {
  /** A config file; the embedded default when absent. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const file = options.file ?? DEFAULT_CONFIG_FILE;
  const raw = readConfigFile(file);
  const fromEnv = applyEnv(raw, options.env ?? {});
  if (fromEnv.problems.length) throw new ConfigError(file, fromEnv.problems);
  return validateConfig(raw, file, fromEnv.sources);
}

/** Validates a plain object (already parsed), filling defaults in place. */
export function validateConfig(raw: unknown, source = 'config', envSources = new Map<string, string>()): Config {
  const data = raw ?? {};
  if (!validate(data)) {
    throw new ConfigError(source, formatErrors(validate.errors ?? [], envSources));
  }
  const semantic = checkSemantics(data);
  if (semantic.length) throw new ConfigError(source, semantic);
  return deepFreeze(data);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let value: unknown;
  if (extname(file).toLowerCase() === '.json') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) throw new ConfigError(file, doc.errors.map((e) => `not valid YAML: ${e.message}`));
    value = doc.toJS();
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(file, ['/: must be an object of sections']);
  return value as Record<string, unknown>;
}

/**
 * HOPWATCH_TIMEOUTS__CONNECT_MS=500 sets timeouts.connectMs: `__` separates levels, and within a
 * level the key is matched ignoring case and underscores. Arrays take JSON or a comma list.
 * A `_FILE` suffix reads the value from that file (Docker and Kubernetes secrets):
 * HOPWATCH_AUTH__USERS_FILE=/run/secrets/users holds a YAML or JSON list of users.
 */
function applyEnv(target: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const problems: string[] = [];
  const sources = new Map<string, string>();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || ENV_NOT_KEYS.has(name) || raw === undefined) continue;
    const key = name.slice(ENV_PREFIX.length);
    let path = resolveEnvPath(key.split('__'));
    let value: string = raw;
    let fromFile = false;
    if (!path && key.endsWith('_FILE')) {
      path = resolveEnvPath(key.slice(0, -'_FILE'.length).split('__'));
      if (path) {
        try {
          value = readFileSync(raw, 'utf8').replace(/\r?\n$/, '');
          fromFile = true;
        } catch (err) {
          problems.push(`${name}: cannot read ${raw}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
          continue;
        }
      }
    }
    if (!path) {
      problems.push(`${name}: no such configuration key (e.g. HOPWATCH_TIMEOUTS__CONNECT_MS sets timeouts.connectMs)`);
      continue;
    }
    const schema = schemaAt(path) as { type?: string } | undefined;
    let parsed: unknown = value;
    if (schema?.type === 'array' || schema?.type === 'object') {
      if (fromFile) parsed = tryYaml(value);
      else if (schema.type === 'object' || value.trim().startsWith('[')) parsed = tryJson(value);
      else parsed = value.split(',').map((s) => s.trim()).filter(Boolean);
    }
    if (parsed === undefined) {
      problems.push(fromFile ? `${name}: ${raw} must hold YAML or JSON` : `${name}: must be JSON`);
      continue;
    }
    setPath(target, path, parsed);
    sources.set('/' + path.join('/'), name);
  }
  return { problems, sources };
}

function resolveEnvPath(segments: string[]): string[] | undefined {
  const path: string[] = [];
  for (const segment of segments) {
    const props = (schemaAt(path) as { properties?: Record<string, unknown> } | undefined)?.properties;
    const wanted = segment.replaceAll('_', '').toLowerCase();
    const key = props && Object.keys(props).find((k) => k.toLowerCase() === wanted);
    if (!key) return undefined;
    path.push(key);
  }
  return path.length ? path : undefined;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function tryYaml(text: string): unknown {
  const doc = parseDocument(text);
  return doc.errors.length ? undefined : (doc.toJS() as unknown);
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function formatErrors(errors: ErrorObject[], envSources: Map<string, string>): string[] {
  const lines = new Set<string>();
  // A value that may take one of several forms (workers: an integer or "auto") fails every
  // branch; one line naming the forms says it better than one line per branch.
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (unions.has(e.instancePath) && e.keyword !== 'anyOf') continue;
    const path = e.instancePath || '/';
    const from = envSources.get(e.instancePath);
    const where = from ? `${path} (from ${from})` : path;
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const parent = schemaAt(e.instancePath.split('/').slice(1)) as { properties?: object } | undefined;
      const allowed = Object.keys(parent?.properties ?? {});
      lines.add(`${where === '/' ? '' : where}/${key}: unknown key (expected one of: ${allowed.join(', ')})`);
    } else if (e.keyword === 'anyOf') {
      const union = schemaAt(e.instancePath.split('/').slice(1)) as { anyOf?: unknown[] } | undefined;
      lines.add(`${where}: must be ${(union?.anyOf ?? []).map(describeForm).join(' or ')}`);
    } else if (e.keyword === 'enum') {
      lines.add(`${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`);
    } else {
      lines.add(`${where}: ${e.message ?? 'is invalid'}`);
    }
  }
  return [...lines];
}

function describeForm(schema: unknown): string {
  const s = schema as { type?: string; const?: unknown; minimum?: number; maximum?: number };
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === 'integer' && s.minimum !== undefined && s.maximum !== undefined) return `an integer from ${s.minimum} to ${s.maximum}`;
  return `a${s.type === 'integer' ? 'n' : ''} ${s.type ?? 'value'}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
