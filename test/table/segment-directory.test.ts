/**
 * Tests for the directory of a variable table's boundary index (src/table/segment-directory.ts):
 * the segment it finds for every block against a linear walk of the lengths, its size, and that
 * every constructor builds one for its boundary index while updates share both.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeTableBinary, encodeTableBinary } from '../../src/table/binary-codec.js';
import { decodeTableJson, encodeTableJson } from '../../src/table/codec.js';
import { directoryOf, segmentInDirectory, SEGMENTS_PER_BUCKET } from '../../src/table/segment-directory.js';
import { segmentIn, segmentOfBlock, startsFromLengths, tableBlocks } from '../../src/table/segments.js';
import { createTable, freezeTable, resizeTable, setEntry, withGeneration, type MappingTable } from '../../src/table/table.js';
import { createVariableTable, mergeSegments, splitSegment } from '../../src/table/variable.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left).slice(0, 300)}`);
  return e.right;
};

/** Lengths of every shape: ones, equal runs, tiny next to huge, random. */
const lengthsArb = fc.oneof(
  fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 700 }),
  fc.array(fc.constantFrom(1, 2, 3), { minLength: 1, maxLength: 700 }),
  fc.tuple(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 64 })).map(([n, l]) => Array.from({ length: n }, () => l)),
  fc.array(fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 1, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1 << 24 }) }), {
    minLength: 1,
    maxLength: 500,
  }),
);

/** The naive model: the segment of block `v`, walking the lengths from the first. */
const naiveSegment = (lengths: ReadonlyArray<number>, v: number): number => {
  let first = 0;
  for (let s = 0; s < lengths.length; s++) {
    first += lengths[s]!;
    if (v < first) return s;
  }
  throw new Error(`block ${v} is past the disk`);
};

/** Blocks worth checking: the first and last of every segment and of every bucket, and a few more. */
const probes = (starts: Float64Array, count: number, bucketBlocks: number): number[] => {
  const blocks = starts[count]!;
  const out = new Set<number>([0, blocks - 1]);
  for (let s = 0; s < count; s++) for (const v of [starts[s]!, starts[s + 1]! - 1]) out.add(v);
  for (let b = 0; b * bucketBlocks < blocks && out.size < 4000; b++) for (const v of [b * bucketBlocks - 1, b * bucketBlocks, b * bucketBlocks + 1]) out.add(v);
  return [...out].filter((v) => v >= 0 && v < blocks);
};

describe('the directory of a boundary index', () => {
  it('finds the segment of every block as a walk of the lengths does (and as a bisection of the whole index)', () => {
    fc.assert(
      fc.property(lengthsArb, (lengths) => {
        const starts = startsFromLengths(lengths);
        const count = lengths.length;
        const d = directoryOf(starts, count);
        for (const v of probes(starts, count, d.bucketBlocks)) {
          const want = naiveSegment(lengths, v);
          expect(segmentInDirectory(starts, d, v)).toBe(want);
          expect(segmentIn(starts, count, v)).toBe(want);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('has power-of-two buckets spanning at least SEGMENTS_PER_BUCKET mean segments: at most one entry per 4 segments, plus one', () => {
    fc.assert(
      fc.property(lengthsArb, (lengths) => {
        const starts = startsFromLengths(lengths);
        const count = lengths.length;
        const blocks = starts[count]!;
        const d = directoryOf(starts, count);
        expect(Number.isInteger(Math.log2(d.bucketBlocks))).toBe(true);
        expect(d.bucketBlocks * count).toBeGreaterThanOrEqual(SEGMENTS_PER_BUCKET * blocks);
        expect(d.bucketBlocks === 1 || (d.bucketBlocks / 2) * count < SEGMENTS_PER_BUCKET * blocks).toBe(true); // the smallest such power
        expect(d.first.length).toBe(Math.ceil(blocks / d.bucketBlocks) + 1);
        expect(d.first.length).toBeLessThanOrEqual(Math.ceil(count / SEGMENTS_PER_BUCKET) + 1);
        expect(d.first[d.first.length - 1]).toBe(count - 1);
      }),
      { numRuns: 300 },
    );
  });

  it('is built for an empty index, and answers nothing that it is asked for then', () => {
    const d = directoryOf(new Float64Array(1), 0);
    expect(Array.from(d.first)).toStrictEqual([0]);
    const t = right(createVariableTable({ entries: [] }));
    expect(t.segmentDirectory).not.toBeNull();
    expect(tableBlocks(t)).toBe(0);
  });
});

describe('tables and their directories', () => {
  const entries = Array.from({ length: 700 }, (_, s) => ({ length: 1 + ((s * 37) % 50), location: { lun: 1, start: 100 * s } }));
  const t = right(createVariableTable({ entries }));

  const expectDirectoryOf = (u: MappingTable): void => {
    expect(u.segmentStarts).not.toBeNull();
    expect(u.segmentDirectory).toStrictEqual(directoryOf(u.segmentStarts!, u.segmentCount));
  };

  it('every constructor builds the directory of its boundary index; uniform tables have none', () => {
    expectDirectoryOf(t);
    expectDirectoryOf(right(decodeTableJson(encodeTableJson(t))));
    expectDirectoryOf(right(decodeTableBinary(encodeTableBinary(t))));
    expectDirectoryOf(right(splitSegment(t, 301, 1)));
    expectDirectoryOf(right(mergeSegments(right(splitSegment(t, 301, 1)), 301)));
    expectDirectoryOf(right(resizeTable(t, 900, { zero: true, length: 5 })));
    expectDirectoryOf(right(splitSegment(right(createTable({ segmentBlocks: 8, segmentCount: 600, entries: () => ({ zero: true }) })), 599, 3)));
    const uniform = right(createTable({ segmentBlocks: 8, segmentCount: 600, entries: () => ({ zero: true }) }));
    expect(uniform.segmentDirectory).toBeNull();
    expect(right(decodeTableBinary(encodeTableBinary(uniform))).segmentDirectory).toBeNull();
    expect(right(resizeTable(uniform, 700, { zero: true })).segmentDirectory).toBeNull();
  });

  it('versions that keep the boundaries share the directory with it (never copied or rebuilt)', () => {
    for (const u of [right(setEntry(t, 5, { zero: true })), right(freezeTable(t)), right(withGeneration(t, 9))]) {
      expect(u.segmentStarts).toBe(t.segmentStarts);
      expect(u.segmentDirectory).toBe(t.segmentDirectory);
    }
  });

  it('segmentOfBlock answers through it as the lengths say', () => {
    let first = 0;
    for (let s = 0; s < t.segmentCount; s++) {
      const length = entries[s]!.length;
      expect(segmentOfBlock(t, first)).toStrictEqual(E.right(s));
      expect(segmentOfBlock(t, first + length - 1)).toStrictEqual(E.right(s));
      first += length;
    }
    expect(E.isLeft(segmentOfBlock(t, first))).toBe(true);
  });
});
