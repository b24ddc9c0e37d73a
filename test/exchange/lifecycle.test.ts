import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { HopFailure } from '../../src/classify/failure.ts';
import { Lifecycle } from '../../src/exchange/lifecycle.ts';
import { Exchange } from '../../src/exchange/record.ts';
import { viaProxy } from '../helpers/client.ts';
import { startProxy } from '../helpers/proxy.ts';
import { closedPort } from '../helpers/upstreams.ts';

describe('the exchange record', () => {
  it('keeps the first failure and ends once', () => {
    const ends: Exchange[] = [];
    const lifecycle = new Lifecycle().observe({ name: 't', onEnd: (e) => ends.push(e) });
    const ex = new Exchange(lifecycle, 'http', '127.0.0.1', 1);
    assert.equal(ex.fail(new HopFailure('connect_refused', 'first')), true);
    assert.equal(ex.fail(new HopFailure('client_abort', 'later symptom')), false);
    ex.finish();
    ex.finish();
    assert.equal(ex.code, 'connect_refused');
    assert.equal(ends.length, 1);
    assert.equal(ex.fail(new HopFailure('internal_error', 'after the end')), false);
    assert.equal(typeof ex.timings.total, 'number');
  });

  it('derives the code from the upstream status when nothing failed', () => {
    const ex = new Exchange(new Lifecycle(), 'http', '', 0);
    ex.status = 503;
    assert.equal(ex.code, 'upstream_503');
    assert.equal(ex.outcomeHop, 'upstream');
    const tunnel = new Exchange(new Lifecycle(), 'connect', '', 0);
    tunnel.status = 200;
    assert.equal(tunnel.code, 'ok');
  });

  it('gives every exchange a distinct id', () => {
    const lifecycle = new Lifecycle();
    const ids = new Set(Array.from({ length: 1000 }, () => new Exchange(lifecycle, 'http', '', 0).id));
    assert.equal(ids.size, 1000);
  });
});

describe('the lifecycle', () => {
  it('refuses registrations once sealed, and unknown hops', () => {
    const lifecycle = new Lifecycle();
    assert.throws(() => lifecycle.intercept('nowhere' as 'dns', () => undefined), /unknown hop/);
    lifecycle.seal();
    assert.throws(() => lifecycle.observe({ name: 'late', onEnd() {} }), /before the listeners open/);
  });

  it('an observer that throws never breaks the others or the exchange', () => {
    const seen: string[] = [];
    const errors: string[] = [];
    const lifecycle = new Lifecycle()
      .observe({ name: 'broken', onEnd: () => { throw new Error('observer bug'); } })
      .observe({ name: 'fine', onEnd: (e) => seen.push(e.id) });
    lifecycle.onObserverError = (name) => errors.push(name);
    const ex = new Exchange(lifecycle, 'http', '', 0);
    ex.finish();
    assert.deepEqual(seen, [ex.id]);
    assert.deepEqual(errors, ['broken']);
  });

  it('runs interceptors in order and stops at the first failure, recorded at its hop', async () => {
    const calls: string[] = [];
    const lifecycle = new Lifecycle()
      .intercept('policy', () => { calls.push('a'); return undefined; })
      .intercept('policy', async () => { calls.push('b'); return new HopFailure('loop_detected', 'denied'); })
      .intercept('policy', () => { calls.push('c'); return undefined; });
    const failure = await lifecycle.runInterceptors('policy', new Exchange(lifecycle, 'http', '', 0));
    assert.deepEqual(calls, ['a', 'b']);
    assert.equal(failure?.code, 'loop_detected');
    assert.equal(failure?.hop, 'policy');
  });
});

describe('diagnostics_channel', () => {
  it('publishes each hop and each finished record for third-party observers', async () => {
    const hops: string[] = [];
    const ended: Exchange[] = [];
    const onHop = (m: unknown) => hops.push((m as { hop: string }).hop);
    const onEnd = (m: unknown) => ended.push((m as { exchange: Exchange }).exchange);
    diagnostics.subscribe('hopwatch:exchange:hop', onHop);
    diagnostics.subscribe('hopwatch:exchange:end', onEnd);
    try {
      const proxy = await startProxy();
      const port = await closedPort();
      const res = await viaProxy(proxy.port, `http://127.0.0.1:${port}/`);
      await proxy.logs.exchange(res.headers['x-request-id']);
      await proxy.close();
      const record = ended.find((e) => e.id === res.headers['x-request-id']);
      assert.ok(record);
      assert.equal(record.code, 'connect_refused');
      assert.deepEqual(hops.slice(0, 5), ['parse', 'auth', 'policy', 'dns', 'connect']);
    } finally {
      diagnostics.unsubscribe('hopwatch:exchange:hop', onHop);
      diagnostics.unsubscribe('hopwatch:exchange:end', onEnd);
    }
  });
});
