// The recurrence engine on synthetic observations with explicit times: each rule opens and
// closes where the thresholds say, and memory stays within its key bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMap, SlidingWindow } from '../../src/analysis/bounded.ts';
import { RecurrenceEngine } from '../../src/analysis/engine.ts';
import type { Finding } from '../../src/analysis/findings.ts';
import type { Observation } from '../../src/analysis/observation.ts';

const W = 60_000;
let n = 0;
const obs = (time: number, target: string, code = 'connect_refused', extra: Partial<Observation> = {}): Observation => ({
  time, id: `r-${++n}`, protocol: 'http', code, hop: code === 'ok' ? 'deliver' : 'connect',
  source: code === 'ok' || code.startsWith('upstream_') ? 'upstream' : 'proxy', target, totalMs: 1, ...extra,
});

function engine(): { e: RecurrenceEngine; events: Array<[string, Finding]> } {
  const e = new RecurrenceEngine({ windowMs: W });
  const events: Array<[string, Finding]> = [];
  e.onFinding((event, f) => events.push([event, { ...f }]));
  return { e, events };
}
const kinds = (events: Array<[string, Finding]>) => events.map(([ev, f]) => [ev, f.kind, f.code, f.target, f.address].filter(Boolean).join(' '));

describe('recurrence engine', () => {
  it('widespread: one code on five destinations opens once, turns it structural, closes when they leave the window', () => {
    const { e, events } = engine();
    const code = 'dns_server_failure'; // temporary by default
    assert.equal(e.temporary({ code, source: 'proxy', target: 'other:1' }), true);
    for (let i = 0; i < 4; i++) e.observe(obs(1000 + i, `h${i}:80`, code));
    assert.equal(events.length, 0);
    e.observe(obs(1005, 'h4:80', code));
    e.observe(obs(1006, 'h5:80', code));
    assert.deepEqual(kinds(events), ['opened widespread dns_server_failure']);
    const f = events[0]![1];
    assert.equal(f.evidence.destinations, 5);
    assert.equal(f.temporary, false);
    assert.match(f.action, /^Check the resolver the proxy uses.*\. Check what these destinations share: the proxy's resolver/);
    assert.equal(e.temporary({ code, source: 'proxy', target: 'other:1' }), false);
    e.sweep(1006 + W);
    assert.deepEqual(kinds(events), ['opened widespread dns_server_failure', 'closed widespread dns_server_failure']);
    assert.equal(e.temporary({ code, source: 'proxy', target: 'other:1' }), true);
  });

  it('recurring: K failures spread over the window; temporary turns false; a burst is superseded', () => {
    const { e, events } = engine();
    const t = 'api:443';
    assert.equal(e.temporary({ code: 'upstream_503', source: 'upstream', target: t }), true, 'catalogue default');
    for (let i = 0; i < 4; i++) e.observe(obs(10_000 + i * 5_000, t, 'upstream_503'));
    assert.equal(events.length, 0, 'four are not enough');
    e.observe(obs(30_000, t, 'upstream_503'));
    assert.deepEqual(kinds(events), ['opened recurring upstream_503 api:443']);
    assert.equal(events[0]![1].evidence.count, 5);
    assert.equal(events[0]![1].evidence.examples.length, 5);
    assert.equal(e.temporary({ code: 'upstream_503', source: 'upstream', target: t }), false);
    e.sweep(30_000 + W);
    assert.equal(kinds(events).at(-1), 'closed recurring upstream_503 api:443');
  });

  it('five failures within a second are not recurring (not spread), and a burst once successes resume', () => {
    const { e, events } = engine();
    const t = 'flaky:80';
    for (let i = 0; i < 5; i++) e.observe(obs(1000 + i * 100, t));
    e.observe(obs(2000, t, 'ok'));
    assert.equal(events.length, 0, 'one success is not yet a recovery');
    e.observe(obs(2100, t, 'ok'));
    assert.deepEqual(kinds(events), ['opened burst connect_refused flaky:80']);
    assert.equal(events[0]![1].temporary, true);
    assert.equal(events[0]![1].evidence.successes_after, 2);
    // connect_refused is structural by default; after a passing burst a new failure is not.
    assert.equal(e.temporary({ code: 'connect_refused', source: 'proxy', target: t }), true);
    assert.equal(e.temporary({ code: 'connect_refused', source: 'proxy', target: 'else:80' }), false);
    e.sweep(1400 + W);
    assert.equal(kinds(events).at(-1), 'closed burst connect_refused flaky:80');
  });

  it('a burst whose failures come back spread over the window becomes recurring, and the burst closes', () => {
    const { e, events } = engine();
    const t = 'mixed:80';
    for (const time of [1000, 1100]) e.observe(obs(time, t));
    for (const time of [1200, 1300]) e.observe(obs(time, t, 'ok'));
    for (const time of [10_000, 20_000, 30_000]) e.observe(obs(time, t));
    assert.deepEqual(kinds(events), ['opened burst connect_refused mixed:80', 'opened recurring connect_refused mixed:80', 'closed burst connect_refused mixed:80']);
    assert.equal(e.temporary({ code: 'connect_refused', source: 'proxy', target: t }), false);
  });

  it('unhealthy_address: one address failing while a sibling succeeds; closes when it recovers', () => {
    const { e, events } = engine();
    const attempts = [{ address: '10.0.0.7', outcome: 'connect_refused' }, { address: '10.0.0.8', outcome: 'connected' }];
    for (let i = 0; i < 3; i++) e.observe(obs(1000 + i, 'svc:443', 'ok', { attempts, upstreamIp: '10.0.0.8' }));
    assert.deepEqual(kinds(events), ['opened unhealthy_address connect_refused svc:443 10.0.0.7']);
    assert.deepEqual(events[0]![1].evidence.healthy_siblings, ['10.0.0.8']);
    // The exchange succeeded, so the per-code view has no failures.
    assert.deepEqual(e.report(1003).codes, {});
    e.observe(obs(2000, 'svc:443', 'ok', { upstreamIp: '10.0.0.7' }));
    assert.equal(kinds(events).at(-1), 'closed unhealthy_address connect_refused svc:443 10.0.0.7');
  });

  it('a dead address without a working sibling is not called unhealthy (the whole name is down)', () => {
    const { e, events } = engine();
    const attempts = [{ address: '10.0.0.7', outcome: 'connect_refused' }, { address: '10.0.0.8', outcome: 'connect_refused' }];
    for (let i = 0; i < 5; i++) e.observe(obs(1000 + i, 'dead:443', 'connect_refused', { attempts }));
    assert.equal(events.filter(([, f]) => f.kind === 'unhealthy_address').length, 0);
  });

  it('latency_shift: recent ttfb above twice the baseline and 100 ms; not on one outlier', () => {
    const { e, events } = engine();
    let t = 1000;
    for (let i = 0; i < 12; i++) e.observe(obs(t++, 'slow:80', 'ok', { ttfbMs: 10 }));
    e.observe(obs(t++, 'slow:80', 'ok', { ttfbMs: 900 }));
    e.observe(obs(t++, 'slow:80', 'ok', { ttfbMs: 10 }));
    assert.equal(events.length, 0, 'one outlier');
    for (let i = 0; i < 3; i++) e.observe(obs(t++, 'slow:80', 'ok', { ttfbMs: 400 }));
    assert.deepEqual(kinds(events), ['opened latency_shift slow:80']);
    const ev = events[0]![1].evidence;
    assert.ok(Number(ev.baseline_ttfb_ms) < 20 && Number(ev.recent_ttfb_ms) > 100, JSON.stringify(ev));
    for (let i = 0; i < 20; i++) e.observe(obs(t++, 'slow:80', 'ok', { ttfbMs: 10 }));
    assert.equal(kinds(events).at(-1), 'closed latency_shift slow:80');
  });

  it('only classified failures count: client aborts, 407 challenges and the origin\'s 4xx do not', () => {
    const { e } = engine();
    for (let i = 0; i < 6; i++) {
      e.observe(obs(1000 + i, `a${i}:80`, 'client_abort', { source: 'client' }));
      e.observe(obs(1000 + i, `b${i}:80`, 'auth_missing'));
      e.observe(obs(1000 + i, `c${i}:80`, 'upstream_404'));
      e.observe(obs(1000 + i, `d${i}:80`, 'tls_alert', { source: 'client' }));
    }
    assert.deepEqual(e.report(2000).codes, {});
    e.observe(obs(2000, 'x:80', 'upstream_500'));
    assert.deepEqual(Object.keys(e.report(2000).codes), ['upstream_500']);
  });

  it('memory is bounded: maxKeys per map, the oldest evicted', () => {
    const e = new RecurrenceEngine({ windowMs: W, maxKeys: 50 });
    for (let i = 0; i < 10_000; i++) e.observe(obs(1000 + i, `host${i}:80`, 'connect_refused', { attempts: [{ address: `10.${i}`, outcome: 'connect_refused' }], ttfbMs: 5 }));
    const internals = e as unknown as Record<string, Record<string, BoundedMap<string, unknown>>>;
    for (const detector of ['destinations', 'addresses', 'latency']) {
      for (const [name, map] of Object.entries(internals[detector]!)) {
        if (map instanceof BoundedMap) assert.ok(map.size <= 50, `${detector}.${name} has ${map.size}`);
      }
    }
    assert.ok(e.book.openFindings().length <= 50);
  });

  it('the sliding window forgets what is older than the window', () => {
    const w = new SlidingWindow(10_000, 10);
    w.add(500);
    w.add(1500);
    w.add(9_000);
    assert.deepEqual(w.stats(9_500), { count: 3, first: 500, last: 9_000 });
    assert.equal(w.stats(11_000).count, 2, 'the first slot left');
    assert.equal(w.stats(19_999).count, 0);
  });
});
