/**
 * fast-check arbitraries for vdisk-map values, for property tests of vdisk-map and of products
 * built on it. fast-check is a peer dependency of this module only.
 */
import fc from 'fast-check';
import * as B from '../bitmap/bitmap.js';
import type { Bitmap } from '../bitmap/bitmap.js';
import type { EntrySpec } from '../table/entry.js';
import { createTable, tableEntries, type MappingTable } from '../table/table.js';
import { segmentLength, tableBlocks } from '../table/segments.js';
import { createVariableTable } from '../table/variable.js';
import type { IoRequest } from '../translate/translate.js';

const unwrap = <A>(e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: A }): A => {
  if (e._tag === 'Left') throw new Error(`arbitrary built an invalid value: ${JSON.stringify(e.left)}`);
  return e.right;
};

/**
 * Bitmaps of exactly `size` blocks, from empty through sparse and dense to full.
 *
 * @example
 * fc.assert(fc.property(bitmapArb(10), (b) => bitmap.count(b) <= 10));
 */
export const bitmapArb = (size: number): fc.Arbitrary<Bitmap> =>
  fc.oneof(
    fc.constant(unwrap(B.empty(size))),
    fc.constant(unwrap(B.full(size))),
    fc.array(fc.boolean(), { minLength: size, maxLength: size }).map((bits) =>
      unwrap(B.fromOffsets(size, bits.flatMap((x, k) => (x ? [k] : [])))),
    ),
    fc
      .array(fc.tuple(fc.nat(size - 1), fc.nat(size)), { maxLength: 4 })
      .map((rs) => unwrap(B.fromRanges(size, rs.map(([s, l]) => ({ start: s, length: Math.min(l, size - s) }))))),
  );

/**
 * Geometry and physical layout limits for generated tables: narrow them to match what the code
 * under test supports, or to make counterexamples small.
 *
 * @example
 * fc.assert(fc.property(tableArb({ segmentBlocks: fc.constant(8), luns: [1, 2], maxStart: 4096 }), (t) => t.segmentBlocks === 8));
 */
export interface TableArbOptions {
  readonly segmentBlocks?: fc.Arbitrary<number>;
  readonly segmentCount?: fc.Arbitrary<number>;
  /** LUN ids to place extents on. */
  readonly luns?: ReadonlyArray<number>;
  /** Largest start block of any extent. */
  readonly maxStart?: number;
}

/**
 * Entry specs for `segmentBlocks`-block segments, covering every flag combination, with and
 * without alternates. Extents are arbitrary: they may overlap (use {@link layoutTableArb} for
 * physically disjoint tables). With `grainBlocks` (a divisor of `segmentBlocks`) bitmaps have
 * one bit per grain, for a grained table.
 *
 * @example
 * fc.assert(fc.property(entrySpecArb(8), (spec) => E.isRight(createTable({ segmentBlocks: 8, entries: [spec] }))));
 */
export const entrySpecArb = (
  segmentBlocks: number,
  options: { luns?: ReadonlyArray<number>; maxStart?: number; grainBlocks?: number } = {},
): fc.Arbitrary<EntrySpec> => {
  const bits = segmentBlocks / (options.grainBlocks ?? 1);
  const luns = options.luns ?? [0, 1, 2];
  const maxStart = options.maxStart ?? 1000;
  const extent = fc.record({ lun: fc.constantFrom(...luns), start: fc.nat(maxStart) });
  return fc
    .record({
      location: fc.option(extent, { nil: null }),
      invalid: fc.boolean(),
      noWrite: fc.boolean(),
      zero: fc.boolean(),
      error: fc.boolean(),
      alternate: fc.option(fc.record({ lun: fc.constantFrom(...luns), start: fc.nat(maxStart), blocks: bitmapArb(bits) }), {
        nil: null,
      }),
    })
    .map((e) => (e.location === null && !e.invalid && !e.zero ? { ...e, zero: true } : e));
};

/**
 * Valid tables with random geometry and entries (extents may overlap).
 *
 * @example
 * fc.assert(fc.property(tableArb(), (t) => t.segmentCount >= 1));
 */
export const tableArb = (options: TableArbOptions = {}): fc.Arbitrary<MappingTable> =>
  fc
    .tuple(options.segmentBlocks ?? fc.integer({ min: 1, max: 70 }), options.segmentCount ?? fc.integer({ min: 1, max: 12 }))
    .chain(([segmentBlocks, segmentCount]) =>
      fc.array(entrySpecArb(segmentBlocks, options), { minLength: segmentCount, maxLength: segmentCount }).map((entries) =>
        unwrap(createTable({ segmentBlocks, entries })),
      ),
    );

/**
 * Valid tables whose extents never overlap: each segment's primary and alternate get their own
 * slots of `segmentBlocks` blocks, spread over `luns`, in a random order. What a healthy
 * controller would produce, so the checker should report nothing but `info` findings.
 *
 * @example
 * fc.assert(fc.property(layoutTableArb(), (t) => checkTables({ vol: t }).counts.corruption === 0));
 */
export const layoutTableArb = (options: TableArbOptions = {}): fc.Arbitrary<MappingTable> => {
  const luns = options.luns ?? [0, 1, 2];
  return fc
    .tuple(options.segmentBlocks ?? fc.integer({ min: 1, max: 40 }), options.segmentCount ?? fc.integer({ min: 1, max: 12 }))
    .chain(([segmentBlocks, segmentCount]) =>
      fc
        .tuple(
          fc.array(entrySpecArb(segmentBlocks, { luns }), { minLength: segmentCount, maxLength: segmentCount }),
          fc.shuffledSubarray(
            Array.from({ length: segmentCount * 2 }, (_, i) => i),
            { minLength: segmentCount * 2, maxLength: segmentCount * 2 },
          ),
        )
        .map(([entries, slots]) => {
          const at = (slot: number) => ({ lun: luns[slot % luns.length]!, start: Math.floor(slot / luns.length) * segmentBlocks });
          const placed = entries.map((e, s) => ({
            ...e,
            location: e.location === null ? null : at(slots[2 * s]!),
            alternate: e.alternate === null || e.alternate === undefined ? null : { ...e.alternate, ...at(slots[2 * s + 1]!) },
          }));
          return unwrap(createTable({ segmentBlocks, entries: placed }));
        }),
    );
};

/**
 * Requests inside a disk of `diskBlocks` blocks (`diskBlocks >= 1`), reads and writes, of any
 * length from 0 to the rest of the disk.
 *
 * @example
 * fc.assert(fc.property(requestArb(80), (r) => r.start + r.length <= 80));
 */
export const requestArb = (diskBlocks: number): fc.Arbitrary<IoRequest> =>
  fc
    .tuple(fc.constantFrom<'read' | 'write'>('read', 'write'), fc.nat(diskBlocks - 1))
    .chain(([op, start]) => fc.nat(diskBlocks - start).map((length) => ({ op, start, length })));

/**
 * A table together with a request inside it, so a property never wastes runs on requests that
 * fall off the disk.
 *
 * @example
 * fc.assert(fc.property(tableAndRequestArb(), ([t, r]) => {
 *   const result = translate(t, r);
 *   return E.isRight(result) || result.left.type !== 'out-of-range';
 * }));
 */
export const tableAndRequestArb = (options: TableArbOptions = {}): fc.Arbitrary<[MappingTable, IoRequest]> =>
  tableArb(options).chain((t) => requestArb(t.segmentCount * t.segmentBlocks).map((r): [MappingTable, IoRequest] => [t, r]));

/**
 * Limits for generated variable tables: how many segments, and how long each may be.
 *
 * @example
 * fc.assert(fc.property(variableTableArb({ segmentLength: fc.integer({ min: 1, max: 4 }) }), (t) => t.segmentBlocks === 0));
 */
export interface VariableTableArbOptions {
  readonly segmentLength?: fc.Arbitrary<number>;
  readonly segmentCount?: fc.Arbitrary<number>;
  /** LUN ids to place extents on. */
  readonly luns?: ReadonlyArray<number>;
  /** Largest start block of any extent. */
  readonly maxStart?: number;
}

/**
 * Valid variable tables: each segment of its own length (1 to 70 blocks by default, with runs of
 * equal lengths and single long or short segments), with entries of every kind whose bitmaps are
 * sized per segment. Extents may overlap.
 *
 * @example
 * fc.assert(fc.property(variableTableArb(), (t) => tableBlocks(t) >= t.segmentCount));
 */
export const variableTableArb = (options: VariableTableArbOptions = {}): fc.Arbitrary<MappingTable> =>
  fc
    .array(options.segmentLength ?? fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 70 }), fc.constant(32)), {
      minLength: 1,
      maxLength: 12,
    })
    .chain((lengths) =>
      (options.segmentCount ?? fc.constant(lengths.length)).chain((count) => {
        const sized = Array.from({ length: count }, (_, s) => lengths[s % lengths.length]!);
        return fc
          .tuple(...sized.map((length) => entrySpecArb(length, options).map((e) => ({ ...e, length }))))
          .map((entries) => unwrap(createVariableTable({ entries })));
      }),
    );

/**
 * Valid variable tables whose extents never overlap: each segment's primary and alternate are
 * placed one after another on `luns` (round robin), each as long as its segment. What a healthy
 * controller would produce for a variable disk: the checker reports nothing but `info` findings.
 *
 * @example
 * fc.assert(fc.property(layoutVariableTableArb(), (t) => checkTables({ vol: t }).counts.corruption === 0));
 */
export const layoutVariableTableArb = (options: VariableTableArbOptions = {}): fc.Arbitrary<MappingTable> => {
  const luns = options.luns ?? [0, 1, 2];
  return variableTableArb({ ...options, luns }).map((t) => {
    const next = new Map<number, number>();
    let turn = 0;
    const place = (length: number) => {
      const lun = luns[turn++ % luns.length]!;
      const start = next.get(lun) ?? 0;
      next.set(lun, start + length);
      return { lun, start };
    };
    const entries = Array.from(tableEntries(t), ([s, e]) => {
      const length = unwrap(segmentLength(t, s));
      return { ...e, length, location: e.location === null ? null : place(length), alternate: e.alternate === null ? null : { ...e.alternate, ...place(length) } };
    });
    return unwrap(createVariableTable({ entries }));
  });
};

/**
 * A table of either kind, uniform ({@link tableArb}) or variable ({@link variableTableArb}),
 * with a request inside it.
 *
 * @example
 * fc.assert(fc.property(anyTableAndRequestArb(), ([t, r]) => r.start + r.length <= tableBlocks(t)));
 */
export const anyTableAndRequestArb = (): fc.Arbitrary<[MappingTable, IoRequest]> =>
  fc.oneof(tableArb(), variableTableArb(), grainedTableArb()).chain((t) => requestArb(tableBlocks(t)).map((r): [MappingTable, IoRequest] => [t, r]));

/**
 * Limits for generated grained tables: the grain, and how many grains make a segment
 * (`segmentBlocks` is their product).
 *
 * @example
 * fc.assert(fc.property(grainedTableArb({ grainBlocks: fc.constant(4) }), (t) => t.segmentBlocks % 4 === 0));
 */
export interface GrainedTableArbOptions {
  /** Blocks per alternate bit; 2 to 8 by default. */
  readonly grainBlocks?: fc.Arbitrary<number>;
  /** Grains per segment (bits per bitmap); 1 to 40 by default. */
  readonly grainsPerSegment?: fc.Arbitrary<number>;
  readonly segmentCount?: fc.Arbitrary<number>;
  /** LUN ids to place extents on. */
  readonly luns?: ReadonlyArray<number>;
  /** Largest start block of any extent. */
  readonly maxStart?: number;
}

/**
 * Valid uniform tables with a grain above 1 (docs/design.md#bitmap-grain): every bitmap has one
 * bit per grain, entries of every kind. Extents may overlap.
 *
 * @example
 * fc.assert(fc.property(grainedTableArb(), (t) => t.grainBlocks > 1));
 */
export const grainedTableArb = (options: GrainedTableArbOptions = {}): fc.Arbitrary<MappingTable> =>
  fc
    .tuple(options.grainBlocks ?? fc.integer({ min: 2, max: 8 }), options.grainsPerSegment ?? fc.integer({ min: 1, max: 40 }), options.segmentCount ?? fc.integer({ min: 1, max: 12 }))
    .chain(([grainBlocks, grains, segmentCount]) =>
      fc
        .array(entrySpecArb(grains * grainBlocks, { ...options, grainBlocks }), { minLength: segmentCount, maxLength: segmentCount })
        .map((entries) => unwrap(createTable({ segmentBlocks: grains * grainBlocks, grainBlocks, entries }))),
    );
