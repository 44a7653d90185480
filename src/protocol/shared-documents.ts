/**
 * Table and entry documents shared by machines in one process (the simulator, in-memory
 * transports). The controller freezes the documents it sends; an agent that receives a frozen
 * document decodes it once for every agent given that very object, and they share the decoded
 * value (tables and their entries are immutable). A frozen document cannot change, so the
 * shared value is exactly what decoding it again would give. Documents that are not frozen, for
 * instance parsed from the wire, are decoded each time.
 */
import type * as E from 'fp-ts/lib/Either.js';
import type { ValidationError } from '../errors.js';
import { decodeEntry, decodeTable, type EntryDocument, type TableDocument } from '../table/codec.js';
import type { MappingEntry } from '../table/entry.js';
import type { MappingTable } from '../table/table.js';

/** Freezes `x` and every object inside it, and returns it. */
const deepFreeze = <T>(x: T): T => {
  if (typeof x !== 'object' || x === null || Object.isFrozen(x)) return x;
  for (const v of Object.values(x)) deepFreeze(v);
  return Object.freeze(x);
};

/** True when `x` and every object inside it are frozen. */
const isDeepFrozen = (x: unknown): boolean => {
  if (typeof x !== 'object' || x === null) return true;
  if (!Object.isFrozen(x)) return false;
  for (const v of Object.values(x)) if (typeof v === 'object' && v !== null && !isDeepFrozen(v)) return false;
  return true;
};

/**
 * Freezes an entry document the controller is about to send, so that agents may share its decoding.
 *
 * @example
 * const doc = freezeEntryDocument(encodeEntry(entry));
 */
export const freezeEntryDocument = (doc: EntryDocument): EntryDocument => deepFreeze(doc);

/**
 * Freezes a table document the controller is about to send, so that agents may share its decoding.
 *
 * @example
 * const doc = freezeTableDocument(encodeTable(table));
 */
export const freezeTableDocument = (doc: TableDocument): TableDocument => deepFreeze(doc);

type Decoded<A> = E.Either<ValidationError[], A>;

const entries = new WeakMap<object, { readonly segmentBlocks: number; readonly segment: number | undefined; readonly result: Decoded<MappingEntry> }>();
const tables = new WeakMap<object, Decoded<MappingTable>>();

/**
 * `decodeEntry`, decoded once per frozen document (and table geometry).
 *
 * @example
 * decodeSharedEntry(doc, 8, 3) // the same Right(entry) for every agent given this frozen doc
 */
export const decodeSharedEntry = (doc: unknown, segmentBlocks: number, segment?: number): Decoded<MappingEntry> => {
  if (typeof doc !== 'object' || doc === null || !Object.isFrozen(doc)) return decodeEntry(doc, segmentBlocks, segment);
  const hit = entries.get(doc);
  if (hit !== undefined && hit.segmentBlocks === segmentBlocks && hit.segment === segment) return hit.result;
  const result = decodeEntry(doc, segmentBlocks, segment);
  if (isDeepFrozen(doc)) entries.set(doc, { segmentBlocks, segment, result });
  return result;
};

/**
 * `decodeTable`, decoded once per frozen document.
 *
 * @example
 * decodeSharedTable(doc) // the same Right(table) for every agent given this frozen doc
 */
export const decodeSharedTable = (doc: unknown): Decoded<MappingTable> => {
  if (typeof doc !== 'object' || doc === null || !Object.isFrozen(doc)) return decodeTable(doc);
  const hit = tables.get(doc);
  if (hit !== undefined) return hit;
  const result = decodeTable(doc);
  if (isDeepFrozen(doc)) tables.set(doc, result);
  return result;
};
