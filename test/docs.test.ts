// The README is the interface users read: it must name every config key and metric family.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigSchema } from '../src/config/schema.ts';
import { validateConfig } from '../src/config/load.ts';
import { createMetrics } from '../src/observe/metrics.ts';
import { ConnectionGate } from '../src/front/connections.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function leafKeys(node: unknown, prefix = ''): string[] {
  const props = (node as { properties?: Record<string, unknown> }).properties;
  const type = (node as { type?: string }).type;
  if (type !== 'object' || !props) return [prefix];
  return Object.entries(props).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
}

describe('README', () => {
  it('documents every configuration key', () => {
    const missing = leafKeys(ConfigSchema).filter((key) => !readme.includes(`\`${key}\``));
    assert.deepEqual(missing, []);
  });

  it('states the defaults the schema has', () => {
    const defaults = validateConfig({});
    for (const [key, value] of Object.entries(defaults.timeouts)) {
      assert.match(readme, new RegExp(`\`timeouts\\.${key}\` \\| \`${value}\``), key);
    }
    assert.match(readme, new RegExp(`\`limits\\.maxConnections\` \\| \`${defaults.limits.maxConnections}\``));
  });

  it('documents every hopwatch metric family', async () => {
    const { registry } = createMetrics(new ConnectionGate(1), ['http'], '0');
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('hopwatch_'));
    assert.ok(names.length >= 8);
    assert.deepEqual(names.filter((n) => !readme.includes(`\`${n}\``)), []);
  });

  it('opens with the two commands a newcomer needs', () => {
    const firstBlock = readme.slice(readme.indexOf('```sh'), readme.indexOf('```', readme.indexOf('```sh') + 5));
    assert.match(firstBlock, /npm ci && npm start/);
    assert.match(firstBlock, /npm ci && npm test/);
  });
});
