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
    const { registry } = createMetrics(new ConnectionGate({ maxConnections: 1, maxConnectionsPerClient: 1 }), ['http'], '0');
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

describe('README log queries', () => {
  it('every jq one-liner runs against a real hopwatch log and answers something', async (t) => {
    const { spawnSync } = await import('node:child_process');
    if (spawnSync('jq', ['--version']).status !== 0) {
      if (process.env.REQUIRE_TEST_TOOLS) assert.fail('jq is required');
      return t.skip('jq is not installed');
    }
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { startProxy } = await import('./helpers/proxy.ts');
    const { viaProxy } = await import('./helpers/client.ts');
    const { closedPort, httpOrigin } = await import('./helpers/upstreams.ts');
    const proxy = await startProxy({ auth: { users: [{ username: 'alice', password: 'secret' }] } });
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    const auth = { 'Proxy-Authorization': `Basic ${Buffer.from('alice:secret').toString('base64')}` };
    await viaProxy(proxy.port, `${origin.origin}/`, { headers: auth });
    await viaProxy(proxy.port, `http://127.0.0.1:${await closedPort()}/`, { headers: auth });
    await viaProxy(proxy.port, `${origin.origin}/`, { headers: { 'Proxy-Authorization': 'Basic YWxpY2U6d3Jvbmc=' } });
    await proxy.logs.waitFor((l) => l.msg === 'auth_failure');
    await proxy.close();
    await origin.close();
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-log-'));
    writeFileSync(join(dir, 'hopwatch.log'), proxy.logs.lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

    const block = readme.slice(readme.indexOf('### Reading the logs'), readme.indexOf('## Metrics'));
    const commands = block.split('\n').filter((line) => line.includes('jq ') && !line.startsWith('#') && !line.includes('pino-pretty'));
    assert.ok(commands.length >= 7, `found ${commands.length} one-liners`);
    for (const command of commands) {
      const result = spawnSync('bash', ['-o', 'pipefail', '-c', command], { cwd: dir, encoding: 'utf8' });
      assert.equal(result.status, 0, `${command}\n${result.stderr}`);
      assert.notEqual(result.stdout.trim(), '', `no answer from: ${command}`);
    }
  });
});
