// The image's HEALTHCHECK: GET the admin listener's /healthz, exit 0 on 200, 1 otherwise.
// Slim images have no curl, and Node's fetch needs nothing installed. The port follows
// HOPWATCH_ADMIN__PORT when that overrides it; HEALTHCHECK_URL replaces the whole URL.
// (Not HOPWATCH_HEALTHCHECK_URL: every HOPWATCH_* variable is read as a configuration key.)
const url = process.env.HEALTHCHECK_URL ?? `http://127.0.0.1:${process.env.HOPWATCH_ADMIN__PORT || 9464}/healthz`;

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  process.exit(0);
} catch (err) {
  console.error(`unhealthy: ${url}: ${err.cause?.message ?? err.message}`);
  process.exit(1);
}
