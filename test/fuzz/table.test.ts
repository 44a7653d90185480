/**
 * Fuzz: every table entry point answers a value for any input, never an exception.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import { decodeEntry, decodeTable, decodeTableJson, encodeTable } from '../../src/table/codec.js';
import { formatTable } from '../../src/table/format.js';
import { createTable, getEntry, isTable, resizeTable, setEntries, setEntry, withGeneration, type MappingTable } from '../../src/table/table.js';
import { expectEither, hostileArb, hostileProperty, noThrow, plant, RUNS } from './hostile.js';

const table = (E.getOrElseW(() => expect.fail('fixture'))(
  createTable({
    segmentBlocks: 10,
    generation: 5,
    entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } }, { zero: true }, { location: { lun: 1, start: 10 }, noWrite: true }],
  }),
) as MappingTable);

const entrySpec = { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7] }, noWrite: false };
const isValidTable = (t: MappingTable): boolean => isTable(t) && Number.isSafeInteger(t.generation) && t.generation >= 0;

describe('fuzz: tables', () => {
  it('createTable', () => {
    fc.assert(
      hostileProperty(
        fc.oneof(hostileArb, plant({ segmentBlocks: 10, entries: [entrySpec, { zero: true }], generation: 0 }), plant({ segmentBlocks: 4, segmentCount: 3, entries: () => ({ zero: true }) })),
        fc.oneof(fc.constant(undefined), hostileArb, plant({ lunSizes: { 1: 100, 2: 100 }, maxSegments: 10 })),
        (spec, options) => expectEither(noThrow(() => createTable(spec as never, options as never)), isValidTable),
      ),
      { numRuns: RUNS },
    );
  });

  it('createTable with an entries function that throws or answers garbage', () => {
    fc.assert(
      hostileProperty(hostileArb, fc.nat(3), (garbage, n) => {
        const entries = (s: number) => {
          if (s === n && n === 3) throw new Error('no entry');
          return s === n ? garbage : { zero: true };
        };
        expectEither(noThrow(() => createTable({ segmentBlocks: 4, segmentCount: 5, entries } as never)), isValidTable);
      }),
      { numRuns: RUNS },
    );
  });

  it('getEntry, setEntry, setEntries, resizeTable, withGeneration', () => {
    const anyTable = fc.oneof({ weight: 3, arbitrary: fc.constant(table) }, { weight: 1, arbitrary: hostileArb });
    fc.assert(
      hostileProperty(anyTable, fc.oneof(fc.nat(3), hostileArb), fc.oneof(plant(entrySpec), hostileArb), fc.oneof(fc.constant(undefined), plant({ generation: 6 }), hostileArb), (t, seg, spec, options) => {
        expectEither(noThrow(() => getEntry(t as never, seg as never)), (e: unknown) => typeof e === 'object');
        expectEither(noThrow(() => setEntry(t as never, seg as never, spec as never, options as never)), isValidTable);
        expectEither(noThrow(() => setEntries(t as never, [{ segment: seg, entry: spec }, spec] as never, options as never)), isValidTable);
        expectEither(noThrow(() => setEntries(t as never, spec as never)), isValidTable);
        expectEither(noThrow(() => resizeTable(t as never, seg as never, spec as never, options as never)), isValidTable);
        expectEither(noThrow(() => withGeneration(t as never, seg as never)), isValidTable);
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeTable and decodeTableJson', () => {
    const doc = encodeTable(table);
    fc.assert(
      hostileProperty(fc.oneof(hostileArb, plant(doc)), fc.oneof(fc.constant(undefined), hostileArb), (value, options) => {
        expectEither(noThrow(() => decodeTable(value, options as never)), isValidTable);
        const text = noThrow(() => {
          try {
            return JSON.stringify(value);
          } catch {
            return value;
          }
        });
        expectEither(noThrow(() => decodeTableJson(text as never, options as never)), isValidTable);
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeEntry, including its geometry arguments', () => {
    fc.assert(
      hostileProperty(
        fc.oneof(hostileArb, plant({ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: '2,7-8' } })),
        fc.oneof(fc.constant(10), hostileArb),
        fc.oneof(fc.constant(undefined), fc.nat(), hostileArb),
        (doc, segmentBlocks, segment) => expectEither(noThrow(() => decodeEntry(doc, segmentBlocks as never, segment as never)), (e: unknown) => typeof e === 'object'),
      ),
      { numRuns: RUNS },
    );
  });

  it('formatTable of a table never throws', () => {
    fc.assert(
      hostileProperty(fc.oneof(fc.constant(undefined), plant({ start: 0, count: 2 })), (range) => {
        const out = noThrow(() => {
          try {
            return formatTable(table, range as never);
          } catch (e) {
            return e instanceof RangeError ? '' : (() => { throw e; })();
          }
        });
        expect(typeof out).toBe('string');
      }),
      { numRuns: 50 },
    );
    // The bitmaps inside stay valid through all of it.
    expect(B.isBitmap(E.getOrElseW(() => null)(getEntry(table, 0))?.alternate?.blocks)).toBe(true);
  });
});
