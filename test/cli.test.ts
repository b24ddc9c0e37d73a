import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { viaProxy } from './helpers/client.ts';
import { closedPort, heldOrigin, httpOrigin } from './helpers/upstreams.ts';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'hopwatch-cli-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 10_000 });

/** Starts `hopwatch serve`, resolves once its "listening" line names the bound ports. */
async function serve(configFile: string): Promise<{ child: ChildProcess; lines: Array<Record<string, unknown>>; http: number; admin: number }> {
  // Only PATH: HOPWATCH_* variables in the test's own environment would become config overrides.
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH },
  });
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    child.stdout!.on('data', (c: Buffer) => {
      partial += c.toString();
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = JSON.parse(partial.slice(0, nl)) as Record<string, unknown>;
        partial = partial.slice(nl + 1);
        lines.push(line);
        if (line.msg === 'hopwatch listening') {
          const port = (s: unknown) => Number(String(s).split(':').at(-1));
          resolve({ child, lines, http: port(line.http), admin: port(line.admin) });
        }
      }
    });
  });
}

describe('hopwatch check-config', () => {
  it('prints the effective config with defaults and secrets redacted', () => {
    const path = file('ok.yaml', 'auth:\n  users:\n    - { username: alice, password: "s3cret-value" }\ntimeouts:\n  connectMs: 1234\n');
    const result = run(['check-config', path]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /connectMs: 1234/);
    assert.match(result.stdout, /dnsMs: 5000/);
    assert.match(result.stdout, /username: alice/);
    assert.match(result.stdout, /password: "?\[redacted\]"?/);
    assert.doesNotMatch(result.stdout, /s3cret-value/);
  });

  it('lists every problem and exits non-zero', () => {
    const path = file('bad.yaml', 'timeouts:\n  connectMs: soon\nhttp:\n  prot: 1\n');
    const result = run(['check-config', path]);
    assert.equal(result.status, 78);
    assert.match(result.stderr, /\/timeouts\/connectMs: must be integer/);
    assert.match(result.stderr, /\/http\/prot: unknown key/);
    assert.match(result.stderr, new RegExp(path.replaceAll('/', '\\/')));
  });

  it('applies HOPWATCH_* overrides and names a bad one', () => {
    const ok = run(['check-config'], { HOPWATCH_HTTP__PORT: '3129' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /port: 3129/);
    const bad = run(['check-config'], { HOPWATCH_HTTP__PORT: 'eighty' });
    assert.equal(bad.status, 78);
    assert.match(bad.stderr, /\/http\/port \(from HOPWATCH_HTTP__PORT\): must be integer/);
  });
});

describe('hopwatch serve', () => {
  it('refuses a bad config before binding anything', async () => {
    const port = await closedPort();
    const path = file('bad-serve.yaml', `http:\n  port: ${port}\ntimeouts:\n  dnsMs: 0\n`);
    const result = run(['serve', '--config', path]);
    assert.equal(result.status, 78);
    assert.match(result.stderr, /\/timeouts\/dnsMs: must be >= 1/);
    const socket = net.connect(port, '127.0.0.1');
    const [err] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED', 'nothing listens on the configured port');
  });

  it('says which listener could not bind', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as net.AddressInfo).port;
    const result = run(['serve', '--config', file('taken.yaml', `http:\n  port: ${taken}\nadmin:\n  port: 0\n`)]);
    blocker.close();
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`cannot listen for http on 127\\.0\\.0\\.1:${taken}: the address is already in use`));
  });

  it('serves, logs each exchange as JSON on stdout, and flushes it on SIGTERM before exiting 0', async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('through the real CLI'));
    t.after(() => origin.close());
    const proc = await serve(file('serve.yaml', 'http:\n  port: 0\nadmin:\n  port: 0\n'));
    t.after(() => proc.child.kill('SIGKILL'));
    const res = await viaProxy(proc.http, `${origin.origin}/cli`);
    assert.equal(res.body, 'through the real CLI');
    const metrics = await fetch(`http://127.0.0.1:${proc.admin}/metrics`);
    assert.equal(metrics.status, 200);
    proc.child.kill('SIGTERM');
    const [code] = (await once(proc.child, 'exit')) as [number];
    assert.equal(code, 0);
    const line = proc.lines.find((l) => l.msg === 'exchange' && l.path === '/cli');
    assert.ok(line, 'the exchange line reached stdout before exit');
    assert.equal(line.id, res.headers['x-request-id']);
    assert.ok(proc.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'));
  });

  it('a second SIGTERM during the drain exits at once with 1', async (t) => {
    // An origin that never answers keeps a request in flight for the whole 60 s grace period.
    const origin = await heldOrigin();
    t.after(() => origin.close());
    const proc = await serve(file('drain.yaml', 'http:\n  port: 0\nadmin:\n  port: 0\nshutdownGraceMs: 60000\ntimeouts:\n  responseMs: 60000\n'));
    t.after(() => proc.child.kill('SIGKILL'));
    const client = net.connect(proc.http, '127.0.0.1');
    t.after(() => client.destroy());
    client.write(`GET ${origin.origin}/hang HTTP/1.1\r\nHost: x\r\n\r\n`);
    await origin.arrived;
    proc.child.kill('SIGTERM');
    // serve() parses each stdout chunk first (its listener came first), so lines is current.
    while (!proc.lines.some((l) => l.msg === 'shutting down')) await once(proc.child.stdout!, 'data');
    assert.equal(proc.child.exitCode, null, 'still draining the hanging request');
    const started = Date.now();
    proc.child.kill('SIGTERM');
    const [code] = (await once(proc.child, 'exit')) as [number];
    assert.equal(code, 1);
    assert.ok(Date.now() - started < 10_000, 'did not wait for the grace period');
  });

  it('rejects unknown commands with usage', () => {
    const result = run(['frobnicate']);
    assert.equal(result.status, 64);
    assert.match(result.stderr, /unknown command "frobnicate"/);
    assert.match(result.stderr, /Usage:/);
    const help = run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /check-config/);
  });
});

describe('hopwatch hash-password', () => {
  // Piped stdin is not a terminal: the password is all of it, minus one trailing newline.
  const hash = (input: string, args: string[] = []) =>
    spawnSync(process.execPath, [CLI, 'hash-password', ...args], { input, encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 10_000 });

  it('prints one scrypt$ line for a piped password, which verifyPassword accepts', async () => {
    const { verifyPassword } = await import('../src/policy/passwords.ts');
    const result = hash('correct horse 🔑\n');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^scrypt\$[^\s]+\n$/);
    const stored = result.stdout.trim();
    assert.equal(await verifyPassword(stored, 'correct horse 🔑'), true);
    assert.equal(await verifyPassword(stored, 'correct horse 🔑\n'), false, 'the trailing newline is not part of it');
    assert.doesNotMatch(result.stdout + result.stderr, /correct horse/, 'the password is never echoed');
    // Windows line ending, and only one newline taken off: the rest is the password.
    const crlf = hash('pw\r\n');
    assert.equal(await verifyPassword(crlf.stdout.trim(), 'pw'), true);
    const twoLines = hash('pw\n\n');
    assert.equal(await verifyPassword(twoLines.stdout.trim(), 'pw\n'), true);
  });

  it('refuses an empty password', () => {
    for (const input of ['', '\n']) {
      const result = hash(input);
      assert.notEqual(result.status, 0);
      assert.equal(result.stdout, '', 'no hash printed');
      assert.match(result.stderr, /empty password/);
    }
  });

  it('takes no arguments: a password on the command line would land in shell history', () => {
    const result = hash('', ['s3cret-arg']);
    assert.equal(result.status, 64);
    assert.match(result.stderr, /not from arguments/);
    assert.match(result.stderr, /Usage:/);
    assert.doesNotMatch(result.stdout, /scrypt\$/);
  });
});
