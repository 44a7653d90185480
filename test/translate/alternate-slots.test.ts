/**
 * Translation reads a segment's alternate either from the table-wide slot array (chunks the table
 * was built with) or from the chunk's own slots (chunks replaced since): both must give the
 * reference model's answer, across updates, resizes and the binary round trip.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeTableBinary, encodeTableBinary } from '../../src/table/binary-codec.js';
import { resizeTable, setEntries, type MappingTable } from '../../src/table/table.js';
import { entrySpecArb, requestArb, tableArb } from '../../src/testing/arbitraries.js';
import { referenceTranslate } from '../../src/testing/reference.js';
import { translate, type IoRequest } from '../../src/translate/translate.js';

const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

/** A table of several chunks, some entries rewritten after it was built, and requests inside it. */
const scenarioArb = tableArb({ segmentCount: fc.integer({ min: 250, max: 600 }), segmentBlocks: fc.integer({ min: 1, max: 40 }) }).chain((t) =>
  fc.tuple(
    fc.constant(t),
    fc.array(fc.record({ segment: fc.nat(t.segmentCount - 1), entry: entrySpecArb(t.segmentBlocks) }), { maxLength: 30 }),
    fc.array(requestArb(t.segmentCount * t.segmentBlocks), { minLength: 1, maxLength: 30 }),
    fc.constantFrom<'centralized' | 'distributed'>('centralized', 'distributed'),
  ),
);

/** The reference model reads entries one by one (getEntry), never the slot arrays translation uses. */
const expectReference = (t: MappingTable, requests: ReadonlyArray<IoRequest>, variant: 'centralized' | 'distributed'): void => {
  for (const r of requests) expect(translate(t, r, { variant })).toEqual(referenceTranslate(t, r, { variant }));
};

describe('alternate slots read from the table-wide array or from the chunk', () => {
  it('translate like the reference, before and after updates, a resize and a binary round trip', () => {
    fc.assert(
      fc.property(scenarioArb, ([t, updates, requests, variant]) => {
        expectReference(t, requests, variant);
        const updated = right(setEntries(t, updates));
        expectReference(updated, requests, variant);
        const shrunk = right(resizeTable(updated, Math.max(1, updated.segmentCount - 300), { zero: true }));
        expectReference(shrunk, requests.filter((r) => r.start + r.length <= shrunk.segmentCount * shrunk.segmentBlocks), variant);
        expectReference(right(decodeTableBinary(encodeTableBinary(updated))), requests, variant);
      }),
      { numRuns: 40 },
    );
  });
});
