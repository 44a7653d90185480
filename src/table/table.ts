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
 *
 * This module gathers the table API; each concept has its own module:
 *
 * - `layout.ts`: the record layout, chunk and table shapes, reading a record back;
 * - `chunk-builder.ts`: writing entries into a chunk and freezing it;
 * - `table-value.ts`: the immutable table value and its flat arrays;
 * - `create.ts`: `createTable` and the shared validation of geometry and generations;
 * - `update.ts`: `setEntries`, `setEntry`, `resizeTable`, `withGeneration`;
 * - `query.ts`: `getEntry`, `tableEntries`, `diffTables`, `tablesEqual`;
 * - `segments.ts`: segment bounds of uniform and variable tables (the boundary index);
 * - `variable.ts`: `createVariableTable`, `splitSegment`, `mergeSegments`;
 * - `freeze.ts`: `freezeTable` (every located segment `noWrite`, for snapshots).
 */
export {
  ALT_HEADER,
  altStride,
  bitmapBits,
  alternateAt,
  CHUNK_BITS,
  CHUNK_SIZE,
  chunkFrozen,
  chunkInFlat,
  entryAt,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  FLAT_MAX_SEGMENTS,
  frozenHead,
  headAt,
  INLINE_BITMAP_WORDS,
  REC_WORDS,
  segmentsWithAlternate,
  SLOT_SHIFT,
  TWO_POW_32,
} from './layout.js';
export type { Chunk, FlatAlternates, MappingTable } from './layout.js';
export type { SegmentDirectory } from './segment-directory.js';
export { assembleTable, isTable } from './table-value.js';
export { createTable, MAX_SEGMENT_COUNT } from './create.js';
export type { TableOptions, TableSpec } from './create.js';
export { resizeTable, setEntries, setEntry, withGeneration } from './update.js';
export type { EntryUpdate, UpdateOptions } from './update.js';
export { diffTables, getEntry, tableEntries, tablesEqual } from './query.js';
export { freezeTable } from './freeze.js';
export type { FreezeOptions } from './freeze.js';
