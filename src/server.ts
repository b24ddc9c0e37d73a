// Composition root: config → lifecycle (interceptors, observers) → connector → front-ends →
// admin. Nothing else knows how the parts are wired.
import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createAdminServer } from './admin/server.ts';
import { createLiveAnalysis } from './analysis/live.ts';
import type { ErrorsReport } from './analysis/engine.ts';
import type { AnalysisOptions } from './analysis/options.ts';
import { ConfigError } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { isLoopbackHost } from './config/semantics.ts';
import type { Hop, Protocol } from './exchange/hops.ts';
import { Lifecycle, type Interceptor, type Observer } from './exchange/lifecycle.ts';
import { ConnectionGate } from './front/connections.ts';
import type { FrontContext } from './front/context.ts';
import { createHttpListener } from './front/http-listener.ts';
import { createSocksListener } from './front/socks5/listener.ts';
import { accessLogObserver, authFailureObserver, createLogger } from './observe/log.ts';
import { createMetrics } from './observe/metrics.ts';
import { AccessPolicy, registerAccess } from './policy/access.ts';
import { Authenticator, registerAuth } from './policy/auth.ts';
import { registerLoopDetection, type OwnListener } from './policy/loop.ts';
import { UpstreamPool } from './upstream/pool.ts';
import { Connector } from './upstream/connector.ts';
import { createReloader, type ReloadResult } from './reload.ts';
import { drain } from './shutdown.ts';
import { VERSION } from './version.ts';

export interface StartOptions {
  config: Config;
  /** Where log lines go; stdout when absent. */
  logDestination?: DestinationStream;
  /** Extra trusted roots (PEM) for https:// upstreams, besides Node's bundle. */
  upstreamCa?: string | Buffer;
  /** Overrides shutdownGraceMs for close() (tests use 0 to cut at once). */
  graceMs?: number;
  /** Extra interceptors and observers, registered after the built-in ones. */
  interceptors?: ReadonlyArray<readonly [Hop, Interceptor]>;
  observers?: readonly Observer[];
  /** Recurrence analysis thresholds and clock, over the config's (tests use small windows). */
  analysis?: Partial<AnalysisOptions>;
  /** Reads the configuration again for reload(); without it, reload() reports a failure. */
  reloadConfig?: () => Config;
  /**
   * Set in a cluster worker (src/cluster/worker.ts): the primary serves the admin listener,
   * validates, counts and logs reloads once for all workers, and hands every worker the same
   * Via pseudonym, so a request looping back through a sibling is still recognised. The
   * worker's log lines carry `worker: id`.
   */
  worker?: { id: number; viaName: string };
}

export interface Hopwatch {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Bound addresses, by listener; absent when the listener is disabled. */
  readonly addresses: { http?: AddressInfo; socks?: AddressInfo; admin?: AddressInfo };
  /** Applies the configuration read again (SIGHUP, POST /reload), or rejects it whole. */
  reload(): ReloadResult;
  /** What GET /errors answers: the recurrence analysis' findings, optionally about one target. */
  errors(target?: string): ErrorsReport;
  close(): Promise<void>;
}

export async function startHopwatch(options: StartOptions): Promise<Hopwatch> {
  let config = options.config;
  const root = createLogger(config.log.level, options.logDestination);
  const logger = options.worker ? root.child({ worker: options.worker.id }) : root;
  const lifecycle = new Lifecycle();
  lifecycle.onObserverError = (name, err) => logger.error({ err, observer: name }, 'observer failed');
  const gate = new ConnectionGate(config.limits);
  const connector = new Connector({ ...connectorOptions(config), ca: options.upstreamCa });
  const viaName = options.worker?.viaName ?? newViaName(config.proxyName);
  const own: OwnListener[] = [];
  // Swapped whole on reload; the interceptors read the current one for every exchange.
  let authenticator = new Authenticator(config.auth.users);
  let policy = new AccessPolicy(config.access);
  registerAccess(lifecycle, () => policy);
  registerAuth(lifecycle, () => authenticator);
  registerLoopDetection(lifecycle, viaName, () => own);
  for (const [hop, interceptor] of options.interceptors ?? []) lifecycle.intercept(hop, interceptor);

  const protocols: Protocol[] = config.socks.enabled ? ['http', 'connect', 'socks5'] : ['http', 'connect'];
  const metrics = createMetrics(gate, protocols, VERSION);
  lifecycle.observe(metrics.observer);
  // Before the access log, whose `temporary` field is the analysis' judgement (either order works).
  const analysis = createLiveAnalysis(logger, { ...config.analysis, ...options.analysis });
  analysis.registerMetrics(metrics.registry);
  lifecycle.observe(analysis.observer);
  lifecycle.observe(authFailureObserver(logger));
  lifecycle.observe(accessLogObserver(logger, () => config.log.requests, analysis.temporary));
  for (const observer of options.observers ?? []) lifecycle.observe(observer);
  lifecycle.seal();

  const state = { draining: false };
  const ctx: FrontContext = {
    lifecycle,
    connector,
    pool: new UpstreamPool(connector),
    gate,
    proxyName: config.proxyName,
    realm: config.auth.realm,
    authEnabled: authenticator.enabled,
    viaName,
    timeouts: config.timeouts,
    state,
  };

  const servers: NetServer[] = [];
  const httpServers: HttpServer[] = [];
  let admin: HttpServer | undefined;
  const reload = createReloader({
    load: () => {
      if (!options.reloadConfig) throw new ConfigError('reload', ['this instance was started without a configuration source to read again']);
      return options.reloadConfig();
    },
    current: () => config,
    apply(next) {
      config = next;
      authenticator = new Authenticator(next.auth.users);
      policy = new AccessPolicy(next.access);
      ctx.authEnabled = authenticator.enabled;
      ctx.realm = next.auth.realm;
      ctx.timeouts = next.timeouts;
      connector.configure(connectorOptions(next));
      gate.configure(next.limits);
      logger.level = next.log.level;
      for (const server of httpServers) {
        server.headersTimeout = next.timeouts.requestHeadersMs;
        server.keepAliveTimeout = next.timeouts.keepAliveMs;
      }
    },
    logger,
    registry: options.worker ? undefined : metrics.registry,
  });
  const addresses: { http?: AddressInfo; socks?: AddressInfo; admin?: AddressInfo } = {};
  try {
    if (config.http.enabled) {
      const server = createHttpListener(ctx, { maxHeaderBytes: config.limits.maxHeaderBytes });
      addresses.http = await listen(server, 'http', config.http.host, config.http.port);
      servers.push(server);
      httpServers.push(server);
      own.push({ host: config.http.host, port: addresses.http.port });
    }
    if (config.socks.enabled) {
      const server = createSocksListener(ctx);
      addresses.socks = await listen(server, 'socks', config.socks.host, config.socks.port);
      servers.push(server);
      own.push({ host: config.socks.host, port: addresses.socks.port });
    }
    if (config.admin.enabled && !options.worker) {
      admin = createAdminServer(metrics.registry, { errors: analysis.errors, ready: () => !state.draining, reload });
      addresses.admin = await listen(admin, 'admin', config.admin.host, config.admin.port);
      // The admin listener too: through the proxy, any client would reach /metrics and the
      // loopback-only POST /reload from the proxy's own loopback address.
      own.push({ host: config.admin.host, port: addresses.admin.port });
    } else if (config.admin.enabled && config.admin.port !== 0) {
      own.push({ host: config.admin.host, port: config.admin.port }); // served by the cluster primary
    }
  } catch (err) {
    for (const server of servers) server.close();
    admin?.close();
    throw err;
  }
  if (options.worker) {
    logger.info({ http: hostPort(addresses.http), socks: hostPort(addresses.socks), pid: process.pid }, 'worker listening');
  } else {
    warnUnreachableListeners(config, logger);
    logger.info({ http: hostPort(addresses.http), socks: hostPort(addresses.socks), admin: hostPort(addresses.admin), version: VERSION }, 'hopwatch listening');
  }

  let closing: Promise<void> | undefined;
  return {
    get config() {
      return config;
    },
    logger,
    registry: metrics.registry,
    addresses,
    reload,
    errors: analysis.errors,
    close() {
      closing ??= (async () => {
        state.draining = true;
        analysis.stop();
        await drain({
          proxyListeners: servers,
          admin,
          lifecycle,
          gate,
          pools: [ctx.pool],
          logger,
          graceMs: options.graceMs ?? config.shutdownGraceMs,
        });
        await new Promise<void>((resolve) => logger.flush(() => resolve()));
      })();
      return closing;
    },
  };
}

/** This instance's pseudonym in Via: the proxy name and a random suffix (RFC 9110 7.6.3). */
export function newViaName(proxyName: string): string {
  return `${proxyName}-${randomBytes(3).toString('hex')}`;
}

export function hostPort(address: { address: string; port: number } | undefined): string | undefined {
  return address && `${address.address}:${address.port}`;
}

function connectorOptions(config: Config) {
  return {
    dnsMs: config.timeouts.dnsMs,
    connectMs: config.timeouts.connectMs,
    tlsMs: config.timeouts.tlsMs,
    dnsServers: config.dns.servers,
  };
}

/** A listener facing the network while only loopback clients are allowed serves nobody there. */
export function warnUnreachableListeners(config: Config, logger: Logger): void {
  const remoteAllowed = config.access.allowClients.some((c) => !/^(127\.|::1(\/|$))/.test(c));
  for (const name of ['http', 'socks'] as const) {
    const listener = config[name];
    if (listener.enabled && !isLoopbackHost(listener.host) && !remoteAllowed) {
      logger.warn(
        { listener: name, host: listener.host },
        `${name} listens on ${listener.host} but access.allowClients admits only loopback clients: list the networks that should use it`,
      );
    }
  }
}

export class ListenError extends Error {
  constructor(listener: string, host: string, port: number, cause: NodeJS.ErrnoException) {
    const why = cause.code === 'EADDRINUSE' ? 'the address is already in use' : cause.code === 'EACCES' ? 'permission denied' : cause.message;
    super(`cannot listen for ${listener} on ${host}:${port}: ${why} (set /${listener}/port or /${listener}/host)`);
    this.name = 'ListenError';
  }
}

export function listen(server: NetServer, name: string, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(name, host, port, err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
