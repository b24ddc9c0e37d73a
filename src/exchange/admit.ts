// The hops every front-end passes before any upstream work: authentication, then policy.
// SOCKS5 runs them apart (credentials are checked during its handshake, the destination only
// arrives afterwards); HTTP runs both at once.
import type { HopFailure } from '../classify/failure.ts';
import type { Exchange } from './record.ts';

export async function authenticate(ex: Exchange): Promise<HopFailure | undefined> {
  ex.reach('auth');
  return ex.lifecycle.runInterceptors('auth', ex);
}

export async function authorize(ex: Exchange): Promise<HopFailure | undefined> {
  ex.reach('policy');
  return ex.lifecycle.runInterceptors('policy', ex);
}

export async function admit(ex: Exchange): Promise<HopFailure | undefined> {
  return (await authenticate(ex)) ?? authorize(ex);
}
