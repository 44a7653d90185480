/**
 * Tests of examples/nbd-server/ha/chunk-codec.ts: the compact chunk form gives back exactly the
 * entry documents `encodeTable` writes, is small for allocated disks, and its decoder never
 * throws on damaged bytes.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createTable, encodeTable } from '../../../src/index.js';
import { tableArb } from '../../../src/testing.js';
import { decodeChunk, encodeChunk } from '../../../examples/nbd-server/ha/chunk-codec.js';

describe('chunk codec', () => {
  it('round-trips the entry documents of any table', () => {
    fc.assert(
      fc.property(tableArb({ maxStart: 2 ** 40 }), (table) => {
        const doc = encodeTable(table);
        const back = decodeChunk(encodeChunk(doc.entries, doc.segmentBlocks), doc.segmentBlocks);
        expect(back).toEqual(E.right(doc.entries));
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips locations that follow each other (the one-byte form) and ones that do not', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ lun: fc.constantFrom(1, 2), step: fc.constantFrom(0, 8, 16) }), { minLength: 1, maxLength: 40 }), (steps) => {
        let start = 0;
        const entries = steps.map(({ lun, step }) => {
          start += step;
          return { location: { lun, start } };
        });
        expect(decodeChunk(encodeChunk(entries, 8), 8)).toEqual(E.right(entries));
      }),
    );
  });

  it('spends one byte per segment on a freshly allocated disk', () => {
    const table = createTable({ segmentBlocks: 2048, segmentCount: 4096, entries: (s) => ({ location: { lun: 1, start: s * 2048 } }) });
    if (E.isLeft(table)) throw new Error('table');
    const doc = encodeTable(table.right);
    const bytes = encodeChunk(doc.entries, 2048);
    // version, count varint (2 bytes), first entry: flags + lun + start, then one flags byte each
    expect(bytes.length).toBe(1 + 2 + 3 + 4095);
  });

  it('never throws on damaged bytes, and says where they are wrong', () => {
    fc.assert(
      fc.property(tableArb(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (table, at, byte, truncate) => {
        const doc = encodeTable(table);
        const bytes = encodeChunk(doc.entries, doc.segmentBlocks);
        const i = at % bytes.length;
        const damaged = truncate ? bytes.slice(0, i) : Uint8Array.from(bytes, (b, k) => (k === i ? byte : b));
        const result = decodeChunk(damaged, doc.segmentBlocks);
        if (E.isLeft(result)) expect(result.left).toMatch(/^chunk byte \d+: /);
        else expect(Array.isArray(result.right)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses trailing bytes, unknown versions and unknown flags', () => {
    const good = encodeChunk([{ zero: true }], 8);
    expect(E.isLeft(decodeChunk(Uint8Array.from([...good, 0]), 8))).toBe(true);
    expect(E.isLeft(decodeChunk(Uint8Array.from([2, ...good.slice(1)]), 8))).toBe(true);
    expect(decodeChunk(Uint8Array.from([1, 1, 128]), 8)).toEqual(E.left('chunk byte 3: entry 0 has unknown flags 128'));
  });
});
