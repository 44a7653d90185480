/**
 * Constructing tables: {@link createTable}, and the checks of geometry, generations and segment
 * numbers that every constructor and updater shares.
 */
import * as E from 'fp-ts/lib/Either.js';
import { MAX_BITMAP_SIZE } from '../bitmap/bitmap.js';
import { checkBlockNumber, guarded, unreadableError, validationError, type ValidationError } from '../errors.js';
import { freeze, newChunk, writeEntry } from './chunk-builder.js';
import { lunSizesErrors, validateEntry, type EntrySpec, type LunSizes } from './entry.js';
import { altStride, bitmapBits, CHUNK_SIZE, FLAT_MAX_SEGMENTS, REC_WORDS, type Chunk, type MappingTable } from './layout.js';
import { checkGrainBlocks } from './grain.js';
import { directoryOf } from './segment-directory.js';
import { gatherAlternates, makeTable, noChunksInFlat, setChunkBit } from './table-value.js';

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
  /**
   * Blocks per alternate bit: a positive divisor of `segmentBlocks`; defaults to 1. With a larger
   * grain every alternate bitmap has one bit per grain (`segmentBlocks / grainBlocks` bits; an
   * offsets list names grains), so a marked grain is always whole; the controller copies the
   * rest of a grain before it marks it (docs/design.md#bitmap-grain).
   *
   * @example
   * // Grain 1 of 4 (blocks 4..7) at the alternate; blocks 0..3 and 8..15 at the primary.
   * createTable({ segmentBlocks: 16, grainBlocks: 4, entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [1] } }] }) // Right
   * createTable({ segmentBlocks: 16, grainBlocks: 4, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: [4] } }] }) // Left: alternate.blocks[0], 4 is past the 4 grains
   */
  readonly grainBlocks?: number;
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
 * Largest table, 2^26 segments: its records take 1 GiB (16 bytes a segment), about what one
 * process can hold next to everything else. Every constructor (`createTable`, `resizeTable`,
 * `decodeTable`) refuses a bigger `segmentCount` (or entry list) before it allocates anything.
 * Segments can be large (`segmentBlocks` up to 2^24), so this bounds the table, not the disk.
 * `TableOptions.maxSegments` sets a lower bound for one call.
 *
 * @example
 * resizeTable(table, MAX_SEGMENT_COUNT + 1, { zero: true }) // Left: segmentCount must be an integer from 0 to 67108864
 */
export const MAX_SEGMENT_COUNT = 67_108_864; // 2^26, a literal so that bundlers can drop it when unused

/** @internal The segment limit of one call: `options.maxSegments` when it is a valid, lower bound. */
export const segmentLimit = (errors: ValidationError[], options: TableOptions | undefined): number => {
  const max = options?.maxSegments;
  if (max === undefined) return MAX_SEGMENT_COUNT;
  if (typeof max === 'number' && Number.isSafeInteger(max) && max >= 0 && max <= MAX_SEGMENT_COUNT) return max;
  errors.push(validationError('options.maxSegments', max, `must be an integer from 0 to ${MAX_SEGMENT_COUNT}`));
  return MAX_SEGMENT_COUNT;
};

/** @internal Collects an error unless `count` is a segment count of at most `max`. */
export const checkSegmentCount = (errors: ValidationError[], field: string, count: unknown, max: number): count is number => {
  if (typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 && count <= max) return true;
  errors.push(validationError(field, count, `must be an integer from 0 to ${max}`));
  return false;
};

const checkSegmentBlocks = (errors: ValidationError[], value: unknown): value is number => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_BITMAP_SIZE) return true;
  errors.push(validationError('segmentBlocks', value, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`));
  return false;
};

/** @internal */
export const checkGeneration = (errors: ValidationError[], value: unknown): value is number =>
  checkBlockNumber(errors, 'generation', value);

/** @internal The error of a value that is not a segment of `table`, or none. */
export const checkSegment = (table: MappingTable, segment: unknown, field = 'segment'): ValidationError[] =>
  typeof segment === 'number' && Number.isSafeInteger(segment) && segment >= 0 && segment < table.segmentCount
    ? []
    : [validationError(field, segment, `must be an integer from 0 to ${table.segmentCount - 1}`)];

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
    const head = readSpecHead(spec, options, 'uniform');
    if (E.isLeft(head)) return head;
    const { errors, segmentBlocks, count, generation, entries } = head.right;
    const grainBlocks: unknown = spec.grainBlocks === undefined ? 1 : spec.grainBlocks; // null is refused, not defaulted
    if (segmentBlocks !== null) checkGrainBlocks(errors, grainBlocks, segmentBlocks);
    if (segmentBlocks === null || errors.length > 0) return E.left(errors);
    return buildTable(segmentBlocks, count, generation, entries as TableSpec['entries'], options?.lunSizes, errors, grainBlocks as number);
  });

/**
 * @internal What {@link createTable} and `createVariableTable` read of a spec before its entries,
 * each field read once and checked, errors collected in the order of the fields: the segment
 * limit of the call, `segmentBlocks` (uniform tables only), `generation`, `entries` and
 * `segmentCount`, the declared LUN sizes. A Left only when the spec is refused before anything is
 * read or allocated (not an object, an entry list too long); otherwise the errors collected so
 * far, which the caller adds to and checks.
 */
export interface SpecHead {
  readonly errors: ValidationError[];
  /** The checked `segmentBlocks`, null when refused; 0 for a variable table. */
  readonly segmentBlocks: number | null;
  readonly count: number;
  readonly generation: number;
  readonly entries: unknown;
}

/** @internal See {@link SpecHead}. */
export const readSpecHead = (spec: unknown, options: TableOptions, kind: 'uniform' | 'variable'): E.Either<ValidationError[], SpecHead> => {
  if (typeof spec !== 'object' || spec === null) return E.left([validationError('spec', spec, 'must be an object')]);
  const s = spec as { readonly segmentBlocks?: unknown; readonly entries?: unknown; readonly segmentCount?: unknown; readonly generation?: unknown };
  const errors: ValidationError[] = [];
  const max = segmentLimit(errors, options);
  let segmentBlocks: number | null = 0;
  if (kind === 'uniform') {
    const value: unknown = s.segmentBlocks;
    segmentBlocks = checkSegmentBlocks(errors, value) ? value : null;
  }
  const generation: unknown = s.generation ?? 0;
  checkGeneration(errors, generation);
  const entries: unknown = s.entries;
  let count = 0;
  if (typeof entries === 'function') {
    if (checkSegmentCount(errors, 'segmentCount', s.segmentCount, max)) count = s.segmentCount;
  } else if (Array.isArray(entries)) {
    if (!checkSegmentCount(errors, 'entries.length', entries.length, max)) return E.left(errors); // refused before anything is read or allocated
    count = entries.length;
    if (s.segmentCount !== undefined && s.segmentCount !== count) errors.push(validationError('segmentCount', s.segmentCount, `must equal entries.length ${count}`));
  } else {
    errors.push(validationError('entries', entries, `must be an array of ${kind === 'uniform' ? 'entry' : 'segment'} specs or a function of the segment`));
  }
  errors.push(...lunSizesErrors(options?.lunSizes));
  return E.right({ errors, segmentBlocks, count, generation: generation as number, entries });
};

/**
 * The body of {@link createTable} and `createVariableTable`, once the geometry is known to be
 * valid: validates and writes every entry, or returns the errors (at most 100: enough to act on,
 * without drowning the caller). A variable table (`segmentBlocks` 0) reads each entry's `length`
 * as it goes and builds the boundary index from them; its bitmaps are kept as `Bitmap` values
 * (`altStride(0)` has no inline words), each of its segment's size. With a grain (`grainBlocks`,
 * already checked to divide `segmentBlocks`) every alternate bitmap has one bit per grain.
 *
 * @internal
 */
export const buildTable = (
  segmentBlocks: number,
  count: number,
  generation: number,
  entries: TableSpec['entries'],
  lunSizes: LunSizes | undefined,
  errors: ValidationError[],
  grainBlocks = 1,
): E.Either<ValidationError[], MappingTable> => {
  const get = typeof entries === 'function' ? entries : (s: number) => entries[s];
  const bits = bitmapBits({ segmentBlocks, grainBlocks });
  const variable = segmentBlocks === 0;
  const starts = variable ? new Float64Array(count + 1) : null;
  const chunks: Chunk[] = [];
  const flat = count > 0 && count <= FLAT_MAX_SEGMENTS ? new Uint32Array(count * REC_WORDS) : null;
  for (let base = 0; base < count; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, count - base);
    const chunk = newChunk(size, bits, flat?.subarray(base * REC_WORDS, (base + size) * REC_WORDS));
    for (let i = 0; i < size; i++) {
      const s = base + i;
      let spec: unknown;
      try {
        spec = get(s);
      } catch (thrown) {
        errors.push(unreadableError('entry', thrown, s));
        continue;
      }
      let blocks = segmentBlocks;
      if (starts !== null) {
        blocks = readLength(spec, s, errors);
        starts[s + 1] = starts[s]! + Math.max(blocks, 0);
      }
      const entry = blocks > 0 ? validateEntry(spec, blocks, s, errors, lunSizes, grainBlocks) : undefined;
      if (entry !== undefined) writeEntry(chunk, i, entry);
      if (errors.length >= 100) return E.left(errors);
    }
    chunks.push(freeze(chunk));
  }
  if (errors.length > 0) return E.left(errors);
  const inFlat = noChunksInFlat(chunks.length);
  if (flat !== null) for (let ci = 0; ci < chunks.length; ci++) setChunkBit(inFlat, ci, true);
  const flatAlts = flat === null ? null : gatherAlternates(chunks, altStride(bits));
  const directory = starts === null ? null : directoryOf(starts, count);
  return E.right(makeTable(segmentBlocks, count, generation, chunks, flat, inFlat, flatAlts, null, starts, directory, grainBlocks));
};

/**
 * @internal The `length` of a variable table's entry spec `spec` (segment `s`), or -1 after
 * recording why it is not a segment length.
 */
export const readLength = (spec: unknown, s: number | undefined, errors: ValidationError[], field = 'length'): number => {
  let length: unknown;
  try {
    length = typeof spec === 'object' && spec !== null ? (spec as { length?: unknown }).length : undefined;
  } catch (thrown) {
    errors.push(unreadableError(field, thrown, s));
    return -1;
  }
  if (typeof length === 'number' && Number.isSafeInteger(length) && length >= 1 && length <= MAX_BITMAP_SIZE) return length;
  errors.push(validationError(field, length, `must be a segment length (an integer from 1 to ${MAX_BITMAP_SIZE})`, s));
  return -1;
};
