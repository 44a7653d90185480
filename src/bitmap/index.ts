/**
 * Block bitmaps: which blocks of a segment live at its alternate location.
 *
 * A bitmap is immutable. Bits are kept in 32-bit words (bit k is bit `k & 31` of word `k >>> 5`),
 * and every bit past `size` in the last word is always clear, so counting, comparing and
 * scanning can work a whole word at a time.
 *
 * Functions that can be given arguments they cannot use (a bad size, an offset or range outside
 * the bitmap, bitmaps of different sizes, a value that is not a bitmap) return
 * `Either<ValidationError[], ...>` instead of throwing; `has` simply answers `false` outside the
 * bitmap.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js';
 * import { bitmap } from 'vdisk-map';
 * const b = bitmap.fromOffsets(10, [2, 7, 8]);
 * if (E.isRight(b)) console.log(bitmap.format(b.right), bitmap.count(b.right)); // 2,7-8 3
 *
 * @module
 */
// The public surface of the `bitmap` namespace: only these names. The module's internal helpers
// (word-level scans and fills, wrapping raw words) stay importable from './bitmap.js' by the
// library itself, but are not part of the runtime namespace, so no caller can build a bitmap
// that breaks its invariants.
import type { Bitmap as BitmapOf, BitRun as BitRunOf } from './bitmap.js';
// Declared here rather than re-exported: the declaration bundler turns a type re-export inside
// a namespace into a value, which breaks the published types.
/**
 * A block bitmap (see `./bitmap.ts`).
 *
 * @example
 * const b: bitmap.Bitmap = E.getOrElseW(() => bitmap.empty(8))(bitmap.fromOffsets(8, [1, 2]));
 */
export type Bitmap = BitmapOf;
/**
 * A maximal run of equal bits (see `./bitmap.ts`).
 *
 * @example
 * const first: bitmap.BitRun | undefined = bitmap.runs(b)[0]; // { start, length, set }
 */
export type BitRun = BitRunOf;
export {
  clearRange,
  count,
  difference,
  empty,
  equals,
  firstClear,
  firstSet,
  forEachRun,
  format,
  fromOffsets,
  fromRanges,
  full,
  has,
  intersection,
  isBitmap,
  isEmpty,
  isFull,
  MAX_BITMAP_SIZE,
  parse,
  runs,
  setRange,
  toOffsets,
  union,
} from './bitmap.js';
