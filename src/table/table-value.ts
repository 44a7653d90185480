/**
 * The table value: an immutable class instance holding the chunk list and, for the chunks the
 * table was built with, the flat record and alternate arrays translation reads directly (with
 * one bit per chunk saying whether it is still there).
 */
import { validationError, type ValidationError } from '../errors.js';
import type { Chunk, FlatAlternates, MappingTable } from './layout.js';
import { directoryOf, type SegmentDirectory } from './segment-directory.js';

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
    readonly frozen: Uint32Array | null,
    readonly segmentStarts: Float64Array | null,
    readonly segmentDirectory: SegmentDirectory | null,
    readonly grainBlocks: number,
  ) {
    Object.freeze(this);
  }
}

/** @internal */
export const makeTable = (
  segmentBlocks: number,
  segmentCount: number,
  generation: number,
  chunks: ReadonlyArray<Chunk>,
  flat: Uint32Array | null,
  inFlat: Uint32Array,
  flatAlts: FlatAlternates | null,
  frozen: Uint32Array | null,
  segmentStarts: Float64Array | null,
  segmentDirectory: SegmentDirectory | null,
  grainBlocks: number,
): MappingTable =>
  new TableValue(segmentBlocks, segmentCount, generation, chunks, flat, inFlat, flat === null ? null : flatAlts, frozen, segmentStarts, segmentDirectory, grainBlocks);

/**
 * Moves the alternate slots of freshly built chunks into one array, each chunk's `alt` becoming
 * a view of it (translation then reaches a slot without going through the chunk).
 *
 * @internal
 */
export const gatherAlternates = (chunks: Chunk[], stride: number): FlatAlternates => {
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

/** @internal An `inFlat` bit set with no bit set. */
export const noChunksInFlat = (chunkCount: number): Uint32Array => new Uint32Array((chunkCount + 31) >>> 5);

/** @internal `flat`, or `null` once no chunk uses it, so that its memory can go. */
export const flatIfUsed = (flat: Uint32Array | null, inFlat: Uint32Array): Uint32Array | null => (inFlat.some((w) => w !== 0) ? flat : null);

/** @internal */
export const setChunkBit = (bits: Uint32Array, ci: number, on: boolean): void => {
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
  segmentStarts: Float64Array | null = null,
  grainBlocks = 1,
): MappingTable => {
  const inFlat = noChunksInFlat(chunks.length);
  if (flat !== null) for (let ci = 0; ci < chunks.length; ci++) setChunkBit(inFlat, ci, true);
  const directory = segmentStarts === null ? null : directoryOf(segmentStarts, segmentCount);
  return makeTable(segmentBlocks, segmentCount, generation, chunks, flat, inFlat, flatAlts, null, segmentStarts, directory, grainBlocks);
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

/** @internal The error of a value that is not a table, or none. */
export const checkTable = (value: unknown, field = 'table'): ValidationError[] =>
  isTable(value) ? [] : [validationError(field, value, 'must be a mapping table built by this library (createTable, decodeTable...)')];
