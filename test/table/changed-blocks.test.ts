import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedBlocks, changedBlocksCounted, type ChangedRange } from '../../src/table/changed-blocks.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { CHUNK_SIZE, createTable, entryAt, resizeTable, setEntries, setEntry, type MappingTable } from '../../src/table/table.js';
import { entrySpecArb } from '../../src/testing/arbitraries.js';
import { referenceBlockDecision, type BlockDecision } from '../../src/testing/reference.js';
import { FamilyModel, type FamilyStep } from './family-model.js';

const right = <A>(e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: A }): A => {
  if (e._tag === 'Left') throw new Error(JSON.stringify(e.left));
  return e.right;
};

/**
 * The rule, block by block: unchanged only when both tables read zeros, or both read the same
 * block of a primary that both mark noWrite. `null` for blocks past the end of `older`.
 */
const naiveChanged = (older: MappingTable, newer: MappingTable): { changed: boolean; zero: boolean }[] => {
  const sb = newer.segmentBlocks;
  const g = newer.grainBlocks; // the reference reads each block's grain bit
  return Array.from({ length: newer.segmentCount * sb }, (_, v) => {
    const s = Math.floor(v / sb);
    const en = entryAt(newer, s);
    const n: BlockDecision = referenceBlockDecision(en, v % sb, 'read', 'centralized', g);
    if (s >= older.segmentCount) return { changed: true, zero: n.kind === 'zero' };
    const eo = entryAt(older, s);
    const o: BlockDecision = referenceBlockDecision(eo, v % sb, 'read', 'centralized', g);
    const unchanged =
      (o.kind === 'zero' && n.kind === 'zero') ||
      (o.kind === 'primary' && n.kind === 'primary' && o.lun === n.lun && o.start === n.start && eo.noWrite && en.noWrite);
    return { changed: !unchanged, zero: n.kind === 'zero' };
  });
};

/** Ranges as per-block flags; also checks they are ascending, disjoint, maximal and inside the disk. */
const expand = (ranges: ReadonlyArray<ChangedRange>, blocks: number): { changed: boolean; zero: boolean }[] => {
  const out = Array.from({ length: blocks }, () => ({ changed: false, zero: false }));
  let end = -1;
  let lastZero: boolean | null = null;
  for (const r of ranges) {
    expect(r.length).toBeGreaterThan(0);
    expect(r.start).toBeGreaterThanOrEqual(end);
    if (r.start === end) expect(r.zero).not.toBe(lastZero); // else they would have merged
    expect(r.start + r.length).toBeLessThanOrEqual(blocks);
    for (let v = r.start; v < r.start + r.length; v++) out[v] = { changed: true, zero: r.zero };
    end = r.start + r.length;
    lastZero = r.zero;
  }
  return out;
};

const stepArb: fc.Arbitrary<FamilyStep> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), start: fc.nat(100_000), length: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settle' as const), segment: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('migrate' as const), segment: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow' as const), segments: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const), segment: fc.nat(1000) }) },
);

/** A history: geometry, the disk's first layout, then steps. */
const historyArb = fc.record({
  segmentBlocks: fc.integer({ min: 1, max: 12 }),
  initial: fc.oneof(
    fc.array(fc.constantFrom<'zero' | 'plain'>('zero', 'plain'), { minLength: 1, maxLength: 12 }),
    // Enough segments for several chunks, so that shared chunks are skipped.
    fc.integer({ min: CHUNK_SIZE, max: 3 * CHUNK_SIZE }).map((n) => Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'zero' : 'plain') as 'zero' | 'plain')),
  ),
  steps: fc.array(stepArb, { maxLength: 40 }),
});

const replay = (h: { segmentBlocks: number; initial: ReadonlyArray<'zero' | 'plain'>; steps: ReadonlyArray<FamilyStep> }): FamilyModel => {
  const m = new FamilyModel(h.segmentBlocks, h.initial);
  for (const step of h.steps) m.apply(step);
  return m;
};

describe('changedBlocks', () => {
  it('reports every block whose content differs between a snapshot and a later snapshot or the disk, with the right zero flags', () => {
    // Over all runs, how many compared blocks differed, and how many the tables let be skipped:
    // both must be non-zero, or the histories would be too tame to test anything.
    let differing = 0;
    let unreported = 0;
    fc.assert(
      fc.property(historyArb, (h) => {
        const m = replay({ ...h, steps: [...h.steps, { kind: 'snapshot' }, ...h.steps.slice(0, 10)] });
        const later: { table: MappingTable; content: number[] }[] = [...m.snapshots, { table: m.disk, content: m.content(m.disk) }];
        m.snapshots.forEach((older, i) => {
          // The model itself: a snapshot never changes while it is held.
          expect(m.content(older.table)).toEqual(older.content);
          for (const newer of later.slice(i + 1)) {
            const reported = expand(right(changedBlocks(older.table, newer.table)), newer.content.length);
            newer.content.forEach((value, v) => {
              const before = v < older.content.length ? older.content[v]! : Number.NaN;
              if (!Object.is(before, value) || Number.isNaN(value)) {
                differing++;
                expect(reported[v]!.changed, `block ${v}`).toBe(true);
              } else if (!reported[v]!.changed) unreported++;
              if (reported[v]!.changed) expect(reported[v]!.zero).toBe(referenceBlockDecision(entryAt(newer.table, Math.floor(v / h.segmentBlocks)), v % h.segmentBlocks, 'read').kind === 'zero');
            });
          }
        });
      }),
      { numRuns: 150 },
    );
    expect(differing).toBeGreaterThan(0);
    expect(unreported).toBeGreaterThan(0);
  });

  it('equals the per-block rule on any two tables of the same geometry', () => {
    const pairArb = fc
      .tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 0, max: 600 }))
      .chain(([sb, count, newCount]) =>
        fc.tuple(
          fc.constant(sb),
          fc.array(entrySpecArb(sb, { luns: [1, 2], maxStart: 3 }), { minLength: 1, maxLength: 8 }),
          fc.array(fc.tuple(fc.nat(count - 1), entrySpecArb(sb, { luns: [1, 2], maxStart: 3 })), { maxLength: 6 }),
          fc.constant(count),
          fc.constant(newCount),
          fc.boolean(),
        ),
      );
    fc.assert(
      fc.property(pairArb, ([sb, palette, updates, count, newCount, resize]) => {
        // Few distinct entries and starts, so that equal locations and frozen primaries are common.
        const older = right(createTable({ segmentBlocks: sb, segmentCount: count, entries: (s) => palette[s % palette.length]! }));
        let newer = right(setEntries(older, updates.map(([segment, entry]) => ({ segment, entry }))));
        if (resize) newer = right(resizeTable(newer, newCount, palette[0]!));
        const got = expand(right(changedBlocks(older, newer)), newer.segmentCount * sb);
        expect(got).toEqual(naiveChanged(older, newer).map((x) => (x.changed ? x : { changed: false, zero: false })));
      }),
      { numRuns: 200 },
    );
  });

  it('equals the per-block rule on grained tables, every range on grain boundaries', () => {
    const pairArb = fc
      .tuple(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 300 }))
      .chain(([g, grains, count, newCount]) =>
        fc.tuple(
          fc.constant([g, grains * g] as const),
          fc.array(entrySpecArb(grains * g, { luns: [1, 2], maxStart: 3, grainBlocks: g }), { minLength: 1, maxLength: 8 }),
          fc.array(fc.tuple(fc.nat(count - 1), entrySpecArb(grains * g, { luns: [1, 2], maxStart: 3, grainBlocks: g })), { maxLength: 6 }),
          fc.constant(count),
          fc.constant(newCount),
          fc.boolean(),
        ),
      );
    let grainedRuns = 0;
    fc.assert(
      fc.property(pairArb, ([[g, sb], palette, updates, count, newCount, resize]) => {
        const older = right(createTable({ segmentBlocks: sb, grainBlocks: g, segmentCount: count, entries: (s) => palette[s % palette.length]! }));
        let newer = right(setEntries(older, updates.map(([segment, entry]) => ({ segment, entry }))));
        if (resize) newer = right(resizeTable(newer, newCount, palette[0]!));
        const ranges = right(changedBlocks(older, newer));
        for (const r of ranges) {
          expect(r.start % g).toBe(0);
          expect(r.length % g).toBe(0);
          if (r.length < sb) grainedRuns++;
        }
        const got = expand(ranges, newer.segmentCount * sb);
        expect(got).toEqual(naiveChanged(older, newer).map((x) => (x.changed ? x : { changed: false, zero: false })));
      }),
      { numRuns: 200 },
    );
    expect(grainedRuns).toBeGreaterThan(0); // ranges shorter than a segment: cut at grain bits
    const a = right(createTable({ segmentBlocks: 8, grainBlocks: 4, entries: [{ zero: true }] }));
    const b = right(createTable({ segmentBlocks: 8, grainBlocks: 2, entries: [{ zero: true }] }));
    expect(changedBlocks(a, b)).toStrictEqual({ _tag: 'Left', left: [expect.objectContaining({ field: 'newer.grainBlocks', value: 2 })] });
  });

  it('skips the chunks two snapshots share, on a table of a million segments', () => {
    const count = 1 << 20;
    const snap1 = right(createTable({ segmentBlocks: 8, segmentCount: count, entries: (s) => (s % 5 === 0 ? { zero: true } : { location: { lun: 1, start: s * 8 }, noWrite: true }) }));
    // One write to segment 700,001, copied on write and promoted; then the disk is snapshotted again.
    const disk = right(setEntry(snap1, 700_001, { location: { lun: 2, start: 0 } }));
    const snap2 = right(setEntry(disk, 700_001, { location: { lun: 2, start: 0 }, noWrite: true }));
    const report = right(changedBlocksCounted(snap1, snap2));
    expect(report.ranges).toEqual([{ start: 700_001 * 8, length: 8, zero: false }]);
    expect(report.chunksCompared).toBe(1);
    expect(report.chunksSkipped).toBe(count / CHUNK_SIZE - 1);
    expect(right(changedBlocks(snap1, snap1))).toEqual([]);
  });

  it('compares shared chunks segment by segment when they hold writable segments', () => {
    const t = right(createTable({ segmentBlocks: 4, entries: [{ location: { lun: 1, start: 0 } }, { zero: true }, { location: { lun: 1, start: 4 }, noWrite: true }] }));
    const report = right(changedBlocksCounted(t, t));
    // The writable segment 0 may have been written through `t` itself: it counts as changed.
    expect(report.ranges).toEqual([{ start: 0, length: 4, zero: false }]);
    expect(report.chunksCompared).toBe(1);
  });

  it('reports the reference example against a snapshot of it, bit by bit', () => {
    const snap = right(
      createTable({
        segmentBlocks: 10,
        entries: [
          { location: { lun: 1, start: 0 }, noWrite: true },
          { location: { lun: 2, start: 0 }, noWrite: true },
          { zero: true },
          { zero: true },
        ],
      }),
    );
    const disk = right(
      setEntries(snap, [
        { segment: 0, entry: { location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } } },
        { segment: 1, entry: { location: { lun: 3, start: 0 } } },
        { segment: 3, entry: { zero: true, alternate: { lun: 3, start: 10, blocks: [0, 1] } } },
      ]),
    );
    const grown = right(resizeTable(disk, 5, { zero: true }));
    expect(right(changedBlocks(snap, grown))).toEqual([
      { start: 2, length: 1, zero: false },
      { start: 7, length: 2, zero: false },
      { start: 10, length: 10, zero: false },
      { start: 30, length: 2, zero: false },
      { start: 40, length: 10, zero: true },
    ]);
  });

  it('refuses tables of different segment sizes, naming the field and both values', () => {
    const a = right(createTable({ segmentBlocks: 8, entries: [{ zero: true }] }));
    const b = right(createTable({ segmentBlocks: 16, entries: [{ zero: true }] }));
    const result = changedBlocks(a, b);
    expect(result._tag).toBe('Left');
    if (result._tag === 'Left') {
      expect(result.left[0]!.field).toBe('newer.segmentBlocks');
      expect(result.left[0]!.value).toBe(16);
      expect(result.left[0]!.message).toContain('8');
    }
  });

  it('reports nothing past the newer table when the disk shrank', () => {
    const a = right(createTable({ segmentBlocks: 2, entries: [{ zero: true }, { location: { lun: 1, start: 0 } }] }));
    const b = right(resizeTable(a, 1, { zero: true }));
    expect(right(changedBlocks(a, b))).toEqual([]);
    const spec: EntrySpec = { location: { lun: 1, start: 0 } };
    expect(right(changedBlocks(b, right(resizeTable(b, 2, spec))))).toEqual([{ start: 2, length: 2, zero: false }]);
  });
});
