/**
 * Variable tables (docs/design.md#address-model): each segment has its own length in blocks, so a
 * product can map large extents with few entries and small ones where it needs detail. Building
 * one ({@link createVariableTable}), and the table operations that change segment boundaries:
 * {@link splitSegment} and {@link mergeSegments}. Entries are stored exactly as in a uniform
 * table; the lengths live in the table's boundary index (`segments.ts`), which `setEntry` keeps.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { guarded, validationError, type ValidationError } from '../errors.js';
import { freeze, newChunk, writeEntry } from './chunk-builder.js';
import { checkGrainBlocks } from './grain.js';
import { buildTable, checkGeneration, checkSegmentCount, readSpecHead, segmentLimit, type TableOptions } from './create.js';
import type { Alternate, EntrySpec, MappingEntry } from './entry.js';
import { CHUNK_SIZE, entryAt, type Chunk, type MappingTable } from './layout.js';
import { directoryOf } from './segment-directory.js';
import { segmentLengthAt, startsFromLengths } from './segments.js';
import { checkTable, isTable, makeTable, noChunksInFlat } from './table-value.js';
import type { UpdateOptions } from './update.js';

/**
 * One segment of a variable table: its entry and its length in blocks. The entry's extents and
 * bitmap are `length` blocks long.
 *
 * @example
 * const s: SegmentSpec = { length: 16, location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: [3, 15] } };
 */
export interface SegmentSpec extends EntrySpec {
  readonly length: number;
}

/**
 * What {@link createVariableTable} takes: each entry with its own `length`.
 *
 * @example
 * const spec: VariableTableSpec = { entries: [{ length: 1024, zero: true }, { length: 8, location: { lun: 1, start: 0 } }] };
 */
export interface VariableTableSpec {
  readonly entries: ReadonlyArray<SegmentSpec> | ((segment: number) => SegmentSpec);
  /** Required when `entries` is a function. */
  readonly segmentCount?: number;
  /** Defaults to 0. */
  readonly generation?: number;
}

/**
 * Builds a variable table, validating every entry and length. Errors name the segment, the field
 * and the value. Its `segmentBlocks` is 0; read lengths with `segmentLength`, `segmentStart`,
 * `segmentOfBlock` and `tableBlocks`.
 *
 * @example
 * createVariableTable({
 *   entries: [
 *     { length: 1000, location: { lun: 1, start: 0 } },
 *     { length: 10, location: { lun: 1, start: 1000 }, alternate: { lun: 2, start: 0, blocks: [2, 7] } },
 *     { length: 4, zero: true },
 *   ],
 * }) // Right(table): blocks 0..999, 1000..1009 and 1010..1013
 */
export const createVariableTable = (spec: VariableTableSpec, options: TableOptions = {}): E.Either<ValidationError[], MappingTable> =>
  guarded('spec', () => {
    const head = readSpecHead(spec, options, 'variable');
    if (E.isLeft(head)) return head;
    const { errors, count, generation, entries } = head.right;
    // A grain must divide every segment; variable tables keep grain 1 (refused, not ignored).
    const grain: unknown = (spec as { grainBlocks?: unknown }).grainBlocks;
    if (grain !== undefined) checkGrainBlocks(errors, grain, 0);
    if (errors.length > 0) return E.left(errors);
    return buildTable(0, count, generation, entries as VariableTableSpec['entries'], options?.lunSizes, errors);
  });

/** A table of the given entries and lengths (already valid), sharing nothing with any other. */
const rebuilt = (entries: ReadonlyArray<MappingEntry>, lengths: ReadonlyArray<number>, generation: number): MappingTable => {
  const chunks: Chunk[] = [];
  for (let base = 0; base < entries.length; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, entries.length - base);
    const c = newChunk(size, 0);
    for (let i = 0; i < size; i++) writeEntry(c, i, entries[base + i]!);
    chunks.push(freeze(c));
  }
  const starts = startsFromLengths(lengths);
  return makeTable(0, entries.length, generation, chunks, null, noChunksInFlat(chunks.length), null, null, starts, directoryOf(starts, entries.length), 1);
};

const nextGenerationOf = (errors: ValidationError[], table: MappingTable, explicit: unknown): number => {
  if (explicit === undefined) {
    checkGeneration(errors, table.generation + 1);
    return table.generation + 1;
  }
  if (checkGeneration(errors, explicit) && explicit < table.generation && explicit !== 0)
    errors.push(validationError('generation', explicit, `must be at least the table's generation ${table.generation}, or 0 for a new table`));
  return explicit as number;
};

/**
 * Why a table cannot become variable: a grain above 1 (variable tables keep grain 1, and one bit
 * per grain cannot be split or joined into one bit per block without changing what the bits mean).
 */
const grainError = (table: MappingTable): ValidationError[] =>
  table.grainBlocks === 1
    ? []
    : [validationError('grainBlocks', table.grainBlocks, 'must be 1: splitting or merging would make a variable table, which has no grain')];

/** The entries and lengths of every segment of `table`. */
const entriesAndLengths = (table: MappingTable): [MappingEntry[], number[]] => {
  const entries: MappingEntry[] = [];
  const lengths: number[] = [];
  for (let s = 0; s < table.segmentCount; s++) {
    entries.push(entryAt(table, s));
    lengths.push(segmentLengthAt(table, s));
  }
  return [entries, lengths];
};

/** A bitmap of `size` bits whose bit `k` is `bit(k)`. */
const bitmapOf = (size: number, bit: (k: number) => number): B.Bitmap => {
  const words = new Uint32Array((size + 31) >>> 5);
  for (let k = 0; k < size; k++) if (bit(k) !== 0) words[k >>> 5] = (words[k >>> 5]! | (1 << (k & 31))) >>> 0;
  return B.unsafeFromWords(size, words);
};

const bitAt = (b: B.Bitmap, k: number): number => (b.words[k >>> 5]! >>> (k & 31)) & 1;

/** Bits `from .. to-1` of `bits` as a bitmap of their own. */
const slice = (bits: B.Bitmap, from: number, to: number): B.Bitmap => bitmapOf(to - from, (k) => bitAt(bits, from + k));

/** @internal The part `from .. to-1` of an entry, as an entry of a segment of `to - from` blocks. */
export const entryPart = (e: MappingEntry, from: number, to: number): MappingEntry => ({
  ...e,
  location: e.location === null ? null : { lun: e.location.lun, start: e.location.start + from },
  alternate: e.alternate === null ? null : { lun: e.alternate.lun, start: e.alternate.start + from, blocks: slice(e.alternate.blocks, from, to) },
});

/**
 * Splits segment `segment` at block `at` of it (1 .. length-1) into two segments with the same
 * flags: the first keeps the first `at` blocks of the primary, the alternate and the bitmap, the
 * second the rest. Every later segment's number grows by one. A uniform table becomes variable,
 * so a table with a grain above 1 is refused, naming `grainBlocks`. Costs a copy of the whole
 * table (the segment numbers after it shift); advances the generation.
 *
 * @example
 * splitSegment(table, 0, 4) // Right: segment 0 (8 blocks) is now segments 0 and 1, of 4 blocks each
 * splitSegment(grainedTable, 0, 4) // Left: grainBlocks must be 1
 */
export const splitSegment = (table: MappingTable, segment: number, at: number, options: UpdateOptions = {}): E.Either<ValidationError[], MappingTable> =>
  guarded('options', () => {
    if (!isTable(table)) return E.left(checkTable(table));
    const errors: ValidationError[] = grainError(table);
    const generation = nextGenerationOf(errors, table, options?.generation);
    checkSegmentCount(errors, 'segmentCount', table.segmentCount + 1, segmentLimit(errors, options));
    if (!(typeof segment === 'number' && Number.isSafeInteger(segment) && segment >= 0 && segment < table.segmentCount))
      return E.left([...errors, validationError('segment', segment, `must be an integer from 0 to ${table.segmentCount - 1}`)]);
    const length = segmentLengthAt(table, segment);
    if (!(typeof at === 'number' && Number.isSafeInteger(at) && at >= 1 && at < length))
      errors.push(validationError('at', at, `must be an integer from 1 to ${length - 1} (inside segment ${segment})`));
    if (errors.length > 0) return E.left(errors);
    const [entries, lengths] = entriesAndLengths(table);
    const e = entries[segment]!;
    entries.splice(segment, 1, entryPart(e, 0, at), entryPart(e, at, length));
    lengths.splice(segment, 1, at, length - at);
    return E.right(rebuilt(entries, lengths, generation));
  });

/** Why `a` (of `la` blocks) and the next entry `b` cannot become one entry, or null when they can. */
const mergeObstacle = (a: MappingEntry, la: number, b: MappingEntry): [string, unknown, string] | null => {
  for (const flag of ['invalid', 'noWrite', 'zero', 'error'] as const)
    if (a[flag] !== b[flag]) return [flag, b[flag], `must equal the first segment's ${flag} ${a[flag]}`];
  if ((a.location === null) !== (b.location === null)) return ['location', b.location, 'must be present in both segments or in neither'];
  if (a.location !== null && (b.location!.lun !== a.location.lun || b.location!.start !== a.location.start + la))
    return ['location', b.location, `must continue the first segment's primary (lun ${a.location.lun}, start ${a.location.start + la})`];
  if ((a.alternate === null) !== (b.alternate === null)) return ['alternate', b.alternate, 'must be present in both segments or in neither'];
  if (a.alternate !== null && (b.alternate!.lun !== a.alternate.lun || b.alternate!.start !== a.alternate.start + la))
    return ['alternate', b.alternate, `must continue the first segment's alternate (lun ${a.alternate.lun}, start ${a.alternate.start + la})`];
  return null;
};

const joined = (a: Alternate, la: number, b: Alternate, lb: number): Alternate => ({
  lun: a.lun,
  start: a.start,
  blocks: bitmapOf(la + lb, (k) => (k < la ? bitAt(a.blocks, k) : bitAt(b.blocks, k - la))),
});

/**
 * Merges segment `segment` with the next one, the inverse of {@link splitSegment}: they must have
 * the same flags and extents that continue each other (the second's primary and alternate start
 * where the first's end), else a Left names the field and the value that stand in the way. The
 * merged bitmap is the two bitmaps end to end. Every later segment's number drops by one; the
 * result is a variable table, so a table with a grain above 1 is refused, naming `grainBlocks`.
 * Costs a copy of the whole table; advances the generation.
 *
 * @example
 * E.chain((t: MappingTable) => mergeSegments(t, 0))(splitSegment(table, 0, 4)) // Right: maps like `table`
 */
export const mergeSegments = (table: MappingTable, segment: number, options: UpdateOptions = {}): E.Either<ValidationError[], MappingTable> =>
  guarded('options', () => {
    if (!isTable(table)) return E.left(checkTable(table));
    const errors: ValidationError[] = grainError(table);
    const generation = nextGenerationOf(errors, table, options?.generation);
    if (!(typeof segment === 'number' && Number.isSafeInteger(segment) && segment >= 0 && segment < table.segmentCount - 1))
      return E.left([...errors, validationError('segment', segment, `must be an integer from 0 to ${table.segmentCount - 2} (a segment with a next one)`)]);
    const la = segmentLengthAt(table, segment);
    const lb = segmentLengthAt(table, segment + 1);
    if (la + lb > B.MAX_BITMAP_SIZE)
      errors.push(validationError('length', la + lb, `of the merged segment must be at most ${B.MAX_BITMAP_SIZE}`, segment));
    const a = entryAt(table, segment);
    const b = entryAt(table, segment + 1);
    const obstacle = mergeObstacle(a, la, b);
    if (obstacle !== null) errors.push(validationError(obstacle[0], obstacle[1], obstacle[2], segment + 1));
    if (errors.length > 0) return E.left(errors);
    const [entries, lengths] = entriesAndLengths(table);
    const merged: MappingEntry = { ...a, alternate: a.alternate === null ? null : joined(a.alternate, la, b.alternate!, lb) };
    entries.splice(segment, 2, merged);
    lengths.splice(segment, 2, la + lb);
    return E.right(rebuilt(entries, lengths, generation));
  });

/**
 * A variable table's resize (`resizeTable` calls it): kept segments keep their entries and
 * lengths, new ones get `fill` and `fill.length` blocks each.
 *
 * @internal
 */
export const resizedVariable = (table: MappingTable, segmentCount: number, fill: MappingEntry, fillLength: number, generation: number): MappingTable => {
  const [entries, lengths] = entriesAndLengths(table);
  entries.length = lengths.length = Math.min(segmentCount, table.segmentCount);
  while (entries.length < segmentCount) {
    entries.push(fill);
    lengths.push(fillLength);
  }
  return rebuilt(entries, lengths, generation);
};

