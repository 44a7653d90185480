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

// ---------------------------------------------------------------------------------------------
// Shared chunks: a snapshot adds one holder per chunk; a disk that stops holding one hands its
// references to per-extent counts. Checked against naive counting over every live table.

import { retireChunks, shareTable } from '../../src/controller/refcounts.js';
import { createTable, freezeTable, resizeTable, setEntries, tableEntries, type MappingTable } from '../../src/table/table.js';

/** Naive counts: one per entry holding the extent, over every live table. */
const naiveCounts = (tables: Iterable<MappingTable>): Map<string, number> => {
  const out = new Map<string, number>();
  for (const t of tables)
    for (const [, e] of tableEntries(t))
      for (const x of [e.location, e.alternate]) if (x !== null) out.set(`${x.lun}:${x.start}:${t.segmentBlocks}`, (out.get(`${x.lun}:${x.start}:${t.segmentBlocks}`) ?? 0) + 1);
  return out;
};
const countsOf = (refs: RefCounts): Map<string, number> => new Map(entries(refs).map((r) => [`${r.lun}:${r.start}:${r.length}`, r.count]));

describe('shared chunks', () => {
  type Action = { kind: 'snapshot'; of: number } | { kind: 'write'; disk: number; segment: number; start: number } | { kind: 'shrink'; disk: number; count: number } | { kind: 'delete'; disk: number };
  const actionArb: fc.Arbitrary<Action> = fc.oneof(
    fc.record({ kind: fc.constant('snapshot' as const), of: fc.nat(5) }),
    fc.record({ kind: fc.constant('write' as const), disk: fc.nat(5), segment: fc.nat(599), start: fc.nat(1000) }),
    fc.record({ kind: fc.constant('shrink' as const), disk: fc.nat(5), count: fc.integer({ min: 1, max: 600 }) }),
    fc.record({ kind: fc.constant('delete' as const), disk: fc.nat(5) }),
  );

  it('counts every extent once per live entry holding it, through snapshots, copy-on-write, shrinks and deletions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.array(actionArb, { maxLength: 25 }), (segmentCount, actions) => {
        const sb = 4;
        const first = E.getOrElseW(() => { throw new Error('createTable'); })(createTable({ segmentBlocks: sb, segmentCount, entries: (s) => (s % 3 === 0 ? { zero: true } : { location: { lun: 1, start: s * sb } }) }));
        const disks: MappingTable[] = [first];
        let refs = incrementAll(emptyRefCounts, [...tableEntries(first)].flatMap(([, e]) => (e.location === null ? [] : [{ lun: e.location.lun, start: e.location.start, length: sb }])));
        let next = 1_000_000;
        for (const a of actions) {
          if (a.kind === 'snapshot' && a.of < disks.length) {
            const frozen = E.getOrElseW(() => { throw new Error('freeze'); })(freezeTable(disks[a.of]!));
            refs = retireChunks(refs, disks[a.of]!, frozen);
            disks[a.of] = frozen;
            refs = shareTable(refs, frozen);
            disks.push(frozen);
          } else if (a.kind === 'write' && a.disk < disks.length && a.segment < disks[a.disk]!.segmentCount) {
            const t = disks[a.disk]!;
            const old = [...tableEntries(t)][a.segment]![1];
            const fresh = { lun: 2, start: (next += sb) };
            const updated = E.getOrElseW(() => { throw new Error('setEntries'); })(setEntries(t, [{ segment: a.segment, entry: { location: fresh } }]));
            refs = increment(refs, { ...fresh, length: sb });
            refs = retireChunks(refs, t, updated);
            disks[a.disk] = updated;
            if (old.location !== null) refs = E.getOrElseW(() => { throw new Error('decrement'); })(decrement(refs, { ...old.location, length: sb }))[0];
          } else if (a.kind === 'shrink' && a.disk < disks.length && a.count < disks[a.disk]!.segmentCount) {
            const t = disks[a.disk]!;
            const resized = E.getOrElseW(() => { throw new Error('resize'); })(resizeTable(t, a.count, { zero: true }));
            refs = retireChunks(refs, t, resized);
            disks[a.disk] = resized;
            for (const [s, e] of tableEntries(t)) if (s >= a.count && e.location !== null) refs = E.getOrElseW(() => { throw new Error('decrement'); })(decrement(refs, { ...e.location, length: sb }))[0];
          } else if (a.kind === 'delete' && a.disk < disks.length && disks.length > 1) {
            const [t] = disks.splice(a.disk, 1);
            refs = retireChunks(refs, t!, null);
            for (const [, e] of tableEntries(t!)) {
              if (e.location === null) continue;
              const [r, zero] = E.getOrElseW(() => { throw new Error('decrement'); })(decrement(refs, { ...e.location, length: sb }));
              refs = r;
              // Released to zero only when no live table holds it any more.
              expect(zero).toBe(!disks.some((d) => [...tableEntries(d)].some(([, x]) => x.location?.lun === e.location!.lun && x.location.start === e.location!.start)));
            }
          }
          expect(countsOf(refs)).toEqual(naiveCounts(disks));
          for (const [key, n] of naiveCounts(disks)) {
            const [lun, start] = key.split(':').map(Number);
            expect(countOf(refs, { lun: lun!, start: start!, length: sb })).toBe(n);
          }
        }
      }),
      { numRuns: 80 },
    );
  });
});
