// The effective config as it may be shown (check-config, startup debug line): secrets replaced.
import type { Config } from './schema.ts';

export const REDACTED = '[redacted]';

export function redactConfig(config: Config): unknown {
  return {
    ...config,
    auth: { ...config.auth, users: config.auth.users.map((u) => ({ username: u.username, password: REDACTED })) },
  };
}
