import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocationExtents } from '../../examples/nbd-server/allocation.js';
import { STATE_HOLE, STATE_ZERO } from '../../examples/nbd-server/protocol.js';
import { createTable, type EntrySpec, type MappingTable } from '../../src/index.js';

const BLOCK = 512;
const SEGMENT_BLOCKS = 8;

/** Reference model: the flags of each byte, straight from the entry specs. */
const flagsOfByte = (specs: ReadonlyArray<EntrySpec>, byte: number): number => {
  const block = Math.floor(byte / BLOCK);
  const spec = specs[Math.floor(block / SEGMENT_BLOCKS)]!;
  if (spec.zero !== true) return 0;
  const offsets = (spec.alternate?.blocks ?? []) as ReadonlyArray<number>;
  return offsets.includes(block % SEGMENT_BLOCKS) ? 0 : STATE_HOLE | STATE_ZERO;
};

const entrySpec: fc.Arbitrary<EntrySpec> = fc.oneof(
  fc.constant<EntrySpec>({ zero: true }),
  fc.integer({ min: 0, max: 15 }).map<EntrySpec>((i) => ({ location: { lun: 1, start: i * SEGMENT_BLOCKS } })),
  fc.uniqueArray(fc.integer({ min: 0, max: SEGMENT_BLOCKS - 1 }), { minLength: 1 }).map<EntrySpec>((blocks) => ({ zero: true, alternate: { lun: 2, start: 0, blocks } })),
);

const table = (specs: ReadonlyArray<EntrySpec>): MappingTable => {
  const t = createTable({ segmentBlocks: SEGMENT_BLOCKS, entries: [...specs] });
  if (E.isLeft(t)) throw new Error(JSON.stringify(t.left));
  return t.right;
};

describe('base:allocation from the mapping table', () => {
  it('covers the request exactly, byte for byte as the reference model says, with neighbours merged', () => {
    fc.assert(
      fc.property(
        fc.array(entrySpec, { minLength: 1, maxLength: 12 }).chain((specs) => {
          const size = specs.length * SEGMENT_BLOCKS * BLOCK;
          return fc.tuple(fc.constant(specs), fc.integer({ min: 0, max: size - 1 }).chain((offset) => fc.tuple(fc.constant(offset), fc.integer({ min: 1, max: size - offset }))));
        }),
        ([specs, [offset, length]]) => {
          const extents = allocationExtents(table(specs), BLOCK, offset, length);
          expect(extents.reduce((n, e) => n + e.length, 0)).toBe(length);
          let at = offset;
          for (const [i, e] of extents.entries()) {
            if (i > 0) expect(e.flags).not.toBe(extents[i - 1]!.flags);
            for (const probe of [at, at + e.length - 1]) expect(flagsOfByte(specs, probe)).toBe(e.flags);
            at += e.length;
          }
        },
      ),
    );
  });

  it('stops after the maximum number of extents', () => {
    const specs: EntrySpec[] = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? { zero: true } : { location: { lun: 1, start: i * SEGMENT_BLOCKS } }));
    const extents = allocationExtents(table(specs), BLOCK, 0, 10 * SEGMENT_BLOCKS * BLOCK, 3);
    expect(extents).toEqual([
      { length: SEGMENT_BLOCKS * BLOCK, flags: 3 },
      { length: SEGMENT_BLOCKS * BLOCK, flags: 0 },
      { length: SEGMENT_BLOCKS * BLOCK, flags: 3 },
    ]);
  });
});
