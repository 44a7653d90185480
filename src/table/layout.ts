/**
 * The record layout of mapping tables: how a segment's entry is packed into its chunk (flags, the
 * primary location, the alternate slot), the chunk and table shapes, and the readers every other
 * module uses to turn records back into entries. Translation reads these records directly.
 */
import * as B from '../bitmap/bitmap.js';
import type { Bitmap } from '../bitmap/bitmap.js';
import type { Alternate, MappingEntry } from './entry.js';
import type { SegmentDirectory } from './segment-directory.js';

/** log2 of the number of segments per chunk. */
export const CHUNK_BITS = 8;
/**
 * Segments per chunk: an update copies 16 bytes times this (plus the chunk's alternates, if it has
 * any), the chunk list (one pointer per chunk) and, while the chunk is still in the table's
 * built-in record array, a bit set of one bit per chunk. Useful to estimate what a change costs
 * and how much two table versions share.
 *
 * @example
 * Math.ceil(table.segmentCount / CHUNK_SIZE) // chunks in the table; a one-entry update copies one
 */
export const CHUNK_SIZE = 1 << CHUNK_BITS;
/** @internal */
export const CHUNK_MASK = CHUNK_SIZE - 1;

/** @internal Flag bits, in the low byte of a segment's record. */
export const F_INVALID = 1;
export const F_NO_WRITE = 2;
export const F_ZERO = 4;
export const F_ERROR = 8;
export const F_HAS_LOCATION = 16;
/** @internal Set when the segment has an alternate, so translation loads the alternate only then. */
export const F_HAS_ALTERNATE = 32;
/**
 * @internal Set only inside a chunk being built: the segment lost its alternate in this batch and its slot
 * number is kept, so that giving it an alternate again reuses the slot (slot numbers then stay
 * below twice the chunk size however long the batch). `freeze` clears it.
 */
export const F_SLOT_KEPT = 64;

/**
 * @internal A segment's record is {@link REC_WORDS} words of its chunk's `rec` array, so that one
 * cache line holds everything translation needs about four segments:
 *
 *   rec[4i]     flags (low byte) | alternate slot << SLOT_SHIFT
 *   rec[4i + 1] primary LUN
 *   rec[4i + 2] primary start, low 32 bits
 *   rec[4i + 3] primary start, high bits
 */
export const REC_WORDS = 4;
/** @internal */
export const SLOT_SHIFT = 8;
/** @internal */
export const FLAG_MASK = 0xff;
/** @internal Words of an alternate slot before its bitmap: LUN, start low, start high. */
export const ALT_HEADER = 3;
/**
 * @internal Bitmaps of at most this many words (1,024 blocks) are stored inline in the alternate
 * slots; bigger ones stay shared `Bitmap` values, so that an update never copies megabytes.
 */
export const INLINE_BITMAP_WORDS = 32;
/** @internal */
export const TWO_POW_32 = 4294967296;

/**
 * @internal Bits of every alternate bitmap of `table`: one per grain of a uniform table
 * (`segmentBlocks / grainBlocks`, docs/design.md#bitmap-grain), 0 in a variable table (whose
 * bitmaps are sized per segment and kept out of line). The slot layout is sized by it.
 */
export const bitmapBits = (table: { readonly segmentBlocks: number; readonly grainBlocks: number }): number =>
  table.grainBlocks === 1 ? table.segmentBlocks : table.segmentBlocks / table.grainBlocks;

/** @internal Words per alternate slot in tables whose bitmaps have `bits` bits ({@link bitmapBits}). */
export const altStride = (bits: number): number => {
  const words = (bits + 31) >>> 5;
  return ALT_HEADER + (words <= INLINE_BITMAP_WORDS ? words : 0);
};

/**
 * @internal One chunk of consecutive segments. Never mutated once shared.
 *
 * Alternates live in slots of `alt` ({@link altStride} words each: header, then the bitmap's words
 * when they are inline); a record's slot number says which. Slots are packed: a shared chunk has
 * exactly one slot per segment with an alternate.
 */
export interface Chunk {
  /** Segments in the chunk. */
  readonly size: number;
  readonly rec: Uint32Array;
  /** Alternate slots, or `null` when no segment of the chunk has an alternate. */
  readonly alt: Uint32Array | null;
  /** Bitmaps by slot when they are too big to inline, else `null`. */
  readonly bitmaps: ReadonlyArray<Bitmap> | null;
}

/**
 * A virtual disk's mapping table: `segmentCount` segments of `segmentBlocks` blocks each.
 * Immutable; every change returns a new table with `generation` advanced.
 *
 * @example
 * const t = createTable({ segmentBlocks: 8, segmentCount: 1024, entries: () => ({ zero: true }) });
 * if (E.isRight(t)) console.log(t.right.segmentCount * t.right.segmentBlocks, t.right.generation); // 8192 0
 */
export interface MappingTable {
  /**
   * Blocks per segment in a uniform table; 0 in a variable table, whose segments each have their
   * own length (read them with `segmentLength`, `segmentStart`, `segmentOfBlock`, `tableBlocks`).
   */
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  /** Advanced on every change; the controller's copy is the authority. */
  readonly generation: number;
  /** @internal */
  readonly chunks: ReadonlyArray<Chunk>;
  /**
   * @internal The records of the chunks the table was built with, back to back: segment `s` at
   * `s * REC_WORDS` while bit `s >>> CHUNK_BITS` of `inFlat` is set (that chunk's `rec` is a view
   * of this array). Translation indexes it directly, because going through a chunk object and
   * its own typed array costs two more dependent loads, and at a million segments those miss
   * the cache: about half of a translation's time. The array lives as long as any version still
   * has a chunk in it, so a table shrunk to a small part of what it was built with keeps it.
   */
  readonly flat: Uint32Array | null;
  /** @internal One bit per chunk: set while the chunk's records are still in `flat`. */
  readonly inFlat: Uint32Array;
  /**
   * @internal The alternate slots of the chunks the table was built with, back to back, for the
   * same reason as `flat`: a chunk whose bit of `inFlat` is set has its `alt` in here. Null with
   * `flat`.
   */
  readonly flatAlts: FlatAlternates | null;
  /**
   * @internal The boundary index of a variable table: `segmentCount + 1` ascending block numbers,
   * segment `s` covering `segmentStarts[s] .. segmentStarts[s + 1] - 1`; `null` in a uniform
   * table. Shared between versions (never mutated); only splitting or merging segments, or
   * resizing, makes a new one. See `segments.ts`.
   */
  readonly segmentStarts: Float64Array | null;
  /**
   * @internal The directory of `segmentStarts` (`segment-directory.ts`), built with it and shared
   * with it: which segment holds the first block of each bucket of blocks, so that finding a
   * block's segment bisects a few segments instead of the whole index. `null` in a uniform table.
   */
  readonly segmentDirectory: SegmentDirectory | null;
  /**
   * Blocks per alternate bit (docs/design.md#bitmap-grain): a divisor of `segmentBlocks`, 1
   * unless the table was created with a larger grain (always 1 in a variable table). Every
   * alternate bitmap has one bit per grain, `segmentBlocks / grainBlocks` bits: bit `j` stands
   * for blocks `j * grainBlocks .. (j + 1) * grainBlocks - 1` of the segment.
   *
   * @example
   * // segmentBlocks 16384 (64 MiB of 4 KiB blocks), grainBlocks 8 (32 KiB): 2048-bit bitmaps
   * getEntry(grained, 0).right.alternate?.blocks.size // 2048
   */
  readonly grainBlocks: number;
  /**
   * @internal One bit per chunk, or `null` when no bit is set: a set bit means the table was
   * frozen (a snapshot: `freezeTable`) since the chunk was last copied, so every segment of it
   * that has a location is `noWrite` whatever its record says. A freeze then costs a bit per
   * chunk instead of a copy of every record; the first update that copies the chunk writes the
   * flags into its records and clears the bit. Every reader of records sees the effective flags
   * (`headAt`), so nothing outside the table modules can tell a frozen chunk from a copied one.
   */
  readonly frozen: Uint32Array | null;
}

/**
 * @internal Alternate slots of many chunks in one array: slot `s` of chunk `ci` starts at word
 * `(base[ci] + s) * altStride(bitmapBits(table))` of `slots`.
 */
export interface FlatAlternates {
  readonly slots: Uint32Array;
  readonly base: Uint32Array;
}

/**
 * @internal Tables up to this many segments keep their records in one array (512 MiB at most); bigger ones
 * are built chunk by chunk, so that building never asks for one huge allocation.
 */
export const FLAT_MAX_SEGMENTS = 1 << 25;

/** @internal True when chunk `ci` of `table` has its records in `table.flat`. */
export const chunkInFlat = (table: MappingTable, ci: number): boolean => ((table.inFlat[ci >>> 5]! >>> (ci & 31)) & 1) === 1;

/** @internal True when chunk `ci` of `table` is frozen by its bit (see `MappingTable.frozen`). */
export const chunkFrozen = (table: MappingTable, ci: number): boolean => table.frozen !== null && ((table.frozen[ci >>> 5]! >>> (ci & 31)) & 1) === 1;

/** @internal A record's first word as `table` means it: `noWrite` added to a located segment of a frozen chunk. */
export const frozenHead = (head: number): number => ((head & F_HAS_LOCATION) !== 0 ? (head | F_NO_WRITE) >>> 0 : head);

/** @internal The effective first word of the record at word `r` of chunk `ci`'s records. */
export const headAt = (table: MappingTable, ci: number, rec: Uint32Array, r: number): number =>
  chunkFrozen(table, ci) ? frozenHead(rec[r]!) : rec[r]!;

/** @internal The alternate in slot `slot` of chunk `c`, in a table whose bitmaps have `bits` bits ({@link bitmapBits}). */
export const alternateAt = (c: Chunk, slot: number, bits: number): Alternate => {
  const alt = c.alt!;
  const stride = altStride(bits);
  const base = slot * stride;
  const blocks =
    c.bitmaps !== null
      ? c.bitmaps[slot]!
      : B.unsafeFromWords(bits, alt.slice(base + ALT_HEADER, base + ALT_HEADER + ((bits + 31) >>> 5)));
  return { lun: alt[base]!, start: alt[base + 1]! + alt[base + 2]! * TWO_POW_32, blocks };
};

/** @internal Reads segment `segment` without bounds checks. */
export const entryAt = (table: MappingTable, segment: number): MappingEntry => {
  const ci = segment >>> CHUNK_BITS;
  const c = table.chunks[ci]!;
  const r = (segment & CHUNK_MASK) * REC_WORDS;
  const head = headAt(table, ci, c.rec, r);
  return {
    location: (head & F_HAS_LOCATION) !== 0 ? { lun: c.rec[r + 1]!, start: c.rec[r + 2]! + c.rec[r + 3]! * TWO_POW_32 } : null,
    invalid: (head & F_INVALID) !== 0,
    noWrite: (head & F_NO_WRITE) !== 0,
    zero: (head & F_ZERO) !== 0,
    error: (head & F_ERROR) !== 0,
    alternate: (head & F_HAS_ALTERNATE) !== 0 ? alternateAt(c, head >>> SLOT_SHIFT, bitmapBits(table)) : null,
  };
};

/**
 * @internal Segments that have an alternate and none of the flags in `unless`, ascending. Chunks
 * without alternates are skipped whole.
 */
export const segmentsWithAlternate = (table: MappingTable, unless = 0): number[] => {
  const out: number[] = [];
  table.chunks.forEach((c, ci) => {
    if (c.alt === null) return;
    for (let i = 0; i < c.size; i++) {
      const head = headAt(table, ci, c.rec, i * REC_WORDS);
      if ((head & F_HAS_ALTERNATE) !== 0 && (head & unless) === 0) out.push(ci * CHUNK_SIZE + i);
    }
  });
  return out;
};
