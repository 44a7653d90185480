/**
 * Table and entry documents shared by machines in one process (the simulator, in-memory
 * transports). The controller freezes the documents it sends with this module; an agent that
 * receives one of them decodes it once for every agent given that very object, and they share
 * the decoded value (tables and their entries are immutable). A frozen document cannot change,
 * so the shared value is exactly what decoding it again would give. Any other document, for
 * instance one parsed from the wire or frozen elsewhere, is decoded each time.
 */
import type * as E from 'fp-ts/lib/Either.js';
import type { ValidationError } from '../errors.js';
import { decodeEntry, decodeTable, type EntryDocument, type TableDocument } from '../table/codec.js';
import type { MappingEntry } from '../table/entry.js';
import type { MappingTable } from '../table/table.js';

/** Freezes `x` and every object inside it, and returns it. */
const deepFreeze = <T>(x: T): T => {
  if (typeof x !== 'object' || x === null) return x;
  for (const v of Object.values(x)) deepFreeze(v);
  return Object.isFrozen(x) ? x : Object.freeze(x);
};

/** Documents frozen whole by this module: only these are decoded once and shared. */
const sealed = new WeakSet<object>();

const seal = <T extends object>(doc: T): T => {
  deepFreeze(doc);
  sealed.add(doc);
  return doc;
};

/**
 * Freezes an entry document the controller is about to send, so that agents may share its decoding.
 *
 * @example
 * const doc = freezeEntryDocument(encodeEntry(entry));
 */
export const freezeEntryDocument = (doc: EntryDocument): EntryDocument => seal(doc);

/**
 * Freezes a table document the controller is about to send, so that agents may share its decoding.
 *
 * @example
 * const doc = freezeTableDocument(encodeTable(table));
 */
export const freezeTableDocument = (doc: TableDocument): TableDocument => seal(doc);

type Decoded<A> = E.Either<ValidationError[], A>;

const entries = new WeakMap<object, { readonly segmentBlocks: number; readonly segment: number | undefined; readonly grainBlocks: number; readonly result: Decoded<MappingEntry> }>();
const tables = new WeakMap<object, Decoded<MappingTable>>();

/**
 * `decodeEntry`, decoded once per document from `freezeEntryDocument` (and table geometry).
 *
 * @example
 * decodeSharedEntry(doc, 8, 3) // the same Right(entry) for every agent given this doc
 */
export const decodeSharedEntry = (doc: unknown, segmentBlocks: number, segment?: number, grainBlocks = 1): Decoded<MappingEntry> => {
  if (typeof doc !== 'object' || doc === null || !sealed.has(doc)) return decodeEntry(doc, segmentBlocks, segment, grainBlocks);
  const hit = entries.get(doc);
  if (hit !== undefined && hit.segmentBlocks === segmentBlocks && hit.segment === segment && hit.grainBlocks === grainBlocks) return hit.result;
  const result = decodeEntry(doc, segmentBlocks, segment, grainBlocks);
  entries.set(doc, { segmentBlocks, segment, grainBlocks, result });
  return result;
};

/**
 * `decodeTable`, decoded once per document from `freezeTableDocument`.
 *
 * @example
 * decodeSharedTable(doc) // the same Right(table) for every agent given this doc
 */
export const decodeSharedTable = (doc: unknown): Decoded<MappingTable> => {
  if (typeof doc !== 'object' || doc === null || !sealed.has(doc)) return decodeTable(doc);
  const hit = tables.get(doc);
  if (hit !== undefined) return hit;
  const result = decodeTable(doc);
  tables.set(doc, result);
  return result;
};
