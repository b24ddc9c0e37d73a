// What every front-end shares: the front-ends only translate between their protocol and these.
import type { Config } from '../config/schema.ts';
import type { Lifecycle } from '../exchange/lifecycle.ts';
import type { UpstreamPool } from '../upstream/pool.ts';
import type { Connector } from '../upstream/connector.ts';
import type { ConnectionGate } from './connections.ts';

export interface FrontContext {
  readonly lifecycle: Lifecycle;
  readonly connector: Connector;
  readonly pool: UpstreamPool;
  readonly gate: ConnectionGate;
  /** The RFC 8941 token used in Proxy-Status. */
  readonly proxyName: string;
  /** Proxy-Authenticate realm (a reload may change it, as the fields below). */
  realm: string;
  /** Whether credentials are required: front-ends only read them then. */
  authEnabled: boolean;
  /** This instance's Via pseudonym; seeing it in a request means the request looped. */
  readonly viaName: string;
  timeouts: Config['timeouts'];
  /** Shared, changing state: while draining, HTTP answers close their connections. */
  readonly state: { draining: boolean };
}
