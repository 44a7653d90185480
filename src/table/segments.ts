/**
 * Segment geometry of both kinds of table (docs/design.md#address-model): a uniform table's
 * segment `s` starts at `s * segmentBlocks`; a variable table keeps a boundary index, a
 * `Float64Array` of `segmentCount + 1` ascending segment starts, searched through its directory
 * (`segment-directory.ts`: a bisection of the few segments of one bucket of blocks). Every
 * function here answers for both kinds, so code that must handle variable tables reads the
 * geometry through them instead of multiplying by `segmentBlocks`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { MAX_BITMAP_SIZE } from '../bitmap/bitmap.js';
import { validationError, type ValidationError } from '../errors.js';
import type { MappingTable } from './layout.js';
import { segmentInDirectory } from './segment-directory.js';
import { checkTable, isTable } from './table-value.js';

/**
 * Longest segment of a variable table: one bitmap bit per block, and bitmaps hold at most
 * 2^24 bits, like `segmentBlocks` of a uniform table.
 *
 * @example
 * createVariableTable({ entries: [{ length: MAX_SEGMENT_LENGTH + 1, zero: true }] })
 * // Left: segment 0: length must be a segment length (an integer from 1 to 16777216), got 16777217
 */
export const MAX_SEGMENT_LENGTH = MAX_BITMAP_SIZE;

/** @internal First block of segment `s` (`s` may be `segmentCount`: the disk's end). No checks. */
export const segmentStartAt = (table: MappingTable, s: number): number =>
  table.segmentStarts === null ? s * table.segmentBlocks : table.segmentStarts[s]!;

/** @internal Blocks of segment `s`. No checks. */
export const segmentLengthAt = (table: MappingTable, s: number): number =>
  table.segmentStarts === null ? table.segmentBlocks : table.segmentStarts[s + 1]! - table.segmentStarts[s]!;

/** @internal Blocks of the disk the table maps. */
export const blocksOf = (table: MappingTable): number =>
  table.segmentStarts === null ? table.segmentCount * table.segmentBlocks : table.segmentStarts[table.segmentCount]!;

/**
 * @internal The segment holding block `v` of a boundary index of `count` segments, by bisection
 * of the whole index: the last `s` with `starts[s] <= v`. `v` is inside the disk. A table's own
 * index is searched faster through its directory ({@link segmentAt}).
 */
export const segmentIn = (starts: Float64Array, count: number, v: number): number => {
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};

/** @internal The segment holding block `v` (inside the disk) of either kind of table; a variable table's through its directory. */
export const segmentAt = (table: MappingTable, v: number): number =>
  table.segmentStarts === null ? Math.floor(v / table.segmentBlocks) : segmentInDirectory(table.segmentStarts, table.segmentDirectory!, v);

/** @internal A boundary index from segment lengths. */
export const startsFromLengths = (lengths: ArrayLike<number>): Float64Array => {
  const starts = new Float64Array(lengths.length + 1);
  for (let s = 0; s < lengths.length; s++) starts[s + 1] = starts[s]! + lengths[s]!;
  return starts;
};

/**
 * True when each segment of `table` has its own length (`segmentBlocks` is then 0).
 *
 * @example
 * isVariableTable(table) ? segmentLength(table, 3) : E.right(table.segmentBlocks)
 */
export const isVariableTable = (table: MappingTable): boolean => isTable(table) && table.segmentStarts !== null;

/**
 * Blocks of the virtual disk a table maps: `segmentCount * segmentBlocks` for a uniform table,
 * the sum of the segment lengths for a variable one. 0 for anything that is not a table.
 *
 * @example
 * tableBlocks(table) // 8192 for 1024 segments of 8 blocks
 */
export const tableBlocks = (table: MappingTable): number => (isTable(table) ? blocksOf(table) : 0);

const checkSegmentOf = (table: MappingTable, segment: unknown): ValidationError[] => {
  if (!isTable(table)) return checkTable(table);
  return typeof segment === 'number' && Number.isSafeInteger(segment) && segment >= 0 && segment < table.segmentCount
    ? []
    : [validationError('segment', segment, `must be an integer from 0 to ${table.segmentCount - 1}`)];
};

/**
 * Blocks of one segment: `segmentBlocks` in a uniform table, the segment's own length in a
 * variable one.
 *
 * @example
 * segmentLength(table, 0) // Right(8)
 */
export const segmentLength = (table: MappingTable, segment: number): E.Either<ValidationError[], number> => {
  const errors = checkSegmentOf(table, segment);
  return errors.length > 0 ? E.left(errors) : E.right(segmentLengthAt(table, segment));
};

/**
 * First virtual block of one segment.
 *
 * @example
 * segmentStart(table, 2) // Right(16) with 8-block segments
 */
export const segmentStart = (table: MappingTable, segment: number): E.Either<ValidationError[], number> => {
  const errors = checkSegmentOf(table, segment);
  return errors.length > 0 ? E.left(errors) : E.right(segmentStartAt(table, segment));
};

/**
 * The segment holding virtual block `block` (a division in a uniform table; in a variable one, a
 * bisection of the few segments its boundary index's directory leaves).
 *
 * @example
 * segmentOfBlock(table, 17) // Right(2) with 8-block segments
 */
export const segmentOfBlock = (table: MappingTable, block: number): E.Either<ValidationError[], number> => {
  if (!isTable(table)) return E.left(checkTable(table));
  const total = blocksOf(table);
  if (typeof block !== 'number' || !Number.isSafeInteger(block) || block < 0 || block >= total)
    return E.left([validationError('block', block, `must be an integer from 0 to ${total - 1}`)]);
  return E.right(segmentAt(table, block));
};
