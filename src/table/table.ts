/**
 * Mapping tables: one entry per segment, persistent and structure-sharing.
 *
 * Entries live in chunks of {@link CHUNK_SIZE} segments (qcow2's L2 tables): one 16-byte record
 * per segment in a typed array, plus packed slots for the alternates of the segments that have
 * one. The table holds the list of chunks (its L1). Updating an entry copies one chunk and the
 * chunk list, never the whole table, and an updated table shares every untouched chunk with its
 * predecessor, which also lets `diffTables` skip shared chunks outright. A table also keeps the
 * records it was built with in one array, which translation reads directly while a chunk has not
 * been replaced (see `flat`).
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { MAX_BITMAP_SIZE, type Bitmap } from '../bitmap/bitmap.js';
import { checkBlockNumber, guarded, unreadableError, validationError, type ValidationError } from '../errors.js';
import { validateEntry, type Alternate, type EntrySpec, type LunSizes, type MappingEntry } from './entry.js';

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
const CHUNK_MASK = CHUNK_SIZE - 1;

/** @internal Flag bits, in the low byte of a segment's record. */
export const F_INVALID = 1;
export const F_NO_WRITE = 2;
export const F_ZERO = 4;
export const F_ERROR = 8;
export const F_HAS_LOCATION = 16;
/** @internal Set when the segment has an alternate, so translation loads the alternate only then. */
export const F_HAS_ALTERNATE = 32;
/**
 * Set only inside a chunk being built: the segment lost its alternate in this batch and its slot
 * number is kept, so that giving it an alternate again reuses the slot (slot numbers then stay
 * below twice the chunk size however long the batch). `freeze` clears it.
 */
const F_SLOT_KEPT = 64;

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

/** @internal Words per alternate slot in tables of `segmentBlocks` blocks per segment. */
export const altStride = (segmentBlocks: number): number => {
  const words = (segmentBlocks + 31) >>> 5;
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
}

/**
 * @internal Alternate slots of many chunks in one array: slot `s` of chunk `ci` starts at word
 * `(base[ci] + s) * altStride(segmentBlocks)` of `slots`.
 */
export interface FlatAlternates {
  readonly slots: Uint32Array;
  readonly base: Uint32Array;
}

/**
 * What {@link createTable} takes. `entries` is a list, or a function of the segment number.
 *
 * @example
 * // A thin 8 MiB disk of 512-byte blocks: every segment reads as zeros until it is written.
 * const spec: TableSpec = { segmentBlocks: 8, segmentCount: 2048, entries: () => ({ zero: true }) };
 */
export interface TableSpec {
  readonly segmentBlocks: number;
  /** The entry of each segment: a list, or a function of the segment number for large, regular tables. */
  readonly entries: ReadonlyArray<EntrySpec> | ((segment: number) => EntrySpec);
  /** Required when `entries` is a function. */
  readonly segmentCount?: number;
  /** Defaults to 0. */
  readonly generation?: number;
}

/**
 * Options shared by the table constructors and updaters.
 *
 * @example
 * createTable(spec, { lunSizes: { 1: 4096, 2: 4096 } }) // Left when an extent does not fit its LUN
 */
export interface TableOptions {
  /** Declared LUN sizes: extents must fit and LUNs must be declared. */
  readonly lunSizes?: LunSizes;
  /**
   * Most segments the result may have, for callers that hold tables under a tighter budget than
   * {@link MAX_SEGMENT_COUNT} (an agent refusing a table it could not hold). Checked before
   * anything is allocated. At most, and by default, `MAX_SEGMENT_COUNT`.
   */
  readonly maxSegments?: number;
}

/**
 * Options of {@link setEntry} and {@link setEntries}. An explicit `generation` lets a copy of a
 * table take the number its authority assigned to the same change. Generations never go
 * backwards: it may not be below the table's own, except 0, which makes the result the first
 * generation of a new table (a snapshot's table, made from its source's).
 *
 * @example
 * setEntry(table, 0, { zero: true }, { generation: 10 }) // Right: a table at generation 10
 */
export interface UpdateOptions extends TableOptions {
  /** The generation of the result: at least the table's, or 0 for a new table; defaults to the table's generation + 1. */
  readonly generation?: number;
}

/**
 * Largest table, 2^26 segments: its records take 1 GiB (16 bytes a segment), about what one
 * process can hold next to everything else. Every constructor (`createTable`, `resizeTable`,
 * `decodeTable`) refuses a bigger `segmentCount` (or entry list) before it allocates anything.
 * Segments can be large (`segmentBlocks` up to 2^24), so this bounds the table, not the disk.
 * `TableOptions.maxSegments` sets a lower bound for one call.
 *
 * @example
 * resizeTable(table, MAX_SEGMENT_COUNT + 1, { zero: true }) // Left: segmentCount must be an integer from 0 to 67108864
 */
export const MAX_SEGMENT_COUNT = 2 ** 26;

/** The segment limit of one call: `options.maxSegments` when it is a valid, lower bound. */
const segmentLimit = (errors: ValidationError[], options: TableOptions | undefined): number => {
  const max = options?.maxSegments;
  if (max === undefined) return MAX_SEGMENT_COUNT;
  if (typeof max === 'number' && Number.isSafeInteger(max) && max >= 0 && max <= MAX_SEGMENT_COUNT) return max;
  errors.push(validationError('options.maxSegments', max, `must be an integer from 0 to ${MAX_SEGMENT_COUNT}`));
  return MAX_SEGMENT_COUNT;
};

/** Collects an error unless `count` is a segment count of at most `max`. */
const checkSegmentCount = (errors: ValidationError[], field: string, count: unknown, max: number): count is number => {
  if (typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 && count <= max) return true;
  errors.push(validationError(field, count, `must be an integer from 0 to ${max}`));
  return false;
};

/** A chunk being built: its `rec` is its own; its alternates are copied on first write. */
interface MutableChunk {
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

const newChunk = (size: number, segmentBlocks: number, rec = new Uint32Array(size * REC_WORDS)): MutableChunk => {
  const stride = altStride(segmentBlocks);
  return { size, rec, alt: null, bitmaps: null, used: 0, ownsAlternates: true, stride, inline: stride > ALT_HEADER };
};

const copyChunk = (c: Chunk, segmentBlocks: number): MutableChunk => {
  const stride = altStride(segmentBlocks);
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

const writeEntry = (c: MutableChunk, i: number, e: MappingEntry): void => {
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
 */
const freeze = (c: MutableChunk): Chunk => {
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

/**
 * Tables are class instances so that state libraries which copy plain objects on write (immer
 * drafts) treat a table as one opaque value instead of walking its chunks.
 */
class TableValue implements MappingTable {
  // Tables are frozen, and immer leaves frozen values as they are; marking the class immerable is
  // not needed and would make immer copy the table field by field.
  constructor(
    readonly segmentBlocks: number,
    readonly segmentCount: number,
    readonly generation: number,
    readonly chunks: ReadonlyArray<Chunk>,
    readonly flat: Uint32Array | null,
    readonly inFlat: Uint32Array,
    readonly flatAlts: FlatAlternates | null,
  ) {
    Object.freeze(this);
  }
}

const makeTable = (
  segmentBlocks: number,
  segmentCount: number,
  generation: number,
  chunks: ReadonlyArray<Chunk>,
  flat: Uint32Array | null,
  inFlat: Uint32Array,
  flatAlts: FlatAlternates | null,
): MappingTable => new TableValue(segmentBlocks, segmentCount, generation, chunks, flat, inFlat, flat === null ? null : flatAlts);

/**
 * Moves the alternate slots of freshly built chunks into one array, each chunk's `alt` becoming
 * a view of it (translation then reaches a slot without going through the chunk).
 */
const gatherAlternates = (chunks: Chunk[], stride: number): FlatAlternates => {
  const base = new Uint32Array(chunks.length);
  let total = 0;
  for (let ci = 0; ci < chunks.length; ci++) {
    base[ci] = total;
    total += (chunks[ci]!.alt?.length ?? 0) / stride;
  }
  const slots = new Uint32Array(total * stride);
  for (let ci = 0; ci < chunks.length; ci++) {
    const c = chunks[ci]!;
    if (c.alt === null) continue;
    slots.set(c.alt, base[ci]! * stride);
    chunks[ci] = { size: c.size, rec: c.rec, alt: slots.subarray(base[ci]! * stride, base[ci]! * stride + c.alt.length), bitmaps: c.bitmaps };
  }
  return { slots, base };
};

/**
 * @internal Tables up to this many segments keep their records in one array (512 MiB at most); bigger ones
 * are built chunk by chunk, so that building never asks for one huge allocation.
 */
export const FLAT_MAX_SEGMENTS = 1 << 25;

const noChunksInFlat = (chunkCount: number): Uint32Array => new Uint32Array((chunkCount + 31) >>> 5);

/** `flat`, or `null` once no chunk uses it, so that its memory can go. */
const flatIfUsed = (flat: Uint32Array | null, inFlat: Uint32Array): Uint32Array | null => (inFlat.some((w) => w !== 0) ? flat : null);

const setChunkBit = (bits: Uint32Array, ci: number, on: boolean): void => {
  const mask = 1 << (ci & 31);
  bits[ci >>> 5] = (on ? bits[ci >>> 5]! | mask : bits[ci >>> 5]! & ~mask) >>> 0;
};

/**
 * @internal A table of chunks built outside this module (the binary decoder). They must be what
 * `freeze` leaves: slots packed in segment order, no kept-slot flag. `flat` is null or holds every
 * chunk's records back to back, and then `flatAlts` every chunk's `alt`.
 */
export const assembleTable = (
  segmentBlocks: number,
  segmentCount: number,
  generation: number,
  chunks: ReadonlyArray<Chunk>,
  flat: Uint32Array | null,
  flatAlts: FlatAlternates | null,
): MappingTable => {
  const inFlat = noChunksInFlat(chunks.length);
  if (flat !== null) for (let ci = 0; ci < chunks.length; ci++) setChunkBit(inFlat, ci, true);
  return makeTable(segmentBlocks, segmentCount, generation, chunks, flat, inFlat, flatAlts);
};

/**
 * @internal True when `value` is a table built by this library. Cheap: the public functions use
 * it to answer a `Left` for anything else instead of failing on a missing field.
 */
export const isTable = (value: unknown): value is MappingTable => {
  try {
    return value instanceof TableValue;
  } catch {
    return false; // a proxy whose getPrototypeOf trap throws
  }
};

const checkTable = (value: unknown, field = 'table'): ValidationError[] =>
  isTable(value) ? [] : [validationError(field, value, 'must be a mapping table built by this library (createTable, decodeTable...)')];

/** @internal True when chunk `ci` of `table` has its records in `table.flat`. */
export const chunkInFlat = (table: MappingTable, ci: number): boolean => ((table.inFlat[ci >>> 5]! >>> (ci & 31)) & 1) === 1;

const checkSegmentBlocks = (errors: ValidationError[], value: unknown): value is number => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_BITMAP_SIZE) return true;
  errors.push(validationError('segmentBlocks', value, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`));
  return false;
};

const checkGeneration = (errors: ValidationError[], value: unknown): value is number =>
  checkBlockNumber(errors, 'generation', value);

/** The generation of a change of `table`: the explicit one, which may not go backwards, or the next. */
const nextGeneration = (errors: ValidationError[], table: MappingTable, explicit: unknown): number => {
  if (explicit === undefined) {
    const next = table.generation + 1;
    checkGeneration(errors, next);
    return next;
  }
  // 0 starts the history of a new table made from this one (a snapshot's): not a step back.
  if (checkGeneration(errors, explicit) && explicit < table.generation && explicit !== 0)
    errors.push(
      validationError('generation', explicit, `must be at least the table's generation ${table.generation} (generations never go backwards), or 0 for a new table`),
    );
  return explicit as number;
};

/**
 * Builds a table, validating every entry. Errors name the segment, the field and the value.
 *
 * @example
 * createTable({
 *   segmentBlocks: 10,
 *   entries: [
 *     { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
 *     { location: { lun: 2, start: 0 }, noWrite: true },
 *     { location: { lun: 1, start: 10 } },
 *   ],
 * }) // Right(table)
 */
export const createTable = (spec: TableSpec, options: TableOptions = {}): E.Either<ValidationError[], MappingTable> =>
  guarded('spec', () => {
    const errors: ValidationError[] = [];
    if (typeof spec !== 'object' || spec === null) return E.left([validationError('spec', spec, 'must be an object')]);
    const max = segmentLimit(errors, options);
    const segmentBlocks: unknown = spec.segmentBlocks;
    const okBlocks = checkSegmentBlocks(errors, segmentBlocks);
    const generation: unknown = spec.generation ?? 0;
    checkGeneration(errors, generation);
    const entries: unknown = spec.entries;
    let count = 0;
    if (typeof entries === 'function') {
      if (checkSegmentCount(errors, 'segmentCount', spec.segmentCount, max)) count = spec.segmentCount as number;
    } else if (Array.isArray(entries)) {
      if (checkSegmentCount(errors, 'entries.length', entries.length, max)) count = entries.length;
      else return E.left(errors); // refused before anything is read or allocated
      if (spec.segmentCount !== undefined && spec.segmentCount !== count)
        errors.push(validationError('segmentCount', spec.segmentCount, `must equal entries.length ${count}`));
    } else {
      errors.push(validationError('entries', entries, 'must be an array of entry specs or a function of the segment'));
    }
    if (!okBlocks || errors.length > 0) return E.left(errors);
    return build(segmentBlocks as number, count, generation as number, entries as TableSpec['entries'], options?.lunSizes, errors);
  });

/**
 * The body of {@link createTable}, once the geometry is known to be valid: validates and writes
 * every entry, or returns the errors (at most 100: enough to act on, without drowning the caller).
 */
const build = (
  segmentBlocks: number,
  count: number,
  generation: number,
  entries: TableSpec['entries'],
  lunSizes: LunSizes | undefined,
  errors: ValidationError[],
): E.Either<ValidationError[], MappingTable> => {
  const get = typeof entries === 'function' ? entries : (s: number) => entries[s];
  const chunks: Chunk[] = [];
  const flat = count > 0 && count <= FLAT_MAX_SEGMENTS ? new Uint32Array(count * REC_WORDS) : null;
  for (let base = 0; base < count; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, count - base);
    const chunk = newChunk(size, segmentBlocks, flat?.subarray(base * REC_WORDS, (base + size) * REC_WORDS));
    for (let i = 0; i < size; i++) {
      let spec: unknown;
      try {
        spec = get(base + i);
      } catch (thrown) {
        errors.push(unreadableError('entry', thrown, base + i));
        continue;
      }
      const entry = validateEntry(spec, segmentBlocks, base + i, errors, lunSizes);
      if (entry !== undefined) writeEntry(chunk, i, entry);
      if (errors.length >= 100) return E.left(errors);
    }
    chunks.push(freeze(chunk));
  }
  if (errors.length > 0) return E.left(errors);
  const inFlat = noChunksInFlat(chunks.length);
  if (flat !== null) for (let ci = 0; ci < chunks.length; ci++) setChunkBit(inFlat, ci, true);
  const flatAlts = flat === null ? null : gatherAlternates(chunks, altStride(segmentBlocks));
  return E.right(makeTable(segmentBlocks, count, generation, chunks, flat, inFlat, flatAlts));
};

/** @internal The alternate in slot `slot` of chunk `c`. */
export const alternateAt = (c: Chunk, slot: number, segmentBlocks: number): Alternate => {
  const alt = c.alt!;
  const stride = altStride(segmentBlocks);
  const base = slot * stride;
  const blocks =
    c.bitmaps !== null
      ? c.bitmaps[slot]!
      : B.unsafeFromWords(segmentBlocks, alt.slice(base + ALT_HEADER, base + ALT_HEADER + ((segmentBlocks + 31) >>> 5)));
  return { lun: alt[base]!, start: alt[base + 1]! + alt[base + 2]! * TWO_POW_32, blocks };
};

/** @internal Reads segment `segment` without bounds checks. */
export const entryAt = (table: MappingTable, segment: number): MappingEntry => {
  const c = table.chunks[segment >>> CHUNK_BITS]!;
  const r = (segment & CHUNK_MASK) * REC_WORDS;
  const head = c.rec[r]!;
  return {
    location: (head & F_HAS_LOCATION) !== 0 ? { lun: c.rec[r + 1]!, start: c.rec[r + 2]! + c.rec[r + 3]! * TWO_POW_32 } : null,
    invalid: (head & F_INVALID) !== 0,
    noWrite: (head & F_NO_WRITE) !== 0,
    zero: (head & F_ZERO) !== 0,
    error: (head & F_ERROR) !== 0,
    alternate: (head & F_HAS_ALTERNATE) !== 0 ? alternateAt(c, head >>> SLOT_SHIFT, table.segmentBlocks) : null,
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
      const head = c.rec[i * REC_WORDS]!;
      if ((head & F_HAS_ALTERNATE) !== 0 && (head & unless) === 0) out.push(ci * CHUNK_SIZE + i);
    }
  });
  return out;
};

const checkSegment = (table: MappingTable, segment: unknown, field = 'segment'): ValidationError[] =>
  typeof segment === 'number' && Number.isSafeInteger(segment) && segment >= 0 && segment < table.segmentCount
    ? []
    : [validationError(field, segment, `must be an integer from 0 to ${table.segmentCount - 1}`)];

/**
 * The entry of one segment.
 *
 * @example
 * getEntry(table, 1) // Right({ location: { lun: 2, start: 0 }, noWrite: true, ... })
 */
export const getEntry = (table: MappingTable, segment: number): E.Either<ValidationError[], MappingEntry> => {
  if (!isTable(table)) return E.left(checkTable(table));
  const errors = checkSegment(table, segment);
  return errors.length > 0 ? E.left(errors) : E.right(entryAt(table, segment));
};

/**
 * One change of a batch: the new entry of `segment`.
 *
 * @example
 * const updates: EntryUpdate[] = [{ segment: 0, entry: { zero: true } }, { segment: 3, entry: { location: { lun: 1, start: 24 } } }];
 */
export interface EntryUpdate {
  readonly segment: number;
  readonly entry: EntrySpec;
}

/**
 * Replaces several entries at once (later updates of the same segment win) and advances the
 * generation once. Copies only the chunks it touches. Use it for changes that must appear
 * together, as one generation, rather than one `setEntry` per segment.
 *
 * @example
 * setEntries(table, [
 *   { segment: 0, entry: { zero: true } },
 *   { segment: 2, entry: { location: { lun: 1, start: 40 } } },
 * ]) // Right: both changed, generation + 1
 */
export const setEntries = (
  table: MappingTable,
  updates: ReadonlyArray<EntryUpdate>,
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> =>
  guarded('updates', () => {
    if (!isTable(table)) return E.left(checkTable(table));
    const errors: ValidationError[] = [];
    const generation = nextGeneration(errors, table, options?.generation);
    if (!Array.isArray(updates)) return E.left([...errors, validationError('updates', updates, 'must be an array of { segment, entry }')]);
    const validated = validateUpdates(table, updates, options?.lunSizes, errors);
    return errors.length > 0 ? E.left(errors) : E.right(applyUpdates(table, validated, generation));
  });

/** The updates, validated (at most 100 errors are collected). */
const validateUpdates = (
  table: MappingTable,
  updates: ReadonlyArray<unknown>,
  lunSizes: LunSizes | undefined,
  errors: ValidationError[],
): { segment: number; entry: MappingEntry }[] => {
  const validated: { segment: number; entry: MappingEntry }[] = [];
  for (let n = 0; n < updates.length && errors.length < 100; n++) {
    if (!(n in updates)) {
      errors.push(validationError(`updates[${n}]`, undefined, 'is missing (a hole in a sparse array)'));
      continue;
    }
    let segment: unknown;
    let spec: unknown;
    try {
      const u: unknown = updates[n];
      if (typeof u !== 'object' || u === null) {
        errors.push(validationError(`updates[${n}]`, u, 'must be { segment, entry }'));
        continue;
      }
      ({ segment, entry: spec } = u as { segment?: unknown; entry?: unknown });
    } catch (thrown) {
      errors.push(unreadableError(`updates[${n}]`, thrown));
      continue;
    }
    const segErrors = checkSegment(table, segment, `updates[${n}].segment`);
    if (segErrors.length > 0) {
      errors.push(...segErrors);
      continue;
    }
    const entry = validateEntry(spec, table.segmentBlocks, segment as number, errors, lunSizes);
    if (entry !== undefined) validated.push({ segment: segment as number, entry });
  }
  return validated;
};

/** A new table with the validated updates written, sharing every chunk they do not touch. */
const applyUpdates = (table: MappingTable, validated: ReadonlyArray<{ segment: number; entry: MappingEntry }>, generation: number): MappingTable => {
  const chunks = table.chunks.slice();
  const copied = new Map<number, MutableChunk>();
  for (const { segment, entry } of validated) {
    const ci = segment >>> CHUNK_BITS;
    let c = copied.get(ci);
    if (c === undefined) {
      c = copyChunk(table.chunks[ci]!, table.segmentBlocks);
      copied.set(ci, c);
    }
    writeEntry(c, segment & CHUNK_MASK, entry);
  }
  let inFlat = table.inFlat;
  for (const [ci, c] of copied) {
    chunks[ci] = freeze(c);
    if (chunkInFlat(table, ci)) {
      if (inFlat === table.inFlat) inFlat = inFlat.slice();
      setChunkBit(inFlat, ci, false);
    }
  }
  return makeTable(table.segmentBlocks, table.segmentCount, generation, chunks, flatIfUsed(table.flat, inFlat), inFlat, table.flatAlts);
};

/**
 * Replaces one entry; the result shares every other chunk with `table`.
 *
 * @example
 * setEntry(table, 1, { location: { lun: 2, start: 0 } }) // Right(table with generation + 1)
 */
export const setEntry = (
  table: MappingTable,
  segment: number,
  entry: EntrySpec,
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> => setEntries(table, [{ segment, entry }], options);

/**
 * The same table at another generation (an agent adopting the controller's number). Shares every
 * chunk with `table`; Left when `generation` is not a non-negative safe integer or is below the
 * table's own (generations never go backwards).
 *
 * @example
 * withGeneration(table, 42) // Right: the same entries at generation 42
 */
export const withGeneration = (table: MappingTable, generation: number): E.Either<ValidationError[], MappingTable> => {
  if (!isTable(table)) return E.left(checkTable(table));
  const errors: ValidationError[] = [];
  if (checkGeneration(errors, generation) && generation < table.generation)
    errors.push(validationError('generation', generation, `must not be below the table's generation ${table.generation} (generations never go backwards)`));
  return errors.length === 0
    ? E.right(makeTable(table.segmentBlocks, table.segmentCount, generation, table.chunks, table.flat, table.inFlat, table.flatAlts))
    : E.left(errors);
};

/**
 * A table of `segmentCount` segments: existing entries are kept, new segments get `fill`.
 * Advances the generation. Grows or shrinks a virtual disk; shrinking drops the last segments.
 *
 * @example
 * resizeTable(table, table.segmentCount + 16, { zero: true }) // Right: 16 more segments that read as zeros
 */
export const resizeTable = (
  table: MappingTable,
  segmentCount: number,
  fill: EntrySpec,
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> =>
  guarded('options', () => {
    if (!isTable(table)) return E.left(checkTable(table));
    const errors: ValidationError[] = [];
    checkSegmentCount(errors, 'segmentCount', segmentCount, segmentLimit(errors, options));
    const generation = nextGeneration(errors, table, options?.generation);
    const entry = validateEntry(fill, table.segmentBlocks, undefined, errors, options?.lunSizes);
    if (errors.length > 0 || entry === undefined) return E.left(errors);
    return E.right(resized(table, segmentCount, entry, generation));
  });

/** `table` with `segmentCount` segments, the new ones holding `entry`. */
const resized = (table: MappingTable, segmentCount: number, entry: MappingEntry, generation: number): MappingTable => {
  const chunks: Chunk[] = [];
  const inFlat = noChunksInFlat(Math.ceil(segmentCount / CHUNK_SIZE));
  for (let base = 0; base < segmentCount; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, segmentCount - base);
    const ci = base >>> CHUNK_BITS;
    const old = table.chunks[ci];
    if (old !== undefined && old.size === size) {
      chunks.push(old);
      if (chunkInFlat(table, ci)) setChunkBit(inFlat, ci, true);
      continue;
    }
    const c = newChunk(size, table.segmentBlocks);
    const kept = old === undefined ? 0 : Math.min(old.size, size);
    for (let i = 0; i < kept; i++) writeEntry(c, i, entryAt(table, base + i));
    for (let i = kept; i < size; i++) writeEntry(c, i, entry);
    chunks.push(freeze(c));
  }
  return makeTable(table.segmentBlocks, segmentCount, generation, chunks, flatIfUsed(table.flat, inFlat), inFlat, table.flatAlts);
};

/**
 * Every segment's entry, in order. Entries are built one at a time as the generator advances,
 * so walking a large table does not hold all of them in memory.
 *
 * @example
 * for (const [segment, entry] of tableEntries(table)) if (entry.error) console.log(`segment ${segment} has failed`);
 */
export function* tableEntries(table: MappingTable): Generator<[segment: number, entry: MappingEntry]> {
  for (let s = 0; s < table.segmentCount; s++) yield [s, entryAt(table, s)];
}

const sameSegment = (a: Chunk, b: Chunk, i: number, stride: number): boolean => {
  const r = i * REC_WORDS;
  const fa = a.rec[r]! & FLAG_MASK;
  if (fa !== (b.rec[r]! & FLAG_MASK)) return false;
  if ((fa & F_HAS_LOCATION) !== 0 && (a.rec[r + 1] !== b.rec[r + 1] || a.rec[r + 2] !== b.rec[r + 2] || a.rec[r + 3] !== b.rec[r + 3]))
    return false;
  if ((fa & F_HAS_ALTERNATE) === 0) return true;
  const x = (a.rec[r]! >>> SLOT_SHIFT) * stride;
  const y = (b.rec[r]! >>> SLOT_SHIFT) * stride;
  for (let w = 0; w < stride; w++) if (a.alt![x + w] !== b.alt![y + w]) return false;
  return a.bitmaps === null || B.equals(a.bitmaps[x / stride]!, b.bitmaps![y / stride]!);
};

/**
 * The segments whose entries differ between `a` and `b`, ascending. Segments present in only one
 * table differ; if the segment sizes differ, every segment differs. Chunks the tables share are
 * skipped without looking inside, so diffing a table against its recent successor is cheap.
 *
 * @example
 * diffTables(table, E.getOrElseW(() => table)(setEntry(table, 2, { zero: true }))) // [2]
 */
export const diffTables = (a: MappingTable, b: MappingTable): number[] => {
  const max = Math.max(a.segmentCount, b.segmentCount);
  const common = a.segmentBlocks === b.segmentBlocks ? Math.min(a.segmentCount, b.segmentCount) : 0;
  const out: number[] = [];
  const stride = altStride(a.segmentBlocks);
  for (let ci = 0; ci * CHUNK_SIZE < common; ci++) {
    const x = a.chunks[ci]!;
    const y = b.chunks[ci]!;
    if (x === y) continue;
    const end = Math.min(CHUNK_SIZE, common - ci * CHUNK_SIZE);
    for (let i = 0; i < end; i++) if (!sameSegment(x, y, i, stride)) out.push(ci * CHUNK_SIZE + i);
  }
  for (let s = common; s < max; s++) out.push(s);
  return out;
};

/**
 * True when both tables have the same geometry and entries (generations are not compared): for
 * checking that a copy or a decoded document maps exactly like the original.
 *
 * @example
 * E.map((t: MappingTable) => tablesEqual(t, table))(decodeTable(encodeTable(table))) // Right(true)
 */
export const tablesEqual = (a: MappingTable, b: MappingTable): boolean =>
  a.segmentBlocks === b.segmentBlocks && a.segmentCount === b.segmentCount && diffTables(a, b).length === 0;
