// The hops every front-end passes before any upstream work: may this client use the proxy at
// all (client), who is it (auth), may it go there (policy). SOCKS5 runs them apart (credentials
// are checked during its handshake, the destination only arrives afterwards); HTTP runs all three.
import type { HopFailure } from '../classify/failure.ts';
import type { Exchange } from './record.ts';

/** The client hop: decided before anything, credentials included, is asked of the client. */
export function screen(ex: Exchange): Promise<HopFailure | undefined> {
  return ex.lifecycle.runInterceptors('client', ex);
}

export async function authenticate(ex: Exchange): Promise<HopFailure | undefined> {
  ex.reach('auth');
  return ex.lifecycle.runInterceptors('auth', ex);
}

export async function authorize(ex: Exchange): Promise<HopFailure | undefined> {
  ex.reach('policy');
  return ex.lifecycle.runInterceptors('policy', ex);
}

export async function admit(ex: Exchange): Promise<HopFailure | undefined> {
  return (await screen(ex)) ?? (await authenticate(ex)) ?? authorize(ex);
}
