/**
 * Property tests for src/table/entry.ts against a naive reference model: an entry is a plain
 * object with the alternate's bitmap as a `boolean[]`, and validity is decided by a naive,
 * independent re-statement of docs/design.md#mapping-entries (shared with table.test.ts, in
 * entry-model.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import type { ValidationError } from '../../src/errors.js';
import { entriesEqual, lunSize, MAX_LUN, validateEntry, type LunSizes, type MappingEntry } from '../../src/table/entry.js';
import { entrySpecArb } from '../../src/testing/arbitraries.js';

import {
  anySpecArb,
  bitsOf,
  entryIs,
  expectErrors,
  goodSpecArb,
  lunSizesArb,
  MAX_LUN_ID,
  MAX_SAFE,
  MAX_SEGMENT_BLOCKS,
  modelEq,
  modelOf,
  modelOfEntry,
  naiveEntry,
  noThrow,
  right,
  specOfModel,
  tinySpecArb,
} from './entry-model.js';


/** Runs validateEntry with a pre-filled error list, which it must keep and only append to. */
const validate = (spec: unknown, sb: number, segment: number | undefined, sizes?: LunSizes) => {
  const prior: ValidationError = { field: 'prior', value: 1, message: 'prior problem' };
  const errors: ValidationError[] = [prior];
  const entry = noThrow(() => validateEntry(spec, sb, segment, errors, sizes));
  expect(errors[0]).toBe(prior);
  const fresh = errors.slice(1);
  for (const e of fresh) {
    expect(typeof e.message).toBe('string');
    expect(e.message).toContain(e.field);
    if (segment !== undefined) expect(e.message).toContain(`segment ${segment}`);
  }
  return { entry, errors: fresh };
};

const entryArbs = (sb: number) => fc.oneof(goodSpecArb(sb), entrySpecArb(sb));

// ---------------------------------------------------------------------------------------------
// validateEntry
// ---------------------------------------------------------------------------------------------

describe('validateEntry', () => {
  it('accepts exactly the valid specs and names segment, field and value of every problem', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((sb) =>
          fc.tuple(
            fc.constant(sb),
            anySpecArb(sb, { luns: [0, 1, 2, 3], maxStart: 60 }),
            fc.option(lunSizesArb([0, 1, 2, 3], 130), { nil: undefined }),
          ),
        ),
        fc.option(fc.nat(2 ** 32), { nil: undefined }),
        ([sb, spec, sizes], segment) => {
          const want = naiveEntry(spec, sb, segment, sizes);
          const got = validate(spec, sb, segment, sizes);
          if (want.entry !== undefined) {
            expect(got.errors).toEqual([]);
            expect(got.entry).toBeDefined();
            if (!entryIs(got.entry!, want.entry)) expect(modelOfEntry(got.entry!)).toEqual(want.entry);
          } else {
            expect(got.entry).toBeUndefined();
            expectErrors(got.errors, want.errors);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('accepts every spec of the arbitraries, and reads its own output back unchanged', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((sb) => fc.tuple(fc.constant(sb), entryArbs(sb))),
        ([sb, spec]) => {
          const want = modelOf(spec, sb);
          const e = validate(spec, sb, 3).entry!;
          expect(modelOfEntry(e)).toEqual(want);
          if (e.alternate !== null) expect(e.alternate.blocks.size).toBe(sb);
          // every MappingEntry is a valid EntrySpec
          const again = validate(e, sb, undefined).entry!;
          expect(entriesEqual(e, again)).toBe(true);
          expect(modelOfEntry(again)).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fills omitted fields with false and null and builds the documented example', () => {
    expect(validate({ zero: true }, 10, 0).entry).toEqual({
      location: null,
      invalid: false,
      noWrite: false,
      zero: true,
      error: false,
      alternate: null,
    });
    expect(validate({ invalid: true, location: null, alternate: null }, 10, 0).entry).toMatchObject({ invalid: true, location: null });
    const e = validate({ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } }, 10, 0).entry!;
    expect(modelOfEntry(e)).toEqual({
      location: { lun: 1, start: 0 },
      invalid: false,
      noWrite: false,
      zero: false,
      error: false,
      alternate: { lun: 2, start: 10, bits: [false, false, true, false, false, false, false, true, true, false] },
    });
  });

  it('rejects a non-invalid, non-zero entry without location', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.record({ noWrite: fc.boolean(), error: fc.boolean(), invalid: fc.constantFrom(false, undefined), zero: fc.constantFrom(false, undefined) }, { requiredKeys: [] }),
        fc.constantFrom(null, undefined),
        fc.boolean(),
        (sb, flags, location, withAlternate) => {
          const spec = { ...flags, location, ...(withAlternate ? { alternate: { lun: 0, start: 0, blocks: [0] } } : {}) };
          const got = validate(spec, sb, 5);
          expect(got.entry).toBeUndefined();
          expectErrors(got.errors, [{ segment: 5, field: 'location', value: null }]);
          // invalid or zero make the location optional
          expect(validate({ ...spec, invalid: true }, sb, 5).entry).toBeDefined();
          expect(validate({ ...spec, zero: true }, sb, 5).entry).toBeDefined();
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps LUN ids inside 0..2^32-1', () => {
    expect(MAX_LUN).toBe(MAX_LUN_ID);
    for (const where of ['location', 'alternate'] as const) {
      const spec = (lun: number) => ({ zero: true, [where]: { lun, start: 0, blocks: [0] } });
      expect(validate(spec(MAX_LUN_ID), 1, 0).entry![where]!.lun).toBe(MAX_LUN_ID);
      for (const lun of [MAX_LUN_ID + 1, 2 ** 40, MAX_SAFE]) {
        const got = validate(spec(lun), 1, 0);
        expect(got.entry).toBeUndefined();
        expectErrors(got.errors, [{ segment: 0, field: `${where}.lun`, value: lun }]);
      }
    }
  });

  it('requires the last block of every extent to be at most 2^53-1, exactly', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(2, 3, 4, MAX_SEGMENT_BLOCKS)),
        fc.nat(72),
        fc.constantFrom('location', 'alternate'),
        (sb, below, where) => {
          const start = MAX_SAFE - below;
          const spec = { zero: true, [where]: { lun: 0, start, blocks: [] } };
          const got = validate(spec, sb, undefined);
          if (below >= sb - 1) expect(got.entry![where]!.start).toBe(start);
          else expectErrors(got.errors, [{ field: `${where}.start`, value: start }]);
        },
      ),
      { numRuns: 300 },
    );
    // start + segmentBlocks - 1 = 2^53 once rounded back down looks safe; it is not
    expectErrors(validate({ location: { lun: 0, start: MAX_SAFE } }, 2, 1).errors, [{ segment: 1, field: 'location.start', value: MAX_SAFE }]);
  });

  it('checks extents against declared LUN sizes, as a Map or a Record', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.nat(5),
        fc.nat(100),
        fc.integer({ min: -2, max: 2 }),
        fc.constantFrom('location', 'alternate'),
        fc.boolean(),
        (sb, lun, start, slack, where, asMap) => {
          const size = Math.max(0, start + sb + slack);
          const pairs: [number, number][] = [[lun, size], [lun + 1, 0]];
          const sizes: LunSizes = asMap ? new Map(pairs) : Object.fromEntries(pairs);
          const spec = { zero: true, [where]: { lun, start, blocks: [0] } };
          const got = validate(spec, sb, 9, sizes);
          if (slack >= 0) expect(got.entry![where]).toMatchObject({ lun, start });
          else expectErrors(got.errors, [{ segment: 9, field: where, value: { lun, start } }]);
          // a LUN that is not declared
          const other = validate({ zero: true, [where]: { lun: lun + 2, start, blocks: [0] } }, sb, 9, sizes);
          expectErrors(other.errors, [{ segment: 9, field: `${where}.lun`, value: lun + 2 }]);
          // a declared LUN of size 0 holds nothing
          const empty = validate({ zero: true, [where]: { lun: lun + 1, start: 0, blocks: [0] } }, sb, 9, sizes);
          expectErrors(empty.errors, [{ segment: 9, field: where, value: { lun: lun + 1, start: 0 } }]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not alias the caller’s location and alternate objects', () => {
    const spec = { location: { lun: 1, start: 2 }, alternate: { lun: 3, start: 4, blocks: [0, 1] } };
    const e = validate(spec, 4, 0).entry!;
    spec.location.lun = 9;
    spec.alternate.start = 99;
    spec.alternate.blocks.push(3);
    expect(e.location).toEqual({ lun: 1, start: 2 });
    expect(e.alternate?.start).toBe(4);
    expect(bitsOf(e.alternate!.blocks)).toEqual([true, true, false, false]);
  });
});

// ---------------------------------------------------------------------------------------------
// lunSize
// ---------------------------------------------------------------------------------------------

describe('lunSize', () => {
  it('reads Map and Record forms alike', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.nat(20), fc.nat(10 ** 9)), { selector: ([l]) => l, maxLength: 6 }), fc.nat(22), (pairs, lun) => {
        const want = pairs.find(([l]) => l === lun)?.[1];
        expect(lunSize(new Map(pairs), lun)).toBe(want);
        expect(lunSize(Object.fromEntries(pairs), lun)).toBe(want);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// entriesEqual
// ---------------------------------------------------------------------------------------------

const build = (spec: unknown, sb: number): MappingEntry => {
  const errors: ValidationError[] = [];
  const e = validateEntry(spec, sb, undefined, errors);
  if (e === undefined) throw new Error(`test bug: ${JSON.stringify(errors)}`);
  return e;
};

describe('entriesEqual', () => {
  it('agrees with a naive deep comparison, and is reflexive and symmetric', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3).chain((sb) =>
          fc.tuple(
            fc.constant(sb),
            tinySpecArb(sb),
            fc.oneof(fc.constant(sb), fc.constantFrom(1, 2, 3)).chain((sb2) => fc.tuple(fc.constant(sb2), tinySpecArb(sb2))),
            fc.constantFrom('copy', 'copy-bitmap', 'other'),
          ),
        ),
        ([sb, specA, [sb2, specB], how]) => {
          const ma = modelOf(specA, sb);
          const [mb, b] =
            how === 'other'
              ? [modelOf(specB, sb2), build(specB, sb2)]
              : [ma, build(specOfModel(ma, how === 'copy-bitmap'), sb)];
          const a = build(specA, sb);
          expect(entriesEqual(a, b)).toBe(modelEq(ma, mb));
          expect(entriesEqual(b, a)).toBe(modelEq(ma, mb));
          expect(entriesEqual(a, a)).toBe(true);
          expect(entriesEqual(a, { ...a })).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('tells apart entries that differ in any single field', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((sb) => fc.tuple(fc.constant(sb), entryArbs(sb), fc.nat(sb - 1))),
        ([sb, spec, k]) => {
          const e = build(spec, sb);
          const variants: MappingEntry[] = [
            { ...e, invalid: !e.invalid },
            { ...e, noWrite: !e.noWrite },
            { ...e, zero: !e.zero },
            { ...e, error: !e.error },
            { ...e, location: e.location === null ? { lun: 0, start: 0 } : null },
          ];
          if (e.location !== null) {
            variants.push({ ...e, location: { ...e.location, lun: e.location.lun === 0 ? 1 : e.location.lun - 1 } });
            variants.push({ ...e, location: { ...e.location, start: e.location.start === 0 ? 1 : e.location.start - 1 } });
          }
          const bits = e.alternate === null ? new Array<boolean>(sb).fill(false) : bitsOf(e.alternate.blocks);
          const flipped = bits.map((x, i) => (i === k ? !x : x));
          const bitmap = (bs: boolean[]) => right(B.fromOffsets(bs.length, bs.flatMap((x, i) => (x ? [i] : []))));
          if (e.alternate === null) {
            variants.push({ ...e, alternate: { lun: 0, start: 0, blocks: bitmap(bits) } });
          } else {
            const a = e.alternate;
            variants.push({ ...e, alternate: null });
            variants.push({ ...e, alternate: { ...a, lun: a.lun === 0 ? 1 : a.lun - 1 } });
            variants.push({ ...e, alternate: { ...a, start: a.start === 0 ? 1 : a.start - 1 } });
            variants.push({ ...e, alternate: { ...a, blocks: bitmap(flipped) } });
            variants.push({ ...e, alternate: { ...a, blocks: bitmap([...bits, false]) } });
            // same bits in a new bitmap object: still equal
            expect(entriesEqual(e, { ...e, alternate: { ...a, blocks: bitmap(bits) } })).toBe(true);
          }
          for (const v of variants) {
            expect(entriesEqual(e, v)).toBe(false);
            expect(entriesEqual(v, e)).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
