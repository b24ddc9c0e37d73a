// The hops every front-end passes before any upstream work: authentication, then policy.
import type { HopFailure } from '../classify/failure.ts';
import type { Exchange } from './record.ts';

export async function admit(ex: Exchange): Promise<HopFailure | undefined> {
  ex.reach('auth');
  const denied = await ex.lifecycle.runInterceptors('auth', ex);
  if (denied) return denied;
  ex.reach('policy');
  return ex.lifecycle.runInterceptors('policy', ex);
}
