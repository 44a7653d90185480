/**
 * Tests for the JSON documents of variable tables (src/table/codec.ts, version 2): round trips,
 * uniform documents unchanged, and errors that name the field and the value.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeTable, decodeTableJson, encodeTable, encodeTableJson, TABLE_VARIABLE_VERSION, TABLE_VERSION } from '../../src/table/codec.js';
import { crc32c } from '../../src/table/crc32c.js';
import { decodeTableBinary, encodeTableBinary, TABLE_BINARY_VARIABLE_VERSION } from '../../src/table/binary-codec.js';
import { createTable, tablesEqual } from '../../src/table/table.js';
import { createVariableTable } from '../../src/table/variable.js';
import { tableArb, variableTableArb } from '../../src/testing/arbitraries.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

describe('JSON documents of variable tables', () => {
  it('round-trip every variable table, as version 2 with segmentLengths', () => {
    fc.assert(
      fc.property(variableTableArb(), (t) => {
        const doc = encodeTable(t);
        expect([doc.version, doc.segmentBlocks, doc.segmentLengths!.length]).toStrictEqual([TABLE_VARIABLE_VERSION, 0, t.segmentCount]);
        const back = right(decodeTableJson(encodeTableJson(t)));
        expect(tablesEqual(back, t)).toBe(true);
        expect(back.generation).toBe(t.generation);
        expect(encodeTableJson(back)).toBe(encodeTableJson(t));
      }),
      { numRuns: 300 },
    );
  });

  it('leaves uniform documents as they were: version 1, no segmentLengths, same keys in the same order', () => {
    fc.assert(
      fc.property(tableArb(), (t) => {
        const doc = encodeTable(t);
        expect(Object.keys(doc)).toStrictEqual(['format', 'version', 'segmentBlocks', 'segmentCount', 'generation', 'entries']);
        expect(doc.version).toBe(TABLE_VERSION);
      }),
      { numRuns: 100 },
    );
    const t = right(createTable({ segmentBlocks: 10, entries: [{ location: { lun: 1, start: 0 } }] }));
    expect(encodeTableJson(t)).toBe(
      '{"format":"vdisk-map/table","version":1,"segmentBlocks":10,"segmentCount":1,"generation":0,"entries":[{"location":{"lun":1,"start":0}}]}',
    );
  });

  it('names the field and the value of a bad variable document', () => {
    const t = right(
      createVariableTable({
        entries: [
          { length: 4, location: { lun: 1, start: 0 } },
          { length: 6, zero: true, alternate: { lun: 2, start: 0, blocks: [5] } },
        ],
      }),
    );
    const doc = encodeTable(t);
    expect(encodeTableJson(t)).toBe(
      '{"format":"vdisk-map/table","version":2,"segmentBlocks":0,"segmentLengths":[4,6],"segmentCount":2,"generation":0,' +
        '"entries":[{"location":{"lun":1,"start":0}},{"zero":true,"alternate":{"lun":2,"start":0,"blocks":"5"}}]}',
    );
    const fields = (x: E.Either<ReadonlyArray<{ field: string; value: unknown }>, unknown>) => (E.isLeft(x) ? x.left.map((e) => [e.field, e.value]) : 'right');
    expect(fields(decodeTable({ ...doc, segmentLengths: [4, 0] }))).toStrictEqual([['segmentLengths[1]', 0]]);
    expect(fields(decodeTable({ ...doc, segmentLengths: [4] }))).toStrictEqual([['segmentLengths', '1 lengths']]);
    expect(fields(decodeTable({ ...doc, segmentLengths: undefined }))).toStrictEqual([['segmentLengths', undefined]]);
    expect(fields(decodeTable({ ...doc, segmentBlocks: 4 }))).toStrictEqual([['segmentBlocks', 4]]);
    // Bit 5 does not fit a 4-block segment: the bitmap is read at its own segment's size.
    expect(fields(decodeTable({ ...doc, segmentLengths: [6, 4] }))).toStrictEqual([['entries[1].alternate.blocks', '5']]);
    const uniform = encodeTable(right(createTable({ segmentBlocks: 4, entries: [{ zero: true }] })));
    expect(fields(decodeTable({ ...uniform, segmentLengths: [4] }))).toStrictEqual([['segmentLengths', [4]]]);
    expect(fields(decodeTable({ ...doc, version: 4 }))).toStrictEqual([['version', 4]]);
  });
});

describe('binary form of variable tables', () => {
  const versionOf = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);

  it('round-trips every variable table as version 2, agreeing with the JSON document', () => {
    fc.assert(
      fc.property(variableTableArb({ segmentLength: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1000, max: 3000 })) }), (t) => {
        const bytes = encodeTableBinary(t);
        expect(versionOf(bytes)).toBe(TABLE_BINARY_VARIABLE_VERSION);
        const back = right(decodeTableBinary(bytes));
        expect(tablesEqual(back, t)).toBe(true);
        expect(encodeTableJson(back)).toBe(encodeTableJson(t));
        expect(encodeTableBinary(back)).toStrictEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps version 1 for uniform tables', () => {
    fc.assert(
      fc.property(tableArb(), (t) => {
        expect(versionOf(encodeTableBinary(t))).toBe(1);
      }),
      { numRuns: 50 },
    );
  });

  it('names a bad length, a buffer whose size does not match its lengths, and a bitmap bit past its own segment', () => {
    const t = right(
      createVariableTable({
        entries: [
          { length: 4, location: { lun: 1, start: 0 } },
          { length: 6, zero: true, alternate: { lun: 2, start: 0, blocks: [5] } },
        ],
      }),
    );
    const bytes = encodeTableBinary(t);
    const lengthsAt = bytes.length - 4 - 2 * 4; // the lengths section, just before the checksum
    /** `bytes` with word `at` (a byte offset) replaced and the checksum recomputed. */
    const withWordAt = (at: number, value: number): Uint8Array => {
      const b = bytes.slice();
      const view = new DataView(b.buffer);
      view.setUint32(at, value, true);
      view.setUint32(b.length - 4, crc32c(b, 0, b.length - 4), true);
      return b;
    };
    const fields = (x: E.Either<ReadonlyArray<{ field: string; value: unknown }>, unknown>) => (E.isLeft(x) ? x.left.map((e) => [e.field, e.value]) : 'right');
    expect(fields(decodeTableBinary(withWordAt(lengthsAt + 4, 0)))).toStrictEqual([['lengths[1]', 0]]);
    // Segment 1 now 40 blocks: its bitmap needs 2 words, the buffer holds 1.
    expect(fields(decodeTableBinary(withWordAt(lengthsAt + 4, 40)))).toStrictEqual([['', bytes.length]]);
    // Segment 1 now 5 blocks: bit 5 of its bitmap lies past it.
    expect(fields(decodeTableBinary(withWordAt(lengthsAt + 4, 5)))).toStrictEqual([['bitmaps[0]', '0x00000020']]);
    expect(fields(decodeTableBinary(withWordAt(8, 4)))).toStrictEqual([['header.segmentBlocks', 4]]);
  });
});
