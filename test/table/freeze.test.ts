/**
 * freezeTable against the naive model: a freeze is `noWrite` set on every segment that has a
 * location, every other field and segment unchanged. The frozen table must be indistinguishable
 * from the same table with the flags written entry by entry (setEntries): entries, both codecs,
 * diffs, changed blocks and translation.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { encodeTableBinary } from '../../src/table/binary-codec.js';
import { changedBlocks } from '../../src/table/changed-blocks.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable, diffTables, freezeTable, getEntry, resizeTable, segmentsWithAlternate, setEntries, tableEntries, withGeneration, F_NO_WRITE, type MappingTable } from '../../src/table/table.js';
import { entrySpecArb, requestArb, tableArb } from '../../src/testing/arbitraries.js';
import { translate } from '../../src/translate/translate.js';
import { modelEq, modelOfEntry, type MEntry } from './entry-model.js';

const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

/** The naive freeze of one model entry. */
const naiveFreeze = (m: MEntry): MEntry => (m.location === null ? m : { ...m, noWrite: true });

/** The same freeze written entry by entry, through the ordinary update path. */
const materialized = (t: MappingTable, generation: number): MappingTable =>
  right(
    setEntries(
      t,
      [...tableEntries(t)].filter(([, e]) => e.location !== null).map(([segment, e]) => ({ segment, entry: { ...e, noWrite: true } })),
      { generation },
    ),
  );

/** Tables of several chunks, with some chunks replaced after building (out of the flat array), sometimes resized. */
const scenarioArb = tableArb({ segmentCount: fc.integer({ min: 1, max: 700 }), segmentBlocks: fc.integer({ min: 1, max: 40 }) }).chain((t) =>
  fc.tuple(
    fc.constant(t),
    fc.array(fc.record({ segment: fc.nat(t.segmentCount - 1), entry: entrySpecArb(t.segmentBlocks) }), { maxLength: 30 }),
    fc.option(fc.integer({ min: 1, max: 800 }), { nil: undefined }),
    fc.array(requestArb(t.segmentCount * t.segmentBlocks), { minLength: 1, maxLength: 20 }),
  ),
);

const prepared = (t: MappingTable, updates: { segment: number; entry: unknown }[], resize: number | undefined): MappingTable => {
  let table = right(setEntries(t, updates as never));
  if (resize !== undefined) table = right(resizeTable(table, resize, { zero: true }));
  return table;
};

describe('freezeTable', () => {
  it('sets noWrite on every located segment and changes nothing else (naive model)', () => {
    fc.assert(
      fc.property(scenarioArb, ([t0, updates, resize]) => {
        const t = prepared(t0, updates, resize);
        const frozen = right(freezeTable(t));
        expect(frozen.generation).toBe(t.generation + 1);
        expect(frozen.segmentCount).toBe(t.segmentCount);
        expect(frozen.segmentBlocks).toBe(t.segmentBlocks);
        for (let s = 0; s < t.segmentCount; s++) {
          const want = naiveFreeze(modelOfEntry(right(getEntry(t, s))));
          expect(modelEq(modelOfEntry(right(getEntry(frozen, s))), want)).toBe(true);
        }
        // The input is a value: unchanged.
        expect(diffTables(t, prepared(t0, updates, resize))).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('is indistinguishable from the flags written entry by entry: codecs, diffs, changed blocks, translation', () => {
    fc.assert(
      fc.property(scenarioArb, ([t0, updates, resize, requests]) => {
        const t = prepared(t0, updates, resize);
        const frozen = right(freezeTable(t));
        const written = materialized(t, frozen.generation);
        expect(encodeTable(frozen)).toEqual(encodeTable(written));
        expect(encodeTableBinary(frozen)).toEqual(encodeTableBinary(written));
        expect(diffTables(frozen, written)).toEqual([]);
        expect(diffTables(t, frozen)).toEqual(diffTables(t, written));
        expect(right(changedBlocks(t, frozen))).toEqual(right(changedBlocks(t, written)));
        expect(right(changedBlocks(frozen, written))).toEqual(right(changedBlocks(written, materialized(t, frozen.generation))));
        for (const variant of ['centralized', 'distributed'] as const)
          for (const r of requests) {
            if (r.start + r.length > frozen.segmentCount * frozen.segmentBlocks) continue;
            expect(translate(frozen, r, { variant })).toEqual(translate(written, r, { variant }));
          }
        // Later updates of a frozen table behave as on the written one.
        const more = updates.slice(0, 5).filter((u) => u.segment < frozen.segmentCount);
        expect(encodeTable(right(setEntries(frozen, more as never)))).toEqual(encodeTable(right(setEntries(written, more as never))));
      }),
      { numRuns: 150 },
    );
  });

  it('is idempotent, and shares every chunk with the table it freezes', () => {
    fc.assert(
      fc.property(scenarioArb, ([t0, updates, resize]) => {
        const once = right(freezeTable(prepared(t0, updates, resize)));
        const twice = right(freezeTable(once));
        expect(twice.generation).toBe(once.generation + 1);
        expect(twice.chunks).toBe(once.chunks);
        expect(encodeTable(twice)).toEqual({ ...encodeTable(once), generation: twice.generation });
      }),
      { numRuns: 60 },
    );
  });

  it('a frozen table written a little and frozen again shares every chunk with it, and still matches the model', () => {
    fc.assert(
      fc.property(scenarioArb, ([t0, updates, resize, requests]) => {
        const once = right(freezeTable(prepared(t0, updates, resize)));
        const written = right(setEntries(once, updates.filter((u) => u.segment < once.segmentCount) as never));
        const twice = right(freezeTable(written));
        // A freeze copies nothing: the bits carry it until an update copies a chunk.
        expect(twice.chunks).toBe(written.chunks);
        for (let s = 0; s < twice.segmentCount; s++) expect(modelEq(modelOfEntry(right(getEntry(twice, s))), naiveFreeze(modelOfEntry(right(getEntry(written, s)))))).toBe(true);
        expect(encodeTableBinary(twice)).toEqual(encodeTableBinary(materialized(written, twice.generation)));
        for (const r of requests) {
          if (r.start + r.length > twice.segmentCount * twice.segmentBlocks) continue;
          expect(translate(twice, r)).toEqual(translate(materialized(written, twice.generation), r));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('any sequence of updates, resizes and freezes: every answer equals that of the same history with freezes written entry by entry', () => {
    type Op = { kind: 'set'; updates: { segment: number; entry: unknown }[] } | { kind: 'resize'; count: number } | { kind: 'freeze' } | { kind: 'generation' };
    const opArb = (sb: number): fc.Arbitrary<Op> =>
      fc.oneof(
        { arbitrary: fc.array(fc.record({ segment: fc.nat(799), entry: entrySpecArb(sb) }), { maxLength: 12 }).map((updates): Op => ({ kind: 'set', updates })), weight: 4 },
        { arbitrary: fc.integer({ min: 1, max: 800 }).map((count): Op => ({ kind: 'resize', count })), weight: 1 },
        { arbitrary: fc.constant<Op>({ kind: 'freeze' }), weight: 3 },
        { arbitrary: fc.constant<Op>({ kind: 'generation' }), weight: 1 },
      );
    const arb = tableArb({ segmentCount: fc.integer({ min: 1, max: 700 }), segmentBlocks: fc.integer({ min: 1, max: 24 }) }).chain((t) =>
      fc.tuple(fc.constant(t), fc.array(opArb(t.segmentBlocks), { minLength: 1, maxLength: 8 }), fc.array(requestArb(800 * t.segmentBlocks), { maxLength: 12 })),
    );
    fc.assert(
      fc.property(arb, ([t0, ops, requests]) => {
        let lazy = t0;
        let written = t0;
        const versions: [MappingTable, MappingTable][] = [[lazy, written]];
        for (const op of ops) {
          const g = lazy.generation + 1;
          if (op.kind === 'set') {
            const updates = op.updates.filter((u) => u.segment < lazy.segmentCount);
            lazy = right(setEntries(lazy, updates as never, { generation: g }));
            written = right(setEntries(written, updates as never, { generation: g }));
          } else if (op.kind === 'resize') {
            lazy = right(resizeTable(lazy, op.count, { zero: true }, { generation: g }));
            written = right(resizeTable(written, op.count, { zero: true }, { generation: g }));
          } else if (op.kind === 'freeze') {
            lazy = right(freezeTable(lazy, { generation: g }));
            written = materialized(written, g);
          } else {
            lazy = right(withGeneration(lazy, g));
            written = right(withGeneration(written, g));
          }
          versions.push([lazy, written]);
          expect(encodeTable(lazy)).toEqual(encodeTable(written));
          expect(encodeTableBinary(lazy)).toEqual(encodeTableBinary(written));
          expect(segmentsWithAlternate(lazy, F_NO_WRITE)).toEqual(segmentsWithAlternate(written, F_NO_WRITE));
          for (const r of requests) {
            if (r.start + r.length > lazy.segmentCount * lazy.segmentBlocks) continue;
            for (const variant of ['centralized', 'distributed'] as const) expect(translate(lazy, r, { variant })).toEqual(translate(written, r, { variant }));
          }
        }
        // Every pair of versions compares alike.
        for (const [a, wa] of versions)
          for (const [b, wb] of versions) {
            expect(diffTables(a, b)).toEqual(diffTables(wa, wb));
            if (a.segmentBlocks === b.segmentBlocks) {
              // Skipping a shared settled chunk gives what comparing its segments gives.
              expect(right(changedBlocks(a, b))).toEqual(right(changedBlocks(wa, wb)));
            }
          }
      }),
      { numRuns: 60 },
    );
  });

  it('takes a generation at least the table\'s, and answers Left naming the field and value otherwise', () => {
    const t = right(createTable({ segmentBlocks: 4, segmentCount: 3, generation: 5, entries: (s) => (s === 1 ? { zero: true } : { location: { lun: 1, start: s * 4 } }) }));
    expect(right(freezeTable(t, { generation: 5 })).generation).toBe(5);
    expect(right(freezeTable(t, { generation: 9 })).generation).toBe(9);
    for (const bad of [4, -1, 1.5, NaN, '6', null]) {
      const r = freezeTable(t, { generation: bad as number });
      expect(E.isLeft(r)).toBe(true);
      if (E.isLeft(r)) expect(r.left[0]).toMatchObject({ field: 'generation', value: bad });
    }
    const notTable = freezeTable({ segmentCount: 1 } as unknown as MappingTable);
    expect(E.isLeft(notTable) && notTable.left[0]!.field).toBe('table');
    const throwing = freezeTable(t, new Proxy({}, { get: () => { throw new Error('boom'); } }));
    expect(E.isLeft(throwing) && throwing.left[0]!.field).toBe('options');
  });
});
