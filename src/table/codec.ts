/**
 * The stable serialized form of mapping tables (docs/design.md#mapping-entries).
 *
 * {@link encodeTable} turns a table into a versioned, plain-JSON {@link TableDocument}; the same
 * table always gives the same document, with keys in a fixed order, so its JSON text is
 * byte-identical from run to run and can be hashed, diffed or stored as is.
 * {@link decodeTable} reads any value back. It never throws: whatever it is given (a hostile
 * proxy, a getter that throws, a cyclic or sparse structure, a million entries of garbage), it
 * returns either the table or a bounded list of errors, each naming the exact path of the
 * offending value inside the document (`entries[12].alternate.blocks`).
 *
 * The document is read as `JSON.stringify` would see it: own, enumerable, string-keyed
 * properties only. Inherited properties and symbol keys are ignored.
 *
 * This module holds table documents; entry documents (`encodeEntry`, `decodeEntry` and the
 * reader both decoders share) are in `entry-document.ts`, paths and error wording in
 * `document-errors.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { MAX_BITMAP_SIZE } from '../bitmap/bitmap.js';
import type { ValidationError } from '../errors.js';
import { isCount, isObject, keyPath, makeError, MAX_DECODE_ERRORS, reason, underEntry, unreadable } from './document-errors.js';
import { EntryReader, num, type EntryDocument, type Writable } from './entry-document.js';
import {
  alternateAt,
  bitmapBits,
  chunkFrozen,
  createTable,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  frozenHead,
  MAX_SEGMENT_COUNT,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
  type MappingTable,
  type TableOptions,
} from './table.js';
import { createVariableTable, type SegmentSpec } from './variable.js';

export { MAX_DECODE_ERRORS } from './document-errors.js';
export { decodeEntry, encodeEntry } from './entry-document.js';
export type { AlternateDocument, EntryDocument, LocationDocument } from './entry-document.js';

/**
 * The `format` tag of every table document.
 *
 * @example
 * encodeTable(table).format === TABLE_FORMAT // true
 */
export const TABLE_FORMAT = 'vdisk-map/table';

/**
 * The document version this library writes and reads; {@link decodeTable} rejects any other.
 *
 * @example
 * encodeTable(table).version === TABLE_VERSION // true
 */
export const TABLE_VERSION = 1;

/**
 * The document version of a variable table (segments of differing sizes): version 1 plus
 * `segmentLengths`, with `segmentBlocks` 0. Uniform tables keep writing version 1, byte for byte
 * as before; a reader that knows only version 1 refuses a variable document by its version.
 *
 * @example
 * encodeTable(variableTable).version === TABLE_VARIABLE_VERSION // true
 */
export const TABLE_VARIABLE_VERSION = 2;

/**
 * The document version of a uniform table with a grain above 1 (docs/design.md#bitmap-grain):
 * version 1 plus a required `grainBlocks`, each bitmap text with one bit per grain. Tables
 * without a grain keep writing version 1. A version 1 document with `grainBlocks` (written before
 * bitmaps were compact, one bit per block) is still read: each bitmap must set whole grains and
 * is converted to one bit per grain.
 *
 * @example
 * encodeTable(grainedTable).version === TABLE_GRAIN_VERSION // true
 */
export const TABLE_GRAIN_VERSION = 3;


/**
 * A whole table as a plain JSON value, version 1. `segmentCount` must equal `entries.length`;
 * entry `i` maps segment `i`. Every key is required except inside entries.
 *
 * @example
 * const doc: TableDocument = {
 *   format: 'vdisk-map/table',
 *   version: 1,
 *   segmentBlocks: 10,
 *   segmentCount: 2,
 *   generation: 0,
 *   entries: [{ location: { lun: 1, start: 0 } }, { zero: true }],
 * };
 */
export interface TableDocument {
  readonly format: typeof TABLE_FORMAT;
  /** {@link TABLE_VERSION}, {@link TABLE_VARIABLE_VERSION} for a variable table, {@link TABLE_GRAIN_VERSION} for a grained one. */
  readonly version: typeof TABLE_VERSION | typeof TABLE_VARIABLE_VERSION | typeof TABLE_GRAIN_VERSION;
  /** 0 in a variable table's document. */
  readonly segmentBlocks: number;
  /**
   * Blocks per alternate bit ({@link MappingTable.grainBlocks}): present exactly in version 3
   * documents, above 1, and then every `blocks` text has one bit per grain. Documents of tables
   * without a grain are unchanged; a reader that predates version 3 refuses the document by its
   * version rather than misread the bitmaps. (Version 1 documents with this key, one bit per
   * block, are still read.)
   */
  readonly grainBlocks?: number;
  /** Only in a variable table's document (version 2): the length of each segment, in order. */
  readonly segmentLengths?: ReadonlyArray<number>;
  readonly segmentCount: number;
  readonly generation: number;
  readonly entries: ReadonlyArray<EntryDocument>;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/**
 * The document of a table: versioned, plain JSON, and stable (the same table always gives a
 * deep-equal document with keys in the same order). Bitmaps are written in their text form.
 *
 * @example
 * encodeTable(table)
 * // {
 * //   format: 'vdisk-map/table', version: 1, segmentBlocks: 10, segmentCount: 1, generation: 0,
 * //   entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 10, blocks: '2,7-8' } }],
 * // }
 */
export const encodeTable = (table: MappingTable): TableDocument => {
  const entries: EntryDocument[] = [];
  table.chunks.forEach((c, ci) => {
    const rec = c.rec;
    const frozen = chunkFrozen(table, ci);
    for (let i = 0; i < c.size; i++) {
      const r = i * REC_WORDS;
      const f = (frozen ? frozenHead(rec[r]!) : rec[r]!) & FLAG_MASK;
      const location = (f & F_HAS_LOCATION) !== 0 ? { lun: rec[r + 1]!, start: num(rec[r + 2]! + rec[r + 3]! * TWO_POW_32) } : undefined;
      if (f === F_HAS_LOCATION) {
        entries.push({ location: location! }); // the common case, in one literal
        continue;
      }
      const e: Writable<EntryDocument> = {};
      if (location !== undefined) e.location = location;
      if ((f & F_INVALID) !== 0) e.invalid = true;
      if ((f & F_NO_WRITE) !== 0) e.noWrite = true;
      if ((f & F_ZERO) !== 0) e.zero = true;
      if ((f & F_ERROR) !== 0) e.error = true;
      if ((f & F_HAS_ALTERNATE) !== 0) {
        const a = alternateAt(c, rec[r]! >>> SLOT_SHIFT, bitmapBits(table));
        e.alternate = { lun: a.lun, start: num(a.start), blocks: B.format(a.blocks) };
      }
      entries.push(e);
    }
  });
  const starts = table.segmentStarts;
  if (starts !== null) {
    const segmentLengths: number[] = [];
    for (let s = 0; s < table.segmentCount; s++) segmentLengths.push(num(starts[s + 1]! - starts[s]!));
    return {
      format: TABLE_FORMAT,
      version: TABLE_VARIABLE_VERSION,
      segmentBlocks: 0,
      segmentLengths,
      segmentCount: table.segmentCount,
      generation: num(table.generation),
      entries,
    };
  }
  return {
    format: TABLE_FORMAT,
    version: table.grainBlocks === 1 ? TABLE_VERSION : TABLE_GRAIN_VERSION,
    segmentBlocks: table.segmentBlocks,
    ...(table.grainBlocks === 1 ? {} : { grainBlocks: table.grainBlocks }),
    segmentCount: table.segmentCount,
    generation: num(table.generation),
    entries,
  };
};

/**
 * The JSON text of {@link encodeTable}: compact and byte-identical for equal tables.
 *
 * @example
 * encodeTableJson(table)
 * // '{"format":"vdisk-map/table","version":1,"segmentBlocks":10,"segmentCount":1,"generation":0,"entries":[{"location":{"lun":1,"start":0}}]}'
 */
export const encodeTableJson = (table: MappingTable): string => JSON.stringify(encodeTable(table));

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const HEADER_KEYS = 'format, version, segmentBlocks, segmentCount, generation, entries (and segmentLengths in version 2, grainBlocks in version 3)';


/** Merges two lists of entry errors, each ascending by segment; `a` first among equals. */
const mergeBySegment = (a: ReadonlyArray<ValidationError>, b: ReadonlyArray<ValidationError>, limit: number): ValidationError[] => {
  const out: ValidationError[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && (x.segment ?? -1) <= (y.segment ?? -1))) {
      out.push(x!);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  return out;
};

/** The header fields of a document, as read; `present` lists the keys it has. */
interface Header {
  segmentBlocks?: unknown;
  grainBlocks?: unknown;
  segmentLengths?: unknown;
  segmentCount?: unknown;
  generation?: unknown;
  entries?: unknown;
  format?: unknown;
  version?: unknown;
}

/** Reads every key of the document once; unknown keys are errors. `at.field` names the key being read. */
const readHeader = (value: Record<string, unknown>, errors: ValidationError[], at: { field: string }): { header: Header; present: Set<string> } => {
  const header: Header = {};
  const present = new Set<string>();
  const keys = Object.keys(value);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    at.field = keyPath('', key);
    const v = value[key];
    switch (key) {
      case 'format':
      case 'version':
      case 'segmentBlocks':
      case 'grainBlocks':
      case 'segmentLengths':
      case 'segmentCount':
      case 'generation':
      case 'entries':
        header[key] = v;
        present.add(key);
        break;
      default:
        if (errors.length < MAX_DECODE_ERRORS) errors.push(makeError(at.field, v, `is not a key of a table document (expected ${HEADER_KEYS})`));
    }
  }
  at.field = '';
  return { header, present };
};

const decodeUnchecked = (value: unknown, options: TableOptions, errors: ValidationError[], at: { field: string }): E.Either<ValidationError[], MappingTable> => {
  if (!isObject(value) || Array.isArray(value)) {
    errors.push(makeError('', value, `must be a table document: an object with ${HEADER_KEYS}`));
    return E.left(errors);
  }
  const { header, present } = readHeader(value, errors, at);
  const missing = (key: keyof Header): boolean => {
    if (present.has(key)) return false;
    errors.push(makeError(key, undefined, 'is required'));
    return true;
  };
  // The format and version decide how to read everything else: nothing more is checked without them.
  if (!missing('format') && header.format !== TABLE_FORMAT)
    errors.push(makeError('format', header.format, `must be ${JSON.stringify(TABLE_FORMAT)}: this is not a vdisk-map table document`));
  if (!missing('version') && header.version !== TABLE_VERSION && header.version !== TABLE_VARIABLE_VERSION && header.version !== TABLE_GRAIN_VERSION)
    errors.push(
      makeError(
        'version',
        header.version,
        `must be ${TABLE_VERSION} (uniform), ${TABLE_VARIABLE_VERSION} (variable) or ${TABLE_GRAIN_VERSION} (uniform with a grain), the versions this library reads`,
      ),
    );
  if (errors.some((e) => e.field === 'format' || e.field === 'version')) return E.left(errors.slice(0, MAX_DECODE_ERRORS));

  const variable = header.version === TABLE_VARIABLE_VERSION;
  const { segmentBlocks, segmentCount, generation, entries } = header;
  const okBlocks = variable
    ? !missing('segmentBlocks') && (segmentBlocks === 0 || (errors.push(makeError('segmentBlocks', segmentBlocks, 'must be 0 in a version 2 (variable) document')), false))
    : !missing('segmentBlocks') &&
      (typeof segmentBlocks === 'number' && Number.isSafeInteger(segmentBlocks) && segmentBlocks >= 1 && segmentBlocks <= MAX_BITMAP_SIZE
        ? true
        : (errors.push(makeError('segmentBlocks', segmentBlocks, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`)), false));
  if (!variable && present.has('segmentLengths'))
    errors.push(makeError('segmentLengths', header.segmentLengths, 'is only part of a version 2 (variable) document'));
  // Version 3 exists for grains above 1 (bitmaps one bit per grain); a grain of 1 there would give two forms of one table.
  const grained = header.version === TABLE_GRAIN_VERSION;
  if (grained && !missing('grainBlocks') && !(typeof header.grainBlocks === 'number' && header.grainBlocks >= 2))
    errors.push(makeError('grainBlocks', header.grainBlocks, 'must be a divisor of segmentBlocks above 1 in a version 3 document'));
  const okGeneration =
    !missing('generation') &&
    (isCount(generation, Number.MAX_SAFE_INTEGER) || (errors.push(makeError('generation', generation, 'must be a non-negative safe integer')), false));
  const okEntries =
    !missing('entries') && (Array.isArray(entries) || (errors.push(makeError('entries', entries, 'must be an array of entries')), false));
  const maxSegments = isCount(options?.maxSegments, MAX_SEGMENT_COUNT) ? options.maxSegments : MAX_SEGMENT_COUNT;
  if (okEntries && (entries as unknown[]).length > maxSegments) {
    // Refused before any entry is read or anything allocated for the table.
    errors.push(makeError('entries', `${(entries as unknown[]).length} entries`, `must hold at most ${maxSegments} entries (the segment limit)`));
    return E.left(errors.slice(0, MAX_DECODE_ERRORS));
  }
  if (!missing('segmentCount')) {
    if (!isCount(segmentCount, maxSegments))
      errors.push(makeError('segmentCount', segmentCount, `must be an integer from 0 to ${maxSegments}`));
    else if (okEntries && segmentCount !== (entries as unknown[]).length)
      errors.push(makeError('segmentCount', segmentCount, `must equal the number of entries, ${(entries as unknown[]).length}`));
  }
  const lengths = variable && okEntries && !missing('segmentLengths') ? readLengths(header.segmentLengths, (entries as unknown[]).length, errors) : null;
  if (!okBlocks || !okEntries || (variable && lengths === null) || errors.length >= MAX_DECODE_ERRORS) return E.left(errors.slice(0, MAX_DECODE_ERRORS));
  const gen = okGeneration ? (generation as number) : 0;
  return decodeEntries(entries as ReadonlyArray<unknown>, segmentBlocks as number, gen, options, errors, at, lengths, present.has('grainBlocks') ? { grainBlocks: header.grainBlocks } : {}, grained);
};

/** The `segmentLengths` of a variable document of `count` entries, or null after recording why not. */
const readLengths = (value: unknown, count: number, errors: ValidationError[]): number[] | null => {
  if (!Array.isArray(value) || value.length !== count) {
    errors.push(makeError('segmentLengths', Array.isArray(value) ? `${value.length} lengths` : value, `must be an array of ${count} segment lengths, one per entry`));
    return null;
  }
  const before = errors.length;
  const lengths: number[] = [];
  for (let s = 0; s < count && errors.length < MAX_DECODE_ERRORS; s++) {
    const n: unknown = value[s];
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 && n <= MAX_BITMAP_SIZE) lengths.push(n);
    else errors.push(makeError(`segmentLengths[${s}]`, n, `must be a segment length (an integer from 1 to ${MAX_BITMAP_SIZE})`));
  }
  return errors.length > before ? null : lengths;
};

/**
 * Builds the table of a document whose header is valid: the entries are read by an
 * {@link EntryReader} and checked by `createTable`, and the errors of both merged by segment.
 */
const decodeEntries = (
  list: ReadonlyArray<unknown>,
  segmentBlocks: number,
  generation: number,
  options: TableOptions,
  errors: ValidationError[],
  at: { field: string },
  lengths: ReadonlyArray<number> | null,
  grain: { grainBlocks?: unknown },
  compact: boolean,
): E.Either<ValidationError[], MappingTable> => {
  // The grain is checked by the constructors (a divisor of segmentBlocks; 1 in a variable table).
  // Bitmap texts have one bit per grain in version 3, one per block in version 1 (converted).
  const g = grain.grainBlocks;
  const divides = typeof g === 'number' && Number.isSafeInteger(g) && g > 1 && segmentBlocks % g === 0;
  const reader = divides
    ? compact
      ? new EntryReader(list, segmentBlocks / g, MAX_DECODE_ERRORS - errors.length, lengths)
      : new EntryReader(list, segmentBlocks, MAX_DECODE_ERRORS - errors.length, lengths, g)
    : new EntryReader(list, segmentBlocks, MAX_DECODE_ERRORS - errors.length, lengths);
  if (divides && compact) reader.unit = 'grains';
  at.field = 'entries';
  const built =
    lengths === null
      ? createTable({ segmentBlocks, segmentCount: list.length, generation, ...(grain as { grainBlocks?: number }), entries: (s) => reader.read(s) }, options)
      : createVariableTable(
          // A null spec (the reader's budget is spent) stays null, so that building stops.
          { segmentCount: list.length, generation, ...grain, entries: (s) => { const e = reader.read(s); return (e === null ? e : { ...e, length: lengths[s]! }) as SegmentSpec; } },
          options,
        );
  const own = reader.errors;
  if (E.isRight(built) && own.length === 0 && errors.length === 0) return built;
  // Once the reader has spent its budget it hands createTable nulls, which make it stop; drop
  // what it says about those segments.
  const checked = E.isLeft(built) ? built.left.filter((e) => e.segment === undefined || e.segment < reader.stoppedAt).map(underEntry) : [];
  return E.left([...errors, ...mergeBySegment(own, checked, MAX_DECODE_ERRORS - errors.length)]);
};

/**
 * Reads a table document (usually the result of `JSON.parse`) back into a table, validating it
 * completely: the format and version, the header, unknown keys (each is named), `segmentCount`
 * against the entries, then every entry by the same rules as `createTable` (including
 * `options.lunSizes`). Never throws, whatever `value` is. Returns at most 100 errors
 * (`MAX_DECODE_ERRORS`), in document order, each with the path of the offending value
 * in `field` (`entries[12].alternate.blocks`), the segment when it concerns one, and the value.
 *
 * @example
 * decodeTable(encodeTable(table)) // Right(a table equal to `table`)
 * decodeTable({ ...encodeTable(table), entries: [{ location: { lun: -1, start: 0 } }] })
 * // Left([{ segment: 0, field: 'entries[0].location.lun', value: -1, message: 'segment 0: entries[0].location.lun must be ...' }, ...])
 */
export const decodeTable = (value: unknown, options: TableOptions = {}): E.Either<ValidationError[], MappingTable> => {
  const errors: ValidationError[] = [];
  const at = { field: '' };
  try {
    return decodeUnchecked(value, options, errors, at);
  } catch (thrown) {
    // Only the header is read outside the per-entry guard; anything else is a last resort.
    return E.left([...errors.slice(0, MAX_DECODE_ERRORS - 1), unreadable(at.field, thrown)]);
  }
};

/**
 * Parses JSON text and decodes it with {@link decodeTable}. Malformed JSON is a `Left` too
 * (field `''`, the document), never an exception.
 *
 * @example
 * decodeTableJson(encodeTableJson(table)) // Right(a table equal to `table`)
 * decodeTableJson('{"format":')           // Left([{ field: '', message: 'the document is not valid JSON (...)' }])
 */
export const decodeTableJson = (text: string, options: TableOptions = {}): E.Either<ValidationError[], MappingTable> => {
  if (typeof text !== 'string') return E.left([makeError('', text, 'must be JSON text (a string)')]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (thrown) {
    return E.left([{ field: '', value: text, message: `the document is not valid JSON (${reason(thrown)})` }]);
  }
  return decodeTable(value, options);
};
