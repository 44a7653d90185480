/**
 * Property tests for src/controller/refcounts.ts against a naive model: a plain Map from
 * "lun:start:length" to count.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { Extent } from '../../src/controller/allocator.js';
import { countOf, decrement, emptyRefCounts, entries, increment, incrementAll, type RefCounts } from '../../src/controller/refcounts.js';

type Model = Map<string, number>;

const key = (x: Extent): string => `${x.lun}:${x.start}:${x.length}`;

const modelEntries = (m: Model) =>
  [...m]
    .map(([k, count]) => {
      const [lun, start, length] = k.split(':').map(Number) as [number, number, number];
      return { lun, start, length, count };
    })
    .sort((a, b) => a.lun - b.lun || a.start - b.start || a.length - b.length);

// A small key space so that increments and decrements collide often; some starts past 2^32.
const extentArb: fc.Arbitrary<Extent> = fc.record({
  lun: fc.integer({ min: 0, max: 3 }),
  start: fc.oneof(fc.integer({ min: 0, max: 5 }).map((k) => k * 10), fc.constantFrom(2 ** 32, 2 ** 40 + 10, Number.MAX_SAFE_INTEGER - 20)),
  length: fc.constantFrom(10, 20),
});

type Cmd = { type: 'inc'; x: Extent } | { type: 'dec'; x: Extent } | { type: 'incAll'; xs: Extent[] };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ type: fc.constant('inc' as const), x: extentArb }),
  fc.record({ type: fc.constant('dec' as const), x: extentArb }),
  fc.record({ type: fc.constant('incAll' as const), xs: fc.array(extentArb, { maxLength: 8 }) }),
);

describe('refcounts', () => {
  it('matches the model under random increments and decrements, leaving old values untouched', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 100 }), (cmds) => {
        let refs: RefCounts = emptyRefCounts;
        const m: Model = new Map();
        for (const cmd of cmds) {
          const before = refs;
          const beforeEntries = entries(refs);
          if (cmd.type === 'inc') {
            refs = increment(refs, cmd.x);
            m.set(key(cmd.x), (m.get(key(cmd.x)) ?? 0) + 1);
          } else if (cmd.type === 'incAll') {
            refs = incrementAll(refs, cmd.xs);
            for (const x of cmd.xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
          } else {
            const got = decrement(refs, cmd.x);
            const had = m.get(key(cmd.x)) ?? 0;
            if (had === 0) {
              expect(E.isLeft(got)).toBe(true);
              if (E.isLeft(got)) {
                expect(got.left[0]!.field).toBe('extent');
                expect(got.left[0]!.value).toEqual(cmd.x);
              }
            } else {
              expect(E.isRight(got)).toBe(true);
              if (E.isRight(got)) {
                const [next, zero] = got.right;
                expect(zero).toBe(had === 1);
                refs = next;
              }
              if (had === 1) m.delete(key(cmd.x));
              else m.set(key(cmd.x), had - 1);
            }
          }
          expect(entries(before)).toEqual(beforeEntries);
          expect(entries(refs)).toEqual(modelEntries(m));
          expect(refs.size).toBe(m.size);
          if (cmd.type !== 'incAll') expect(countOf(refs, cmd.x)).toBe(m.get(key(cmd.x)) ?? 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('incrementAll equals repeated increment', () => {
    fc.assert(
      fc.property(fc.array(extentArb, { maxLength: 30 }), fc.array(extentArb, { maxLength: 30 }), (first, xs) => {
        const base = incrementAll(emptyRefCounts, first);
        expect(entries(incrementAll(base, xs))).toEqual(entries(xs.reduce(increment, base)));
      }),
    );
  });

  it('keys by the exact extent: different lengths at one start count separately', () => {
    const refs = increment(increment(emptyRefCounts, { lun: 1, start: 0, length: 10 }), { lun: 1, start: 0, length: 20 });
    expect(countOf(refs, { lun: 1, start: 0, length: 10 })).toBe(1);
    expect(countOf(refs, { lun: 1, start: 0, length: 20 })).toBe(1);
    expect(entries(refs)).toEqual([
      { lun: 1, start: 0, length: 10, count: 1 },
      { lun: 1, start: 0, length: 20, count: 1 },
    ]);
  });

  it('decrementing to zero removes the extent; once more is a Left', () => {
    const x = { lun: 2, start: 30, length: 10 };
    const refs = incrementAll(emptyRefCounts, [x, x]);
    const [one, z1] = (decrement(refs, x) as E.Right<[RefCounts, boolean]>).right;
    expect(z1).toBe(false);
    const [none, z2] = (decrement(one, x) as E.Right<[RefCounts, boolean]>).right;
    expect(z2).toBe(true);
    expect(entries(none)).toEqual([]);
    expect(none.size).toBe(0);
    const again = decrement(none, x);
    expect(E.isLeft(again) && again.left[0]!.message).toContain('has no reference count');
  });

  it('increments tens of thousands of extents at once, quickly', () => {
    const xs = Array.from({ length: 50_000 }, (_, i) => ({ lun: i % 4, start: i * 10, length: 10 }));
    const t0 = performance.now();
    let refs = incrementAll(emptyRefCounts, xs);
    refs = incrementAll(refs, xs); // a snapshot
    for (let i = 0; i < 10_000; i++) refs = (decrement(refs, xs[i]!) as E.Right<[RefCounts, boolean]>).right[0];
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(refs.size).toBe(50_000);
    expect(countOf(refs, xs[0]!)).toBe(1);
    expect(countOf(refs, xs[49_999]!)).toBe(2);
    expect(entries(refs).length).toBe(50_000);
  });
});
