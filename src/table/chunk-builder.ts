/**
 * Building chunks: a chunk is copied (or created), entries are written into it, and it is frozen
 * before it is shared. Alternate slots are copied only when an update changes one, and packed
 * again when the chunk is frozen.
 */
import * as B from '../bitmap/bitmap.js';
import type { Bitmap } from '../bitmap/bitmap.js';
import type { Alternate, MappingEntry } from './entry.js';
import {
  ALT_HEADER,
  altStride,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_SLOT_KEPT,
  F_ZERO,
  FLAG_MASK,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
  type Chunk,
} from './layout.js';

/** @internal A chunk being built: its `rec` is its own; its alternates are copied on first write. */
export interface MutableChunk {
  size: number;
  rec: Uint32Array;
  alt: Uint32Array | null;
  bitmaps: Bitmap[] | null;
  /** Slots in `alt` holding something, live or abandoned. */
  used: number;
  /** True once `alt` and `bitmaps` are this chunk's own copies. */
  ownsAlternates: boolean;
  readonly stride: number;
  readonly inline: boolean;
}

/** @internal A new chunk of `size` segments whose bitmaps have `bits` bits (`bitmapBits`), writing into `rec` (a view of a flat array, or its own). */
export const newChunk = (size: number, bits: number, rec = new Uint32Array(size * REC_WORDS)): MutableChunk => {
  const stride = altStride(bits);
  return { size, rec, alt: null, bitmaps: null, used: 0, ownsAlternates: true, stride, inline: stride > ALT_HEADER };
};

/** @internal A copy of a shared chunk to write into; its alternates stay shared until one changes. */
export const copyChunk = (c: Chunk, bits: number): MutableChunk => {
  const stride = altStride(bits);
  return {
    size: c.size,
    rec: c.rec.slice(),
    alt: c.alt,
    bitmaps: c.bitmaps as Bitmap[] | null,
    used: c.alt === null ? 0 : c.alt.length / stride,
    ownsAlternates: false,
    stride,
    inline: stride > ALT_HEADER,
  };
};

const ownAlternates = (c: MutableChunk): void => {
  if (c.ownsAlternates) return;
  c.alt = c.alt === null ? null : c.alt.slice();
  c.bitmaps = c.bitmaps === null ? null : c.bitmaps.slice();
  c.ownsAlternates = true;
};

const newSlot = (c: MutableChunk): number => {
  ownAlternates(c);
  const capacity = c.alt === null ? 0 : c.alt.length / c.stride;
  if (c.used === capacity) {
    const grown = new Uint32Array(Math.max(4, capacity * 2) * c.stride);
    if (c.alt !== null) grown.set(c.alt);
    c.alt = grown;
  }
  if (!c.inline) c.bitmaps ??= [];
  return c.used++;
};

/** True when slot `slot` of `alt` (and `bitmaps`) holds exactly `a`. */
const slotHolds = (alt: Uint32Array, bitmaps: ReadonlyArray<Bitmap> | null, stride: number, slot: number, a: Alternate): boolean => {
  const base = slot * stride;
  if (alt[base] !== a.lun || alt[base + 1]! + alt[base + 2]! * TWO_POW_32 !== a.start) return false;
  if (bitmaps !== null) return bitmaps[slot] === a.blocks || B.equals(bitmaps[slot]!, a.blocks);
  const words = a.blocks.words;
  for (let w = 0; w < words.length; w++) if (alt[base + ALT_HEADER + w] !== words[w]) return false;
  return true;
};

const writeSlot = (c: MutableChunk, slot: number, a: Alternate): void => {
  const alt = c.alt!;
  const base = slot * c.stride;
  alt[base] = a.lun;
  alt[base + 1] = a.start >>> 0;
  alt[base + 2] = Math.floor(a.start / TWO_POW_32);
  if (c.inline) alt.set(a.blocks.words, base + ALT_HEADER);
  else c.bitmaps![slot] = a.blocks;
};

/** @internal Writes entry `e` as segment `i` of the chunk. */
export const writeEntry = (c: MutableChunk, i: number, e: MappingEntry): void => {
  const r = i * REC_WORDS;
  const head = c.rec[r]!;
  let slot = (head & F_HAS_ALTERNATE) !== 0 ? head >>> SLOT_SHIFT : -1;
  let kept = -1; // the slot this segment gave up earlier in the batch
  if (e.alternate !== null) {
    // Most updates leave the alternate as it was: then the slots need not be copied.
    if (slot < 0) slot = (head & F_SLOT_KEPT) !== 0 ? head >>> SLOT_SHIFT : newSlot(c);
    else if (!slotHolds(c.alt!, c.bitmaps, c.stride, slot, e.alternate)) ownAlternates(c);
    if (c.ownsAlternates) writeSlot(c, slot, e.alternate);
  } else if (slot >= 0 || (head & F_SLOT_KEPT) !== 0) {
    ownAlternates(c); // the slot is abandoned, and dropped when the chunk is frozen
    kept = head >>> SLOT_SHIFT;
    slot = -1;
  }
  const flags =
    (e.invalid ? F_INVALID : 0) |
    (e.noWrite ? F_NO_WRITE : 0) |
    (e.zero ? F_ZERO : 0) |
    (e.error ? F_ERROR : 0) |
    (e.location !== null ? F_HAS_LOCATION : 0) |
    (slot >= 0 ? F_HAS_ALTERNATE : kept >= 0 ? F_SLOT_KEPT : 0);
  c.rec[r] = (flags | (slot >= 0 ? slot << SLOT_SHIFT : kept >= 0 ? kept << SLOT_SHIFT : 0)) >>> 0;
  const start = e.location?.start ?? 0;
  c.rec[r + 1] = e.location?.lun ?? 0;
  c.rec[r + 2] = start >>> 0;
  c.rec[r + 3] = Math.floor(start / TWO_POW_32);
};

/**
 * Shares the chunk. Slots it wrote are packed first, in segment order, so a shared chunk holds
 * no abandoned slot and no spare room.
 *
 * @internal
 */
export const freeze = (c: MutableChunk): Chunk => {
  if (!c.ownsAlternates || c.alt === null) return { size: c.size, rec: c.rec, alt: c.alt, bitmaps: c.bitmaps };
  const { rec, stride } = c;
  let live = 0;
  for (let r = 0; r < rec.length; r += REC_WORDS) {
    const head = rec[r]!;
    if ((head & F_HAS_ALTERNATE) !== 0) live++;
    else if ((head & F_SLOT_KEPT) !== 0) rec[r] = head & FLAG_MASK & ~F_SLOT_KEPT;
  }
  if (live === 0) return { size: c.size, rec, alt: null, bitmaps: null };
  const alt = new Uint32Array(live * stride);
  const bitmaps: Bitmap[] | null = c.inline ? null : [];
  let next = 0;
  for (let r = 0; r < rec.length; r += REC_WORDS) {
    const head = rec[r]!;
    if ((head & F_HAS_ALTERNATE) === 0) continue;
    const slot = head >>> SLOT_SHIFT;
    alt.set(c.alt.subarray(slot * stride, (slot + 1) * stride), next * stride);
    if (bitmaps !== null) bitmaps.push(c.bitmaps![slot]!);
    rec[r] = ((head & FLAG_MASK) | (next << SLOT_SHIFT)) >>> 0;
    next++;
  }
  return { size: c.size, rec, alt, bitmaps };
};
