// Shared by the doctor tests: the runner called in-process with the CLI's own argument parser,
// the CLI spawned for real, and an HTTPS origin serving one of the test PKI's certificates.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import https from 'node:https';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseDoctorArgs, type DoctorOptions } from '../../src/doctor/args.ts';
import { runDoctor } from '../../src/doctor/runner.ts';
import type { DoctorReport, LayerName, LayerResult } from '../../src/doctor/types.ts';
import type { KeyPair } from '../helpers/certs.ts';
import type { Upstream } from '../helpers/upstreams.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** Runs `hopwatch doctor ARGS` in-process; `extra` adds what the CLI has no flag for (a CA). */
export async function doctor(args: string[], extra: Partial<DoctorOptions> = {}): Promise<DoctorReport & { progress: LayerName[] }> {
  const parsed = parseDoctorArgs(args);
  if (parsed.help) throw new Error('help is not a run');
  const progress: LayerName[] = [];
  const report = await runDoctor({ ...parsed.options, ...extra }, (l) => progress.push(l.layer));
  return { ...report, progress };
}

/** The layer of that name, typed by it; fails the test when it is missing. */
export function layer<N extends LayerName>(report: DoctorReport, name: N): Extract<LayerResult, { layer: N }> {
  const found = report.layers.find((l): l is Extract<LayerResult, { layer: N }> => l.layer === name);
  if (!found) throw new Error(`no ${name} layer in ${report.layers.map((l) => l.layer).join(', ')}`);
  return found;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawns the real CLI (the same Node as the tests) and collects its output and exit code. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'doctor', ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** An HTTPS origin on 127.0.0.1 answering 200 "secure hello" with the given certificate. */
export async function httpsOrigin(pair: KeyPair): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const server = https.createServer({ key: pair.key, cert: pair.cert }, (_req, res) => res.end('secure hello'));
  server.on('connection', (s: net.Socket) => sockets.push(s));
  server.on('tlsClientError', () => {}); // refused handshakes are the point of most of these
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    origin: `https://127.0.0.1:${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
