// The config schema as the process validates against it: config/schema.json, the file
// `npm run schema` writes from the TypeBox definition in schema.ts (a test keeps the two equal).
// Reading the JSON instead of importing TypeBox keeps the library out of the running proxy:
// importing it costs ~10 MiB of RSS for a schema that is only data once built.
import { readFileSync } from 'node:fs';

export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  [keyword: string]: unknown;
}

export const CONFIG_SCHEMA = JSON.parse(readFileSync(new URL('../../config/schema.json', import.meta.url), 'utf8')) as SchemaNode;

/** The schema node at a config path ("timeouts", "connectMs"); array indexes step into items. */
export function schemaAt(path: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = CONFIG_SCHEMA;
  for (const key of path) {
    node = /^[0-9]+$/.test(key) && node.items ? node.items : node.properties?.[key];
    if (!node) return undefined;
  }
  return node;
}
