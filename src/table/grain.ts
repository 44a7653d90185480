/**
 * Bitmap grain (docs/design.md#bitmap-grain): a uniform table may set `grainBlocks`, a divisor
 * of `segmentBlocks`, so that one alternate bit stands for a grain of blocks, as qcow2
 * subclusters and dm-clone regions do. A grained table's bitmaps have one bit per grain
 * (`segmentBlocks / grainBlocks` bits; translation reads bit `offset / grainBlocks`), so a marked
 * grain is whole by construction. Code that thinks in blocks converts at the edge:
 * {@link blocksOfGrains} and {@link grainsOfBlocks}.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import type { Bitmap } from '../bitmap/bitmap.js';
import { validationError, type ValidationError } from '../errors.js';
import type { Variant } from '../translate/types.js';

/**
 * @internal Collects an error unless `value` is a grain of a table of `segmentBlocks`-block
 * segments: a positive divisor of `segmentBlocks`, and 1 in a variable table (`segmentBlocks` 0).
 */
export const checkGrainBlocks = (errors: ValidationError[], value: unknown, segmentBlocks: number, field = 'grainBlocks'): value is number => {
  if (segmentBlocks === 0) {
    if (value === 1) return true;
    errors.push(validationError(field, value, 'must be 1 in a variable table'));
    return false;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && segmentBlocks % value === 0) return true;
  errors.push(validationError(field, value, `must be a positive divisor of segmentBlocks ${segmentBlocks}`));
  return false;
};

/**
 * The first grain of the one-bit-per-block `bitmap` whose bits are neither all set nor all clear,
 * as a segment offset, or -1 when every grain is whole. Used to read documents written before
 * bitmaps were compact (binary version 3, JSON version 1 with `grainBlocks`).
 *
 * @example
 * partialGrain(bitmap.fromOffsets(8, [4, 5, 6, 7]).right, 4) // -1: grain 1 is whole
 * partialGrain(bitmap.fromOffsets(8, [4, 5]).right, 4)       // 4: grain 1 is half marked
 */
export const partialGrain = (bitmap: Bitmap, grainBlocks: number): number => {
  if (grainBlocks <= 1) return -1;
  let found = -1;
  B.forEachRunUnchecked(bitmap, 0, bitmap.size, (start, length, set) => {
    if (found >= 0 || !set) return;
    if (start % grainBlocks !== 0) found = start - (start % grainBlocks);
    else if ((start + length) % grainBlocks !== 0) found = start + length - ((start + length) % grainBlocks);
  });
  return found;
};

/**
 * @internal {@link blocksOfGrains} for arguments known to be right (a bitmap, a positive grain,
 * and `grains.size * grainBlocks` at most `MAX_BITMAP_SIZE`).
 */
export const blocksOfGrainsUnchecked = (grains: Bitmap, grainBlocks: number): Bitmap => {
  if (grainBlocks <= 1) return grains;
  const size = grains.size * grainBlocks;
  const words = new Uint32Array((size + 31) >>> 5);
  B.forEachRunUnchecked(grains, 0, grains.size, (start, length, set) => {
    if (set) B.fillWords(words, start * grainBlocks, (start + length) * grainBlocks, true);
  });
  return B.unsafeFromWords(size, words);
};

/** @internal {@link grainsOfBlocks} for arguments known to be right (a bitmap whose size is a multiple of the positive grain). */
export const grainsOfBlocksUnchecked = (blocks: Bitmap, grainBlocks: number): Bitmap => {
  if (grainBlocks <= 1) return blocks;
  const size = Math.floor(blocks.size / grainBlocks);
  const words = new Uint32Array((size + 31) >>> 5);
  B.forEachRunUnchecked(blocks, 0, blocks.size, (start, length, set) => {
    if (set) B.fillWords(words, Math.floor(start / grainBlocks), Math.min(size, Math.ceil((start + length) / grainBlocks)), true);
  });
  return B.unsafeFromWords(size, words);
};

const grainArgumentErrors = (bitmap: unknown, field: string, grainBlocks: unknown, sizeOk: (size: number, grain: number) => string | null): ValidationError[] => {
  const errors: ValidationError[] = [];
  if (!B.isBitmap(bitmap)) errors.push(validationError(field, bitmap, 'must be a bitmap built by this library'));
  if (!(typeof grainBlocks === 'number' && Number.isSafeInteger(grainBlocks) && grainBlocks >= 1))
    errors.push(validationError('grainBlocks', grainBlocks, 'must be a positive integer'));
  if (errors.length > 0) return errors;
  const why = sizeOk((bitmap as Bitmap).size, grainBlocks as number);
  return why === null ? [] : [validationError(field, (bitmap as Bitmap).size, why)];
};

/**
 * A one-bit-per-grain bitmap (a grained table's alternate, `grains.size` grains) as one bit per
 * block (`grains.size * grainBlocks` blocks): each grain's bit repeated over its blocks. The
 * per-block view, for code that copies or compares blocks. Grain 1 gives `grains` itself. Left,
 * naming the argument and its value, for anything but a bitmap and a positive grain whose
 * product is at most `MAX_BITMAP_SIZE` blocks.
 *
 * @example
 * blocksOfGrains(bitmap.fromOffsets(4, [1]).right, 4) // Right: 16 blocks, offsets 4..7 set
 * blocksOfGrains(grainedEntry.alternate.blocks, grainedTable.grainBlocks) // the alternate block by block
 */
export const blocksOfGrains = (grains: Bitmap, grainBlocks: number): E.Either<ValidationError[], Bitmap> => {
  const errors = grainArgumentErrors(grains, 'grains', grainBlocks, (size, g) =>
    size * g <= B.MAX_BITMAP_SIZE ? null : `must have at most ${Math.floor(B.MAX_BITMAP_SIZE / g)} grains of ${g} blocks (at most ${B.MAX_BITMAP_SIZE} blocks)`,
  );
  return errors.length > 0 ? E.left(errors) : E.right(blocksOfGrainsUnchecked(grains, grainBlocks));
};

/**
 * A one-bit-per-block bitmap as one bit per grain (`blocks.size / grainBlocks` grains): a
 * grain's bit is set when any of its blocks is set, so the result covers every set block,
 * widened to whole grains. Grain 1 gives `blocks` itself. Left, naming the argument and its
 * value, unless `blocks` is a bitmap and `grainBlocks` a positive divisor of its size.
 *
 * @example
 * grainsOfBlocks(bitmap.fromOffsets(16, [5, 6]).right, 4) // Right: 4 grains, grain 1 set
 * grainsOfBlocks(bitmap.fromOffsets(16, [5]).right, 3)    // Left: blocks, 16 is not a multiple of 3
 */
export const grainsOfBlocks = (blocks: Bitmap, grainBlocks: number): E.Either<ValidationError[], Bitmap> => {
  const errors = grainArgumentErrors(blocks, 'blocks', grainBlocks, (size, g) => (size % g === 0 ? null : `must be a multiple of grainBlocks ${g} blocks`));
  return errors.length > 0 ? E.left(errors) : E.right(grainsOfBlocksUnchecked(blocks, grainBlocks));
};

/**
 * The block range `first .. first + count - 1` of a segment widened to whole grains: what the
 * controller marks at the alternate (and copies into it) for a write of that range.
 *
 * @example
 * roundToGrains(5, 2, 4) // { first: 4, count: 4 }: blocks 5..6 widen to grain 4..7
 */
export const roundToGrains = (first: number, count: number, grainBlocks: number): { first: number; count: number } => {
  if (grainBlocks <= 1 || count <= 0) return { first, count };
  const start = first - (first % grainBlocks);
  const end = Math.ceil((first + count) / grainBlocks) * grainBlocks;
  return { first: start, count: end - start };
};

/**
 * `bitmap` with every grain that has a bit set made whole: the blocks the controller marks (and
 * copies the old content of) for a write of the blocks set in `bitmap`.
 *
 * @example
 * wholeGrains(bitmap.fromOffsets(8, [1, 5]).right, 4) // offsets 0..7: both grains touched
 */
export const wholeGrains = (bitmap: Bitmap, grainBlocks: number): Bitmap => {
  if (grainBlocks <= 1) return bitmap;
  const words = bitmap.words.slice();
  B.forEachRunUnchecked(bitmap, 0, bitmap.size, (start, length, set) => {
    if (!set) return;
    const r = roundToGrains(start, length, grainBlocks);
    B.fillWords(words, r.first, Math.min(r.first + r.count, bitmap.size), true);
  });
  return B.unsafeFromWords(bitmap.size, words);
};

/**
 * Who may set alternate bits in `table` (docs/design.md#fault-resolution): agents mark blocks
 * themselves (`distributed`) only with grain 1; with a larger grain a write that would mark
 * faults instead, and the controller marks whole grains after copying the rest of each. Agent
 * and controller both translate with this variant, so they agree on what faults.
 *
 * @example
 * markingVariant(table, 'distributed') // 'centralized' when table.grainBlocks > 1
 */
export const markingVariant = (table: { readonly grainBlocks: number }, variant: Variant): Variant => (table.grainBlocks > 1 ? 'centralized' : variant);
