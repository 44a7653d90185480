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
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { MAX_BITMAP_SIZE, type Bitmap } from '../bitmap/bitmap.js';
import { show, type ValidationError } from '../errors.js';
import { validateEntry, type Alternate, type EntrySpec, type Location, type MappingEntry } from './entry.js';
import {
  alternateAt,
  createTable,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  MAX_SEGMENT_COUNT,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
  type MappingTable,
  type TableOptions,
} from './table.js';

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
 * Most errors {@link decodeTable} returns: enough to act on, and it stops reading once it has
 * them, so even a huge broken input is rejected quickly.
 *
 * @example
 * const result = decodeTable(JSON.parse(text));
 * if (E.isLeft(result) && result.left.length === MAX_DECODE_ERRORS) console.warn('more errors not shown');
 */
export const MAX_DECODE_ERRORS = 100;

/**
 * A primary location in a document: blocks `start .. start+segmentBlocks-1` of LUN `lun`.
 *
 * @example
 * const location: LocationDocument = { lun: 1, start: 0 };
 */
export interface LocationDocument {
  readonly lun: number;
  readonly start: number;
}

/**
 * An alternate location in a document. `blocks` is the bitmap in the text form of
 * `bitmap.format`: the set runs, ascending, as `a` or `a-b`, comma separated (`"2,7-8"`), and the
 * empty string when no block is set. Its size is the table's `segmentBlocks`.
 *
 * @example
 * const alternate: AlternateDocument = { lun: 2, start: 10, blocks: '2,7-8' };
 */
export interface AlternateDocument {
  readonly lun: number;
  readonly start: number;
  readonly blocks: string;
}

/**
 * One segment's entry in a document. {@link encodeTable} writes the keys in this order and omits
 * `false` flags and absent (`null`) locations; {@link decodeTable} also accepts explicit `false`
 * flags and `null` locations.
 *
 * @example
 * const entry: EntryDocument = { location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 10, blocks: '2,7-8' } };
 */
export interface EntryDocument {
  readonly location?: LocationDocument | null;
  readonly invalid?: boolean;
  readonly noWrite?: boolean;
  readonly zero?: boolean;
  readonly error?: boolean;
  readonly alternate?: AlternateDocument | null;
}

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
  readonly version: typeof TABLE_VERSION;
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  readonly generation: number;
  readonly entries: ReadonlyArray<EntryDocument>;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** `-0` becomes `0`, so the document never depends on how a zero was computed. */
const num = (x: number): number => x + 0;

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
  table.chunks.forEach((c) => {
    const rec = c.rec;
    for (let i = 0; i < c.size; i++) {
      const r = i * REC_WORDS;
      const f = rec[r]! & FLAG_MASK;
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
        const a = alternateAt(c, rec[r]! >>> SLOT_SHIFT, table.segmentBlocks);
        e.alternate = { lun: a.lun, start: num(a.start), blocks: B.format(a.blocks) };
      }
      entries.push(e);
    }
  });
  return {
    format: TABLE_FORMAT,
    version: TABLE_VERSION,
    segmentBlocks: table.segmentBlocks,
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

const hasOwn = Object.prototype.hasOwnProperty;

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Path of `key` inside `parent` (`''` is the document itself): `a.b`, or `a["odd key"]`. */
const keyPath = (parent: string, key: string): string =>
  IDENTIFIER.test(key) ? (parent === '' ? key : `${parent}.${key}`) : `${parent}[${JSON.stringify(key)}]`;

/** Path of entry `s`, or of `field` inside it. */
const entryPath = (s: number, field: string): string =>
  field === '' ? `entries[${s}]` : field.startsWith('[') ? `entries[${s}]${field}` : `entries[${s}].${field}`;

const MAX_MESSAGE = 400;

/** {@link show}, but bounded and never throwing, whatever the value. */
const describe = (value: unknown): string => {
  try {
    if (typeof value === 'string' && value.length > 80) return `${JSON.stringify(value.slice(0, 77))}...`;
    const text = show(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return 'an unreadable value';
  }
};

/** Why reading a value threw, without trusting the thrown value either. */
const reason = (thrown: unknown): string => {
  try {
    if (thrown instanceof Error) return String(thrown.message).slice(0, 120);
    if (!isComplex(thrown)) return `it threw ${describe(thrown)}`;
  } catch {
    // fall through
  }
  return 'it threw a non-Error value';
};

const makeError = (field: string, value: unknown, requirement: string, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field === '' ? 'the document' : field} ${requirement}, got ${describe(value)}`;
  return segment === undefined ? { field, value, message } : { segment, field, value, message };
};

const unreadable = (field: string, thrown: unknown, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field === '' ? 'the document' : field} could not be read (${reason(thrown)})`;
  return segment === undefined ? { field, value: undefined, message } : { segment, field, value: undefined, message };
};

/** Moves an error of `validateEntry` (whose fields are relative to the entry) under `entries[s]`. */
const underEntry = (e: ValidationError): ValidationError => {
  const s = e.segment;
  if (s === undefined) return e;
  const field = entryPath(s, e.field === 'entry' ? '' : e.field);
  const prefix = `segment ${s}: ${e.field}`;
  let message = e.message.startsWith(prefix) ? `segment ${s}: ${field}${e.message.slice(prefix.length)}` : e.message;
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE - 3)}...`;
  return { segment: s, field, value: e.value, message };
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** True for values whose rendering or reading could run user code (proxies, getters, toJSON...). */
const isComplex = (v: unknown): boolean => (typeof v === 'object' && v !== null) || typeof v === 'function';

const ENTRY_KEYS = 'location, invalid, noWrite, zero, error, alternate';
const LOCATION_KEYS = 'lun, start';
const ALTERNATE_KEYS = 'lun, start, blocks';
const HEADER_KEYS = 'format, version, segmentBlocks, segmentCount, generation, entries';

/** Stands in for an entry that already has errors of its own, so `createTable` adds none. */
const PLACEHOLDER: EntrySpec = Object.freeze({ invalid: true });

/**
 * Reads the entries of a document for `createTable`, one segment at a time, without a closure or
 * a `try` per entry field. Structural problems (unknown keys, wrong shapes, bad bitmap text,
 * unreadable values) are collected here with their full paths; the rules of an entry itself are
 * left to `validateEntry`, through `createTable`.
 */
class EntryReader {
  /** This reader's own errors, ascending by segment. */
  readonly errors: ValidationError[] = [];
  /** First segment not read, once the error budget is spent. */
  stoppedAt = Infinity;
  /** What is being read (`key` inside `parent`; `''` for none), for errors about values that throw. */
  private parent = '';
  private key = '';
  private lastText: string | undefined;
  private lastBitmap: Bitmap | undefined;
  private readonly emptyBitmap: Bitmap;

  constructor(
    private readonly entries: ReadonlyArray<unknown>,
    private readonly segmentBlocks: number,
    private readonly budget: number,
  ) {
    this.emptyBitmap = (B.empty(segmentBlocks) as E.Right<Bitmap>).right;
  }

  /** The spec of segment `s` for `createTable`. */
  read(s: number): EntrySpec {
    if (s >= this.stoppedAt) return null as unknown as EntrySpec; // createTable stops soon; see decodeTable
    const before = this.errors.length;
    let spec: EntrySpec;
    try {
      spec = this.readEntry(s);
    } catch (thrown) {
      const field = this.key === '' ? this.parent : keyPath(this.parent, this.key);
      this.errors.push(unreadable(entryPath(s, field), thrown, s));
      spec = PLACEHOLDER;
    }
    if (this.errors.length > before && this.errors.length >= this.budget) this.stoppedAt = s + 1;
    return spec;
  }

  private fail(s: number, field: string, value: unknown, requirement: string): void {
    this.errors.push(makeError(entryPath(s, field), value, requirement, s));
  }

  /**
   * Renders a complex value the way validateEntry's message will, so that a hostile one throws
   * here, where its path is known, rather than inside createTable.
   */
  private static probe(v: unknown): unknown {
    if (isComplex(v)) show(v);
    return v;
  }

  private readEntry(s: number): EntrySpec {
    this.parent = '';
    this.key = '';
    const entries = this.entries;
    const raw = hasOwn.call(entries, s) ? entries[s] : undefined; // a hole is not inherited
    if (!isObject(raw) || Array.isArray(raw)) {
      this.fail(s, '', raw, raw === undefined ? 'must be an entry object (it is missing)' : 'must be an entry object');
      return PLACEHOLDER;
    }
    let location: unknown;
    let invalid: unknown;
    let noWrite: unknown;
    let zero: unknown;
    let error: unknown;
    let alternate: unknown;
    const keys = Object.keys(raw);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      this.key = key;
      const v = raw[key];
      switch (key) {
        case 'location':
          location = v;
          break;
        case 'invalid':
          invalid = EntryReader.probe(v);
          break;
        case 'noWrite':
          noWrite = EntryReader.probe(v);
          break;
        case 'zero':
          zero = EntryReader.probe(v);
          break;
        case 'error':
          error = EntryReader.probe(v);
          break;
        case 'alternate':
          alternate = v;
          break;
        default:
          this.fail(s, keyPath('', key), v, `is not a key of an entry (expected ${ENTRY_KEYS})`);
      }
    }
    return {
      location: this.readLocation(s, location),
      invalid: invalid as boolean,
      noWrite: noWrite as boolean,
      zero: zero as boolean,
      error: error as boolean,
      alternate: this.readAlternate(s, alternate),
    };
  }

  private readLocation(s: number, raw: unknown): Location | null {
    if (raw === undefined || raw === null) return null;
    this.parent = '';
    this.key = 'location';
    if (!isObject(raw) || Array.isArray(raw)) return EntryReader.probe(raw) as Location; // validateEntry rejects it
    this.parent = 'location';
    let lun: unknown;
    let start: unknown;
    const keys = Object.keys(raw);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      this.key = key;
      const v = raw[key];
      if (key === 'lun') lun = EntryReader.probe(v);
      else if (key === 'start') start = EntryReader.probe(v);
      else this.fail(s, keyPath('location', key), v, `is not a key of a location (expected ${LOCATION_KEYS})`);
    }
    return { lun: lun as number, start: start as number };
  }

  private readAlternate(s: number, raw: unknown): EntrySpec['alternate'] {
    if (raw === undefined || raw === null) return null;
    this.parent = '';
    this.key = 'alternate';
    if (!isObject(raw) || Array.isArray(raw)) return EntryReader.probe(raw) as Alternate; // validateEntry rejects it
    this.parent = 'alternate';
    let lun: unknown;
    let start: unknown;
    let text: unknown;
    let hasBlocks = false;
    const keys = Object.keys(raw);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      this.key = key;
      const v = raw[key];
      if (key === 'lun') lun = EntryReader.probe(v);
      else if (key === 'start') start = EntryReader.probe(v);
      else if (key === 'blocks') {
        text = v;
        hasBlocks = true;
      } else this.fail(s, keyPath('alternate', key), v, `is not a key of an alternate (expected ${ALTERNATE_KEYS})`);
    }
    return { lun: lun as number, start: start as number, blocks: this.readBlocks(s, text, hasBlocks) };
  }

  /** The bitmap of a `blocks` text; on error, an empty bitmap so that only this reader reports it. */
  private readBlocks(s: number, text: unknown, present: boolean): Bitmap {
    if (typeof text !== 'string') {
      this.fail(
        s,
        'alternate.blocks',
        text,
        present ? 'must be a bitmap text like "2,7-8" (a string)' : 'is required: the bitmap text, like "2,7-8"',
      );
      return this.emptyBitmap;
    }
    if (text === this.lastText) return this.lastBitmap!;
    const parsed = B.parse(this.segmentBlocks, text);
    if (E.isLeft(parsed)) {
      const inner = parsed.left[0]?.message.replace(/^text\[run (\d+)\]/, 'run $1') ?? 'it is malformed';
      this.fail(s, 'alternate.blocks', text, `must be the text of a bitmap of ${this.segmentBlocks} blocks, like "2,7-8" (${inner})`);
      return this.emptyBitmap;
    }
    this.lastText = text;
    this.lastBitmap = parsed.right;
    return parsed.right;
  }
}

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

interface Header {
  segmentBlocks?: unknown;
  segmentCount?: unknown;
  generation?: unknown;
  entries?: unknown;
  format?: unknown;
  version?: unknown;
}


const decodeUnchecked = (value: unknown, options: TableOptions, errors: ValidationError[], at: { field: string }): E.Either<ValidationError[], MappingTable> => {
  if (!isObject(value) || Array.isArray(value)) {
    errors.push(makeError('', value, `must be a table document: an object with ${HEADER_KEYS}`));
    return E.left(errors);
  }
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
  const missing = (key: keyof Header): boolean => {
    if (present.has(key)) return false;
    errors.push(makeError(key, undefined, 'is required'));
    return true;
  };
  // The format and version decide how to read everything else: nothing more is checked without them.
  if (!missing('format') && header.format !== TABLE_FORMAT)
    errors.push(makeError('format', header.format, `must be ${JSON.stringify(TABLE_FORMAT)}: this is not a vdisk-map table document`));
  if (!missing('version') && header.version !== TABLE_VERSION)
    errors.push(makeError('version', header.version, `must be ${TABLE_VERSION}, the only version this library reads`));
  if (errors.some((e) => e.field === 'format' || e.field === 'version')) return E.left(errors.slice(0, MAX_DECODE_ERRORS));

  const { segmentBlocks, segmentCount, generation, entries } = header;
  const okBlocks =
    !missing('segmentBlocks') &&
    (typeof segmentBlocks === 'number' && Number.isSafeInteger(segmentBlocks) && segmentBlocks >= 1 && segmentBlocks <= MAX_BITMAP_SIZE
      ? true
      : (errors.push(makeError('segmentBlocks', segmentBlocks, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`)), false));
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
  if (!okBlocks || !okEntries || errors.length >= MAX_DECODE_ERRORS) return E.left(errors.slice(0, MAX_DECODE_ERRORS));

  const list = entries as ReadonlyArray<unknown>;
  const reader = new EntryReader(list, segmentBlocks as number, MAX_DECODE_ERRORS - errors.length);
  at.field = 'entries';
  const built = createTable(
    {
      segmentBlocks: segmentBlocks as number,
      segmentCount: list.length,
      generation: okGeneration ? (generation as number) : 0,
      entries: (s) => reader.read(s),
    },
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

// ---------------------------------------------------------------------------------------------
// Single entries (the protocol sends changed entries one by one)
// ---------------------------------------------------------------------------------------------

/**
 * The document of one entry, exactly as {@link encodeTable} writes it inside a table.
 *
 * @example
 * encodeEntry(entry) // { location: { lun: 2, start: 0 }, noWrite: true }
 */
export const encodeEntry = (entry: MappingEntry): EntryDocument => {
  const e: Writable<EntryDocument> = {};
  if (entry.location !== null) e.location = { lun: entry.location.lun, start: num(entry.location.start) };
  if (entry.invalid) e.invalid = true;
  if (entry.noWrite) e.noWrite = true;
  if (entry.zero) e.zero = true;
  if (entry.error) e.error = true;
  if (entry.alternate !== null) e.alternate = { lun: entry.alternate.lun, start: num(entry.alternate.start), blocks: B.format(entry.alternate.blocks) };
  return e;
};

/**
 * Reads one entry document for a table of `segmentBlocks`-block segments. Never throws; errors
 * name `segment`, the field inside the entry and the value.
 *
 * @example
 * decodeEntry({ location: { lun: 2, start: 0 }, noWrite: true }, 10, 1) // Right(entry)
 */
export const decodeEntry = (doc: unknown, segmentBlocks: number, segment = 0): E.Either<ValidationError[], MappingEntry> => {
  const bad: ValidationError[] = [];
  if (!(Number.isSafeInteger(segmentBlocks) && segmentBlocks >= 1 && segmentBlocks <= MAX_BITMAP_SIZE))
    bad.push(makeError('segmentBlocks', segmentBlocks, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`));
  // Checked before it is written into any message: a symbol or a null-prototype object cannot be.
  if (!isCount(segment, Number.MAX_SAFE_INTEGER)) bad.push(makeError('segment', segment, 'must be a non-negative safe integer'));
  if (bad.length > 0) return E.left(bad);
  const reader = new EntryReader([doc], segmentBlocks, MAX_DECODE_ERRORS);
  const spec = reader.read(0);
  const relocate = (e: ValidationError): ValidationError => {
    const field = e.field.replace(/^entries\[0\](\.?)/, (_, dot: string) => (dot === '' ? 'entry' : ''));
    const message = e.message.replace(/^segment 0: entries\[0\](\.?)/, (_, dot: string) => `segment ${segment}: ${dot === '' ? 'entry' : ''}`);
    return { segment, field, value: e.value, message };
  };
  if (reader.errors.length > 0) return E.left(reader.errors.map(relocate));
  const errors: ValidationError[] = [];
  const entry = validateEntry(spec, segmentBlocks, segment, errors);
  return entry === undefined || errors.length > 0 ? E.left(errors) : E.right(entry);
};
