/**
 * `movesBlocks` (src/controller/moves.ts) against the per-block definition: some readable block
 * of the old entry is read from somewhere else (or not at all) under the new one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../../src/bitmap/bitmap.js';
import { movesBlocks } from '../../src/controller/moves.js';
import type { MappingEntry } from '../../src/table/entry.js';
import { bitmapArb } from '../../src/testing/arbitraries.js';

const unwrap = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error('bitmap');
  return e.right;
};

/** Where a read of block `k` goes under `e`, or null when it faults or fails. */
const readTarget = (e: MappingEntry, k: number, grain = 1): string | null => {
  if (e.invalid || e.error) return null;
  if (e.alternate !== null && B.has(e.alternate.blocks, Math.floor(k / grain))) return `${e.alternate.lun}:${e.alternate.start + k}`;
  if (e.zero) return 'zero';
  return e.location === null ? null : `${e.location.lun}:${e.location.start + k}`;
};

const naiveMoves = (before: MappingEntry, after: MappingEntry, blocks: number, grain = 1): boolean => {
  for (let k = 0; k < blocks; k++) {
    const from = readTarget(before, k, grain);
    if (from !== null && from !== readTarget(after, k, grain)) return true;
  }
  return false;
};

// Few LUNs and starts, so that equal places are common.
const placeArb = fc.record({ lun: fc.integer({ min: 1, max: 2 }), start: fc.constantFrom(0, 1, 8, 16) });

const entryArb = (blocks: number): fc.Arbitrary<MappingEntry> =>
  fc.record({
    location: fc.option(placeArb, { nil: null }),
    invalid: fc.boolean(),
    noWrite: fc.boolean(),
    zero: fc.boolean(),
    error: fc.boolean(),
    alternate: fc.option(fc.tuple(placeArb, bitmapArb(blocks)).map(([p, blocks]) => ({ ...p, blocks })), { nil: null }),
  });

/** An entry and a second one made from it by the kind of change the controller stages (or by any change). */
const pairArb = fc.integer({ min: 1, max: 70 }).chain((blocks) =>
  entryArb(blocks).chain((before) =>
    fc.tuple(
      fc.constant(blocks),
      fc.constant(before),
      fc.oneof(
        entryArb(blocks),
        fc.constant({ ...before, invalid: true }),
        fc.constant(before),
        bitmapArb(blocks).map((b) => (before.alternate === null ? before : { ...before, alternate: { ...before.alternate, blocks: unwrap(B.union(before.alternate.blocks, b)) } })),
        fc.constant(before.alternate === null ? before : { ...before, location: { lun: before.alternate.lun, start: before.alternate.start }, alternate: null, noWrite: false, zero: false }),
      ),
    ),
  ),
);

describe('movesBlocks', () => {
  it('agrees with the per-block definition', () => {
    fc.assert(
      fc.property(pairArb, ([blocks, before, after]) => {
        expect(movesBlocks(before, after, blocks)).toBe(naiveMoves(before, after, blocks));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with the per-block definition on grained bitmaps (one bit per grain)', () => {
    fc.assert(
      fc.property(pairArb, fc.integer({ min: 2, max: 5 }), ([bits, before, after], grain) => {
        expect(movesBlocks(before, after, bits * grain, grain)).toBe(naiveMoves(before, after, bits * grain, grain));
      }),
      { numRuns: 2000 },
    );
  });

  it('a fence, a promotion of a full alternate and a grown alternate', () => {
    const full = { right: unwrap(B.full(8)) };
    const some = { right: unwrap(B.fromOffsets(8, [1, 2])) };
    const primary: MappingEntry = { location: { lun: 1, start: 0 }, invalid: false, noWrite: true, zero: false, error: false, alternate: null };
    expect(movesBlocks(primary, { ...primary, invalid: true }, 8)).toBe(true);
    const withAlt = { ...primary, alternate: { lun: 2, start: 8, blocks: some.right } };
    expect(movesBlocks(primary, withAlt, 8)).toBe(true);
    expect(movesBlocks(withAlt, { ...withAlt, alternate: { lun: 2, start: 8, blocks: full.right } }, 8)).toBe(true);
    const promoted: MappingEntry = { location: { lun: 2, start: 8 }, invalid: false, noWrite: false, zero: false, error: false, alternate: null };
    expect(movesBlocks({ ...withAlt, alternate: { lun: 2, start: 8, blocks: full.right } }, promoted, 8)).toBe(false);
    expect(movesBlocks({ ...primary, invalid: true }, withAlt, 8)).toBe(false);
  });

  it('ends, and answers as if the missing bits were clear, when a bitmap is shorter or longer than the segment (only an inconsistent table has one)', () => {
    const primary: MappingEntry = { location: { lun: 1, start: 0 }, invalid: false, noWrite: true, zero: false, error: false, alternate: null };
    const short = { ...primary, alternate: { lun: 2, start: 8, blocks: unwrap(B.full(4)) } };
    const long = { ...primary, alternate: { lun: 2, start: 8, blocks: unwrap(B.full(12)) } };
    expect(movesBlocks(short, short, 8)).toBe(false);
    expect(movesBlocks(short, { ...short, alternate: { lun: 2, start: 8, blocks: unwrap(B.full(8)) } }, 8)).toBe(true);
    expect(movesBlocks(long, long, 8)).toBe(false);
    expect(movesBlocks(short, long, 8)).toBe(true);
  });
});
