/**
 * Property tests for src/bitmap/bitmap.ts against a naive reference model: a plain `boolean[]`
 * with one entry per block.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as publicBitmap from '../../src/bitmap/index.js';
import { bitmap as exported } from '../../src/index.js';
import * as B from '../../src/bitmap/bitmap.js';
import type { ValidationError } from '../../src/errors.js';

type Model = boolean[];
type Result<T> = E.Either<ValidationError[], T>;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const right = <T>(e: Result<T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

const left = <T>(e: Result<T>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  expect(e.left.length).toBeGreaterThan(0);
  for (const err of e.left) {
    expect(typeof err.field).toBe('string');
    expect(typeof err.message).toBe('string');
    expect(err.message).toContain(err.field);
  }
  return e.left;
};

/** Reads bit k straight from the words, independently of `B.has`. */
const bit = (b: B.Bitmap, k: number): boolean => ((b.words[k >>> 5]! >>> (k & 31)) & 1) === 1;

const bitsOf = (b: B.Bitmap): Model => Array.from({ length: b.size }, (_, k) => bit(b, k));

/** Structural invariants every bitmap must satisfy, including "bits past `size` are zero". */
const expectWellFormed = (b: B.Bitmap, size: number): void => {
  expect(B.isBitmap(b)).toBe(true);
  expect(b.size).toBe(size);
  expect(b.words).toBeInstanceOf(Uint32Array);
  expect(b.words.length).toBe(Math.ceil(size / 32));
  const r = size % 32;
  if (r !== 0) expect(b.words[b.words.length - 1]! >>> r).toBe(0);
};

const expectMatches = (b: B.Bitmap, model: Model): void => {
  expectWellFormed(b, model.length);
  expect(bitsOf(b)).toEqual(model);
};

const snapshot = (b: B.Bitmap) => ({ size: b.size, words: Array.from(b.words) });

/** Builds a bitmap from a model through fromOffsets (itself checked against the model below). */
const fromModel = (model: Model): B.Bitmap => {
  const offsets: number[] = [];
  model.forEach((v, k) => {
    if (v) offsets.push(k);
  });
  return right(B.fromOffsets(model.length, offsets));
};

const modelOffsets = (model: Model): number[] => model.flatMap((v, k) => (v ? [k] : []));

const modelRuns = (model: Model, from: number, to: number): B.BitRun[] => {
  const out: B.BitRun[] = [];
  let k = from;
  while (k < to) {
    const set = model[k]!;
    let j = k;
    while (j < to && model[j] === set) j++;
    out.push({ start: k, length: j - k, set });
    k = j;
  }
  return out;
};

const modelFormat = (model: Model): string =>
  modelRuns(model, 0, model.length)
    .filter((r) => r.set)
    .map((r) => (r.length === 1 ? `${r.start}` : `${r.start}-${r.start + r.length - 1}`))
    .join(',');

const isValidRange = (size: number, start: unknown, length: unknown): boolean =>
  typeof start === 'number' &&
  typeof length === 'number' &&
  Number.isSafeInteger(start) &&
  Number.isSafeInteger(length) &&
  start >= 0 &&
  length >= 0 &&
  start + length <= size;

/** Checks the errors of a range check named `field` are exactly the expected ones. */
const expectRangeErrors = (errors: ValidationError[], field: string, size: number, start: unknown, length: unknown) => {
  const startOk = typeof start === 'number' && Number.isSafeInteger(start) && start >= 0 && start <= size;
  const lengthOk = typeof length === 'number' && Number.isSafeInteger(length) && length >= 0;
  const expected: string[] = [];
  if (!startOk) expected.push(`${field}.start`);
  if (!lengthOk) expected.push(`${field}.length`);
  if (startOk && lengthOk) expected.push(field);
  expect(errors.map((e) => e.field).sort()).toEqual(expected.sort());
  for (const e of errors) {
    if (e.field === `${field}.start`) expect(Object.is(e.value, start)).toBe(true);
    else if (e.field === `${field}.length`) expect(Object.is(e.value, length)).toBe(true);
    else expect(e.value).toEqual({ start, length });
  }
};

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const BOUNDARY_SIZES = [1, 2, 31, 32, 33, 63, 64, 65, 95, 96, 97, 128] as const;

const smallSizeArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 300 }) },
  { weight: 2, arbitrary: fc.constantFrom(...BOUNDARY_SIZES) },
);
const bigSizeArb = fc.constantFrom(4096, 65536);
const sizeArb = fc.oneof({ weight: 12, arbitrary: smallSizeArb }, { weight: 1, arbitrary: bigSizeArb });

/** `{ start, length }` with `0 <= start <= start + length <= size`. */
const rangeIn = (size: number) =>
  fc
    .tuple(fc.nat(size), fc.nat(size))
    .map(([a, b]) => (a <= b ? { start: a, length: b - a } : { start: b, length: a - b }));

/** Short ranges, for big sparse bitmaps. */
const shortRangeIn = (size: number) =>
  fc
    .tuple(fc.nat(size), fc.nat(200))
    .map(([start, len]) => ({ start, length: Math.min(len, size - start) }));

const applyRanges = (size: number, ranges: ReadonlyArray<{ start: number; length: number }>, value: boolean, base: boolean) => {
  const model: Model = new Array<boolean>(size).fill(base);
  for (const r of ranges) for (let k = r.start; k < r.start + r.length; k++) model[k] = value;
  return model;
};

const sparseModel = (size: number) =>
  fc
    .tuple(
      fc.array(fc.nat(size - 1), { maxLength: 40 }),
      fc.array(shortRangeIn(size), { maxLength: 4 }),
      fc.boolean(),
    )
    .map(([offsets, ranges, inverted]) => {
      const model = applyRanges(size, ranges, !inverted, inverted);
      for (const k of offsets) model[k] = !inverted;
      return model;
    });

const modelOfSize = (size: number): fc.Arbitrary<Model> =>
  size > 400
    ? sparseModel(size)
    : fc.oneof(
        { weight: 4, arbitrary: fc.array(fc.boolean(), { minLength: size, maxLength: size }) },
        {
          weight: 3,
          arbitrary: fc
            .tuple(fc.array(rangeIn(size), { maxLength: 6 }), fc.boolean())
            .map(([ranges, inv]) => applyRanges(size, ranges, !inv, inv)),
        },
        { weight: 1, arbitrary: sparseModel(size) },
        { weight: 1, arbitrary: fc.constantFrom(false, true).map((v) => new Array<boolean>(size).fill(v)) },
      );

const modelArb = sizeArb.chain(modelOfSize);
const smallModelArb = smallSizeArb.chain(modelOfSize);

/** A model plus a valid sub-range of it. */
const modelWithRangeArb = modelArb.chain((model) =>
  fc.record({ model: fc.constant(model), range: rangeIn(model.length) }),
);

/** Two models of the same size. */
const modelPairArb = sizeArb.chain((size) => fc.tuple(modelOfSize(size), modelOfSize(size)));

/** Numbers (and non-numbers) that are not valid offsets / range bounds anywhere. */
const junkNumberArb: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  NaN,
  Infinity,
  -Infinity,
  0.5,
  -0.5,
  1.5,
  -1,
  -32,
  2 ** 53,
  -(2 ** 53),
  '3',
  null,
  undefined,
  {},
);

/** A start or length that may or may not be valid for a bitmap of `size` blocks. */
const maybeBadIntArb = (size: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: -3, max: size + 3 }) },
    { weight: 1, arbitrary: fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 32, -0) },
    { weight: 2, arbitrary: junkNumberArb },
  );

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const badSizes: unknown[] = [0, -1, 1.5, NaN, Infinity, -Infinity, B.MAX_BITMAP_SIZE + 1, 2 ** 53, '8', null, undefined];

describe('empty / full', () => {
  it('empty(size) has no bit set and full(size) has every bit set', () => {
    fc.assert(
      fc.property(sizeArb, (size) => {
        const e = right(B.empty(size));
        const f = right(B.full(size));
        expectMatches(e, new Array<boolean>(size).fill(false));
        expectMatches(f, new Array<boolean>(size).fill(true));
        expect(B.count(e)).toBe(0);
        expect(B.count(f)).toBe(size);
        expect(B.isEmpty(e)).toBe(true);
        expect(B.isFull(f)).toBe(true);
        expect(B.isFull(e)).toBe(false);
        expect(B.isEmpty(f)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts MAX_BITMAP_SIZE and rejects invalid sizes naming field and value', () => {
    expectWellFormed(right(B.empty(B.MAX_BITMAP_SIZE)), B.MAX_BITMAP_SIZE);
    const f = right(B.full(B.MAX_BITMAP_SIZE));
    expectWellFormed(f, B.MAX_BITMAP_SIZE);
    expect(B.count(f)).toBe(B.MAX_BITMAP_SIZE);
    for (const size of badSizes) {
      for (const result of [
        B.empty(size as number),
        B.full(size as number),
        B.fromOffsets(size as number, []),
        B.fromRanges(size as number, []),
        B.parse(size as number, ''),
      ]) {
        const errors = left(result);
        expect(errors).toHaveLength(1);
        expect(errors[0]!.field).toBe('size');
        expect(Object.is(errors[0]!.value, size)).toBe(true);
      }
    }
  });
});

describe('fromOffsets', () => {
  it('sets exactly the given offsets (duplicates allowed)', () => {
    fc.assert(
      fc.property(
        sizeArb.chain((size) => fc.tuple(fc.constant(size), fc.array(fc.nat(size - 1), { maxLength: 80 }))),
        ([size, offsets]) => {
          const model = new Array<boolean>(size).fill(false);
          for (const k of offsets) model[k] = true;
          const input = offsets.slice();
          expectMatches(right(B.fromOffsets(size, offsets)), model);
          expect(offsets).toEqual(input);
        },
      ),
    );
  });

  it('rejects every invalid offset, naming offsets[i] and the value', () => {
    fc.assert(
      fc.property(
        smallSizeArb.chain((size) =>
          fc.tuple(
            fc.constant(size),
            fc.array(
              fc.oneof(
                { weight: 3, arbitrary: fc.nat(size - 1) as fc.Arbitrary<unknown> },
                { weight: 1, arbitrary: junkNumberArb },
                { weight: 1, arbitrary: fc.integer({ min: size, max: size + 40 }) as fc.Arbitrary<unknown> },
              ),
              { maxLength: 20 },
            ),
          ),
        ),
        ([size, offsets]) => {
          const bad = offsets.flatMap((k, i) =>
            typeof k === 'number' && Number.isSafeInteger(k) && k >= 0 && k < size ? [] : [i],
          );
          const result = B.fromOffsets(size, offsets as number[]);
          if (bad.length === 0) {
            expect(E.isRight(result)).toBe(true);
            return;
          }
          const errors = left(result);
          expect(errors.map((e) => e.field)).toEqual(bad.map((i) => `offsets[${i}]`));
          errors.forEach((e, j) => expect(Object.is(e.value, offsets[bad[j]!])).toBe(true));
        },
      ),
    );
  });
});

describe('fromRanges', () => {
  it('sets exactly the blocks of the given ranges', () => {
    fc.assert(
      fc.property(
        sizeArb.chain((size) =>
          fc.tuple(fc.constant(size), fc.array(size > 400 ? shortRangeIn(size) : rangeIn(size), { maxLength: 8 })),
        ),
        ([size, ranges]) => {
          expectMatches(right(B.fromRanges(size, ranges)), applyRanges(size, ranges, true, false));
        },
      ),
    );
  });

  it('rejects every invalid range, naming the field and the value', () => {
    fc.assert(
      fc.property(
        smallSizeArb.chain((size) =>
          fc.tuple(
            fc.constant(size),
            fc.array(
              fc.oneof(
                { weight: 3, arbitrary: fc.record({ start: maybeBadIntArb(size), length: maybeBadIntArb(size) }) },
                { weight: 2, arbitrary: rangeIn(size) as fc.Arbitrary<{ start: unknown; length: unknown }> },
                { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
              ),
              { maxLength: 8 },
            ),
          ),
        ),
        ([size, ranges]) => {
          const result = B.fromRanges(size, ranges as { start: number; length: number }[]);
          const bad = ranges.flatMap((r, i) => (isValidRange(size, r?.start, r?.length) ? [] : [i]));
          if (bad.length === 0) {
            expectMatches(right(result), applyRanges(size, ranges as { start: number; length: number }[], true, false));
            return;
          }
          const errors = left(result);
          const indexOf = (field: string) => Number(/^ranges\[(\d+)\]/.exec(field)?.[1]);
          expect([...new Set(errors.map((e) => indexOf(e.field)))]).toEqual(bad);
          for (const i of bad) {
            const r = ranges[i];
            expectRangeErrors(
              errors.filter((e) => indexOf(e.field) === i),
              `ranges[${i}]`,
              size,
              r?.start,
              r?.length,
            );
          }
        },
      ),
    );
  });
});

describe('has', () => {
  it('matches the model inside the bitmap and is false outside it', () => {
    fc.assert(
      fc.property(
        modelArb.chain((model) =>
          fc.tuple(
            fc.constant(model),
            fc.array(
              fc.oneof(
                fc.integer({ min: -40, max: model.length + 40 }),
                fc.nat(model.length - 1),
                fc.constantFrom(NaN, Infinity, -Infinity, 0.5, model.length - 0.5, -0, 2 ** 32, 2 ** 32 + 1, -(2 ** 32)),
              ),
              { minLength: 1, maxLength: 30 },
            ),
          ),
        ),
        ([model, ks]) => {
          const b = fromModel(model);
          for (const k of ks) {
            const expected = Number.isInteger(k) && k >= 0 && k < model.length ? model[k]! : false;
            expect(B.has(b, k)).toBe(expected);
          }
          for (let k = 0; k < model.length; k++) if (B.has(b, k) !== model[k]) expect(B.has(b, k)).toBe(model[k]);
        },
      ),
    );
  });
});

describe('setRange / clearRange', () => {
  it('valid ranges: result matches the model and the input is unchanged', () => {
    fc.assert(
      fc.property(modelWithRangeArb, fc.boolean(), ({ model, range }, set) => {
        const b = fromModel(model);
        const before = snapshot(b);
        const result = right(set ? B.setRange(b, range.start, range.length) : B.clearRange(b, range.start, range.length));
        const expected = model.slice();
        for (let k = range.start; k < range.start + range.length; k++) expected[k] = set;
        expectMatches(result, expected);
        expect(snapshot(b)).toEqual(before);
      }),
    );
  });

  it('any start/length: Left exactly when invalid, naming field and value, never throws', () => {
    fc.assert(
      fc.property(
        smallModelArb.chain((model) =>
          fc.tuple(fc.constant(model), maybeBadIntArb(model.length), maybeBadIntArb(model.length), fc.boolean()),
        ),
        ([model, start, length, set]) => {
          const b = fromModel(model);
          const before = snapshot(b);
          const op = set ? B.setRange : B.clearRange;
          const result = op(b, start as number, length as number);
          expect(snapshot(b)).toEqual(before);
          if (isValidRange(model.length, start, length)) {
            const s = start as number;
            const expected = model.slice();
            for (let k = s; k < s + (length as number); k++) expected[k] = set;
            expectMatches(right(result), expected);
          } else {
            expectRangeErrors(left(result), 'range', model.length, start, length);
          }
        },
      ),
    );
  });
});

describe('count / isEmpty / isFull / firstSet / firstClear', () => {
  it('match the model', () => {
    fc.assert(
      fc.property(modelArb, (model) => {
        const b = fromModel(model);
        const before = snapshot(b);
        const n = model.filter(Boolean).length;
        expect(B.count(b)).toBe(n);
        expect(B.isEmpty(b)).toBe(n === 0);
        expect(B.isFull(b)).toBe(n === model.length);
        expect(B.firstSet(b)).toBe(model.indexOf(true));
        expect(B.firstClear(b)).toBe(model.indexOf(false));
        expect(snapshot(b)).toEqual(before);
      }),
    );
  });
});

describe('runs / runsUnchecked', () => {
  const expectMaximalCover = (rs: ReadonlyArray<B.BitRun>, model: Model, start: number, length: number) => {
    let at = start;
    rs.forEach((r, i) => {
      expect(r.start).toBe(at);
      expect(r.length).toBeGreaterThan(0);
      if (i > 0) expect(r.set).not.toBe(rs[i - 1]!.set);
      const mixed = model.slice(r.start, r.start + r.length).some((v) => v !== r.set);
      expect(mixed).toBe(false);
      at += r.length;
    });
    expect(at).toBe(start + length);
  };

  it('runs over a random sub-range are maximal, cover it exactly and match the model', () => {
    fc.assert(
      fc.property(modelWithRangeArb, ({ model, range }) => {
        const b = fromModel(model);
        const before = snapshot(b);
        const rs = right(B.runs(b, range.start, range.length));
        expectMaximalCover(rs, model, range.start, range.length);
        expect(rs).toEqual(modelRuns(model, range.start, range.start + range.length));
        expect(snapshot(b)).toEqual(before);
      }),
    );
  });

  it('default arguments cover the whole bitmap, or the rest of it from start', () => {
    fc.assert(
      fc.property(
        modelArb.chain((model) => fc.tuple(fc.constant(model), fc.nat(model.length))),
        ([model, start]) => {
          const b = fromModel(model);
          const all = right(B.runs(b));
          expectMaximalCover(all, model, 0, model.length);
          expect(all).toEqual(modelRuns(model, 0, model.length));
          expect(right(B.runs(b, start))).toEqual(modelRuns(model, start, model.length));
        },
      ),
    );
  });

  it('invalid ranges give Left naming field and value', () => {
    fc.assert(
      fc.property(
        smallModelArb.chain((model) =>
          fc.tuple(fc.constant(model), maybeBadIntArb(model.length), maybeBadIntArb(model.length)),
        ),
        ([model, start, length]) => {
          const b = fromModel(model);
          const result = B.runs(b, start as number, length as number);
          // `undefined` means "use the default", which the model does not capture; skip those.
          if (start === undefined || length === undefined) return;
          if (isValidRange(model.length, start, length)) {
            const s = start as number;
            expect(right(result)).toEqual(modelRuns(model, s, s + (length as number)));
          } else {
            expectRangeErrors(left(result), 'range', model.length, start, length);
          }
        },
      ),
    );
  });

  it('runsUnchecked matches the model on any from <= to inside the bitmap', () => {
    fc.assert(
      fc.property(modelWithRangeArb, ({ model, range }) => {
        const b = fromModel(model);
        const rs = [...B.runsUnchecked(b, range.start, range.start + range.length)];
        expectMaximalCover(rs, model, range.start, range.length);
        expect(rs).toEqual(modelRuns(model, range.start, range.start + range.length));
      }),
    );
  });
});

describe('scanFor', () => {
  it('finds the first offset in from..to-1 equal to `set`, or returns to', () => {
    fc.assert(
      fc.property(
        modelArb.chain((model) => fc.tuple(fc.constant(model), fc.nat(model.length), fc.nat(model.length), fc.boolean())),
        ([model, from, to, set]) => {
          const b = fromModel(model);
          const before = snapshot(b);
          let expected = to;
          for (let k = from; k < to; k++)
            if (model[k] === set) {
              expected = k;
              break;
            }
          expect(B.scanFor(b.words, from, to, set)).toBe(expected);
          expect(snapshot(b)).toEqual(before);
        },
      ),
    );
  });
});

describe('union / intersection / difference', () => {
  it('match the model and leave their inputs unchanged', () => {
    fc.assert(
      fc.property(modelPairArb, ([ma, mb]) => {
        const a = fromModel(ma);
        const b = fromModel(mb);
        const beforeA = snapshot(a);
        const beforeB = snapshot(b);
        expectMatches(right(B.union(a, b)), ma.map((v, k) => v || mb[k]!));
        expectMatches(right(B.intersection(a, b)), ma.map((v, k) => v && mb[k]!));
        expectMatches(right(B.difference(a, b)), ma.map((v, k) => v && !mb[k]!));
        expectMatches(right(B.difference(b, a)), mb.map((v, k) => v && !ma[k]!));
        expect(snapshot(a)).toEqual(beforeA);
        expect(snapshot(b)).toEqual(beforeB);
      }),
    );
  });

  it('give Left naming size when sizes differ', () => {
    fc.assert(
      fc.property(smallModelArb, smallModelArb, (ma, mb) => {
        fc.pre(ma.length !== mb.length);
        const a = fromModel(ma);
        const b = fromModel(mb);
        for (const op of [B.union, B.intersection, B.difference]) {
          const errors = left(op(a, b));
          expect(errors).toHaveLength(1);
          expect(errors[0]!.field).toBe('size');
          expect(errors[0]!.value).toBe(b.size);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('equals', () => {
  it('agrees with model equality', () => {
    fc.assert(
      fc.property(
        modelPairArb,
        smallModelArb,
        fc.nat(),
        ([ma, mb], mc, flip) => {
          const a = fromModel(ma);
          const b = fromModel(mb);
          expect(B.equals(a, b)).toBe(ma.every((v, k) => v === mb[k]));
          expect(B.equals(a, fromModel(ma.slice()))).toBe(true);
          expect(B.equals(a, a)).toBe(true);
          const flipped = ma.slice();
          const k = flip % ma.length;
          flipped[k] = !flipped[k];
          expect(B.equals(a, fromModel(flipped))).toBe(false);
          const c = fromModel(mc);
          expect(B.equals(a, c)).toBe(ma.length === mc.length && ma.every((v, i) => v === mc[i]));
        },
      ),
    );
  });

  it('is false for different sizes even with the same set blocks', () => {
    fc.assert(
      fc.property(smallModelArb, fc.integer({ min: 1, max: 40 }), (model, extra) => {
        const grown = model.concat(new Array<boolean>(extra).fill(false));
        expect(B.equals(fromModel(model), fromModel(grown))).toBe(false);
        expect(B.equals(fromModel(grown), fromModel(model))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('toOffsets', () => {
  it('lists the set offsets in ascending order', () => {
    fc.assert(
      fc.property(modelArb, (model) => {
        const b = fromModel(model);
        const before = snapshot(b);
        expect(B.toOffsets(b)).toEqual(modelOffsets(model));
        expect(snapshot(b)).toEqual(before);
      }),
    );
  });
});

describe('format / parse', () => {
  it('format matches the model run string and toString', () => {
    fc.assert(
      fc.property(modelArb, (model) => {
        const b = fromModel(model);
        expect(B.format(b)).toBe(modelFormat(model));
        expect(String(b)).toBe(modelFormat(model));
      }),
    );
  });

  it('round trips: parse of the model run string, and format(parse(format(b))) === format(b)', () => {
    fc.assert(
      fc.property(modelArb, (model) => {
        const b = fromModel(model);
        const text = B.format(b);
        const parsed = right(B.parse(model.length, text));
        expectMatches(parsed, model);
        expect(B.equals(parsed, b)).toBe(true);
        expect(B.format(parsed)).toBe(text);
        expectMatches(right(B.parse(model.length, modelFormat(model))), model);
      }),
    );
  });

  /** Structured run lists: each run written as `a` or `a-b`; accepted exactly when canonical. */
  it('accepts a run list exactly when it is in range, ascending with gaps and canonical', () => {
    fc.assert(
      fc.property(
        smallSizeArb.chain((size) =>
          fc.tuple(
            fc.constant(size),
            fc.array(
              fc.record({
                lo: fc.nat(size + 2),
                hi: fc.nat(size + 2),
                pair: fc.boolean(),
                collapse: fc.nat(3),
              }),
              { minLength: 1, maxLength: 6 },
            ),
            fc.boolean(),
          ),
        ),
        ([size, parts, sortThem]) => {
          // Bias towards well-formed lists by sorting when asked to; `collapse === 0` makes a
          // one-block run, which as a pair is the non-canonical `a-a`.
          const normalised = parts.map((p) => {
            const lo = sortThem ? Math.min(p.lo, p.hi) : p.lo;
            const hi = !p.pair || p.collapse === 0 ? lo : sortThem ? Math.max(p.lo, p.hi) : p.hi;
            return { lo, hi, pair: p.pair };
          });
          const runs = sortThem ? normalised.sort((x, y) => x.lo - y.lo) : normalised;
          const text = runs.map((r) => (r.pair ? `${r.lo}-${r.hi}` : `${r.lo}`)).join(',');
          let badRun = -1;
          let next = 0;
          const model = new Array<boolean>(size).fill(false);
          for (const [i, r] of runs.entries()) {
            if (r.hi >= size || r.lo < next || (r.pair ? r.hi <= r.lo : r.hi !== r.lo)) {
              badRun = i;
              break;
            }
            for (let k = r.lo; k <= r.hi; k++) model[k] = true;
            next = r.hi + 2;
          }
          const result = B.parse(size, text);
          if (badRun < 0) {
            const b = right(result);
            expectMatches(b, model);
            expect(B.format(b)).toBe(text);
          } else {
            const errors = left(result);
            expect(errors).toHaveLength(1);
            expect(errors[0]!.field).toBe(`text[run ${badRun}]`);
            expect(errors[0]!.value).toBe(text.split(',')[badRun]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary text, and whatever it accepts is canonical', () => {
    fc.assert(
      fc.property(
        smallSizeArb,
        fc.string({
          unit: fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom('0', '1', '2', '-', ',') },
            { weight: 1, arbitrary: fc.constantFrom('3', '9', ' ', 'x', '+', '.') },
          ),
          maxLength: 16,
        }),
        (size, text) => {
          const result = B.parse(size, text);
          if (E.isRight(result)) {
            expectWellFormed(result.right, size);
            expect(B.format(result.right)).toBe(text);
          } else {
            const errors = left(result);
            expect(errors).toHaveLength(1);
            expect(errors[0]!.field).toMatch(/^text\[run \d+\]$/);
            const i = Number(/\d+/.exec(errors[0]!.field)![0]);
            expect(errors[0]!.value).toBe(text.split(',')[i]);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects malformed, out-of-range, descending, overlapping, touching and non-canonical runs', () => {
    const size = 10;
    const cases: Array<[string, number]> = [
      // malformed
      [' 1', 0], ['1 ', 0], ['01', 0], ['00', 0], ['1-', 0], ['-1', 0], ['1,,2', 1], [',1', 0], ['1,', 1],
      ['a', 0], ['1.5', 0], ['1-2-3', 0], ['+1', 0], ['1e0', 0], ['0x1', 0], ['1 - 2', 0], ['1;2', 0],
      ['1-02', 0], [',', 0],
      // out of range
      ['10', 0], ['9-10', 0], ['0,5-12', 1], ['99999999999999999999', 0],
      // descending inside a run, or runs out of order
      ['3-1', 0], ['9-0', 0], ['5,3', 1], ['4-6,0-1', 1],
      // overlapping
      ['1-4,3-6', 1], ['1-4,4', 1], ['1,1', 1], ['0-9,5', 1],
      // touching: the canonical form would merge them
      ['1,2', 1], ['1-2,3', 1], ['0-3,4-5', 1], ['8,9', 1],
      // a one-block run is written `a`, never `a-a`
      ['5-5', 0], ['0-0', 0], ['1,5-5', 1],
    ];
    for (const [text, run] of cases) {
      const errors = left(B.parse(size, text));
      expect(errors, text).toHaveLength(1);
      expect(errors[0]!.field, text).toBe(`text[run ${run}]`);
      expect(errors[0]!.value, text).toBe(text.split(',')[run]);
    }
    const nonString = left(B.parse(size, 7 as unknown as string));
    expect(nonString[0]!.field).toBe('text');
    expect(nonString[0]!.value).toBe(7);
    // and the canonical spellings of those bitmaps are accepted
    for (const text of ['', '0', '9', '0-9', '1-2', '1-3', '0-5', '5', '1,3,5-6,8-9']) {
      expect(B.format(right(B.parse(size, text)))).toBe(text);
    }
  });
});

describe('popcount32', () => {
  const naive = (x: number): number => {
    const u = x >>> 0;
    let n = 0;
    for (let i = 0; i < 32; i++) n += (u >>> i) & 1;
    return n;
  };

  it('counts the set bits of any 32-bit word (unsigned or signed view)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          fc.constantFrom(0, 1, 0xffffffff, 0x80000000, 0x7fffffff, 0x55555555, 0xaaaaaaaa, -1),
        ),
        (x) => {
          expect(B.popcount32(x)).toBe(naive(x));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('isBitmap / unsafeFromWords / fillWords', () => {
  it('isBitmap accepts built bitmaps only', () => {
    fc.assert(
      fc.property(smallModelArb, (model) => {
        const b = fromModel(model);
        expect(B.isBitmap(b)).toBe(true);
        expect(B.isBitmap({ size: b.size, words: b.words })).toBe(false);
        expect(Object.isFrozen(b)).toBe(true);
      }),
      { numRuns: 100 },
    );
    for (const v of [null, undefined, 0, '', [], {}, new Uint32Array(1)]) expect(B.isBitmap(v)).toBe(false);
  });

  it('unsafeFromWords wraps the given words as they are', () => {
    fc.assert(
      fc.property(modelArb, (model) => {
        const words = fromModel(model).words.slice();
        const b = B.unsafeFromWords(model.length, words);
        expect(B.isBitmap(b)).toBe(true);
        expect(b.words).toBe(words);
        expectMatches(b, model);
        expect(B.toOffsets(b)).toEqual(modelOffsets(model));
      }),
      { numRuns: 100 },
    );
  });

  it('fillWords sets or clears exactly start..end-1 in place', () => {
    fc.assert(
      fc.property(modelWithRangeArb, fc.boolean(), ({ model, range }, set) => {
        const words = fromModel(model).words.slice();
        B.fillWords(words, range.start, range.start + range.length, set);
        const expected = model.slice();
        for (let k = range.start; k < range.start + range.length; k++) expected[k] = set;
        expectMatches(B.unsafeFromWords(model.length, words), expected);
      }),
    );
  });

  it('fillWords with start >= end changes nothing', () => {
    fc.assert(
      fc.property(modelWithRangeArb, fc.boolean(), ({ model, range }, set) => {
        const words = fromModel(model).words.slice();
        const before = Array.from(words);
        B.fillWords(words, range.start + range.length, range.start, set);
        if (range.length > 0) expect(Array.from(words)).toEqual(before);
        B.fillWords(words, range.start, range.start, set);
        expect(Array.from(words)).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });
});

describe('operation sequences', () => {
  type Op =
    | { kind: 'set' | 'clear'; start: number; length: number }
    | { kind: 'union' | 'intersection' | 'difference'; other: Model }
    | { kind: 'reparse' | 'reoffsets' | 'reranges' };

  const opArb = (size: number): fc.Arbitrary<Op> =>
    fc.oneof(
      { weight: 3, arbitrary: fc.tuple(fc.constantFrom('set' as const, 'clear' as const), rangeIn(size)).map(([kind, r]) => ({ kind, ...r })) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom('union' as const, 'intersection' as const, 'difference' as const), modelOfSize(size))
          .map(([kind, other]) => ({ kind, other })),
      },
      { weight: 1, arbitrary: fc.constantFrom('reparse' as const, 'reoffsets' as const, 'reranges' as const).map((kind) => ({ kind })) },
    );

  it('keep matching the model, keep tail bits clear and never change their inputs', () => {
    fc.assert(
      fc.property(
        sizeArb.chain((size) => fc.tuple(modelOfSize(size), fc.array(opArb(size), { maxLength: 12 }))),
        ([init, ops]) => {
          const size = init.length;
          let model = init.slice();
          let b = fromModel(init);
          for (const op of ops) {
            const before = snapshot(b);
            let next: B.Bitmap;
            switch (op.kind) {
              case 'set':
              case 'clear': {
                next = right((op.kind === 'set' ? B.setRange : B.clearRange)(b, op.start, op.length));
                for (let k = op.start; k < op.start + op.length; k++) model[k] = op.kind === 'set';
                break;
              }
              case 'union':
              case 'intersection':
              case 'difference': {
                const other = fromModel(op.other);
                const otherBefore = snapshot(other);
                next = right(B[op.kind](b, other));
                const o = op.other;
                model = model.map((v, k) =>
                  op.kind === 'union' ? v || o[k]! : op.kind === 'intersection' ? v && o[k]! : v && !o[k]!,
                );
                expect(snapshot(other)).toEqual(otherBefore);
                break;
              }
              case 'reparse':
                next = right(B.parse(size, B.format(b)));
                break;
              case 'reoffsets':
                next = right(B.fromOffsets(size, B.toOffsets(b)));
                break;
              case 'reranges':
                next = right(
                  B.fromRanges(
                    size,
                    right(B.runs(b)).filter((r) => r.set),
                  ),
                );
                break;
            }
            expect(snapshot(b)).toEqual(before);
            expectMatches(next, model);
            expect(B.count(next)).toBe(model.filter(Boolean).length);
            b = next;
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('forEachRun', () => {
  it('visits exactly the runs of `runs`, in order, over any sub-range, and counts them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((size) =>
          fc.tuple(
            fc.array(fc.boolean(), { minLength: size, maxLength: size }),
            fc.nat(size).chain((start) => fc.tuple(fc.constant(start), fc.nat(size - start))),
          ),
        ),
        ([bits, [start, length]]) => {
          const b = right(B.fromOffsets(bits.length, bits.flatMap((x, k) => (x ? [k] : []))));
          const seen: { start: number; length: number; set: boolean }[] = [];
          const n = right(B.forEachRun(b, (s, l, set) => seen.push({ start: s, length: l, set }), start, length));
          const expected = right(B.runs(b, start, length));
          expect(seen).toEqual(expected.map((r) => ({ start: r.start, length: r.length, set: r.set })));
          expect(n).toBe(expected.length);
          // and against the model: every block of each run has the run's value
          for (const r of seen) for (let k = r.start; k < r.start + r.length; k++) expect(bits[k]).toBe(r.set);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('matches a per-bit model on bitmaps of long runs (whole words of equal bits are skipped)', () => {
    // Bits drawn one by one almost never fill a word; runs of up to 100 bits do, so the word
    // skipping of the run iteration is exercised from both values.
    const runsArb = fc.array(fc.record({ set: fc.boolean(), length: fc.integer({ min: 1, max: 100 }) }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(
        runsArb.chain((parts) => {
          const bits = parts.flatMap((p) => Array.from({ length: p.length }, () => p.set));
          return fc.tuple(fc.constant(bits), fc.nat(bits.length - 1).chain((start) => fc.tuple(fc.constant(start), fc.nat(bits.length - start))));
        }),
        ([bits, [start, length]]) => {
          const b = right(B.fromOffsets(bits.length, bits.flatMap((x, k) => (x ? [k] : []))));
          const seen: { start: number; length: number; set: boolean }[] = [];
          right(B.forEachRun(b, (s, l, set) => seen.push({ start: s, length: l, set }), start, length));
          const expected: { start: number; length: number; set: boolean }[] = [];
          for (let k = start; k < start + length; k++) {
            const last = expected[expected.length - 1];
            if (last !== undefined && last.set === bits[k]) last.length++;
            else expected.push({ start: k, length: 1, set: bits[k]! });
          }
          expect(seen).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects a range outside the bitmap', () => {
    const b = right(B.empty(10));
    expect(E.isLeft(B.forEachRun(b, () => {}, 5, 6))).toBe(true);
  });
});

describe('bad arguments from untyped callers', () => {
  it('fromOffsets and fromRanges reject a non-array with a Left naming it', () => {
    for (const bad of [null, undefined, 5, 'x', {}]) {
      const a = B.fromOffsets(10, bad as never);
      const b = B.fromRanges(10, bad as never);
      expect(E.isLeft(a) && a.left[0]!.field).toBe('offsets');
      expect(E.isLeft(b) && b.left[0]!.field).toBe('ranges');
    }
  });
});

describe('the public bitmap namespace', () => {
  it('exposes only the public functions: no helper that can break a bitmap invariant', () => {
    const internals = ['unsafeFromWords', 'popcount32', 'fillWords', 'scanFor', 'forEachRunUnchecked', 'runsUnchecked'];
    for (const ns of [publicBitmap, exported]) {
      for (const name of internals) expect(Object.keys(ns)).not.toContain(name);
      expect(typeof ns.fromOffsets).toBe('function');
    }
    // Everything else the module exports is public.
    expect(Object.keys(publicBitmap).sort()).toEqual(Object.keys(B).filter((k) => !internals.includes(k)).sort());
  });

  it('functions that answer an Either refuse a value that is not a bitmap', () => {
    const fake = { size: 10, words: new Uint32Array(1) };
    for (const result of [B.setRange(fake as never, 0, 1), B.runs(fake as never), B.union(fake as never, fake as never), B.forEachRun(fake as never, () => {})])
      expect(E.isLeft(result) && result.left[0]!.message).toMatch(/must be a bitmap built by this library/);
  });
});
