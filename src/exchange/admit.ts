// The hops every front-end passes before any upstream work: may this client use the proxy at
// all (client), who is it (auth), may it go there (policy). SOCKS5 runs them apart (credentials
// are checked during its handshake, the destination only arrives afterwards); HTTP runs all three.
import type { HopFailure } from '../classify/failure.ts';
import { after, type MaybePromise } from '../util/maybe.ts';
import type { Exchange } from './record.ts';

type Admission = MaybePromise<HopFailure | undefined>;

/** The client hop: decided before anything, credentials included, is asked of the client. */
export function screen(ex: Exchange): Admission {
  return ex.lifecycle.runInterceptors('client', ex);
}

export function authenticate(ex: Exchange): Admission {
  ex.reach('auth');
  return ex.lifecycle.runInterceptors('auth', ex);
}

export function authorize(ex: Exchange): Admission {
  ex.reach('policy');
  return ex.lifecycle.runInterceptors('policy', ex);
}

/** All three in order; synchronous when every interceptor on the way is (see runInterceptors). */
export function admit(ex: Exchange): Admission {
  return after(screen(ex), (refused) => refused ?? after(authenticate(ex), (denied) => denied ?? authorize(ex)));
}
