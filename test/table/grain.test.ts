/**
 * Tests for bitmap grain (src/table/grain.ts and its checks in createTable, setEntries and
 * resizeTable): each function against a naive per-block model.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import { partialGrain, roundToGrains } from '../../src/table/grain.js';
import { decodeTableBinary, encodeTableBinary, TABLE_BINARY_GRAIN_VERSION, TABLE_BINARY_VERSION } from '../../src/table/binary-codec.js';
import { decodeTable, encodeTable, encodeTableJson } from '../../src/table/codec.js';
import { crc32c } from '../../src/table/crc32c.js';
import { createTable, resizeTable, setEntry, tablesEqual, withGeneration } from '../../src/table/table.js';
import { freezeTable } from '../../src/table/freeze.js';
import { createVariableTable } from '../../src/table/variable.js';

/** Geometry: a grain and a segment size it divides. */
const geometryArb = fc.integer({ min: 1, max: 8 }).chain((grain) => fc.integer({ min: 1, max: 8 }).map((n) => ({ grain, segmentBlocks: grain * n })));

/** The naive model: a grain is partial when some but not all of its blocks are set. */
const modelPartial = (offsets: ReadonlySet<number>, size: number, grain: number): number => {
  for (let g = 0; g < size; g += grain) {
    let set = 0;
    for (let k = g; k < g + grain; k++) if (offsets.has(k)) set++;
    if (set !== 0 && set !== grain) return g;
  }
  return -1;
};

const bitmapArb = geometryArb.chain(({ grain, segmentBlocks }) =>
  fc.uniqueArray(fc.integer({ min: 0, max: segmentBlocks - 1 })).map((offsets) => ({ grain, segmentBlocks, offsets })),
);

describe('partialGrain', () => {
  it('finds the first partial grain, as the per-block model does', () => {
    fc.assert(
      fc.property(bitmapArb, ({ grain, segmentBlocks, offsets }) => {
        const b = E.getOrElseW(() => {
          throw new Error('bad bitmap');
        })(B.fromOffsets(segmentBlocks, offsets));
        expect(partialGrain(b, grain)).toBe(modelPartial(new Set(offsets), segmentBlocks, grain));
      }),
    );
  });
});

describe('roundToGrains', () => {
  it('is the smallest whole-grain range covering the request', () => {
    fc.assert(
      fc.property(geometryArb, fc.nat(), fc.nat(), ({ grain, segmentBlocks }, a, b) => {
        const first = a % segmentBlocks;
        const count = 1 + (b % (segmentBlocks - first));
        const r = roundToGrains(first, count, grain);
        expect(r.first % grain).toBe(0);
        expect(r.count % grain).toBe(0);
        expect(r.first).toBeLessThanOrEqual(first);
        expect(r.first + r.count).toBeGreaterThanOrEqual(first + count);
        expect(r.first + r.count).toBeLessThanOrEqual(segmentBlocks); // grains divide the segment
        expect(first - r.first).toBeLessThan(grain);
        expect(r.first + r.count - (first + count)).toBeLessThan(grain);
      }),
    );
  });
});

describe('grainBlocks on tables', () => {
  const entryWith = (offsets: number[]) => ({ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: offsets } });

  it('defaults to 1 and is kept by every update', () => {
    const t = E.getOrElseW(() => {
      throw new Error('refused');
    })(createTable({ segmentBlocks: 8, grainBlocks: 4, entries: [{ zero: true }] }));
    expect(t.grainBlocks).toBe(4);
    const u = setEntry(t, 0, entryWith([0, 1, 2, 3]));
    expect(E.isRight(u) && u.right.grainBlocks).toBe(4);
    const r = resizeTable(t, 3, { zero: true });
    expect(E.isRight(r) && r.right.grainBlocks).toBe(4);
    const g = withGeneration(t, 5);
    expect(E.isRight(g) && g.right.grainBlocks).toBe(4);
    const f = freezeTable(t);
    expect(E.isRight(f) && f.right.grainBlocks).toBe(4);
    const plain = createTable({ segmentBlocks: 8, entries: [{ zero: true }] });
    expect(E.isRight(plain) && plain.right.grainBlocks).toBe(1);
  });

  it('is refused unless a positive divisor of segmentBlocks, naming field and value', () => {
    for (const bad of [0, 3, -4, 2.5, 16, '4', null]) {
      const r = createTable({ segmentBlocks: 8, grainBlocks: bad as number, entries: [] });
      expect(E.isLeft(r) && r.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', bad]]);
    }
    const v = createVariableTable({ entries: [{ length: 8, zero: true }], grainBlocks: 4 } as never);
    expect(E.isLeft(v) && v.left.map((e) => e.field)).toEqual(['grainBlocks']);
  });

  it('accepts an entry exactly when every grain of its alternate bitmap is whole, in createTable and setEntry', () => {
    fc.assert(
      fc.property(bitmapArb, ({ grain, segmentBlocks, offsets }) => {
        const whole = modelPartial(new Set(offsets), segmentBlocks, grain) < 0;
        const entry = { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: offsets } };
        const created = createTable({ segmentBlocks, grainBlocks: grain, entries: [entry] });
        expect(E.isRight(created)).toBe(whole);
        if (!whole && E.isLeft(created)) expect(created.left[0]!.field).toBe('alternate.blocks');
        const base = createTable({ segmentBlocks, grainBlocks: grain, entries: [{ zero: true }] });
        if (E.isLeft(base)) throw new Error('refused');
        expect(E.isRight(setEntry(base.right, 0, entry))).toBe(whole);
        expect(E.isRight(resizeTable(base.right, 2, entry))).toBe(whole);
      }),
    );
  });
});

/** A grained table: entries whose alternate bitmaps set whole grains, chosen per grain. */
const grainedTableArb = geometryArb.chain(({ grain, segmentBlocks }) =>
  fc
    .array(
      fc.oneof(
        fc.constant({ zero: true }),
        fc.nat({ max: 1000 }).map((start) => ({ location: { lun: 1, start: start * segmentBlocks } })),
        fc.tuple(fc.nat({ max: 1000 }), fc.array(fc.boolean(), { minLength: segmentBlocks / grain, maxLength: segmentBlocks / grain })).map(([start, grains]) => ({
          location: { lun: 1, start: start * segmentBlocks },
          noWrite: true,
          alternate: { lun: 2, start: start * segmentBlocks, blocks: grains.flatMap((on, g) => (on ? Array.from({ length: grain }, (_, k) => g * grain + k) : [])) },
        })),
      ),
      { maxLength: 20 },
    )
    .map((entries) => ({ grain, segmentBlocks, entries })),
);

describe('grainBlocks in documents', () => {
  it('round-trips through the JSON document; the key is written only when the grain is not 1', () => {
    fc.assert(
      fc.property(grainedTableArb, fc.integer({ min: 0, max: 5 }), ({ grain, segmentBlocks, entries }, generation) => {
        const t = createTable({ segmentBlocks, grainBlocks: grain, generation, entries });
        if (E.isLeft(t)) throw new Error(t.left[0]!.message);
        const doc = encodeTable(t.right);
        expect('grainBlocks' in doc).toBe(grain !== 1);
        const back = decodeTable(JSON.parse(JSON.stringify(doc)));
        expect(E.isRight(back) && back.right.grainBlocks).toBe(grain);
        expect(E.isRight(back) && tablesEqual(back.right, t.right)).toBe(true);
        // A table without a grain writes the same document as one built without the key.
        const plain = createTable({ segmentBlocks, generation, entries });
        if (grain === 1 && E.isRight(plain)) expect(encodeTableJson(t.right)).toBe(encodeTableJson(plain.right));
      }),
    );
  });

  it('decoding refuses a bad grain or a partial grain, naming the field and the value', () => {
    const doc = { format: 'vdisk-map/table', version: 1, segmentBlocks: 8, grainBlocks: 3, segmentCount: 0, generation: 0, entries: [] };
    const bad = decodeTable(doc);
    expect(E.isLeft(bad) && bad.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', 3]]);
    const partial = decodeTable({ ...doc, grainBlocks: 4, segmentCount: 1, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: '0-1' } }] });
    expect(E.isLeft(partial) && partial.left.map((e) => e.field)).toEqual(['entries[0].alternate.blocks']);
    const variable = decodeTable({ format: 'vdisk-map/table', version: 2, segmentBlocks: 0, grainBlocks: 2, segmentLengths: [4], segmentCount: 1, generation: 0, entries: [{ zero: true }] });
    expect(E.isLeft(variable) && variable.left.map((e) => e.field)).toEqual(['grainBlocks']);
  });
});

describe('grainBlocks in the binary form', () => {
  const versionOf = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);

  it('round-trips; a table without a grain writes version 1, byte for byte as before', () => {
    fc.assert(
      fc.property(grainedTableArb, ({ grain, segmentBlocks, entries }) => {
        const t = createTable({ segmentBlocks, grainBlocks: grain, entries });
        if (E.isLeft(t)) throw new Error(t.left[0]!.message);
        const bytes = encodeTableBinary(t.right);
        expect(versionOf(bytes)).toBe(grain === 1 ? TABLE_BINARY_VERSION : TABLE_BINARY_GRAIN_VERSION);
        const back = decodeTableBinary(bytes);
        expect(E.isRight(back) && back.right.grainBlocks).toBe(grain);
        expect(E.isRight(back) && tablesEqual(back.right, t.right)).toBe(true);
        const plain = createTable({ segmentBlocks, entries });
        if (grain === 1 && E.isRight(plain)) expect(bytes).toEqual(encodeTableBinary(plain.right));
        else if (E.isRight(plain)) expect(bytes.length).toBe(encodeTableBinary(plain.right).length + 4); // one word, the grain
      }),
    );
  });

  /** `bytes` with word `i` replaced (little-endian) and the checksum recomputed. */
  const withWordAndChecksum = (bytes: Uint8Array, i: number, value: number): Uint8Array => {
    const out = bytes.slice();
    const view = new DataView(out.buffer);
    view.setUint32(i * 4, value, true);
    view.setUint32(out.length - 4, crc32c(out, 0, out.length - 4), true);
    return out;
  };

  it('refuses a bad grain word or a partial grain, naming the field and the value', () => {
    const t = createTable({ segmentBlocks: 8, grainBlocks: 4, entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [4, 5, 6, 7] } }] });
    if (E.isLeft(t)) throw new Error('refused');
    const bytes = encodeTableBinary(t.right);
    const grainWord = bytes.length / 4 - 2;
    for (const bad of [0, 1, 3, 16]) {
      const r = decodeTableBinary(withWordAndChecksum(bytes, grainWord, bad));
      expect(E.isLeft(r) && r.left.map((e) => [e.field, e.value])).toEqual([['grainBlocks', bad]]);
    }
    // A grain of 2 makes the same bitmap whole; a grain of 8 makes it partial.
    expect(E.isRight(decodeTableBinary(withWordAndChecksum(bytes, grainWord, 2)))).toBe(true);
    const partial = decodeTableBinary(withWordAndChecksum(bytes, grainWord, 8));
    expect(E.isLeft(partial) && partial.left.map((e) => [e.field, e.segment])).toEqual([['alternates[0].blocks', 0]]);
    // Corruption of the grain word without a new checksum is a checksum error.
    const corrupt = bytes.slice();
    corrupt[grainWord * 4] = 2;
    const c = decodeTableBinary(corrupt);
    expect(E.isLeft(c) && c.left[0]!.field).toBe('checksum');
  });
});
