/**
 * Tests for bitmap grain (src/table/grain.ts, and one bit per grain in createTable, setEntries,
 * resizeTable, both codecs, translation, splitSegment / mergeSegments): each function against a
 * naive per-block model.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import type { Bitmap } from '../../src/bitmap/bitmap.js';
import { blocksOfGrains, grainsOfBlocks, partialGrain, roundToGrains, wholeGrains } from '../../src/table/grain.js';
import {
  decodeTableBinary,
  encodeTableBinary,
  TABLE_BINARY_BLOCK_GRAIN_VERSION,
  TABLE_BINARY_GRAIN_VERSION,
  TABLE_BINARY_VERSION,
} from '../../src/table/binary-codec.js';
import { decodeEntry, decodeTable, encodeEntry, encodeTable, encodeTableJson, TABLE_GRAIN_VERSION, TABLE_VERSION } from '../../src/table/codec.js';
import { crc32c } from '../../src/table/crc32c.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { createTable, entryAt, getEntry, resizeTable, setEntry, tableEntries, tablesEqual, withGeneration, type MappingTable } from '../../src/table/table.js';
import { freezeTable } from '../../src/table/freeze.js';
import { formatTable } from '../../src/table/format.js';
import { createVariableTable, mergeSegments, splitSegment } from '../../src/table/variable.js';
import { grainedTableArb } from '../../src/testing/arbitraries.js';

const right = <A>(e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: A }): A => {
  if (e._tag === 'Left') throw new Error(JSON.stringify(e.left));
  return e.right;
};

/** Geometry: a grain and a segment size it divides. */
const geometryArb = fc.integer({ min: 1, max: 8 }).chain((grain) => fc.integer({ min: 1, max: 8 }).map((n) => ({ grain, segmentBlocks: grain * n })));

/** The naive model: a grain is partial when some but not all of its blocks are set. */
const modelPartial = (offsets: ReadonlySet<number>, size: number, grain: number): number => {
  for (let g = 0; g < size; g += grain) {
    let set = 0;
    for (let k = g; k < g + grain; k++) if (offsets.has(k)) set++;
    if (set !== 0 && set !== grain) return g;
  }
  return -1;
};

const offsetsArb = geometryArb.chain(({ grain, segmentBlocks }) =>
  fc.uniqueArray(fc.integer({ min: 0, max: segmentBlocks - 1 })).map((offsets) => ({ grain, segmentBlocks, offsets })),
);

const bits = (b: Bitmap): boolean[] => Array.from({ length: b.size }, (_, k) => B.has(b, k));

describe('partialGrain (reading older per-block documents)', () => {
  it('finds the first partial grain, as the per-block model does', () => {
    fc.assert(
      fc.property(offsetsArb, ({ grain, segmentBlocks, offsets }) => {
        expect(partialGrain(right(B.fromOffsets(segmentBlocks, offsets)), grain)).toBe(modelPartial(new Set(offsets), segmentBlocks, grain));
      }),
    );
  });
});

describe('blocksOfGrains and grainsOfBlocks', () => {
  it('blocksOfGrains repeats each grain bit over its blocks; grainsOfBlocks sets a grain when any block is set', () => {
    fc.assert(
      fc.property(offsetsArb, ({ grain, segmentBlocks, offsets }) => {
        const blocks = right(B.fromOffsets(segmentBlocks, offsets));
        const grains = right(grainsOfBlocks(blocks, grain));
        expect(bits(grains)).toEqual(Array.from({ length: segmentBlocks / grain }, (_, j) => offsets.some((k) => Math.floor(k / grain) === j)));
        const back = right(blocksOfGrains(grains, grain));
        expect(bits(back)).toEqual(Array.from({ length: segmentBlocks }, (_, k) => B.has(grains, Math.floor(k / grain))));
        // Widening to whole grains is the same thing in blocks.
        expect(B.equals(back, wholeGrains(blocks, grain))).toBe(true);
        // One bit per grain round-trips exactly.
        expect(B.equals(right(grainsOfBlocks(back, grain)), grains)).toBe(true);
      }),
    );
  });

  it('documented examples', () => {
    expect(B.toOffsets(right(blocksOfGrains(right(B.fromOffsets(4, [1])), 4)))).toEqual([4, 5, 6, 7]);
    const g = right(grainsOfBlocks(right(B.fromOffsets(16, [5, 6])), 4));
    expect([g.size, B.toOffsets(g)]).toEqual([4, [1]]);
  });

  it('refuse bad arguments with a Left naming the argument and the value, never a throw', () => {
    const sixteen = right(B.fromOffsets(16, [5]));
    const fields = (r: E.Either<{ field: string; value: unknown }[], unknown>) => (E.isLeft(r) ? r.left.map((e) => [e.field, e.value]) : 'Right');
    expect(fields(grainsOfBlocks(sixteen, 3))).toEqual([['blocks', 16]]);
    expect(fields(grainsOfBlocks(sixteen, 0))).toEqual([['grainBlocks', 0]]);
    expect(fields(grainsOfBlocks([5] as never, 4))).toEqual([['blocks', [5]]]);
    expect(fields(blocksOfGrains(sixteen, 2.5))).toEqual([['grainBlocks', 2.5]]);
    expect(fields(blocksOfGrains(sixteen, B.MAX_BITMAP_SIZE))).toEqual([['grains', 16]]);
    expect(fields(blocksOfGrains(null as never, 4))).toEqual([['grains', null]]);
  });
});

describe('roundToGrains', () => {
  it('is the smallest whole-grain range covering the request', () => {
    fc.assert(
      fc.property(geometryArb, fc.nat(), fc.nat(), ({ grain, segmentBlocks }, a, b) => {
        const first = a % segmentBlocks;
        const count = 1 + (b % (segmentBlocks - first));
        const r = roundToGrains(first, count, grain);
        expect(r.first % grain).toBe(0);
        expect(r.count % grain).toBe(0);
        expect(r.first).toBeLessThanOrEqual(first);
        expect(r.first + r.count).toBeGreaterThanOrEqual(first + count);
        expect(r.first + r.count).toBeLessThanOrEqual(segmentBlocks); // grains divide the segment
        expect(first - r.first).toBeLessThan(grain);
        expect(r.first + r.count - (first + count)).toBeLessThan(grain);
      }),
    );
  });
});

describe('grainBlocks on tables: one bit per grain', () => {
  const entryWith = (grains: number[] | Bitmap): EntrySpec => ({ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: grains } });

  it('defaults to 1 and is kept by every update', () => {
    const t = right(createTable({ segmentBlocks: 8, grainBlocks: 4, entries: [{ zero: true }] }));
    expect(t.grainBlocks).toBe(4);
    const u = setEntry(t, 0, entryWith([1]));
    expect(E.isRight(u) && u.right.grainBlocks).toBe(4);
    const r = resizeTable(t, 3, { zero: true });
    expect(E.isRight(r) && r.right.grainBlocks).toBe(4);
    const g = withGeneration(t, 5);
    expect(E.isRight(g) && g.right.grainBlocks).toBe(4);
    const f = freezeTable(t);
    expect(E.isRight(f) && f.right.grainBlocks).toBe(4);
    const plain = createTable({ segmentBlocks: 8, entries: [{ zero: true }] });
    expect(E.isRight(plain) && plain.right.grainBlocks).toBe(1);
  });

  it('is refused unless a positive divisor of segmentBlocks, naming field and value', () => {
    for (const bad of [0, 3, -4, 2.5, 16, '4', null]) {
      const r = createTable({ segmentBlocks: 8, grainBlocks: bad as number, entries: [] });
      expect(E.isLeft(r) && r.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', bad]]);
    }
    const v = createVariableTable({ entries: [{ length: 8, zero: true }], grainBlocks: 4 } as never);
    expect(E.isLeft(v) && v.left.map((e) => e.field)).toEqual(['grainBlocks']);
  });

  it('keeps segmentBlocks / grainBlocks bits per bitmap: a 64 MiB segment of 4 KiB blocks with 32 KiB grains keeps 2,048 bits, not 16,384', () => {
    const t = right(createTable({ segmentBlocks: 16384, grainBlocks: 8, entries: [entryWith(right(B.fromRanges(2048, [{ start: 3, length: 2 }])))] }));
    const e = right(getEntry(t, 0));
    expect(e.alternate!.blocks.size).toBe(2048);
    expect(B.toOffsets(e.alternate!.blocks)).toEqual([3, 4]);
    // 128 KiB grains give the 512 bits of the figure.
    const coarse = right(createTable({ segmentBlocks: 16384, grainBlocks: 32, entries: [entryWith([0])] }));
    expect(right(getEntry(coarse, 0)).alternate!.blocks.size).toBe(512);
  });

  it('accepts an alternate bitmap exactly when it has one bit per grain, in createTable, setEntry and resizeTable', () => {
    fc.assert(
      fc.property(geometryArb, fc.integer({ min: 1, max: 64 }), ({ grain, segmentBlocks }, size) => {
        const entry = entryWith(right(B.empty(size)));
        const ok = size === segmentBlocks / grain;
        const created = createTable({ segmentBlocks, grainBlocks: grain, entries: [entry] });
        expect(E.isRight(created)).toBe(ok);
        if (E.isLeft(created)) {
          expect(created.left.map((e) => [e.field, e.value])).toEqual([['alternate.blocks', size]]);
          expect(created.left[0]!.message).toContain(grain > 1 ? `${segmentBlocks / grain} bits, one per grain of ${grain} blocks` : `${segmentBlocks} blocks`);
        }
        const base = right(createTable({ segmentBlocks, grainBlocks: grain, entries: [{ zero: true }] }));
        expect(E.isRight(setEntry(base, 0, entry))).toBe(ok);
        expect(E.isRight(resizeTable(base, 2, entry))).toBe(ok);
      }),
    );
  });

  it('reads an offsets list as grain numbers, refusing one past the last grain', () => {
    const t = right(createTable({ segmentBlocks: 16, grainBlocks: 4, entries: [entryWith([1, 3])] }));
    expect(B.toOffsets(right(getEntry(t, 0)).alternate!.blocks)).toEqual([1, 3]);
    const bad = createTable({ segmentBlocks: 16, grainBlocks: 4, entries: [entryWith([4])] });
    expect(E.isLeft(bad) && bad.left.map((e) => [e.field, e.value])).toEqual([['alternate.blocks[0]', 4]]);
  });

  it('formatTable shows one character per grain', () => {
    const t = right(createTable({ segmentBlocks: 16, grainBlocks: 4, entries: [entryWith([1])] }));
    expect(formatTable(t).split('\n')[1]).toMatch(/ 0100$/);
  });
});

describe('splitSegment and mergeSegments on a grained table', () => {
  it('refuse with a Left naming grainBlocks (a variable table has no grain)', () => {
    const t = right(createTable({ segmentBlocks: 8, grainBlocks: 4, entries: [{ zero: true }, { zero: true }] }));
    const split = splitSegment(t, 0, 4);
    expect(E.isLeft(split) && split.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', 4]]);
    const merged = mergeSegments(t, 0);
    expect(E.isLeft(merged) && merged.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', 4]]);
    // Grain 1 still splits and merges.
    const plain = right(createTable({ segmentBlocks: 8, entries: [{ zero: true }, { zero: true }] }));
    expect(E.isRight(splitSegment(plain, 0, 4)) && E.isRight(mergeSegments(plain, 0))).toBe(true);
  });
});

/** A grained table of 1..40 grains per segment, or of segments whose bitmaps are stored apart (over 1,024 grains). */
const anyGrainedArb = fc.oneof(
  { weight: 4, arbitrary: grainedTableArb({ maxStart: 3000 }) },
  { weight: 1, arbitrary: grainedTableArb({ grainsPerSegment: fc.constantFrom(1025, 1500), grainBlocks: fc.constantFrom(2, 3), segmentCount: fc.integer({ min: 1, max: 3 }) }) },
);

describe('grainBlocks in JSON documents', () => {
  it('round-trips; a grained table writes version 3 with bitmaps one bit per grain, a table without a grain version 1 as before', () => {
    fc.assert(
      fc.property(anyGrainedArb, (t) => {
        const doc = encodeTable(t);
        expect([doc.version, doc.grainBlocks]).toEqual([TABLE_GRAIN_VERSION, t.grainBlocks]);
        for (const [s, e] of doc.entries.entries())
          if (e.alternate) expect(e.alternate.blocks).toBe(B.format(entryAt(t, s).alternate!.blocks));
        const back = right(decodeTable(JSON.parse(JSON.stringify(doc))));
        expect(back.grainBlocks).toBe(t.grainBlocks);
        expect(tablesEqual(back, t)).toBe(true);
      }),
      { numRuns: 150 },
    );
    const plain = right(createTable({ segmentBlocks: 8, entries: [{ zero: true }] }));
    expect(encodeTableJson(plain)).toBe('{"format":"vdisk-map/table","version":1,"segmentBlocks":8,"segmentCount":1,"generation":0,"entries":[{"zero":true}]}');
  });

  /** The document an older release wrote for `t`: version 1, `grainBlocks`, bitmaps one bit per block. */
  const blockDocument = (t: MappingTable) => {
    const doc = encodeTable(t);
    return {
      ...doc,
      version: TABLE_VERSION,
      entries: doc.entries.map((e, s) =>
        e.alternate ? { ...e, alternate: { ...e.alternate, blocks: B.format(right(blocksOfGrains(entryAt(t, s).alternate!.blocks, t.grainBlocks))) } } : e,
      ),
    };
  };

  it('still reads a version 1 document with grainBlocks (one bit per block), converted to one bit per grain', () => {
    fc.assert(
      fc.property(grainedTableArb({ maxStart: 3000 }), (t) => {
        const back = right(decodeTable(JSON.parse(JSON.stringify(blockDocument(t)))));
        expect(tablesEqual(back, t)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a bad grain, a partial grain of an older document, or a bitmap of the wrong size, naming the field and the value', () => {
    const doc = { format: 'vdisk-map/table', version: 3, segmentBlocks: 8, grainBlocks: 3, segmentCount: 0, generation: 0, entries: [] };
    expect(E.isLeft(decodeTable(doc)) && right(E.swap(decodeTable(doc))).map((e) => [e.field, e.value])).toEqual([['grainBlocks', 3]]);
    for (const g of [1, undefined]) {
      const r = decodeTable({ ...doc, grainBlocks: g });
      expect(E.isLeft(r) && r.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', g]]);
    }
    const older = { ...doc, version: 1, grainBlocks: 4, segmentCount: 1, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: '0-1' } }] };
    const partial = decodeTable(older);
    expect(E.isLeft(partial) && partial.left.map((e) => [e.field, e.value])).toEqual([['entries[0].alternate.blocks', '0-1']]);
    expect(E.isLeft(partial) && partial.left[0]!.message).toContain('the grain at offset 0 is partial');
    expect(E.isRight(decodeTable({ ...older, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: '4-7' } }] }))).toBe(true);
    // Version 3: bits are grains; a grain past the last is refused with the bitmap text.
    const compact = { ...older, version: 3, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: '2' } }] };
    const past = decodeTable(compact);
    expect(E.isLeft(past) && past.left.map((e) => [e.field, e.value])).toEqual([['entries[0].alternate.blocks', '2']]);
    expect(E.isLeft(past) && past.left[0]!.message).toContain('bitmap of 2 grains');
    expect(B.toOffsets(right(getEntry(right(decodeTable({ ...compact, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: '1' } }] })), 0)).alternate!.blocks)).toEqual([1]);
    const variable = decodeTable({ format: 'vdisk-map/table', version: 2, segmentBlocks: 0, grainBlocks: 2, segmentLengths: [4], segmentCount: 1, generation: 0, entries: [{ zero: true }] });
    expect(E.isLeft(variable) && variable.left.map((e) => e.field)).toEqual(['grainBlocks']);
  });

  it('decodeEntry reads a grained entry one bit per grain', () => {
    const t = right(createTable({ segmentBlocks: 16, grainBlocks: 4, entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [1] } }] }));
    const doc = encodeEntry(entryAt(t, 0));
    expect(doc.alternate!.blocks).toBe('1');
    expect(B.toOffsets(right(decodeEntry(doc, 16, 0, 4)).alternate!.blocks)).toEqual([1]);
    expect(E.isLeft(decodeEntry(doc, 16, 0, 3)) && right(E.swap(decodeEntry(doc, 16, 0, 3)))[0]!.field).toBe('grainBlocks');
    // Read as a table without a grain, the text is a 16-block bitmap: block 1 only.
    expect(B.toOffsets(right(decodeEntry(doc, 16, 0)).alternate!.blocks)).toEqual([1]);
  });
});

describe('grainBlocks in the binary form', () => {
  const versionOf = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);

  it('round-trips as version 4, bitmaps one bit per grain; a table without a grain writes version 1 as before', () => {
    fc.assert(
      fc.property(anyGrainedArb, (t) => {
        const bytes = encodeTableBinary(t);
        expect(versionOf(bytes)).toBe(TABLE_BINARY_GRAIN_VERSION);
        const back = right(decodeTableBinary(bytes));
        expect(back.grainBlocks).toBe(t.grainBlocks);
        expect(tablesEqual(back, t)).toBe(true);
        // The same entries with grain 1 and the same bitmaps (one bit per grain read as one per
        // block of a segment that many blocks long) take the same bytes plus the grain word.
        const bitsPerSegment = t.segmentBlocks / t.grainBlocks;
        const entries = Array.from(tableEntries(t), ([, e]) => e);
        const same = right(createTable({ segmentBlocks: bitsPerSegment, generation: t.generation, entries }));
        expect(bytes.length).toBe(encodeTableBinary(same).length + 4);
      }),
      { numRuns: 150 },
    );
    expect(versionOf(encodeTableBinary(right(createTable({ segmentBlocks: 8, entries: [{ zero: true }] }))))).toBe(TABLE_BINARY_VERSION);
  });

  /** `bytes` with word `i` replaced (little-endian) and the checksum recomputed. */
  const withWordAndChecksum = (bytes: Uint8Array, i: number, value: number): Uint8Array => {
    const out = bytes.slice();
    const view = new DataView(out.buffer);
    view.setUint32(i * 4, value, true);
    view.setUint32(out.length - 4, crc32c(out, 0, out.length - 4), true);
    return out;
  };

  /** The version 3 bytes an older release wrote for `t`: version 1's layout, one bit per block, then the grain word. */
  const version3Bytes = (t: MappingTable): Uint8Array => {
    const perBlock = right(
      createTable({
        segmentBlocks: t.segmentBlocks,
        generation: t.generation,
        entries: Array.from(tableEntries(t), ([, e]) => (e.alternate === null ? e : { ...e, alternate: { ...e.alternate, blocks: right(blocksOfGrains(e.alternate.blocks, t.grainBlocks)) } })),
      }),
    );
    const v1 = encodeTableBinary(perBlock);
    const out = new Uint8Array(v1.length + 4);
    out.set(v1.subarray(0, v1.length - 4));
    const view = new DataView(out.buffer);
    view.setUint32(4, TABLE_BINARY_BLOCK_GRAIN_VERSION, true);
    view.setUint32(out.length - 8, t.grainBlocks, true);
    view.setUint32(out.length - 4, crc32c(out, 0, out.length - 4), true);
    return out;
  };

  it('still reads version 3 (one bit per block), converted to one bit per grain', () => {
    fc.assert(
      fc.property(anyGrainedArb, (t) => {
        const back = right(decodeTableBinary(version3Bytes(t)));
        expect(back.grainBlocks).toBe(t.grainBlocks);
        expect(tablesEqual(back, t)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a bad grain word, or a partial grain in version 3, naming the field and the value', () => {
    const t = right(createTable({ segmentBlocks: 8, grainBlocks: 4, entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [1] } }] }));
    for (const bytes of [encodeTableBinary(t), version3Bytes(t)]) {
      const grainWord = bytes.length / 4 - 2;
      for (const bad of [0, 1, 3, 16]) {
        const r = decodeTableBinary(withWordAndChecksum(bytes, grainWord, bad));
        expect(E.isLeft(r) && r.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', bad]]);
      }
      // Corruption of the grain word without a new checksum is a checksum error.
      const corrupt = bytes.slice();
      corrupt[grainWord * 4] = 2;
      const c = decodeTableBinary(corrupt);
      expect(E.isLeft(c) && c.left[0]!.field).toBe('checksum');
    }
    // Version 3: a grain of 2 makes the same blocks (4..7) whole; a grain of 8 makes them partial.
    const v3 = version3Bytes(t);
    const grainWord = v3.length / 4 - 2;
    const two = right(decodeTableBinary(withWordAndChecksum(v3, grainWord, 2)));
    expect(B.toOffsets(entryAt(two, 0).alternate!.blocks)).toEqual([2, 3]);
    const partial = decodeTableBinary(withWordAndChecksum(v3, grainWord, 8));
    expect(E.isLeft(partial) && partial.left.map((e) => [e.field, e.segment])).toEqual([['alternates[0].blocks', 0]]);
  });
});
