/**
 * Tests of src/table/binary-codec.ts: round trips against the JSON codec, detection of every
 * corrupted byte and every truncation, errors that name the field, and a decoder that never
 * throws whatever it is given.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { ValidationError } from '../../src/errors.js';
import { decodeTableBinary, encodeTableBinary, TABLE_BINARY_VERSION } from '../../src/table/binary-codec.js';
import { MAX_DECODE_ERRORS, decodeTable, encodeTable } from '../../src/table/codec.js';
import { crc32c } from '../../src/table/crc32c.js';
import { createTable, setEntries, setEntry, tablesEqual, type MappingTable } from '../../src/table/table.js';
import { entrySpecArb, tableAndRequestArb, tableArb } from '../../src/testing/arbitraries.js';
import { createVariableTable } from '../../src/table/variable.js';
import { translate } from '../../src/translate/translate.js';

type Result<T> = E.Either<ValidationError[], T>;

const right = <T>(e: Result<T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left.slice(0, 5).map((x) => x.message))}`);
  return e.right;
};

/** The errors of a Left, after checking the shape every error must have. */
const left = <T>(e: Result<T>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  expect(e.left.length).toBeGreaterThan(0);
  expect(e.left.length).toBeLessThanOrEqual(MAX_DECODE_ERRORS);
  for (const err of e.left) {
    expect(typeof err.field).toBe('string');
    expect(err.message.length).toBeGreaterThan(0);
    if (err.field !== '') expect(err.message).toContain(err.field);
    const m = /^records\[(\d+)\]/.exec(err.field);
    if (m) expect(err.segment).toBe(Number(m[1]));
  }
  return e.left;
};

const safeDecode = (value: unknown, options?: Parameters<typeof decodeTableBinary>[1]): Result<MappingTable> => {
  let result: Result<MappingTable> | undefined;
  expect(() => {
    result = decodeTableBinary(value, options);
  }).not.toThrow();
  return result!;
};

/** The little-endian word `i` of a buffer. */
const word = (bytes: Uint8Array, i: number): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(i * 4, true);

/** `bytes` with word `i` replaced and the checksum recomputed, so that only the content check can object. */
const withWord = (bytes: Uint8Array, i: number, value: number): Uint8Array => {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  view.setUint32(i * 4, value >>> 0, true);
  view.setUint32(out.length - 4, crc32c(out, 0, out.length - 4), true);
  return out;
};

const HEADER_WORDS = 9;
const rec = (segment: number, w: number): number => HEADER_WORDS + segment * 4 + w;

const table = (segmentBlocks: number, entries: Parameters<typeof createTable>[0]['entries'], segmentCount?: number): MappingTable =>
  right(createTable({ segmentBlocks, entries, segmentCount }));

// Bigger geometries than tableArb's defaults: several chunks, and bitmaps stored out of line.
const manyChunksArb = tableArb({ segmentCount: fc.integer({ min: 250, max: 700 }), segmentBlocks: fc.integer({ min: 1, max: 40 }) });
const bigSegmentsArb = tableArb({ segmentCount: fc.integer({ min: 1, max: 4 }), segmentBlocks: fc.integer({ min: 1000, max: 2100 }) });

describe('crc32c', () => {
  it('gives the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('matches a bit-at-a-time reference at every alignment', () => {
    const reference = (bytes: Uint8Array): number => {
      let c = 0xffffffff;
      for (const x of bytes) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(7), (data, shift) => {
        const padded = new Uint8Array(data.length + shift);
        padded.set(data, shift);
        expect(crc32c(padded, shift)).toBe(reference(data));
        expect(crc32c(padded.subarray(shift))).toBe(reference(data));
      }),
    );
  });
});

describe('encodeTableBinary / decodeTableBinary', () => {
  it('round-trips every table, agreeing with encodeTable / decodeTable', () => {
    fc.assert(
      fc.property(fc.oneof(tableArb(), bigSegmentsArb), fc.nat(2 ** 40), (t0, generation) => {
        const t = right(setEntries(t0, [], { generation }));
        const back = right(safeDecode(encodeTableBinary(t)));
        expect(tablesEqual(back, t)).toBe(true);
        expect(back.generation).toBe(generation);
        expect(encodeTable(back)).toEqual(encodeTable(t));
        // And the other way: what the JSON decoder reads, the binary form carries unchanged.
        const viaJson = right(decodeTable(encodeTable(t)));
        expect(encodeTableBinary(viaJson)).toEqual(encodeTableBinary(t));
      }),
    );
  });

  it('round-trips tables of several chunks, including after updates that move alternates', () => {
    fc.assert(
      fc.property(
        manyChunksArb.chain((t) =>
          fc.tuple(
            fc.constant(t),
            fc.array(fc.record({ segment: fc.nat(t.segmentCount - 1), entry: entrySpecArb(t.segmentBlocks) }), { maxLength: 20 }),
          ),
        ),
        ([t, updates]) => {
          const updated = right(setEntries(t, updates));
          const back = right(safeDecode(encodeTableBinary(updated)));
          expect(tablesEqual(back, updated)).toBe(true);
          expect(encodeTable(back)).toEqual(encodeTable(updated));
          // The decoded table is a normal table: updating it works like updating the original.
          const again = right(setEntries(back, updates));
          expect(tablesEqual(again, right(setEntries(updated, updates)))).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('gives tables that translate every request exactly like the original', () => {
    fc.assert(
      fc.property(tableAndRequestArb(), fc.constantFrom('centralized', 'distributed') as fc.Arbitrary<'centralized' | 'distributed'>, ([t, request], variant) => {
        const back = right(decodeTableBinary(encodeTableBinary(t)));
        expect(translate(back, request, { variant })).toEqual(translate(t, request, { variant }));
      }),
    );
  });

  it('gives identical bytes for equal tables, and 16 bytes per segment plus 40 without alternates', () => {
    const t = table(8, (s) => ({ location: { lun: 1 + (s % 3), start: s * 8 } }), 1000);
    const bytes = encodeTableBinary(t);
    expect(bytes.length).toBe(40 + 16 * 1000);
    expect(encodeTableBinary(right(decodeTableBinary(bytes)))).toEqual(bytes);
    expect(encodeTableBinary(table(8, [], 0)).length).toBe(40);
  });

  // Fixed bytes of each version: the encoder must keep writing them and the decoder keep reading
  // them (checkpoints and replacement tables written by older peers stay readable).
  it('writes and reads versions 1, 2 and 3 byte for byte as fixed here', () => {
    const v1 = right(
      createTable({
        segmentBlocks: 40,
        generation: 7,
        entries: [
          { location: { lun: 1, start: 0 } },
          { location: { lun: 1, start: 40 }, noWrite: true, alternate: { lun: 2, start: 80, blocks: [0, 1, 2, 39] } },
          { zero: true },
          { invalid: true },
          { location: { lun: 3, start: 2 ** 40 }, error: true },
          { zero: true, alternate: { lun: 2, start: 0, blocks: [5] } },
        ],
      }),
    );
    const v1big = table(1040, [{ zero: true }, { location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [0, 1039] } }]);
    const v2 = right(
      createVariableTable({
        generation: 3,
        entries: [
          { length: 5, location: { lun: 1, start: 0 } },
          { length: 70, location: { lun: 1, start: 5 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [0, 69] } },
          { length: 1, zero: true },
        ],
      }),
    );
    const v3 = right(
      createTable({
        segmentBlocks: 16,
        grainBlocks: 4,
        generation: 2,
        entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [4, 5, 6, 7] } }, { location: { lun: 1, start: 16 } }],
      }),
    );
    const golden: [MappingTable, number, string][] = [
      [
        v1,
        1,
        '56444d540100000028000000060000000000000007000000000000000200000000000000100000000100000000000000' +
        '000000003200000001000000280000000000000004000000000000000000000000000000010000000000000000000000' +
        '000000001800000003000000000000000001000024010000000000000000000000000000020000005000000000000000' +
        '0700000080000000020000000000000000000000200000000000000063855560',
      ],
      [
        v1big,
        1,
        '56444d540100000010040000020000000000000000000000000000000100000000000000040000000000000000000000' +
        '000000003200000001000000000000000000000002000000000000000000000001000000000000000000000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
        '00000000000000000000000000000000008000000f569544',
      ],
      [
        v2,
        2,
        '56444d540200000000000000030000000000000003000000000000000100000000000000100000000100000000000000' +
        '000000003200000001000000050000000000000004000000000000000000000000000000020000000000000000000000' +
        '010000000000000020000000050000004600000001000000b64939b6',
      ],
      [
        v3,
        3,
        '56444d540300000010000000020000000000000002000000000000000100000000000000320000000100000000000000' +
        '0000000010000000010000001000000000000000020000000000000000000000f000000004000000f9769ffd',
      ],
    ];
    for (const [t, version, hex] of golden) {
      const bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
      expect(word(bytes, 1)).toBe(version);
      expect(Buffer.from(encodeTableBinary(t)).toString('hex')).toBe(hex);
      const decoded = right(decodeTableBinary(bytes));
      expect(tablesEqual(decoded, t)).toBe(true);
      expect(decoded.generation).toBe(t.generation);
      expect(decoded.grainBlocks).toBe(t.grainBlocks);
    }
  });

  it('decodes the empty table', () => {
    const t = right(decodeTableBinary(encodeTableBinary(table(8, []))));
    expect(t.segmentCount).toBe(0);
    expect(t.segmentBlocks).toBe(8);
  });

  it('reads a buffer at any byte offset (a Node Buffer slice, a subarray)', () => {
    const t = table(10, [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } }, { zero: true }]);
    const bytes = encodeTableBinary(t);
    for (let shift = 0; shift < 8; shift++) {
      const host = new Uint8Array(bytes.length + shift + 3);
      host.set(bytes, shift);
      expect(tablesEqual(right(decodeTableBinary(host.subarray(shift, shift + bytes.length))), t)).toBe(true);
    }
  });

  it('detects every single-byte corruption', () => {
    fc.assert(
      fc.property(
        fc.oneof(tableArb(), bigSegmentsArb).chain((t) => {
          const bytes = encodeTableBinary(t);
          return fc.tuple(fc.constant(bytes), fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }));
        }),
        ([bytes, index, xor]) => {
          const bad = bytes.slice();
          bad[index]! ^= xor;
          left(safeDecode(bad));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('detects a corruption of any byte of a small table, with every xor', () => {
    const t = table(10, [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } }, { zero: true }]);
    const bytes = encodeTableBinary(t);
    for (let i = 0; i < bytes.length; i++)
      for (let xor = 1; xor < 256; xor++) {
        const bad = bytes.slice();
        bad[i]! ^= xor;
        expect(E.isLeft(decodeTableBinary(bad))).toBe(true);
      }
  });

  it('refuses every truncation and every extension', () => {
    fc.assert(
      fc.property(tableArb({ segmentCount: fc.integer({ min: 0, max: 6 }) }), (t) => {
        const bytes = encodeTableBinary(t);
        for (let n = 0; n < bytes.length; n++) left(safeDecode(bytes.subarray(0, n)));
        const longer = new Uint8Array(bytes.length + 4);
        longer.set(bytes);
        expect(left(safeDecode(longer))[0]!.field).toBe('');
      }),
      { numRuns: 40 },
    );
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything({ withTypedArray: true, withBigInt: true, withMap: true, withSet: true }), (value) => {
        expect(E.isLeft(safeDecode(value))).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const withMagic = bytes.length >= 4 ? Uint8Array.from([0x56, 0x44, 0x4d, 0x54, 1, 0, 0, 0, ...bytes.subarray(8)]) : bytes;
        safeDecode(bytes);
        safeDecode(withMagic);
      }),
    );
    expect(safeDecode(null, null as never)._tag).toBe('Left');
  });
});

describe('decodeTableBinary errors', () => {
  const t = table(10, [
    { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
    { zero: true },
    { location: { lun: 1, start: 10 }, noWrite: true },
  ]);
  const bytes = encodeTableBinary(t);

  it('names what is not a Uint8Array', () => {
    const [e] = left(decodeTableBinary([1, 2, 3]));
    expect(e!.field).toBe('');
    expect(e!.message).toContain('must be a Uint8Array');
    expect(left(decodeTableBinary(new Uint16Array(40)))[0]!.field).toBe('');
  });

  it('names the magic, and the version with its value', () => {
    expect(left(decodeTableBinary(new TextEncoder().encode('{"format":"vdisk-map/table"}')))[0]!.field).toBe('header.magic');
    const [e] = left(decodeTableBinary(withWord(bytes, 1, 4)));
    expect(e).toMatchObject({ field: 'header.version', value: 4 });
    expect(e!.message).toContain(`must be ${TABLE_BINARY_VERSION}`);
    expect(TABLE_BINARY_VERSION).toBe(1);
  });

  it('refuses header fields out of range, and declared sizes the buffer cannot hold, before allocating', () => {
    expect(left(decodeTableBinary(withWord(bytes, 2, 0)))[0]!.field).toBe('header.segmentBlocks');
    expect(left(decodeTableBinary(withWord(bytes, 2, 2 ** 24 + 1)))[0]!.field).toBe('header.segmentBlocks');
    expect(left(decodeTableBinary(withWord(bytes, 4, 2)))[0]!.field).toBe('header.segmentCount'); // 2^33 segments
    expect(left(decodeTableBinary(withWord(bytes, 3, 0xffffffff)))[0]).toMatchObject({ field: 'header.segmentCount', value: 0xffffffff });
    expect(left(decodeTableBinary(withWord(bytes, 6, 0x200000)))[0]!.field).toBe('header.generation');
    expect(left(decodeTableBinary(withWord(bytes, 7, 4)))[0]!.field).toBe('header.alternateCount'); // more than the segments
    expect(left(decodeTableBinary(withWord(bytes, 7, 2)))[0]!.field).toBe('header.alternateCount'); // more than the buffer holds
    expect(left(decodeTableBinary(withWord(bytes, 3, 2)))[0]!.field).toBe(''); // fewer bytes than the buffer has
  });

  it('names the checksum when a byte changed', () => {
    const bad = bytes.slice();
    bad[HEADER_WORDS * 4 + 5]! ^= 1;
    const [e] = left(decodeTableBinary(bad));
    expect(e!.field).toBe('checksum');
    expect(e!.message).toContain('CRC-32C');
  });

  it('names the record and its field, with the segment', () => {
    const cases: [number, number, string][] = [
      [rec(1, 0), 4 | 64, 'records[1].flags'], // an unknown flag bit
      [rec(1, 0), 0, 'records[1].flags'], // no location, neither invalid nor zero
      [rec(1, 1), 7, 'records[1].lun'], // a LUN without a location
      [rec(1, 2), 7, 'records[1].start'],
      [rec(2, 0), 16 | 2 | (1 << 8), 'records[2].slot'], // a slot without an alternate
      [rec(0, 0), 16 | 32 | (1 << 8), 'records[0].slot'], // not the first slot of its chunk
      [rec(2, 3), 0x200000, 'records[2].start'], // the segment would end past 2^53
      [rec(1, 0), 4 | 32, 'header.alternateCount'], // one alternate more than declared
    ];
    for (const [w, value, field] of cases) {
      const errors = left(decodeTableBinary(withWord(bytes, w, value)));
      expect(errors.map((e) => e.field)).toContain(field);
      const e = errors.find((x) => x.field === field)!;
      if (field.startsWith('records[')) expect(e.segment).toBe(Number(/\d+/.exec(field)![0]));
    }
  });

  it('names the alternate and its bitmap', () => {
    const alt = HEADER_WORDS + 3 * 4;
    expect(left(decodeTableBinary(withWord(bytes, alt + 2, 0x200000)))[0]).toMatchObject({ field: 'alternates[0].start', segment: 0 });
    expect(left(decodeTableBinary(withWord(bytes, alt + 3, 1 << 10)))[0]).toMatchObject({ field: 'alternates[0].blocks', segment: 0 });
    const big = table(1040, [{ zero: true }, { zero: true, alternate: { lun: 2, start: 0, blocks: [1039] } }]);
    const bigBytes = encodeTableBinary(big);
    const last = bigBytes.length / 4 - 2; // the bitmap's last word, before the checksum
    expect(word(bigBytes, last)).toBe(1 << 15);
    expect(left(decodeTableBinary(withWord(bigBytes, last, 1 << 16)))[0]).toMatchObject({ field: 'bitmaps[0]', segment: 1 });
  });

  it('checks extents against declared LUN sizes, like createTable', () => {
    expect(E.isRight(decodeTableBinary(bytes, { lunSizes: { 1: 20, 2: 20 } }))).toBe(true);
    expect(left(decodeTableBinary(bytes, { lunSizes: { 1: 20 } }))[0]).toMatchObject({ field: 'alternates[0].lun', segment: 0 });
    expect(left(decodeTableBinary(bytes, { lunSizes: { 1: 15, 2: 20 } }))[0]).toMatchObject({ field: 'records[2]', segment: 2 });
  });

  it('stops at MAX_DECODE_ERRORS', () => {
    const many = table(8, (s) => ({ location: { lun: 1, start: s * 8 } }), 500);
    const bad = encodeTableBinary(many);
    for (let s = 0; s < 500; s++) new DataView(bad.buffer).setUint32(rec(s, 0) * 4, 0, true);
    const fixed = withWord(bad, 0, word(bad, 0));
    expect(left(decodeTableBinary(fixed)).length).toBe(MAX_DECODE_ERRORS);
  });

  it('keeps decoding results independent of the buffer', () => {
    const copy = bytes.slice();
    const decoded = right(decodeTableBinary(copy));
    copy.fill(0);
    expect(tablesEqual(decoded, t)).toBe(true);
    const after = right(setEntry(decoded, 1, { location: { lun: 3, start: 30 } }));
    expect(tablesEqual(decoded, t)).toBe(true);
    expect(after.segmentCount).toBe(3);
  });
});
