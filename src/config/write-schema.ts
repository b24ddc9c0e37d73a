// Writes config/schema.json from the TypeBox schema (npm run schema); a test keeps it current.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigSchema } from './schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../../config/schema.json', import.meta.url));

// ajv fills defaults before it checks `required`, so hopwatch accepts any key with a default
// being absent; the published schema says so, or editors would flag every partial file.
function optionalDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(optionalDefaults);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = optionalDefaults(value);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props) {
    const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
    if (required.length) out.required = required;
    else delete out.required;
  }
  return out;
}

export function schemaText(): string {
  return JSON.stringify(optionalDefaults(ConfigSchema), null, 2) + '\n';
}

if (import.meta.main) writeFileSync(SCHEMA_FILE, schemaText());
