/**
 * The spec checks `createTable` and `createVariableTable` share (`readSpecHead` in
 * src/table/create.ts): both constructors refuse the same spec fields with the same errors, in
 * the same order, as a naive model of the rules says.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { MAX_BITMAP_SIZE } from '../../src/bitmap/bitmap.js';
import { MAX_SEGMENT_COUNT, createTable } from '../../src/table/create.js';
import { createVariableTable } from '../../src/table/variable.js';

const odd = fc.constantFrom<unknown>(-1, 1.5, NaN, '3', null, 2 ** 53, undefined);

const specArb = fc.record({
  segmentBlocks: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom<unknown>(0, MAX_BITMAP_SIZE + 1, 'x')),
  generation: fc.oneof(fc.nat(100), odd),
  entries: fc.oneof(
    fc.array(fc.constant({ zero: true, length: 4 }), { maxLength: 6 }),
    fc.constant((s: number) => ({ zero: true, length: 1 + (s % 3) })),
    fc.constantFrom<unknown>(null, 'entries', 7, {}),
  ),
  segmentCount: fc.oneof(fc.nat(8), odd),
  maxSegments: fc.oneof(fc.nat(8), odd, fc.constant(MAX_SEGMENT_COUNT + 1)),
});

type Spec = { segmentBlocks: unknown; generation: unknown; entries: unknown; segmentCount: unknown; maxSegments: unknown };

const isInt = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi;

/** The naive model: the fields refused, in order, and whether the refusal stops before the entries are read. */
const modelErrors = (spec: Spec, kind: 'uniform' | 'variable'): string[] => {
  const errors: string[] = [];
  let max = MAX_SEGMENT_COUNT;
  if (spec.maxSegments !== undefined) {
    if (isInt(spec.maxSegments, 0, MAX_SEGMENT_COUNT)) max = spec.maxSegments as number;
    else errors.push('options.maxSegments');
  }
  if (kind === 'uniform' && !isInt(spec.segmentBlocks, 1, MAX_BITMAP_SIZE)) errors.push('segmentBlocks');
  if (!isInt(spec.generation ?? 0, 0, Number.MAX_SAFE_INTEGER)) errors.push('generation');
  if (typeof spec.entries === 'function') {
    if (!isInt(spec.segmentCount, 0, max)) errors.push('segmentCount');
  } else if (Array.isArray(spec.entries)) {
    if (spec.entries.length > max) return [...errors, 'entries.length'];
    if (spec.segmentCount !== undefined && spec.segmentCount !== spec.entries.length) errors.push('segmentCount');
  } else errors.push('entries');
  return errors;
};

const build = (spec: Spec, kind: 'uniform' | 'variable') => {
  const options = spec.maxSegments === undefined ? {} : { maxSegments: spec.maxSegments as number };
  const { maxSegments: _, ...fields } = spec;
  return kind === 'uniform' ? createTable(fields as never, options) : createVariableTable(fields as never, options);
};

describe('the spec checks both table constructors share', () => {
  it('refuse the fields the naive model refuses, in its order, with the same errors in both constructors', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const uniform = build(spec, 'uniform');
        const variable = build(spec, 'variable');
        const expectU = modelErrors(spec, 'uniform');
        const expectV = modelErrors(spec, 'variable');
        // A uniform spec's entries carry a `length` it does not know; only the head is compared.
        if (expectU.length > 0) expect(E.isLeft(uniform) && uniform.left.map((e) => e.field)).toEqual(expectU);
        if (expectV.length > 0) expect(E.isLeft(variable) && variable.left.map((e) => e.field)).toEqual(expectV);
        else expect(E.isRight(variable)).toBe(true);
        // The errors both give for a field other than segmentBlocks are the same, but for the kind of specs named.
        if (E.isLeft(uniform) && E.isLeft(variable) && expectU.length > 0 && expectV.length > 0) {
          const shared = uniform.left.filter((e) => e.field !== 'segmentBlocks').map((e) => e.message.replace('entry specs', 'segment specs'));
          expect(variable.left.map((e) => e.message)).toEqual(shared);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('names the kind of specs each constructor takes', () => {
    expect(createTable({ segmentBlocks: 4, entries: 7 } as never)).toStrictEqual(
      E.left([{ field: 'entries', value: 7, message: 'entries must be an array of entry specs or a function of the segment, got 7' }]),
    );
    expect(createVariableTable({ entries: 7 } as never)).toStrictEqual(
      E.left([{ field: 'entries', value: 7, message: 'entries must be an array of segment specs or a function of the segment, got 7' }]),
    );
  });
});
