// A failure is a value: which catalogue code, at which hop, with the RFC 9209 parameters and a
// short human detail. Every stage that detects a problem produces one; nobody passes strings.
import type { Hop } from '../exchange/hops.ts';
import { CATALOGUE, type Code, type Source } from './catalogue.ts';

/** RFC 9209 extra parameters, by their registered names. */
export interface ProxyStatusParams {
  rcode?: string;
  'alert-id'?: number;
  'alert-message'?: string;
  'received-status'?: number;
}

export class HopFailure extends Error {
  readonly code: Code;
  readonly hop: Hop;
  /** Short, safe to show to the client: never contains credentials. */
  readonly detail: string;
  readonly params: ProxyStatusParams;
  /** Who produced it, when not the catalogue's default (a TLS alert watched inside a tunnel). */
  readonly source: Source;

  constructor(
    code: Code,
    detail: string,
    options: { hop?: Hop; source?: Source; params?: ProxyStatusParams; cause?: unknown } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HopFailure';
    this.code = code;
    this.hop = options.hop ?? CATALOGUE[code].hop;
    this.detail = detail;
    this.params = options.params ?? {};
    this.source = options.source ?? CATALOGUE[code].source;
  }
}
