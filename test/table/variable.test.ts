/**
 * Tests for variable tables (src/table/variable.ts, src/table/segments.ts) and the variable path
 * of translation: every function checked against a naive per-block model, in which a table is
 * the list of its blocks, each with the entry and offset that decide it.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import { checkTables } from '../../src/check/check.js';
import { changedBlocks } from '../../src/table/changed-blocks.js';
import { formatTable } from '../../src/table/format.js';
import { entriesEqual, type MappingEntry } from '../../src/table/entry.js';
import { isVariableTable, segmentLength, segmentOfBlock, segmentStart, tableBlocks } from '../../src/table/segments.js';
import { createTable, diffTables, getEntry, resizeTable, setEntries, setEntry, tableEntries, tablesEqual, type MappingTable } from '../../src/table/table.js';
import { createVariableTable, mergeSegments, splitSegment } from '../../src/table/variable.js';
import { anyTableAndRequestArb, entrySpecArb, layoutVariableTableArb, requestArb, tableArb, variableTableArb } from '../../src/testing/arbitraries.js';
import { referenceBlockDecision, referenceTranslate, type BlockDecision } from '../../src/testing/reference.js';
import { PieceBuffer, STATUS_OK, translate, translateInto, type Op } from '../../src/translate/translate.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

/** The naive model: the lengths of the segments, summed from the first. */
const lengthsOf = (t: MappingTable): number[] => Array.from({ length: t.segmentCount }, (_, s) => right(segmentLength(t, s)));

/** The naive model: every block of the disk with its segment's entry and its offset in it. */
const blocksOf = (t: MappingTable): Array<{ entry: MappingEntry; offset: number; segment: number }> => {
  const out: Array<{ entry: MappingEntry; offset: number; segment: number }> = [];
  for (const [s, entry] of tableEntries(t)) {
    const n = right(segmentLength(t, s));
    for (let k = 0; k < n; k++) out.push({ entry, offset: k, segment: s });
  }
  return out;
};

/** Every block's decision for `op`, without segment numbers: what a host sees. */
const decisions = (t: MappingTable, op: Op): BlockDecision[] => blocksOf(t).map((b) => referenceBlockDecision(b.entry, b.offset, op, 'distributed'));

const sameBlocks = (a: MappingTable, b: MappingTable): void => {
  for (const op of ['read', 'write'] as const) expect(decisions(b, op)).toStrictEqual(decisions(a, op));
};

const variantArb = fc.constantFrom('centralized' as const, 'distributed' as const);

describe('createVariableTable', () => {
  it('builds the reference example: segments of 1000, 10 and 4 blocks', () => {
    const t = right(
      createVariableTable({
        entries: [
          { length: 1000, location: { lun: 1, start: 0 } },
          { length: 10, location: { lun: 1, start: 1000 }, alternate: { lun: 2, start: 0, blocks: [2, 7] } },
          { length: 4, zero: true },
        ],
      }),
    );
    expect([t.segmentBlocks, t.segmentCount, tableBlocks(t), isVariableTable(t)]).toStrictEqual([0, 3, 1014, true]);
    expect(lengthsOf(t)).toStrictEqual([1000, 10, 4]);
    expect([segmentStart(t, 2), segmentOfBlock(t, 1009), segmentOfBlock(t, 1010)]).toStrictEqual([E.right(1010), E.right(1), E.right(2)]);
    expect(segmentOfBlock(t, 1014)).toStrictEqual(E.left([expect.objectContaining({ field: 'block', value: 1014 })]));
    expect(right(getEntry(t, 1)).alternate!.blocks.size).toBe(10);
  });

  it('names the field and the value of a bad length or a bitmap of the wrong size', () => {
    const bad = createVariableTable({
      entries: [
        { length: 0, zero: true },
        { length: 2.5, zero: true },
        { length: 8, location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: B.fromOffsets(10, []) as never } },
        { zero: true } as never,
        { length: B.MAX_BITMAP_SIZE + 1, zero: true },
      ],
    });
    expect(E.isLeft(bad) && bad.left.map((e) => [e.segment, e.field, e.value])).toStrictEqual([
      [0, 'length', 0],
      [1, 'length', 2.5],
      [2, 'alternate.blocks', expect.anything()],
      [3, 'length', undefined],
      [4, 'length', B.MAX_BITMAP_SIZE + 1],
    ]);
    const bitmapOf10 = createVariableTable({ entries: [{ length: 8, zero: true, alternate: { lun: 2, start: 0, blocks: right(B.empty(10)) } }] });
    expect(E.isLeft(bitmapOf10) && bitmapOf10.left[0]).toMatchObject({ segment: 0, field: 'alternate.blocks', value: 10 });
    expect(createVariableTable({ entries: () => ({ length: 1, zero: true }) })).toStrictEqual(
      E.left([expect.objectContaining({ field: 'segmentCount', value: undefined })]),
    );
    expect(createVariableTable(null as never)).toStrictEqual(E.left([expect.objectContaining({ field: 'spec', value: null })]));
  });

  it('bounds queries agree with the summed lengths, and tableBlocks with their total', () => {
    fc.assert(
      fc.property(variableTableArb(), (t) => {
        const lengths = lengthsOf(t);
        let start = 0;
        lengths.forEach((n, s) => {
          expect(segmentStart(t, s)).toStrictEqual(E.right(start));
          for (const k of [0, n - 1]) expect(segmentOfBlock(t, start + k)).toStrictEqual(E.right(s));
          start += n;
        });
        expect(tableBlocks(t)).toBe(start);
      }),
      { numRuns: 300 },
    );
  });
});

describe('translation of variable tables', () => {
  it('equals the per-block reference translator for both kinds of table, in both variants', () => {
    fc.assert(
      fc.property(anyTableAndRequestArb(), variantArb, ([t, request], variant) => {
        const want = referenceTranslate(t, request, { variant });
        expect(translate(t, request, { variant })).toStrictEqual(want);
        const buf = new PieceBuffer(1);
        const status = translateInto(t, request.op, request.start, request.length, buf, variant);
        expect(status === STATUS_OK).toBe(E.isRight(want));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a request past the sum of the lengths', () => {
    const t = right(createVariableTable({ entries: [{ length: 3, zero: true }, { length: 5, zero: true }] }));
    expect(translate(t, { op: 'read', start: 7, length: 2 })).toStrictEqual(
      E.left(expect.objectContaining({ type: 'out-of-range', diskBlocks: 8 })),
    );
    expect(translate(t, { op: 'read', start: 7, length: 1 })).toStrictEqual(E.right([{ kind: 'zero', virtualStart: 7, length: 1 }]));
  });
});

describe('setEntry, resizeTable, diffTables on variable tables', () => {
  it('setEntry keeps every length, checks the bitmap against its own segment, and translates like the model', () => {
    fc.assert(
      fc.property(
        variableTableArb().chain((t) => fc.nat(t.segmentCount - 1).chain((s) => entrySpecArb(right(segmentLength(t, s))).map((e) => [t, s, e] as const))),
        ([t, s, spec]) => {
          const u = right(setEntry(t, s, spec));
          expect(lengthsOf(u)).toStrictEqual(lengthsOf(t));
          expect(diffTables(t, u).every((x) => x === s)).toBe(true);
          const want = blocksOf(t).map((b) => (b.segment === s ? { ...b, entry: right(getEntry(u, s)) } : b));
          expect(blocksOf(u).map((b) => [b.offset, b.segment])).toStrictEqual(want.map((b) => [b.offset, b.segment]));
          const n = right(segmentLength(t, s));
          const wrong = setEntry(t, s, { zero: true, alternate: { lun: 1, start: 0, blocks: right(B.empty(n + 1)) } });
          expect(E.isLeft(wrong) && wrong.left[0]).toMatchObject({ segment: s, field: 'alternate.blocks', value: n + 1 });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('resizeTable keeps the kept segments and appends fill.length-block ones; a variable fill needs a length', () => {
    fc.assert(
      fc.property(variableTableArb(), fc.nat(14), fc.integer({ min: 1, max: 40 }), (t, count, length) => {
        const u = right(resizeTable(t, count, { zero: true, length }));
        const kept = Math.min(count, t.segmentCount);
        expect(lengthsOf(u)).toStrictEqual([...lengthsOf(t).slice(0, kept), ...Array<number>(count - kept).fill(length)]);
        for (let s = 0; s < kept; s++) expect(entriesEqual(right(getEntry(u, s)), right(getEntry(t, s)))).toBe(true);
      }),
      { numRuns: 200 },
    );
    const t = right(createVariableTable({ entries: [{ length: 3, zero: true }] }));
    expect(resizeTable(t, 2, { zero: true })).toStrictEqual(E.left([expect.objectContaining({ field: 'fill.length', value: undefined })]));
  });

  it('tablesEqual tells tables of different bounds apart; diffTables reports every segment from the first differing bound', () => {
    const a = right(createVariableTable({ entries: [{ length: 2, zero: true }, { length: 3, zero: true }, { length: 4, zero: true }] }));
    const b = right(createVariableTable({ entries: [{ length: 2, zero: true }, { length: 4, zero: true }, { length: 3, zero: true }] }));
    const u = right(createTable({ segmentBlocks: 2, entries: [{ zero: true }, { zero: true }, { zero: true }] }));
    expect([tablesEqual(a, a), tablesEqual(a, b), tablesEqual(a, u)]).toStrictEqual([true, false, false]);
    expect(diffTables(a, b)).toStrictEqual([1, 2]);
    expect(diffTables(a, u)).toStrictEqual([1, 2]);
  });
});

describe('splitSegment and mergeSegments', () => {
  const splitArb = fc.oneof(tableArb({ segmentBlocks: fc.integer({ min: 2, max: 40 }) }), variableTableArb({ segmentLength: fc.integer({ min: 2, max: 40 }) })).chain((t) =>
    fc.nat(t.segmentCount - 1).chain((s) => fc.integer({ min: 1, max: right(segmentLength(t, s)) - 1 }).map((at) => [t, s, at] as const)),
  );

  it('a split maps every block as before, with the segment cut at `at`', () => {
    fc.assert(
      fc.property(splitArb, ([t, s, at]) => {
        const u = right(splitSegment(t, s, at));
        sameBlocks(t, u);
        const lengths = lengthsOf(t);
        lengths.splice(s, 1, at, lengths[s]! - at);
        expect(lengthsOf(u)).toStrictEqual(lengths);
        expect(u.generation).toBe(t.generation + 1);
        // Requests translate like the model, faults naming the new segment numbers.
        for (const r of fc.sample(requestArb(tableBlocks(u)), 5)) expect(translate(u, r)).toStrictEqual(referenceTranslate(u, r));
      }),
      { numRuns: 300 },
    );
  });

  it('merging the two halves of a split gives back the segment', () => {
    fc.assert(
      fc.property(splitArb, ([t, s, at]) => {
        const m = right(mergeSegments(right(splitSegment(t, s, at)), s));
        sameBlocks(t, m);
        expect(lengthsOf(m)).toStrictEqual(lengthsOf(t));
        for (let x = 0; x < t.segmentCount; x++) expect(entriesEqual(right(getEntry(m, x)), right(getEntry(t, x)))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('merges only neighbours whose flags match and whose extents continue each other, naming what stands in the way', () => {
    const t = right(
      createVariableTable({
        entries: [
          { length: 4, location: { lun: 1, start: 0 } },
          { length: 4, location: { lun: 1, start: 4 }, noWrite: true },
          { length: 4, location: { lun: 1, start: 9 }, noWrite: true },
          { length: 2, location: { lun: 1, start: 13 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [1] } },
        ],
      }),
    );
    const err = (x: E.Either<ReadonlyArray<{ field: string; value: unknown; segment?: number }>, unknown>) =>
      E.isLeft(x) ? x.left.map((e) => [e.segment, e.field, e.value]) : 'right';
    expect(err(mergeSegments(t, 0))).toStrictEqual([[1, 'noWrite', true]]);
    expect(err(mergeSegments(t, 1))).toStrictEqual([[2, 'location', { lun: 1, start: 9 }]]);
    expect(err(mergeSegments(t, 2))).toStrictEqual([[3, 'alternate', expect.objectContaining({ lun: 2, start: 0 })]]);
    expect(err(mergeSegments(t, 3))).toStrictEqual([[undefined, 'segment', 3]]);
    expect(err(splitSegment(t, 3, 2))).toStrictEqual([[undefined, 'at', 2]]);
    expect(err(splitSegment(t, 4, 1))).toStrictEqual([[undefined, 'segment', 4]]);
    const ok = right(mergeSegments(right(setEntry(t, 0, { location: { lun: 1, start: 0 }, noWrite: true })), 0));
    expect(lengthsOf(ok)).toStrictEqual([8, 4, 2]);
  });
});

describe('formatTable and checkTables on variable tables', () => {
  const t = right(
    createVariableTable({
      entries: [
        { length: 3, location: { lun: 1, start: 0 } },
        { length: 100, location: { lun: 1, start: 3 }, alternate: { lun: 2, start: 0, blocks: [2, 99] } },
        { length: 2, zero: true },
      ],
    }),
  );

  it('formatTable shows each segment with its own blocks, in both layouts', () => {
    expect(formatTable(t).split('\n').map((row) => row.split(/\s+/).slice(0, 6))).toStrictEqual([
      ['segment', 'virtual', 'lun', 'blocks', 'alt-lun', 'alt-blocks'],
      ['0', '0-2', '1', '0-2', '-', '-'],
      ['1', '3-102', '1', '3-102', '2', '0-99'],
      ['2', '103-104', '-', '-', '-', '-'],
    ]);
    expect(formatTable(t).split('\n')[2]!.endsWith('2,99')).toBe(true);
    expect(formatTable(t, { layout: 'split' }).split('\n\n')[1]!.split('\n')[1]!.split(/\s+/)).toStrictEqual(['0', '3-102', '2', '0-99', '2,99']);
  });

  it('checkTables finds nothing wrong in a variable table whose extents are laid out apart, and the overlap one moved extent makes', () => {
    fc.assert(
      fc.property(layoutVariableTableArb().chain((t) => fc.tuple(fc.constant(t), fc.nat(t.segmentCount - 1), fc.nat(t.segmentCount - 1))), ([t, a, b]) => {
        expect(checkTables({ vol: t }).counts.corruption).toBe(0);
        const ea = right(getEntry(t, a));
        const eb = right(getEntry(t, b));
        if (a === b || ea.location === null || eb.location === null) return;
        // Segment a's primary moved onto the last block of segment b's.
        const moved = { lun: eb.location.lun, start: eb.location.start + right(segmentLength(t, b)) - 1 };
        const report = checkTables({ vol: right(setEntry(t, a, { ...ea, location: moved })) });
        expect(report.findings.some((f) => f.severity === 'corruption' && f.lun === moved.lun && f.start === moved.start)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('checkTables measures each extent by its own segment: a 100-block segment overlaps what follows it on its LUN', () => {
    expect(checkTables({ vol: t }).counts.corruption).toBe(0);
    const clash = right(setEntry(t, 0, { location: { lun: 2, start: 99 } })); // block 99 of segment 1's alternate
    const report = checkTables({ vol: clash });
    expect(report.findings.map((f) => [f.code, f.segment, f.lun, f.start, f.length])).toStrictEqual([['alternate-overlaps-primary', 1, 2, 99, 1]]);
  });
});

describe('changedBlocks on variable tables', () => {
  /** The per-block rule of changedBlocks (see changed-blocks.test.ts), over each table's own bounds. */
  const naive = (older: MappingTable, newer: MappingTable): { changed: boolean; zero: boolean }[] => {
    const o = blocksOf(older);
    return blocksOf(newer).map((b, v) => {
      const n = referenceBlockDecision(b.entry, b.offset, 'read');
      const ob = o[v];
      if (ob === undefined || ob.segment >= older.segmentCount) return { changed: true, zero: n.kind === 'zero' };
      const od = referenceBlockDecision(ob.entry, ob.offset, 'read');
      const unchanged =
        (od.kind === 'zero' && n.kind === 'zero') ||
        (od.kind === 'primary' && n.kind === 'primary' && od.lun === n.lun && od.start === n.start && ob.entry.noWrite && b.entry.noWrite);
      return { changed: !unchanged, zero: n.kind === 'zero' };
    });
  };

  it('equals the per-block rule for a variable table and a later version of it (updated, grown or shrunk)', () => {
    const arb = variableTableArb({ luns: [1, 2], maxStart: 3 }).chain((t) =>
      fc.tuple(
        fc.constant(t),
        fc.array(fc.nat(t.segmentCount - 1).chain((s) => entrySpecArb(right(segmentLength(t, s)), { luns: [1, 2], maxStart: 3 }).map((entry) => ({ segment: s, entry }))), { maxLength: 4 }),
        fc.option(fc.tuple(fc.nat(16), fc.integer({ min: 1, max: 9 }))),
      ),
    );
    fc.assert(
      fc.property(arb, ([older, updates, resize]) => {
        let newer = right(setEntries(older, updates));
        if (resize !== null) newer = right(resizeTable(newer, resize[0], { zero: true, length: resize[1] }));
        const want = naive(older, newer).map((x) => (x.changed ? x : { changed: false, zero: false }));
        const got = Array.from({ length: tableBlocks(newer) }, () => ({ changed: false, zero: false }));
        for (const r of right(changedBlocks(older, newer))) for (let v = r.start; v < r.start + r.length; v++) got[v] = { changed: true, zero: r.zero };
        expect(got).toStrictEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses tables whose common segments were split or merged between them, naming the segment', () => {
    const t = right(createVariableTable({ entries: [{ length: 4, zero: true }, { length: 6, zero: true }] }));
    const split = right(splitSegment(t, 1, 2));
    const refused = changedBlocks(t, split);
    expect(E.isLeft(refused) && refused.left.map((e) => [e.field, e.value])).toStrictEqual([['newer segment 1 length', 2]]);
  });
});
