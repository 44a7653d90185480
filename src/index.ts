/**
 * vdisk-map: distributed, table-driven block virtualization.
 *
 * @packageDocumentation
 */
export type { ValidationError } from './errors.js';

export * as bitmap from './bitmap/bitmap.js';
export type { Bitmap, BitRun } from './bitmap/bitmap.js';

export type { Alternate, EntrySpec, Location, LunSizes, MappingEntry } from './table/entry.js';
export { entriesEqual } from './table/entry.js';
export type { FormatRange } from './table/format.js';
export { formatTable } from './table/format.js';
export type { EntryUpdate, MappingTable, TableOptions, TableSpec, UpdateOptions } from './table/table.js';
export {
  CHUNK_SIZE,
  createTable,
  diffTables,
  getEntry,
  resizeTable,
  setEntries,
  setEntry,
  tableEntries,
  tablesEqual,
  withGeneration,
} from './table/table.js';

export type {
  FaultReason,
  IoRequest,
  Op,
  Piece,
  PieceKind,
  SegmentFault,
  TranslateFailure,
  TranslateOptions,
  TranslateStatus,
  Variant,
} from './translate/translate.js';
export {
  KIND_ALTERNATE,
  KIND_PRIMARY,
  KIND_ZERO,
  PieceBuffer,
  REASON_ERROR,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_INVALID_REQUEST,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
  piecesOf,
  translate,
  translateInto,
} from './translate/translate.js';
