// Idle tunnels: opens `count` CONNECT (or SOCKS5) tunnels to bench/tcp-origin.ts's SILENT
// listener, `parallel` handshakes at a time, and keeps them open without sending a byte, so the
// proxy's memory per open tunnel can be read from outside. Prints one JSON IdleOpened line once
// all are open (or failed); then, when stdin ends, one JSON IdleClosed line saying how many
// were still open (a proxy that dropped idle tunnels early would hold less memory), and exits.
//
// Usage: node bench/idle.ts --via connect|socks --proxy-port P --target-port T --count N [--parallel 200]
// Needs one descriptor per tunnel: the caller raises `ulimit -n` when it can.
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openTunnel, parseVia } from './tunnel-client.ts';

export interface IdleOpened {
  opened: number;
  failed: number;
  firstError: string | undefined;
  seconds: number;
}

export interface IdleClosed {
  alive: number;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      via: { type: 'string', default: 'connect' },
      'proxy-port': { type: 'string' },
      'target-port': { type: 'string' },
      count: { type: 'string', default: '10000' },
      parallel: { type: 'string', default: '200' },
    },
  });
  const via = parseVia(values.via);
  const count = Number(values.count);
  const tunnels: net.Socket[] = [];
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const began = performance.now();
  const opener = async () => {
    while (next < count) {
      next++;
      try {
        const tunnel = await openTunnel(via, Number(values['proxy-port']), Number(values['target-port']));
        // Reading (nothing ever arrives) is what lets a close from the proxy be noticed.
        tunnels.push(tunnel.resume());
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(values.parallel) }, opener));
  const opened: IdleOpened = { opened: tunnels.length, failed, firstError, seconds: (performance.now() - began) / 1000 };
  process.stdout.write(`${JSON.stringify(opened)}\n`);

  process.stdin.resume();
  process.stdin.once('end', () => {
    const closedResult: IdleClosed = { alive: tunnels.filter((t) => !t.destroyed).length };
    process.stdout.write(`${JSON.stringify(closedResult)}\n`);
    for (const t of tunnels) t.destroy();
    process.exit(0);
  });
}
