/**
 * Entry documents: one segment's entry as plain JSON, written by {@link encodeEntry} (and by
 * `encodeTable` for every segment) and read by {@link EntryReader}, which `decodeTable` and
 * {@link decodeEntry} share.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { MAX_BITMAP_SIZE, type Bitmap } from '../bitmap/bitmap.js';
import { show, type ValidationError } from '../errors.js';
import {
  entryPath,
  hasOwn,
  isComplex,
  isCount,
  isObject,
  keyPath,
  makeError,
  MAX_DECODE_ERRORS,
  unreadable,
} from './document-errors.js';
import { validateEntry, type Alternate, type EntrySpec, type Location, type MappingEntry } from './entry.js';
import { grainsOfBlocksUnchecked, partialGrain } from './grain.js';

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

/** @internal */
export type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** @internal `-0` becomes `0`, so the document never depends on how a zero was computed. */
export const num = (x: number): number => x + 0;

const ENTRY_KEYS = 'location, invalid, noWrite, zero, error, alternate';
const LOCATION_KEYS = 'lun, start';
const ALTERNATE_KEYS = 'lun, start, blocks';

/** Stands in for an entry that already has errors of its own, so `createTable` adds none. */
const PLACEHOLDER: EntrySpec = /* @__PURE__ */ Object.freeze({ invalid: true });

/**
 * Reads the entries of a document for `createTable`, one segment at a time, without a closure or
 * a `try` per entry field. Structural problems (unknown keys, wrong shapes, bad bitmap text,
 * unreadable values) are collected here with their full paths; the rules of an entry itself are
 * left to `validateEntry`, through `createTable`.
 *
 * @internal
 */
export class EntryReader {
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
    /** A variable table's segment lengths (bitmaps are sized per segment); else every segment is `segmentBlocks`. */
    private readonly lengths: ReadonlyArray<number> | null = null,
    /**
     * Above 1 for a document written before grained bitmaps were compact (binary version 3, JSON
     * version 1 with `grainBlocks`): each bitmap text has one bit per block, must set whole grains
     * of this many blocks, and is read as one bit per grain.
     */
    private readonly legacyGrain = 1,
  ) {
    this.emptyBitmap = (B.empty(Math.max(Math.floor(segmentBlocks / legacyGrain), 1)) as E.Right<Bitmap>).right;
  }

  /** What a bit of the bitmap texts stands for, in messages (`grains` in a grained document). */
  unit = 'blocks';

  private sizeOf(s: number): number {
    return this.lengths === null ? this.segmentBlocks : this.lengths[s]!;
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
    const size = this.sizeOf(s);
    const grain = this.legacyGrain;
    const empty = size === this.emptyBitmap.size * grain ? this.emptyBitmap : (B.empty(size) as E.Right<Bitmap>).right;
    if (typeof text !== 'string') {
      this.fail(
        s,
        'alternate.blocks',
        text,
        present ? 'must be a bitmap text like "2,7-8" (a string)' : 'is required: the bitmap text, like "2,7-8"',
      );
      return empty;
    }
    if (text === this.lastText && size === this.lastBitmap!.size * grain) return this.lastBitmap!;
    const parsed = B.parse(size, text);
    if (E.isLeft(parsed)) {
      const inner = parsed.left[0]?.message.replace(/^text\[run (\d+)\]/, 'run $1') ?? 'it is malformed';
      this.fail(s, 'alternate.blocks', text, `must be the text of a bitmap of ${size} ${this.unit}, like "2,7-8" (${inner})`);
      return empty;
    }
    let bits = parsed.right;
    if (grain > 1) {
      // A per-block bitmap of an older grained document: whole grains only, read one bit per grain.
      const at = partialGrain(bits, grain);
      if (at >= 0) {
        this.fail(s, 'alternate.blocks', text, `must set or clear whole grains of ${grain} blocks (the grain at offset ${at} is partial)`);
        return this.emptyBitmap;
      }
      bits = grainsOfBlocksUnchecked(bits, grain);
    }
    this.lastText = text;
    this.lastBitmap = bits;
    return bits;
  }
}

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
 * Reads one entry document for a table of `segmentBlocks`-block segments whose alternate bits
 * each stand for `grainBlocks` blocks (the table's grain, 1 by default: the bitmap text then has
 * one bit per grain). Never throws; errors name `segment`, the field inside the entry and the
 * value.
 *
 * @example
 * decodeEntry({ location: { lun: 2, start: 0 }, noWrite: true }, 10, 1) // Right(entry)
 * decodeEntry({ location: { lun: 2, start: 0 }, noWrite: true, alternate: { lun: 3, start: 0, blocks: '1' } }, 16, 0, 4) // Right: grain 1 (blocks 4..7) at the alternate
 */
export const decodeEntry = (doc: unknown, segmentBlocks: number, segment = 0, grainBlocks = 1): E.Either<ValidationError[], MappingEntry> => {
  const bad: ValidationError[] = [];
  if (!(Number.isSafeInteger(segmentBlocks) && segmentBlocks >= 1 && segmentBlocks <= MAX_BITMAP_SIZE))
    bad.push(makeError('segmentBlocks', segmentBlocks, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`));
  else if (!(Number.isSafeInteger(grainBlocks) && grainBlocks >= 1 && segmentBlocks % grainBlocks === 0))
    bad.push(makeError('grainBlocks', grainBlocks, `must be a positive divisor of segmentBlocks ${segmentBlocks}`));
  // Checked before it is written into any message: a symbol or a null-prototype object cannot be.
  if (!isCount(segment, Number.MAX_SAFE_INTEGER)) bad.push(makeError('segment', segment, 'must be a non-negative safe integer'));
  if (bad.length > 0) return E.left(bad);
  const reader = new EntryReader([doc], segmentBlocks / grainBlocks, MAX_DECODE_ERRORS);
  if (grainBlocks > 1) reader.unit = 'grains';
  const spec = reader.read(0);
  const relocate = (e: ValidationError): ValidationError => {
    const field = e.field.replace(/^entries\[0\](\.?)/, (_, dot: string) => (dot === '' ? 'entry' : ''));
    const message = e.message.replace(/^segment 0: entries\[0\](\.?)/, (_, dot: string) => `segment ${segment}: ${dot === '' ? 'entry' : ''}`);
    return { segment, field, value: e.value, message };
  };
  if (reader.errors.length > 0) return E.left(reader.errors.map(relocate));
  const errors: ValidationError[] = [];
  const entry = validateEntry(spec, segmentBlocks, segment, errors, undefined, grainBlocks);
  return entry === undefined || errors.length > 0 ? E.left(errors) : E.right(entry);
};
