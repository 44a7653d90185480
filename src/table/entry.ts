/**
 * Mapping entries: where one segment's blocks live, and what an agent may do with them.
 */
import * as B from '../bitmap/bitmap.js';
import type { Bitmap } from '../bitmap/bitmap.js';
import { checkBlockNumber, unreadableError, validationError, type ValidationError } from '../errors.js';

/**
 * Primary storage of a segment: blocks `start .. start+segmentBlocks-1` of LUN `lun`. Every block
 * of the segment is read and written here unless its alternate bit is set.
 *
 * @example
 * const location: Location = { lun: 1, start: 80 }; // with 8-block segments: blocks 80..87 of LUN 1
 */
export interface Location {
  readonly lun: number;
  readonly start: number;
}

/**
 * A same-sized second location; block k of the segment lives here when bit k of `blocks` is set
 * (in a table with `grainBlocks` above 1, `blocks` has one bit per grain and block k lives here
 * when bit `k / grainBlocks` is set: docs/design.md#bitmap-grain).
 * It lets writes land elsewhere while the primary is frozen (a snapshot, a migration) or not yet
 * allocated (a `zero` segment), one block at a time.
 *
 * @example
 * // Blocks 2, 7 and 8 of a 10-block segment live at blocks 12, 17 and 18 of LUN 2:
 * const blocks = bitmap.fromOffsets(10, [2, 7, 8]);
 * if (E.isRight(blocks)) { const alternate: Alternate = { lun: 2, start: 10, blocks: blocks.right }; }
 */
export interface Alternate {
  readonly lun: number;
  readonly start: number;
  readonly blocks: Bitmap;
}

/**
 * One segment's mapping entry, as stored (docs/design.md#mapping-entries). Every
 * `MappingEntry` is also a valid {@link EntrySpec}, so an entry read with `getEntry` can be
 * written back unchanged.
 *
 * @example
 * // Freeze segment 0's primary, keeping the rest of its entry:
 * E.chain((e: MappingEntry) => setEntry(table, 0, { ...e, noWrite: true }))(getEntry(table, 0))
 */
export interface MappingEntry {
  readonly location: Location | null;
  /** Agents may not complete any I/O through this entry: it faults. */
  readonly invalid: boolean;
  /** The primary location must not change; reads still go there. */
  readonly noWrite: boolean;
  /** Blocks not at the alternate read as zeros without storage I/O. */
  readonly zero: boolean;
  /** Every I/O to the segment fails with an error. */
  readonly error: boolean;
  readonly alternate: Alternate | null;
}

/**
 * What a caller gives to build an entry. Omitted flags are `false`; `alternate.blocks` is the
 * bitmap, either as segment offsets or as a {@link Bitmap} of `segmentBlocks` blocks (in a table
 * with a grain: grain numbers, or a bitmap of `segmentBlocks / grainBlocks` bits).
 *
 * @example
 * const spec: EntrySpec = { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } };
 */
export interface EntrySpec {
  readonly location?: Location | null;
  readonly invalid?: boolean;
  readonly noWrite?: boolean;
  readonly zero?: boolean;
  readonly error?: boolean;
  readonly alternate?: {
    readonly lun: number;
    readonly start: number;
    readonly blocks: ReadonlyArray<number> | Bitmap;
  } | null;
}

/**
 * Declared LUN sizes in blocks. When given, every extent must lie inside its LUN and every LUN
 * must be declared, so a table that points past the end of its storage is refused when it is
 * built or decoded rather than when an I/O reaches the device. A `Map` or a plain object.
 *
 * @example
 * const lunSizes: LunSizes = new Map([[1, 4096], [2, 4096]]); // or { 1: 4096, 2: 4096 }
 * createTable({ segmentBlocks: 8, entries: [{ location: { lun: 3, start: 0 } }] }, { lunSizes })
 * // Left: location.lun must be one of the declared LUNs
 */
export type LunSizes = ReadonlyMap<number, number> | Readonly<Record<number, number>>;

/**
 * @internal Why `sizes` cannot serve as {@link LunSizes} (none when it can, or is absent): each
 * LUN id must be a LUN number and each size a block count, so that a `NaN` or a string never
 * silently turns the extent check off.
 */
export const lunSizesErrors = (sizes: unknown): ValidationError[] => {
  if (sizes === undefined) return [];
  const field = 'options.lunSizes';
  try {
    if (typeof sizes !== 'object' || sizes === null || Array.isArray(sizes))
      return [validationError(field, sizes, 'must be a Map or a plain object of LUN id to size in blocks')];
    const pairs: Array<[unknown, unknown]> = sizes instanceof Map ? [...sizes.entries()] : Object.entries(sizes).map(([k, v]) => [k === '' ? NaN : Number(k), v]);
    const errors: ValidationError[] = [];
    for (const [lun, size] of pairs) {
      if (typeof lun !== 'number' || !Number.isSafeInteger(lun) || lun < 0 || lun > MAX_LUN)
        errors.push(validationError(`${field} key`, lun, `must be a LUN id (an integer from 0 to ${MAX_LUN})`));
      else if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
        errors.push(validationError(`${field}[${lun}]`, size, 'must be a size in blocks (a non-negative safe integer)'));
      if (errors.length >= 8) break;
    }
    return errors;
  } catch (thrown) {
    return [unreadableError(field, thrown)];
  }
};

export const lunSize = (sizes: LunSizes, lun: number): number | undefined =>
  sizes instanceof Map ? sizes.get(lun) : (sizes as Readonly<Record<number, number>>)[lun];

/**
 * Largest LUN id: table records and translation results keep LUN ids in 32-bit words.
 *
 * @example
 * createTable({ segmentBlocks: 8, entries: [{ location: { lun: MAX_LUN + 1, start: 0 } }] })
 * // Left: location.lun must be at most 4294967295
 */
export const MAX_LUN = 0xffffffff;

const FLAG_NAMES = ['invalid', 'noWrite', 'zero', 'error'] as const;

/** Checks that an extent of `length` blocks at `lun:start` is addressable and inside its LUN. */
const checkExtent = (
  errors: ValidationError[],
  field: string,
  value: { readonly lun: unknown; readonly start: unknown },
  length: number,
  segment: number | undefined,
  sizes: LunSizes | undefined,
): boolean => {
  let okLun = checkBlockNumber(errors, `${field}.lun`, value.lun, segment);
  if (okLun && (value.lun as number) > MAX_LUN) {
    errors.push(validationError(`${field}.lun`, value.lun, `must be at most ${MAX_LUN}`, segment));
    okLun = false;
  }
  const okStart = checkBlockNumber(errors, `${field}.start`, value.start, segment);
  if (!okLun || !okStart) return false;
  const start = value.start as number;
  if (start > Number.MAX_SAFE_INTEGER - (length - 1)) { // not `start + length - 1`: that sum rounds
    errors.push(validationError(`${field}.start`, start, `must leave room for ${length} blocks below 2^53`, segment));
    return false;
  }
  if (sizes !== undefined) {
    const size = lunSize(sizes, value.lun as number);
    if (size === undefined) {
      errors.push(validationError(`${field}.lun`, value.lun, 'must be one of the declared LUNs', segment));
      return false;
    }
    if (start + length > size) {
      errors.push(
        validationError(field, { lun: value.lun, start }, `must end inside its LUN of ${size} blocks (needs ${length} blocks)`, segment),
      );
      return false;
    }
  }
  return true;
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Validates an entry spec for a table of `segmentBlocks`-block segments whose alternate bits each
 * stand for `grainBlocks` blocks (a divisor of `segmentBlocks`, already checked): the bitmap has
 * `segmentBlocks / grainBlocks` bits, one per grain. Pushes every problem to `errors` (each naming
 * `segment` and the field) and returns the entry only when there were none.
 */
export const validateEntry = (
  spec: unknown,
  segmentBlocks: number,
  segment: number | undefined,
  errors: ValidationError[],
  sizes?: LunSizes,
  grainBlocks = 1,
): MappingEntry | undefined => {
  try {
    return validateEntryUnguarded(spec, segmentBlocks, segment, errors, sizes, grainBlocks);
  } catch (thrown) {
    // A getter or a proxy trap of the spec (or of `sizes`) threw: the entry cannot be read.
    errors.push(unreadableError('entry', thrown, segment));
    return undefined;
  }
};

const validateEntryUnguarded = (
  spec: unknown,
  segmentBlocks: number,
  segment: number | undefined,
  errors: ValidationError[],
  sizes: LunSizes | undefined,
  grainBlocks: number,
): MappingEntry | undefined => {
  if (!isRecord(spec)) {
    errors.push(validationError('entry', spec, 'must be an object', segment));
    return undefined;
  }
  const before = errors.length;
  const flags: Partial<Record<(typeof FLAG_NAMES)[number], unknown>> = {}; // each read once
  for (const flag of FLAG_NAMES) {
    const v = (flags[flag] = spec[flag]);
    if (v !== undefined && typeof v !== 'boolean') errors.push(validationError(flag, v, 'must be a boolean', segment));
  }
  let location: Location | null = null;
  const loc = spec.location;
  if (loc !== undefined && loc !== null) {
    if (!isRecord(loc)) errors.push(validationError('location', loc, 'must be { lun, start } or null', segment));
    else {
      const read = { lun: loc.lun, start: loc.start }; // each field read once: a getter cannot change it after the check
      if (checkExtent(errors, 'location', read, segmentBlocks, segment, sizes)) location = read as Location;
    }
  }
  let alternate: Alternate | null = null;
  const alt = spec.alternate;
  if (alt !== undefined && alt !== null) {
    if (!isRecord(alt)) {
      errors.push(validationError('alternate', alt, 'must be { lun, start, blocks } or null', segment));
    } else {
      const read = { lun: alt.lun, start: alt.start };
      const okExtent = checkExtent(errors, 'alternate', read, segmentBlocks, segment, sizes);
      const blocks = toBitmap(alt.blocks, segmentBlocks, grainBlocks, segment, errors);
      if (okExtent && blocks !== undefined) alternate = { lun: read.lun as number, start: read.start as number, blocks };
    }
  }
  const invalid = flags.invalid === true;
  const zero = flags.zero === true;
  if (!invalid && !zero && (loc === undefined || loc === null))
    errors.push(validationError('location', loc ?? null, 'is required unless the entry is invalid or zero', segment));
  if (errors.length > before) return undefined;
  return {
    location,
    invalid,
    noWrite: flags.noWrite === true,
    zero,
    error: flags.error === true,
    alternate,
  };
};

const toBitmap = (
  blocks: unknown,
  segmentBlocks: number,
  grainBlocks: number,
  segment: number | undefined,
  errors: ValidationError[],
): Bitmap | undefined => {
  // One bit per grain (docs/design.md#bitmap-grain): a grained table's bitmaps are compact.
  const size = grainBlocks > 1 ? segmentBlocks / grainBlocks : segmentBlocks;
  if (B.isBitmap(blocks)) {
    if (blocks.size === size) return blocks;
    const want = grainBlocks > 1 ? `${size} bits, one per grain of ${grainBlocks} blocks` : `${segmentBlocks} blocks (its size)`;
    errors.push(validationError('alternate.blocks', blocks.size, `must be a bitmap of ${want}`, segment));
    return undefined;
  }
  if (!Array.isArray(blocks)) {
    const what = grainBlocks > 1 ? 'grain numbers' : 'segment offsets';
    errors.push(validationError('alternate.blocks', blocks, `must be an array of ${what} or a bitmap`, segment));
    return undefined;
  }
  const built = B.fromOffsets(size, blocks);
  if (built._tag === 'Right') return built.right;
  for (const e of built.left) {
    const field = `alternate.blocks${e.field.replace(/^offsets/, '')}`;
    const where = segment === undefined ? '' : `segment ${segment}: `;
    const message = `${where}${field}${e.message.slice(e.field.length)}`;
    errors.push(segment === undefined ? { field, value: e.value, message } : { segment, field, value: e.value, message });
  }
  return undefined;
};

/**
 * Structural equality of two entries (bitmaps compared by content). Entries are built afresh on
 * every read, so `===` says nothing about whether two entries map the same way.
 *
 * @example
 * const [x, y] = [getEntry(table, 0), getEntry(table, 0)];
 * if (E.isRight(x) && E.isRight(y)) entriesEqual(x.right, y.right); // true, although x.right !== y.right
 */
export const entriesEqual = (a: MappingEntry, b: MappingEntry): boolean =>
  a.invalid === b.invalid &&
  a.noWrite === b.noWrite &&
  a.zero === b.zero &&
  a.error === b.error &&
  (a.location === b.location ||
    (a.location !== null && b.location !== null && a.location.lun === b.location.lun && a.location.start === b.location.start)) &&
  (a.alternate === b.alternate ||
    (a.alternate !== null &&
      b.alternate !== null &&
      a.alternate.lun === b.alternate.lun &&
      a.alternate.start === b.alternate.start &&
      B.equals(a.alternate.blocks, b.alternate.blocks)));
