/**
 * Fuzz: every bitmap function that answers an Either answers one for any input.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import { expectEither, hostileArb, hostileProperty, noThrow, plant, RUNS } from './hostile.js';

const ten = E.getOrElseW(() => expect.fail('fixture'))(B.fromOffsets(10, [2, 7, 8])) as B.Bitmap;
const valid = (b: B.Bitmap): boolean => B.isBitmap(b);
const anyBitmap = fc.oneof({ weight: 2, arbitrary: fc.constant(ten) }, { weight: 1, arbitrary: hostileArb });
const anySize = fc.oneof(fc.integer({ min: 1, max: 64 }), hostileArb);

describe('fuzz: bitmaps', () => {
  it('constructors: empty, full, fromOffsets, fromRanges, parse', () => {
    fc.assert(
      hostileProperty(anySize, fc.oneof(plant([1, 3]), hostileArb), fc.oneof(plant([{ start: 1, length: 2 }]), hostileArb), fc.oneof(fc.constant('2,7-8'), hostileArb), (size, offsets, ranges, text) => {
        expectEither(noThrow(() => B.empty(size as never)), valid);
        expectEither(noThrow(() => B.full(size as never)), valid);
        expectEither(noThrow(() => B.fromOffsets(size as never, offsets as never)), valid);
        expectEither(noThrow(() => B.fromRanges(size as never, ranges as never)), valid);
        expectEither(noThrow(() => B.parse(size as never, text as never)), valid);
      }),
      { numRuns: RUNS },
    );
  });

  it('setRange, clearRange, runs, forEachRun, union, intersection, difference', () => {
    fc.assert(
      hostileProperty(anyBitmap, anyBitmap, fc.oneof(fc.nat(12), hostileArb), fc.oneof(fc.nat(12), hostileArb), fc.oneof(fc.constant(() => {}), hostileArb), (a, b, start, length, visit) => {
        expectEither(noThrow(() => B.setRange(a as never, start as never, length as never)), valid);
        expectEither(noThrow(() => B.clearRange(a as never, start as never, length as never)), valid);
        expectEither(noThrow(() => B.runs(a as never, start as never, length as never)), Array.isArray);
        expectEither(noThrow(() => B.forEachRun(a as never, visit as never, start as never, length as never)), Number.isSafeInteger);
        expectEither(noThrow(() => B.union(a as never, b as never)), valid);
        expectEither(noThrow(() => B.intersection(a as never, b as never)), valid);
        expectEither(noThrow(() => B.difference(a as never, b as never)), valid);
      }),
      { numRuns: RUNS },
    );
  });

  it('isBitmap answers a boolean for anything, and true only for bitmaps that keep their invariants', () => {
    fc.assert(
      hostileProperty(hostileArb, (v) => {
        expect(noThrow(() => B.isBitmap(v))).toBe(false);
      }),
      { numRuns: RUNS },
    );
    expect(B.isBitmap(ten)).toBe(true);
    // The internal wrapper can still build a broken one; isBitmap refuses it.
    expect(B.isBitmap(B.unsafeFromWords(10, new Uint32Array([0xffffffff])))).toBe(false);
    expect(B.isBitmap(B.unsafeFromWords(10, new Uint32Array(2)))).toBe(false);
    expect(B.isBitmap(B.unsafeFromWords(32, new Uint32Array([0xffffffff])))).toBe(true);
  });
});
