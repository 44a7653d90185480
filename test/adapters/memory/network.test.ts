/**
 * Tests for src/adapters/memory/network.ts: determinism, ordering bounds, fault rates,
 * partitions and restarts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryNetwork, type Delivery } from '../../../src/adapters/memory/network.js';
import { leftErrors, right } from './helpers.js';

interface Ping {
  readonly n: number;
  readonly payload: { list: number[] };
}

/** Sends `count` messages from two senders to one receiver and records what arrives, in order. */
const runNetwork = (seed: number, count: number, options: { dropRate?: number; duplicateRate?: number; maxDelay?: number } = {}) => {
  const net = right(createMemoryNetwork({ seed, ...options }));
  const a = net.transport<Ping, Ping>('a');
  const b = net.transport<Ping, Ping>('b');
  const c = net.transport<Ping, Ping>('c');
  const got: [string, number][] = [];
  c.onMessage((from, m) => got.push([from, m.n]));
  const deliveries: Delivery[] = [];
  for (let i = 0; i < count; i++) {
    (i % 2 === 0 ? a : b).send('c', { n: i, payload: { list: [i] } });
    if (i % 3 === 0) {
      const d = net.step();
      if (d !== undefined) deliveries.push(d);
    }
  }
  for (let d = net.step(); d !== undefined; d = net.step()) deliveries.push(d);
  return { net, got, deliveries };
};

describe('memory network', () => {
  it('delivers in an order decided by the seed: same seed, same run', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const x = runNetwork(seed, 60, { dropRate: 0.1, duplicateRate: 0.1 });
        const y = runNetwork(seed, 60, { dropRate: 0.1, duplicateRate: 0.1 });
        expect(y.got).toEqual(x.got);
        expect(y.deliveries.map((d) => d.id)).toEqual(x.deliveries.map((d) => d.id));
        expect(y.net.stats()).toEqual(x.net.stats());
      }),
      { numRuns: 50 },
    );
    // And the seed matters.
    const orders = new Set([1, 2, 3, 4, 5].map((s) => JSON.stringify(runNetwork(s, 30).got)));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('reorders but, with no drops, delivers every message exactly once', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const { got, net } = runNetwork(seed, 50);
        expect(got.map(([, n]) => n).sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
        expect(net.stats()).toEqual({ sent: 50, dropped: 0, duplicated: 0, delivered: 50, lost: 0 });
      }),
      { numRuns: 50 },
    );
    // Reordering actually happens with the default (unbounded) delay.
    const { got } = runNetwork(9, 50);
    expect(got.map(([, n]) => n)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('bounds reordering by maxDelay (0 is first in, first out)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 5 }), (seed, maxDelay) => {
        const { deliveries } = runNetwork(seed, 80, { maxDelay });
        const ids = deliveries.map((d) => d.id);
        if (maxDelay === 0) expect(ids).toEqual([...ids].sort((p, q) => p - q));
        // Each message is overtaken by at most maxDelay younger ones.
        ids.forEach((id, i) => expect(ids.slice(0, i).filter((other) => other > id).length).toBeLessThanOrEqual(maxDelay));
      }),
      { numRuns: 50 },
    );
  });

  it('honours drop and duplicate rates roughly', () => {
    for (const seed of [1, 2, 3]) {
      const { net, got } = runNetwork(seed, 10_000, { dropRate: 0.2, duplicateRate: 0.1 });
      const s = net.stats();
      expect(s.sent).toBe(10_000);
      expect(s.dropped).toBeGreaterThan(1_700);
      expect(s.dropped).toBeLessThan(2_300);
      // Duplicates are drawn for the messages that were not dropped.
      expect(s.duplicated).toBeGreaterThan(600);
      expect(s.duplicated).toBeLessThan(1_000);
      expect(s.delivered).toBe(s.sent - s.dropped + s.duplicated);
      expect(got.length).toBe(s.delivered);
    }
  });

  it('clones messages on send: no shared mutable references between peers', () => {
    const net = right(createMemoryNetwork({ seed: 1 }));
    const a = net.transport<Ping, Ping>('a');
    const b = net.transport<Ping, Ping>('b');
    const seen: Ping[] = [];
    const seen2: Ping[] = [];
    b.onMessage((_, m) => seen.push(m));
    b.onMessage((_, m) => seen2.push(m));
    const m: Ping = { n: 1, payload: { list: [1] } };
    a.send('b', m);
    m.payload.list.push(2);
    net.deliverAll();
    expect(seen[0]).toEqual({ n: 1, payload: { list: [1] } });
    expect(seen[0]).not.toBe(m);
    expect(seen2[0]).toEqual(seen[0]);
    expect(seen2[0]).not.toBe(seen[0]);
  });

  it('drops traffic of a cut peer, including messages already in flight, until healed', () => {
    const net = right(createMemoryNetwork({ seed: 1 }));
    const a = net.transport<number, number>('a');
    const b = net.transport<number, number>('b');
    const got: number[] = [];
    b.onMessage((_, m) => got.push(m));
    a.onMessage((_, m) => got.push(-m));
    a.send('b', 1);
    net.cut('b');
    expect(net.isCut('b')).toBe(true);
    a.send('b', 2);
    b.send('a', 3);
    expect(net.pending()).toBe(1);
    const d = net.step();
    expect(d).toMatchObject({ from: 'a', to: 'b', message: 1, delivered: false });
    net.heal('b');
    a.send('b', 4);
    b.send('a', 5);
    expect(net.deliverAll()).toBe(2);
    expect(got.sort()).toEqual([-5, 4]);
    expect(net.stats()).toMatchObject({ sent: 5, dropped: 2, lost: 1, delivered: 2 });
  });

  it('models a restart: a new endpoint for a peer replaces the old one', () => {
    const net = right(createMemoryNetwork({ seed: 1 }));
    const a = net.transport<string, string>('a');
    const old = net.transport<string, string>('b');
    const got: string[] = [];
    old.onMessage((_, m) => got.push(`old:${m}`));
    a.send('b', 'x');
    const fresh = net.transport<string, string>('b');
    fresh.onMessage((_, m) => got.push(`new:${m}`));
    old.onMessage((_, m) => got.push(`old2:${m}`));
    old.send('a', 'from the dead');
    net.deliverAll();
    expect(got).toEqual(['new:x']);
    expect(net.stats().dropped).toBe(1);
    // Messages to a peer without an endpoint are lost.
    a.send('nobody', 'hello');
    expect(net.step()?.delivered).toBe(false);
  });

  it('lets handlers send while being delivered; deliverAll honours its limit', () => {
    const net = right(createMemoryNetwork({ seed: 3 }));
    const a = net.transport<number, number>('a');
    const b = net.transport<number, number>('b');
    a.onMessage((_, n) => a.send('b', n + 1));
    b.onMessage((_, n) => b.send('a', n + 1));
    a.send('b', 0);
    expect(net.deliverAll(100)).toBe(100);
    expect(net.pending()).toBe(1);
    expect(net.inFlight()[0]).toMatchObject({ message: 100 });
    expect(net.deliver(3)).toBe(3);
  });

  it('rejects malformed options', () => {
    leftErrors(createMemoryNetwork({ seed: Number.NaN }));
    expect(leftErrors(createMemoryNetwork({ seed: 1, dropRate: -0.1, duplicateRate: 1.5, maxDelay: 1.5 })).map((e) => e.field)).toEqual([
      'dropRate',
      'duplicateRate',
      'maxDelay',
    ]);
  });
});
