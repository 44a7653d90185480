/**
 * Block bitmaps: which blocks of a segment live at its alternate location.
 *
 * A bitmap is immutable. Bits are kept in 32-bit words (bit k is bit `k & 31` of word `k >>> 5`),
 * and every bit past `size` in the last word is always clear, so counting, comparing and
 * scanning can work a whole word at a time.
 *
 * Functions that can be given arguments they cannot use (a bad size, an offset or range outside
 * the bitmap, bitmaps of different sizes) return `Either<ValidationError[], ...>` instead of
 * throwing; `has` simply answers `false` outside the bitmap.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js';
 * import { bitmap } from 'vdisk-map';
 * const b = bitmap.fromOffsets(10, [2, 7, 8]);
 * if (E.isRight(b)) console.log(bitmap.format(b.right), bitmap.count(b.right)); // 2,7-8 3
 *
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { guarded, validationError, type ValidationError } from '../errors.js';

/**
 * Largest bitmap this library builds: far more blocks than any sensible segment has. It also
 * bounds a table's `segmentBlocks`, since an alternate carries one bit per block of its segment.
 *
 * @example
 * bitmap.empty(bitmap.MAX_BITMAP_SIZE + 1) // Left: size must be an integer from 1 to 16777216
 */
export const MAX_BITMAP_SIZE = 1 << 24;

/**
 * An immutable set of block offsets `0 .. size-1`.
 *
 * @example
 * const b = bitmap.fromOffsets(10, [2, 7, 8]); // Right(bitmap)
 */
export interface Bitmap {
  /** Number of blocks the bitmap covers (the segment size). */
  readonly size: number;
  /** @internal The words; never mutate them. */
  readonly words: Uint32Array;
}

/**
 * A maximal run of equal bits: `length` blocks from `start`, all `set` or all clear. Working in
 * runs lets callers issue one I/O per stretch of blocks instead of one per block.
 *
 * @example
 * // The fourth run of `bitmap.runs` over blocks 2, 7 and 8 of a 10-block bitmap:
 * const run: BitRun = { start: 7, length: 2, set: true };
 */
export interface BitRun {
  readonly start: number;
  readonly length: number;
  readonly set: boolean;
}

class BitmapValue implements Bitmap {
  constructor(
    readonly size: number,
    readonly words: Uint32Array,
  ) {
    Object.freeze(this);
  }
  toString(): string {
    return format(this);
  }
}

const wordCount = (size: number): number => (size + 31) >>> 5;

/** @internal Number of set bits in a 32-bit word; a helper of this module, not public API. */
export const popcount32 = (x: number): number => {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
};

/** Index of the lowest set bit of a non-zero word. */
const lowestBit = (x: number): number => 31 - Math.clz32(x & -x);

/** @internal Wraps words the caller promises not to touch again. */
export const unsafeFromWords = (size: number, words: Uint32Array): Bitmap => new BitmapValue(size, words);

/**
 * True when `value` is a bitmap built by this module whose words keep its invariants (one word per
 * 32 blocks, no bit set past `size`). Tells a bitmap from the offset list that an `EntrySpec` also
 * accepts, and refuses look-alike objects whose words could break what the other functions rely
 * on. Never throws, even for a proxy.
 *
 * @example
 * bitmap.isBitmap([2, 7, 8]) // false: an offset list
 * bitmap.isBitmap({ size: 10, words: new Uint32Array(1) }) // false: a look-alike
 * bitmap.isBitmap(E.getOrElseW(() => undefined)(bitmap.empty(10))) // true
 */
export const isBitmap = (value: unknown): value is Bitmap => {
  try {
    if (!(value instanceof BitmapValue)) return false;
    const { size, words } = value;
    if (!(words instanceof Uint32Array) || !Number.isSafeInteger(size) || size < 1 || size > MAX_BITMAP_SIZE) return false;
    if (words.length !== wordCount(size)) return false;
    const spare = size & 31; // bits of the last word past `size` must be clear
    return spare === 0 || words[words.length - 1]! >>> spare === 0;
  } catch {
    return false;
  }
};

/** `[]` when `b` is a bitmap, else the error naming the parameter `field`. */
const checkBitmap = (b: unknown, field: string): ValidationError[] =>
  isBitmap(b) ? [] : [validationError(field, b, 'must be a bitmap built by this library (bitmap.empty, fromOffsets, parse...)')];

/** Most errors a bitmap constructor collects before it stops reading its input. */
const MAX_ERRORS = 100;

const checkSize = (size: unknown): ValidationError[] =>
  typeof size === 'number' && Number.isSafeInteger(size) && size >= 1 && size <= MAX_BITMAP_SIZE
    ? []
    : [validationError('size', size, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`)];

/**
 * A bitmap of `size` blocks with no bit set: the bitmap of a newly attached alternate, before any
 * block has moved there.
 *
 * @example
 * E.map(bitmap.isEmpty)(bitmap.empty(8)) // Right(true)
 * bitmap.empty(0) // Left: size must be an integer from 1 to 16777216
 */
export const empty = (size: number): E.Either<ValidationError[], Bitmap> => {
  const errors = checkSize(size);
  return errors.length > 0 ? E.left(errors) : E.right(new BitmapValue(size, new Uint32Array(wordCount(size))));
};

/**
 * A bitmap of `size` blocks with every bit set: an alternate that holds the whole segment and
 * can replace the primary.
 *
 * @example
 * E.map(bitmap.format)(bitmap.full(8)) // Right('0-7')
 */
export const full = (size: number): E.Either<ValidationError[], Bitmap> =>
  E.map((b: Bitmap) => fillUnchecked(b, 0, size, true))(empty(size));

/** Sets or clears bits `start .. end-1` of a copy of `b`, with no bounds checks. */
const fillUnchecked = (b: Bitmap, start: number, end: number, set: boolean): Bitmap => {
  const words = b.words.slice();
  fillWords(words, start, end, set);
  return new BitmapValue(b.size, words);
};

/** @internal Sets or clears bits `start .. end-1` of `words` in place, a word at a time. */
export const fillWords = (words: Uint32Array, start: number, end: number, set: boolean): void => {
  if (start >= end) return;
  const first = start >>> 5;
  const last = (end - 1) >>> 5;
  for (let w = first; w <= last; w++) {
    const lo = w === first ? start & 31 : 0;
    const hi = w === last ? ((end - 1) & 31) + 1 : 32;
    const mask = hi - lo === 32 ? 0xffffffff : ((1 << (hi - lo)) - 1) << lo;
    words[w] = set ? (words[w]! | mask) >>> 0 : (words[w]! & ~mask) >>> 0;
  }
};

const checkRange = (size: number, start: unknown, length: unknown, field: string): ValidationError[] => {
  const errors: ValidationError[] = [];
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0 || start > size)
    errors.push(validationError(`${field}.start`, start, `must be an integer from 0 to ${size}`));
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0)
    errors.push(validationError(`${field}.length`, length, 'must be a non-negative safe integer'));
  if (errors.length === 0 && (start as number) + (length as number) > size)
    errors.push(
      validationError(field, { start, length }, `must lie inside the bitmap's ${size} blocks`),
    );
  return errors;
};

/**
 * A bitmap of `size` blocks with exactly the given offsets set (duplicates allowed).
 *
 * @example
 * fromOffsets(10, [2, 7, 8]) // Right: blocks 2, 7 and 8 set
 * fromOffsets(10, [10])      // Left: offsets[0] out of range
 */
export const fromOffsets = (size: number, offsets: ReadonlyArray<number>): E.Either<ValidationError[], Bitmap> =>
  guarded('offsets', () => {
    const errors = checkSize(size);
    if (errors.length > 0) return E.left(errors);
    if (!Array.isArray(offsets)) return E.left([validationError('offsets', offsets, 'must be an array of block offsets')]);
    const words = new Uint32Array(wordCount(size));
    for (let i = 0; i < offsets.length && errors.length < MAX_ERRORS; i++) {
      if (!(i in offsets)) {
        errors.push(validationError(`offsets[${i}]`, undefined, 'is missing (a hole in a sparse array)'));
        continue;
      }
      const k: unknown = offsets[i];
      if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0 || k >= size) {
        errors.push(validationError(`offsets[${i}]`, k, `must be an integer from 0 to ${size - 1}`));
      } else {
        words[k >>> 5] = (words[k >>> 5]! | (1 << (k & 31))) >>> 0;
      }
    }
    return errors.length > 0 ? E.left(errors) : E.right(new BitmapValue(size, words));
  });

/**
 * A bitmap of `size` blocks with every block of the given `{ start, length }` ranges set, for
 * when the blocks come as extents (writes of several blocks) rather than single offsets.
 * Ranges may overlap; each must lie inside the bitmap.
 *
 * @example
 * E.map(bitmap.format)(bitmap.fromRanges(16, [{ start: 2, length: 3 }, { start: 10, length: 1 }])) // Right('2-4,10')
 */
export const fromRanges = (
  size: number,
  ranges: ReadonlyArray<{ readonly start: number; readonly length: number }>,
): E.Either<ValidationError[], Bitmap> =>
  guarded('ranges', () => {
    const errors = checkSize(size);
    if (errors.length > 0) return E.left(errors);
    if (!Array.isArray(ranges)) return E.left([validationError('ranges', ranges, 'must be an array of { start, length }')]);
    const words = new Uint32Array(wordCount(size));
    for (let i = 0; i < ranges.length && errors.length < MAX_ERRORS; i++) {
      if (!(i in ranges)) {
        errors.push(validationError(`ranges[${i}]`, undefined, 'is missing (a hole in a sparse array)'));
        continue;
      }
      const r: unknown = ranges[i];
      const { start, length } = (typeof r === 'object' && r !== null ? r : {}) as { start?: unknown; length?: unknown };
      const rangeErrors = checkRange(size, start, length, `ranges[${i}]`);
      if (rangeErrors.length > 0) errors.push(...rangeErrors);
      else fillWords(words, start as number, (start as number) + (length as number), true);
    }
    return errors.length > 0 ? E.left(errors) : E.right(new BitmapValue(size, words));
  });

/**
 * Whether block `k` is set, that is, whether that block of the segment lives at the alternate;
 * `false` for any `k` outside `0 .. size-1`.
 *
 * @example
 * E.map((b: Bitmap) => bitmap.has(b, 7))(bitmap.fromOffsets(10, [2, 7, 8])) // Right(true)
 */
export const has = (b: Bitmap, k: number): boolean =>
  Number.isInteger(k) && k >= 0 && k < b.size && ((b.words[k >>> 5]! >>> (k & 31)) & 1) === 1;

/**
 * A copy of `b` with blocks `start .. start+length-1` set: records that a write of those blocks
 * went to the alternate. Left when the range does not lie inside the bitmap.
 *
 * @example
 * E.chain((b: Bitmap) => bitmap.setRange(b, 2, 3))(bitmap.empty(10)) // Right: blocks 2-4 set
 */
export const setRange = (b: Bitmap, start: number, length: number): E.Either<ValidationError[], Bitmap> => {
  if (!isBitmap(b)) return E.left(checkBitmap(b, 'bitmap'));
  const errors = checkRange(b.size, start, length, 'range');
  return errors.length > 0 ? E.left(errors) : E.right(fillUnchecked(b, start, start + length, true));
};

/**
 * A copy of `b` with blocks `start .. start+length-1` clear: those blocks are read from the
 * primary again. Left when the range does not lie inside the bitmap.
 *
 * @example
 * E.chain((b: Bitmap) => bitmap.clearRange(b, 0, 4))(bitmap.full(8)) // Right: blocks 4-7 set
 */
export const clearRange = (b: Bitmap, start: number, length: number): E.Either<ValidationError[], Bitmap> => {
  if (!isBitmap(b)) return E.left(checkBitmap(b, 'bitmap'));
  const errors = checkRange(b.size, start, length, 'range');
  return errors.length > 0 ? E.left(errors) : E.right(fillUnchecked(b, start, start + length, false));
};

/**
 * Number of set blocks: how much of the segment already lives at the alternate.
 *
 * @example
 * E.map(bitmap.count)(bitmap.fromOffsets(10, [2, 7, 8])) // Right(3)
 */
export const count = (b: Bitmap): number => {
  let n = 0;
  for (let i = 0; i < b.words.length; i++) n += popcount32(b.words[i]!);
  return n;
};

/**
 * True when no block is set: every block is still read from the primary.
 *
 * @example
 * E.map(bitmap.isEmpty)(bitmap.fromOffsets(10, [])) // Right(true)
 */
export const isEmpty = (b: Bitmap): boolean => b.words.every((w) => w === 0);

/**
 * True when every block is set: the alternate holds the whole segment, so the primary is no
 * longer read and the alternate can take its place.
 *
 * @example
 * E.map(bitmap.isFull)(bitmap.fromRanges(4, [{ start: 0, length: 4 }])) // Right(true)
 */
export const isFull = (b: Bitmap): boolean => count(b) === b.size;

/**
 * @internal First offset in `from .. to-1` whose bit equals `set`, or `to` when there is none.
 * Scans whole words: the bits that cannot match are masked away and the lowest remaining bit wins.
 */
export const scanFor = (words: Uint32Array, from: number, to: number, set: boolean): number => {
  if (from >= to) return to;
  let w = from >>> 5;
  let word = set ? words[w]! : ~words[w]!;
  word &= ~0 << (from & 31); // forget bits below `from`
  const lastWord = (to - 1) >>> 5;
  for (;;) {
    if (word !== 0) {
      const k = (w << 5) + lowestBit(word);
      return k < to ? k : to;
    }
    if (w >= lastWord) return to;
    w++;
    word = set ? words[w]! : ~words[w]!;
  }
};

/**
 * Offset of the first set block, or `-1` when none is; scans a word at a time.
 *
 * @example
 * E.map(bitmap.firstSet)(bitmap.fromOffsets(10, [7, 8])) // Right(7)
 */
export const firstSet = (b: Bitmap): number => {
  const k = scanFor(b.words, 0, b.size, true);
  return k < b.size ? k : -1;
};

/**
 * Offset of the first clear block, or `-1` when every block is set: where to start copying the
 * blocks the alternate does not hold yet.
 *
 * @example
 * E.map(bitmap.firstClear)(bitmap.fromRanges(10, [{ start: 0, length: 3 }])) // Right(3)
 */
export const firstClear = (b: Bitmap): number => {
  const k = scanFor(b.words, 0, b.size, false);
  return k < b.size ? k : -1;
};

/**
 * @internal Calls `visit` for each maximal run over `from .. to-1`, in order, with no bounds
 * checks, and returns the number of runs. One pass over the words: the bits where a word differs
 * from itself shifted by one are exactly the run boundaries, and words that merely continue the
 * current run are skipped in a tight loop, so the cost is per word and per run, never per bit,
 * and nothing is allocated.
 */
export const forEachRunUnchecked = (b: Bitmap, from: number, to: number, visit: (start: number, length: number, set: boolean) => void): number => {
  if (from >= to) return 0;
  const words = b.words;
  const lastWord = (to - 1) >>> 5;
  const lastMask = ((to - 1) & 31) === 31 ? -1 : (1 << (((to - 1) & 31) + 1)) - 1; // bits of the last word inside the range
  let w = from >>> 5;
  let current = (words[w]! >>> (from & 31)) & 1;
  let runStart = from;
  let count = 0;
  // Bit k of `flips` is set when bit k differs from the bit before it; boundaries at or before
  // `from` do not count.
  let flips = (words[w]! ^ ((words[w]! << 1) | current)) & ~((2 << (from & 31)) - 1);
  if (w === lastWord) flips &= lastMask;
  for (;;) {
    if (flips === 0) {
      if (w === lastWord) break;
      const fill = -current | 0; // a word that continues the run: all ones or all zeros
      do w++;
      while (w < lastWord && (words[w]! | 0) === fill);
      const word = words[w]!;
      flips = word ^ ((word << 1) | current);
      if (w === lastWord) flips &= lastMask;
      continue;
    }
    const at = (w << 5) + (31 - Math.clz32(flips & -flips));
    visit(runStart, at - runStart, current === 1);
    count++;
    runStart = at;
    current ^= 1;
    flips &= flips - 1;
  }
  visit(runStart, to - runStart, current === 1);
  return count + 1;
};

/**
 * Calls `visit(start, length, set)` for each maximal run of equal bits over
 * `start .. start+length-1` (the whole bitmap by default), in order, and returns how many runs
 * there were. The allocation-free form of {@link runs}, for hot paths.
 *
 * @example
 * let set = 0;
 * forEachRun(b, (start, length, isSet) => { if (isSet) set += length; }); // Right(number of runs)
 */
export const forEachRun = (
  b: Bitmap,
  visit: (start: number, length: number, set: boolean) => void,
  start = 0,
  length?: number,
): E.Either<ValidationError[], number> => {
  if (!isBitmap(b)) return E.left(checkBitmap(b, 'bitmap'));
  if (typeof visit !== 'function') return E.left([validationError('visit', visit, 'must be a function (start, length, set) => void')]);
  if (length === undefined) length = typeof start === 'number' ? b.size - start : 0;
  const errors = checkRange(b.size, start, length, 'range');
  return errors.length > 0 ? E.left(errors) : E.right(forEachRunUnchecked(b, start, start + length, visit));
};

/** @internal Maximal runs over `from .. to-1`, with no bounds checks. */
export function* runsUnchecked(b: Bitmap, from: number, to: number): Generator<BitRun> {
  let at = from;
  while (at < to) {
    const set = ((b.words[at >>> 5]! >>> (at & 31)) & 1) === 1;
    const end = scanFor(b.words, at, to, !set);
    yield { start: at, length: end - at, set };
    at = end;
  }
}

/**
 * The maximal runs of equal bits over `start .. start+length-1` (the whole bitmap by default),
 * in order. Each step skips whole words, so a sparse or dense bitmap costs per run, not per bit.
 *
 * @example
 * runs(fromOffsets(10, [2, 7, 8]) as Bitmap) // Right: 0-1 clear, 2 set, 3-6 clear, 7-8 set, 9 clear
 */
export const runs = (b: Bitmap, start = 0, length?: number): E.Either<ValidationError[], BitRun[]> => {
  if (!isBitmap(b)) return E.left(checkBitmap(b, 'bitmap'));
  if (length === undefined) length = typeof start === 'number' ? b.size - start : 0;
  const errors = checkRange(b.size, start, length, 'range');
  return errors.length > 0 ? E.left(errors) : E.right([...runsUnchecked(b, start, start + length)]);
};

const combine = (
  a: Bitmap,
  b: Bitmap,
  op: (x: number, y: number) => number,
): E.Either<ValidationError[], Bitmap> => {
  const invalid = [...checkBitmap(a, 'a'), ...checkBitmap(b, 'b')];
  if (invalid.length > 0) return E.left(invalid);
  if (a.size !== b.size)
    return E.left([validationError('size', b.size, `must equal the other bitmap's size ${a.size}`)]);
  const words = new Uint32Array(a.words.length);
  for (let i = 0; i < words.length; i++) words[i] = op(a.words[i]!, b.words[i]!) >>> 0;
  return E.right(new BitmapValue(a.size, words));
};

/**
 * Blocks set in `a` or `b`, for merging the marks of two writes. Left when the sizes differ.
 *
 * @example
 * bitmap.union(a, b) // Right: every block set in either
 */
export const union = (a: Bitmap, b: Bitmap) => combine(a, b, (x, y) => x | y);
/**
 * Blocks set in both `a` and `b`. Left when the sizes differ.
 *
 * @example
 * E.map(bitmap.isEmpty)(bitmap.intersection(a, b)) // Right(true) when no block is in both
 */
export const intersection = (a: Bitmap, b: Bitmap) => combine(a, b, (x, y) => x & y);
/**
 * Blocks set in `a` but not in `b`: for instance the blocks a newer bitmap has gained over an
 * older one. Left when the sizes differ.
 *
 * @example
 * E.map(bitmap.toOffsets)(bitmap.difference(after, before)) // Right: the offsets newly set
 */
export const difference = (a: Bitmap, b: Bitmap) => combine(a, b, (x, y) => x & ~y);

/**
 * Same size and same blocks set. Compares content, which `===` on two bitmaps does not.
 *
 * @example
 * bitmap.equals(a, b) // true when both have the same size and the same blocks set
 */
export const equals = (a: Bitmap, b: Bitmap): boolean => {
  if (a.size !== b.size) return false;
  for (let i = 0; i < a.words.length; i++) if (a.words[i] !== b.words[i]) return false;
  return true;
};

/**
 * Offsets of the set blocks, ascending: the inverse of `fromOffsets`. One array element per set
 * block, so prefer `runs` for large, dense bitmaps.
 *
 * @example
 * E.map(bitmap.toOffsets)(bitmap.fromRanges(10, [{ start: 7, length: 2 }])) // Right([7, 8])
 */
export const toOffsets = (b: Bitmap): number[] => {
  const out: number[] = [];
  for (const r of runsUnchecked(b, 0, b.size)) if (r.set) for (let k = r.start; k < r.start + r.length; k++) out.push(k);
  return out;
};

/**
 * Compact, stable text: the set runs as `a` or `a-b`, comma separated, ascending (`2,7-8`);
 * the empty string when nothing is set. The size is not part of the text. Meant for logs, test
 * expectations and table listings; {@link parse} reads it back.
 *
 * @example
 * E.map(bitmap.format)(bitmap.fromOffsets(10, [2, 7, 8])) // Right('2,7-8')
 */
export const format = (b: Bitmap): string => {
  const parts: string[] = [];
  for (const r of runsUnchecked(b, 0, b.size))
    if (r.set) parts.push(r.length === 1 ? `${r.start}` : `${r.start}-${r.start + r.length - 1}`);
  return parts.join(',');
};

const RUN = /^(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?$/;

/**
 * Reads the text of {@link format} back, for a bitmap of `size` blocks. Runs must be ascending
 * and must not touch or overlap, so each bitmap has exactly one text.
 *
 * @example
 * parse(10, '2,7-8') // Right: blocks 2, 7 and 8 set
 */
export const parse = (size: number, text: string): E.Either<ValidationError[], Bitmap> => {
  const sizeErrors = checkSize(size);
  if (sizeErrors.length > 0) return E.left(sizeErrors);
  if (typeof text !== 'string') return E.left([validationError('text', text, 'must be a string')]);
  const words = new Uint32Array(wordCount(size));
  if (text === '') return E.right(new BitmapValue(size, words));
  let next = 0; // smallest offset the next run may start at
  const parts = text.split(',');
  for (let i = 0; i < parts.length; i++) {
    const m = RUN.exec(parts[i]!);
    const field = `text[run ${i}]`;
    if (!m) return E.left([validationError(field, parts[i], 'must be `a` or `a-b` with decimal offsets')]);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi >= size) return E.left([validationError(field, parts[i], `must lie inside 0..${size - 1}`)]);
    if (hi < lo) return E.left([validationError(field, parts[i], 'must not end before it starts')]);
    if (hi === lo && m[2] !== undefined)
      return E.left([validationError(field, parts[i], 'must be written `a`, not `a-a`, for a single block')]);
    if (lo < next)
      return E.left([validationError(field, parts[i], `must start at ${next} or later (runs ascend with a gap between them)`)]);
    fillWords(words, lo, hi + 1, true);
    next = hi + 2;
  }
  return E.right(new BitmapValue(size, words));
};
