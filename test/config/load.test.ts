import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig, validateConfig } from '../../src/config/load.ts';
import { schemaText, SCHEMA_FILE } from '../../src/config/write-schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopwatch-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the config to be rejected');
}

describe('config loading', () => {
  it('the embedded default binds loopback: proxy 8080, admin 9464', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.http.host, '127.0.0.1');
    assert.equal(config.http.port, 8080);
    assert.equal(config.admin.host, '127.0.0.1');
    assert.equal(config.admin.port, 9464);
    assert.equal(config.socks.enabled, false);
    assert.deepEqual(config.access.allowClients, ['127.0.0.0/8', '::1/128']);
  });

  it('the default file states every default the schema has', () => {
    const fromFile = loadConfig({ file: DEFAULT_CONFIG_FILE, env: {} });
    const fromNothing = validateConfig({});
    assert.deepEqual(fromFile, fromNothing);
  });

  it('fills defaults for absent sections and keys (YAML and JSON)', () => {
    const yaml = loadConfig({ file: file('a.yaml', 'timeouts:\n  connectMs: 1500\n'), env: {} });
    assert.equal(yaml.timeouts.connectMs, 1500);
    assert.equal(yaml.timeouts.dnsMs, 5000);
    assert.equal(yaml.limits.maxConnections, 10000);
    const json = loadConfig({ file: file('b.json', '{"http":{"port":3128}}'), env: {} });
    assert.equal(json.http.port, 3128);
    assert.equal(json.http.host, '127.0.0.1');
  });

  it('reports every problem at once, by path and expected form', () => {
    const found = problems(() =>
      loadConfig({
        file: file('bad.yaml', 'timeouts:\n  connectMs: fast\n  dnsMs: -1\nhttp:\n  prot: 1\nlog:\n  level: loud\nbogus: true\n'),
        env: {},
      }),
    );
    assert.ok(found.includes('/timeouts/connectMs: must be integer'), found.join('\n'));
    assert.ok(found.includes('/timeouts/dnsMs: must be >= 1'), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('/http/prot: unknown key (expected one of: enabled, host, port)')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('/log/level: must be one of fatal, error')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('/bogus: unknown key')), found.join('\n'));
  });

  it('rejects syntax errors, missing files and non-object documents with the file named', () => {
    assert.match(problems(() => loadConfig({ file: file('x.yaml', 'http: [\n'), env: {} }))[0]!, /not valid YAML/);
    assert.match(problems(() => loadConfig({ file: file('x.json', '{'), env: {} }))[0]!, /not valid JSON/);
    assert.match(problems(() => loadConfig({ file: join(dir, 'absent.yaml'), env: {} }))[0]!, /cannot read the file: ENOENT/);
    assert.match(problems(() => loadConfig({ file: file('list.yaml', '- 1\n'), env: {} }))[0]!, /must be an object/);
  });

  it('rejects a broken password hash and a user listed twice', () => {
    const found = problems(() =>
      validateConfig({
        auth: {
          users: [
            { username: 'a', password: 'scrypt$16384$8$1$short$short' },
            { username: 'b', password: 'plain is fine' },
            { username: 'b', password: 'again' },
          ],
        },
      }),
    );
    assert.ok(found.some((p) => p.startsWith('/auth/users/0/password: starts like a hopwatch hash but is not a valid one')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('/auth/users/2/username: "b" is listed twice')), found.join('\n'));
    assert.equal(found.length, 2, found.join('\n'));
  });

  it('checks addresses and colliding listeners', () => {
    const found = problems(() =>
      validateConfig({
        dns: { servers: ['not-an-ip', '10.0.0.2:53'] },
        access: { allowClients: ['10.0.0.0/33'] },
        admin: { port: 8080 },
      }),
    );
    assert.ok(found.some((p) => p.startsWith('/dns/servers/0:')), found.join('\n'));
    assert.ok(!found.some((p) => p.startsWith('/dns/servers/1:')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('/access/allowClients/0:')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('/admin/port: 127.0.0.1:8080 is already used by /http')), found.join('\n'));
  });
});

describe('environment overrides', () => {
  it('override single keys over the file, with types coerced', () => {
    const config = loadConfig({
      file: file('c.yaml', 'timeouts:\n  connectMs: 1500\n'),
      env: {
        HOPWATCH_TIMEOUTS__CONNECT_MS: '250',
        HOPWATCH_HTTP__PORT: '3128',
        HOPWATCH_LOG__REQUESTS: 'false',
        HOPWATCH_PROXY_NAME: 'edge1',
        HOPWATCH_ACCESS__ALLOW_CLIENTS: '10.0.0.0/8, 127.0.0.1',
        HOPWATCH_DNS__SERVERS: '["127.0.0.1:5353"]',
        UNRELATED: 'x',
      },
    });
    assert.equal(config.timeouts.connectMs, 250);
    assert.equal(config.http.port, 3128);
    assert.equal(config.log.requests, false);
    assert.equal(config.proxyName, 'edge1');
    assert.deepEqual(config.access.allowClients, ['10.0.0.0/8', '127.0.0.1']);
    assert.deepEqual(config.dns.servers, ['127.0.0.1:5353']);
  });

  it('read a key from a file with the _FILE suffix (Docker and Kubernetes secrets)', () => {
    const users = file('users.yaml', '- username: pipeline\n  password: "from a secret"\n');
    const token = file('name.txt', 'edge-7\n');
    const config = loadConfig({ env: { HOPWATCH_AUTH__USERS_FILE: users, HOPWATCH_PROXY_NAME_FILE: token } });
    assert.deepEqual(config.auth.users, [{ username: 'pipeline', password: 'from a secret' }]);
    assert.equal(config.proxyName, 'edge-7', 'one trailing newline is dropped');
    const missing = problems(() => loadConfig({ env: { HOPWATCH_AUTH__USERS_FILE: join(dir, 'nope') } }));
    assert.match(missing[0]!, /^HOPWATCH_AUTH__USERS_FILE: cannot read .*nope: ENOENT$/);
    const bad = problems(() => loadConfig({ env: { HOPWATCH_AUTH__USERS_FILE: file('bad-users.yaml', '- [\n') } }));
    assert.match(bad[0]!, /must hold YAML or JSON/);
  });

  it('name the variable when its value is bad, and reject unknown HOPWATCH_ keys', () => {
    const found = problems(() => loadConfig({ env: { HOPWATCH_TIMEOUTS__CONNECT_MS: 'soon', HOPWATCH_TIMEOUT__X: '1' } }));
    assert.ok(found.some((p) => p.startsWith('HOPWATCH_TIMEOUT__X: no such configuration key')), found.join('\n'));
    const bad = problems(() => loadConfig({ env: { HOPWATCH_TIMEOUTS__CONNECT_MS: 'soon' } }));
    assert.deepEqual(bad, ['/timeouts/connectMs (from HOPWATCH_TIMEOUTS__CONNECT_MS): must be integer']);
  });
});

describe('workers', () => {
  it('is 1 by default, an integer or "auto" from the file or HOPWATCH_WORKERS', () => {
    assert.equal(validateConfig({}).workers, 1);
    assert.equal(loadConfig({ file: file('w.yaml', 'workers: 4\n'), env: {} }).workers, 4);
    assert.equal(loadConfig({ file: file('w-auto.yaml', 'workers: auto\n'), env: {} }).workers, 'auto');
    assert.equal(loadConfig({ env: { HOPWATCH_WORKERS: '3' } }).workers, 3);
    assert.equal(loadConfig({ env: { HOPWATCH_WORKERS: 'auto' } }).workers, 'auto');
  });

  it('names both accepted forms, once, when the value is neither', () => {
    for (const bad of [0, 'many', 1.5, 257]) {
      assert.deepEqual(problems(() => validateConfig({ workers: bad })), ['/workers: must be an integer from 1 to 256 or "auto"'], String(bad));
    }
    assert.deepEqual(problems(() => loadConfig({ env: { HOPWATCH_WORKERS: 'lots' } })), ['/workers (from HOPWATCH_WORKERS): must be an integer from 1 to 256 or "auto"']);
  });
});

describe('config/schema.json', () => {
  it('is the TypeBox schema as published (run `npm run schema` after changing it)', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), schemaText());
  });

  it('does not demand keys that have defaults', () => {
    const schema = JSON.parse(schemaText()) as { required?: string[]; properties: Record<string, { required?: string[] }> };
    assert.equal(schema.required, undefined);
    assert.equal(schema.properties.timeouts!.required, undefined);
  });
});
