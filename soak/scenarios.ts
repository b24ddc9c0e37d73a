// What the soak sends: each scenario is one kind of traffic, the outcome its client must see,
// and the codes it means hopwatch to record. The union of those codes is the whole list of codes
// /metrics may show at the end; anything else is a classification the traffic did not cause.
import type http from 'node:http';
import type { Code } from '../src/classify/catalogue.ts';
import { connectTunnel, httpVia, socksSession } from './clients.ts';
import { NAMES, type Fixtures } from './fixtures.ts';

export const USER = { username: 'soak', password: 'soak-password' };
const AUTH = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`;
const WRONG = `Basic ${Buffer.from(`${USER.username}:wrong`).toString('base64')}`;
const PAYLOAD = Buffer.alloc(32 * 1024, 0x63);

export interface Ports {
  http: number;
  socks: number;
}

export interface Scenario {
  name: string;
  /** Relative frequency: mostly successes, every fault class regularly. */
  weight: number;
  /** The outcome the client must see. */
  expect: string;
  /** Codes this scenario may leave in hopwatch's records. */
  codes: readonly Code[];
  run(ports: Ports, f: Fixtures, agent: http.Agent): Promise<string>;
}

const via = (ports: Ports, url: string, agent: http.Agent | false, extra: { auth?: string; abort?: boolean } = {}) =>
  httpVia(ports.http, url, { agent, headers: { 'proxy-authorization': extra.auth ?? AUTH }, abort: extra.abort ?? false });

const local = (port: number, path = '/ok') => `http://127.0.0.1:${port}${path}`;

export const SCENARIOS: readonly Scenario[] = [
  { name: 'http keep-alive', weight: 20, expect: '200', codes: ['ok'], run: (p, f, agent) => via(p, local(f.origin), agent) },
  { name: 'http one-shot', weight: 10, expect: '200', codes: ['ok'], run: (p, f) => via(p, local(f.origin), false) },
  { name: 'http by name', weight: 8, expect: '200', codes: ['ok'], run: (p, f, agent) => via(p, `http://${NAMES.origin}:${f.origin}/ok`, agent) },
  { name: 'http 1 MiB body', weight: 3, expect: '200', codes: ['ok'], run: (p, f, agent) => via(p, local(f.origin, '/stream'), agent) },
  { name: 'origin 503', weight: 3, expect: '503', codes: ['upstream_503'], run: (p, f, agent) => via(p, local(f.origin, '/status/503'), agent) },
  { name: 'client abort mid-body', weight: 3, expect: '200 aborted', codes: ['client_abort'], run: (p, f) => via(p, local(f.origin, '/slow'), false, { abort: true }) },
  { name: 'wrong password', weight: 2, expect: '407 http_request_error', codes: ['auth_invalid'], run: (p, f, agent) => via(p, local(f.origin), agent, { auth: WRONG }) },
  { name: 'connect refused', weight: 3, expect: '502 connection_refused', codes: ['connect_refused'], run: (p, f, agent) => via(p, local(f.closed), agent) },
  { name: 'response timeout', weight: 2, expect: '504 http_response_timeout', codes: ['response_timeout'], run: (p, f, agent) => via(p, local(f.silent), agent) },
  { name: 'upstream reset', weight: 3, expect: '502 connection_terminated', codes: ['upstream_closed'], run: (p, f, agent) => via(p, local(f.reset), agent) },
  { name: 'upstream garbage', weight: 3, expect: '502 http_protocol_error', codes: ['upstream_bad_response'], run: (p, f, agent) => via(p, local(f.garbage), agent) },
  { name: 'dns nxdomain', weight: 3, expect: '502 dns_error', codes: ['dns_nxdomain'], run: (p, f, agent) => via(p, `http://${NAMES.nxdomain}:${f.origin}/`, agent) },
  { name: 'dns servfail', weight: 2, expect: '502 dns_error', codes: ['dns_server_failure'], run: (p, f, agent) => via(p, `http://${NAMES.servfail}:${f.origin}/`, agent) },
  {
    name: 'connect tunnel', weight: 8, expect: 'tunnel echoed', codes: ['ok'],
    run: (p, f) => connectTunnel(p.http, `127.0.0.1:${f.echo}`, PAYLOAD, `Proxy-Authorization: ${AUTH}\r\n`),
  },
  {
    // A reset ends a tunnel the way tunnels end: recorded ok, with end client_reset.
    name: 'connect tunnel reset', weight: 2, expect: 'tunnel reset', codes: ['ok'],
    run: (p, f) => connectTunnel(p.http, `127.0.0.1:${f.echo}`, PAYLOAD, `Proxy-Authorization: ${AUTH}\r\n`, true),
  },
  {
    name: 'connect to a closed port', weight: 2, expect: '502 connection_refused', codes: ['connect_refused'],
    run: (p, f) => connectTunnel(p.http, `127.0.0.1:${f.closed}`, PAYLOAD, `Proxy-Authorization: ${AUTH}\r\n`),
  },
  { name: 'socks by address', weight: 8, expect: 'socks echoed', codes: ['ok'], run: (p, f) => socksSession(p.socks, { host: '127.0.0.1', port: f.echo }, USER, PAYLOAD) },
  { name: 'socks by name', weight: 5, expect: 'socks echoed', codes: ['ok'], run: (p, f) => socksSession(p.socks, { host: NAMES.origin, port: f.echo }, USER, PAYLOAD) },
  { name: 'socks refused', weight: 2, expect: 'socks 0x05', codes: ['connect_refused'], run: (p, f) => socksSession(p.socks, { host: '127.0.0.1', port: f.closed }, USER, PAYLOAD) },
  { name: 'socks nxdomain', weight: 2, expect: 'socks 0x04', codes: ['dns_nxdomain'], run: (p, f) => socksSession(p.socks, { host: NAMES.nxdomain, port: f.echo }, USER, PAYLOAD) },
];

export const INTENDED: ReadonlySet<string> = new Set(SCENARIOS.flatMap((s) => s.codes));
