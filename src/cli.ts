#!/usr/bin/env node
// hopwatch's command line: serve (the default) and check-config.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { startPrimary, WorkerStartError, workerCount } from './cluster/primary.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import { redactConfig } from './config/redact.ts';
import { doctorCommand } from './doctor/command.ts';
import { hashPassword } from './policy/passwords.ts';
import { reportCommand } from './report/command.ts';
import { ListenError, startHopwatch, type Hopwatch } from './server.ts';
import { VERSION } from './version.ts';

const USAGE = `hopwatch ${VERSION}: a forwarding proxy that tells you which hop failed and why

Usage:
  hopwatch [serve] [--config FILE]     run the proxy (default config: config/default.yaml)
  hopwatch check-config [FILE]         validate a config and print the effective one, secrets redacted
  hopwatch hash-password               read a password (prompt, or stdin) and print its scrypt hash
                                       for auth.users[].password
  hopwatch doctor URL [options]        test one target layer by layer, directly and through a proxy
                                       (hopwatch doctor --help)
  hopwatch report [FILE…] [--json]     error rates, per-hop percentiles and findings from JSON logs
                                       (stdin when no file; hopwatch report --help)
  hopwatch --version | --help

Environment variables override single keys: HOPWATCH_TIMEOUTS__CONNECT_MS=2000 sets
timeouts.connectMs ("__" between levels). HOPWATCH_CONFIG names the config file.
`;

async function main(argv: string[]): Promise<number> {
  // doctor has options and exit codes of its own (2 for usage): routed before serve's are parsed.
  if (argv[0] === 'doctor') return doctorCommand(argv.slice(1));
  if (argv[0] === 'report') return reportCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command = 'serve', ...rest] = positionals;
  switch (command) {
    case 'serve':
      if (rest.length) return usageError(`serve takes no arguments besides --config (got ${rest.join(' ')})`);
      return serve(values.config ?? process.env.HOPWATCH_CONFIG);
    case 'check-config': {
      if (rest.length > 1) return usageError('check-config takes one file');
      const config = loadConfig({ file: rest[0] ?? values.config ?? process.env.HOPWATCH_CONFIG, env: process.env });
      process.stdout.write(`# valid: effective configuration (defaults < file < HOPWATCH_* environment)\n${stringify(redactConfig(config))}`);
      return 0;
    }
    case 'hash-password': {
      if (rest.length) return usageError('hash-password reads the password from a prompt or stdin, not from arguments');
      const password = await readPassword();
      if (!password) {
        process.stderr.write('hopwatch: an empty password cannot be hashed\n');
        return 65;
      }
      process.stdout.write(`${await hashPassword(password)}\n`);
      return 0;
    }
    default:
      return usageError(`unknown command "${command}"`);
  }
}

/** From a terminal: asked twice without echo. Piped: all of stdin, minus one trailing newline. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  const ask = async (prompt: string) => {
    process.stderr.write(prompt);
    const rl = createInterface({ input: process.stdin, terminal: true, output: new Writable({ write: (_c, _e, done) => done() }) });
    const [answer] = (await once(rl, 'line')) as [string];
    rl.close();
    process.stderr.write('\n');
    return answer;
  };
  const first = await ask('Password: ');
  if ((await ask('Again: ')) !== first) throw new UsageError('the two passwords differ');
  return first;
}

class UsageError extends Error {}

function usageError(message: string): number {
  process.stderr.write(`hopwatch: ${message}\n\n${USAGE}`);
  return 64;
}

async function serve(file: string | undefined): Promise<number> {
  const read = () => loadConfig({ file, env: process.env });
  // Handlers go in before anything listens: a signal that arrives while hopwatch starts (a
  // supervisor reacting to the "listening" line at once) is acted on once it is up, never
  // left to the default action, which would kill the process.
  let service: Service | undefined;
  let reloadPending = false;
  let stopPending: NodeJS.Signals | undefined;
  let signals = 0;
  const reload = (s: Service) => {
    Promise.resolve(s.reload()).catch((err: unknown) => s.logger.error({ err }, 'reload failed'));
  };
  // SIGHUP: read the file again; a bad one is rejected whole (logged) and the old one stays.
  process.on('SIGHUP', () => {
    if (service) reload(service);
    else reloadPending = true;
  });
  const stop = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(1); // a second signal: stop waiting
    if (!service) {
      stopPending = signal;
      return;
    }
    service.logger.info({ signal }, 'shutting down');
    service.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const config = read();
  const workers = workerCount(config.workers);
  // One worker is one process, exactly as without clustering; more: a primary and N workers.
  service = workers > 1 ? await startPrimary({ config, workers, reloadConfig: read }) : await startHopwatch({ config, reloadConfig: read });
  if (stopPending) {
    signals--;
    stop(stopPending);
  } else if (reloadPending) {
    reload(service);
  }
  return new Promise<number>(() => {}); // runs until a signal
}

/** What serve runs: the proxy itself, or the cluster primary in front of its workers. */
type Service = Pick<Hopwatch, 'logger' | 'close'> & { reload(): unknown };

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`hopwatch: ${err.message}\n`);
      process.exitCode = 65;
    } else if (err instanceof WorkerStartError) {
      process.stderr.write(`hopwatch: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else if (err instanceof ConfigError || err instanceof ListenError) {
      process.stderr.write(`hopwatch: ${err.message}\n`);
      process.exitCode = err instanceof ConfigError ? 78 : 1;
    } else if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.exitCode = usageError(err.message);
    } else {
      process.stderr.write(`hopwatch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
