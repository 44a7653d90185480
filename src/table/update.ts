/**
 * Updating tables: {@link setEntries} and {@link setEntry}, {@link resizeTable} and
 * {@link withGeneration}. Each returns a new table that shares every chunk it does not touch.
 */
import * as E from 'fp-ts/lib/Either.js';
import { guarded, unreadableError, validationError, type ValidationError } from '../errors.js';
import { copyChunk, freeze, newChunk, writeEntry, type MutableChunk } from './chunk-builder.js';
import { checkGeneration, checkSegment, checkSegmentCount, readLength, segmentLimit, type TableOptions } from './create.js';
import { segmentLengthAt } from './segments.js';
import { resizedVariable } from './variable.js';
import { lunSizesErrors, validateEntry, type EntrySpec, type LunSizes, type MappingEntry } from './entry.js';
import { materializeFreeze, withoutBits } from './freeze.js';
import { bitmapBits, CHUNK_BITS, CHUNK_MASK, CHUNK_SIZE, chunkFrozen, chunkInFlat, entryAt, type Chunk, type MappingTable } from './layout.js';
import { checkTable, flatIfUsed, isTable, makeTable, noChunksInFlat, setChunkBit } from './table-value.js';

/**
 * Options of {@link setEntry} and {@link setEntries}. An explicit `generation` lets a copy of a
 * table take the number its authority assigned to the same change. Generations never go
 * backwards: it may not be below the table's own, except 0, which makes the result the first
 * generation of a new table (a snapshot's table, made from its source's).
 *
 * @example
 * setEntry(table, 0, { zero: true }, { generation: 10 }) // Right: a table at generation 10
 */
export interface UpdateOptions extends TableOptions {
  /** The generation of the result: at least the table's, or 0 for a new table; defaults to the table's generation + 1. */
  readonly generation?: number;
}

/** The generation of a change of `table`: the explicit one, which may not go backwards, or the next. */
const nextGeneration = (errors: ValidationError[], table: MappingTable, explicit: unknown): number => {
  if (explicit === undefined) {
    const next = table.generation + 1;
    checkGeneration(errors, next);
    return next;
  }
  // 0 starts the history of a new table made from this one (a snapshot's): not a step back.
  if (checkGeneration(errors, explicit) && explicit < table.generation && explicit !== 0)
    errors.push(
      validationError('generation', explicit, `must be at least the table's generation ${table.generation} (generations never go backwards), or 0 for a new table`),
    );
  return explicit as number;
};

/**
 * One change of a batch: the new entry of `segment`.
 *
 * @example
 * const updates: EntryUpdate[] = [{ segment: 0, entry: { zero: true } }, { segment: 3, entry: { location: { lun: 1, start: 24 } } }];
 */
export interface EntryUpdate {
  readonly segment: number;
  readonly entry: EntrySpec;
}

/**
 * Replaces several entries at once (later updates of the same segment win) and advances the
 * generation once. Copies only the chunks it touches. Use it for changes that must appear
 * together, as one generation, rather than one `setEntry` per segment.
 *
 * @example
 * setEntries(table, [
 *   { segment: 0, entry: { zero: true } },
 *   { segment: 2, entry: { location: { lun: 1, start: 40 } } },
 * ]) // Right: both changed, generation + 1
 */
export const setEntries = (
  table: MappingTable,
  updates: ReadonlyArray<EntryUpdate>,
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> =>
  guarded('updates', () => {
    if (!isTable(table)) return E.left(checkTable(table));
    const errors: ValidationError[] = [];
    const generation = nextGeneration(errors, table, options?.generation);
    if (!Array.isArray(updates)) return E.left([...errors, validationError('updates', updates, 'must be an array of { segment, entry }')]);
    errors.push(...lunSizesErrors(options?.lunSizes));
    const validated = validateUpdates(table, updates, options?.lunSizes, errors);
    return errors.length > 0 ? E.left(errors) : E.right(applyUpdates(table, validated, generation));
  });

/** The updates, validated (at most 100 errors are collected). */
const validateUpdates = (
  table: MappingTable,
  updates: ReadonlyArray<unknown>,
  lunSizes: LunSizes | undefined,
  errors: ValidationError[],
): { segment: number; entry: MappingEntry }[] => {
  const validated: { segment: number; entry: MappingEntry }[] = [];
  for (let n = 0; n < updates.length && errors.length < 100; n++) {
    if (!(n in updates)) {
      errors.push(validationError(`updates[${n}]`, undefined, 'is missing (a hole in a sparse array)'));
      continue;
    }
    let segment: unknown;
    let spec: unknown;
    try {
      const u: unknown = updates[n];
      if (typeof u !== 'object' || u === null) {
        errors.push(validationError(`updates[${n}]`, u, 'must be { segment, entry }'));
        continue;
      }
      ({ segment, entry: spec } = u as { segment?: unknown; entry?: unknown });
    } catch (thrown) {
      errors.push(unreadableError(`updates[${n}]`, thrown));
      continue;
    }
    const segErrors = checkSegment(table, segment, `updates[${n}].segment`);
    if (segErrors.length > 0) {
      errors.push(...segErrors);
      continue;
    }
    const entry = validateEntry(spec, segmentLengthAt(table, segment as number), segment as number, errors, lunSizes, table.grainBlocks);
    if (entry !== undefined) validated.push({ segment: segment as number, entry });
  }
  return validated;
};

/** A new table with the validated updates written, sharing every chunk they do not touch. */
const applyUpdates = (table: MappingTable, validated: ReadonlyArray<{ segment: number; entry: MappingEntry }>, generation: number): MappingTable => {
  const chunks = table.chunks.slice();
  const copied = new Map<number, MutableChunk>();
  for (const { segment, entry } of validated) {
    const ci = segment >>> CHUNK_BITS;
    let c = copied.get(ci);
    if (c === undefined) {
      c = copyChunk(table.chunks[ci]!, bitmapBits(table));
      if (chunkFrozen(table, ci)) materializeFreeze(c); // freeze.ts: the copy carries the flags, not the bit
      copied.set(ci, c);
    }
    writeEntry(c, segment & CHUNK_MASK, entry);
  }
  let inFlat = table.inFlat;
  for (const [ci, c] of copied) {
    chunks[ci] = freeze(c);
    if (chunkInFlat(table, ci)) {
      if (inFlat === table.inFlat) inFlat = inFlat.slice();
      setChunkBit(inFlat, ci, false);
    }
  }
  return makeTable(table.segmentBlocks, table.segmentCount, generation, chunks, flatIfUsed(table.flat, inFlat), inFlat, table.flatAlts, withoutBits(table.frozen, copied.keys()), table.segmentStarts, table.segmentDirectory, table.grainBlocks);
};

/**
 * Replaces one entry; the result shares every other chunk with `table`.
 *
 * @example
 * setEntry(table, 1, { location: { lun: 2, start: 0 } }) // Right(table with generation + 1)
 */
export const setEntry = (
  table: MappingTable,
  segment: number,
  entry: EntrySpec,
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> => setEntries(table, [{ segment, entry }], options);

/**
 * The same table at another generation (an agent adopting the controller's number). Shares every
 * chunk with `table`; Left when `generation` is not a non-negative safe integer or is below the
 * table's own (generations never go backwards).
 *
 * @example
 * withGeneration(table, 42) // Right: the same entries at generation 42
 */
export const withGeneration = (table: MappingTable, generation: number): E.Either<ValidationError[], MappingTable> => {
  if (!isTable(table)) return E.left(checkTable(table));
  const errors: ValidationError[] = [];
  if (checkGeneration(errors, generation) && generation < table.generation)
    errors.push(validationError('generation', generation, `must not be below the table's generation ${table.generation} (generations never go backwards)`));
  return errors.length === 0
    ? E.right(makeTable(table.segmentBlocks, table.segmentCount, generation, table.chunks, table.flat, table.inFlat, table.flatAlts, table.frozen, table.segmentStarts, table.segmentDirectory, table.grainBlocks))
    : E.left(errors);
};

/**
 * A table of `segmentCount` segments: existing entries are kept, new segments get `fill`.
 * Advances the generation. Grows or shrinks a virtual disk; shrinking drops the last segments.
 * A variable table's new segments are `fill.length` blocks each (required for a variable table;
 * a uniform table ignores it).
 *
 * @example
 * resizeTable(table, table.segmentCount + 16, { zero: true }) // Right: 16 more segments that read as zeros
 * resizeTable(variableTable, variableTable.segmentCount + 1, { zero: true, length: 64 }) // Right: one more 64-block segment
 */
export const resizeTable = (
  table: MappingTable,
  segmentCount: number,
  fill: EntrySpec & { readonly length?: number },
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> =>
  guarded('options', () => {
    if (!isTable(table)) return E.left(checkTable(table));
    const errors: ValidationError[] = [];
    checkSegmentCount(errors, 'segmentCount', segmentCount, segmentLimit(errors, options));
    const generation = nextGeneration(errors, table, options?.generation);
    errors.push(...lunSizesErrors(options?.lunSizes));
    const variable = table.segmentStarts !== null;
    const fillLength = variable ? readLength(fill, undefined, errors, 'fill.length') : table.segmentBlocks;
    const entry = fillLength > 0 ? validateEntry(fill, fillLength, undefined, errors, options?.lunSizes, table.grainBlocks) : undefined;
    if (errors.length > 0 || entry === undefined) return E.left(errors);
    return E.right(variable ? resizedVariable(table, segmentCount, entry, fillLength, generation) : resized(table, segmentCount, entry, generation));
  });

/** `table` with `segmentCount` segments, the new ones holding `entry`. */
const resized = (table: MappingTable, segmentCount: number, entry: MappingEntry, generation: number): MappingTable => {
  const chunks: Chunk[] = [];
  const inFlat = noChunksInFlat(Math.ceil(segmentCount / CHUNK_SIZE));
  const frozen = noChunksInFlat(Math.ceil(segmentCount / CHUNK_SIZE));
  for (let base = 0; base < segmentCount; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, segmentCount - base);
    const ci = base >>> CHUNK_BITS;
    const old = table.chunks[ci];
    if (old !== undefined && old.size === size) {
      chunks.push(old);
      if (chunkInFlat(table, ci)) setChunkBit(inFlat, ci, true);
      if (chunkFrozen(table, ci)) setChunkBit(frozen, ci, true);
      continue;
    }
    const c = newChunk(size, bitmapBits(table));
    const kept = old === undefined ? 0 : Math.min(old.size, size);
    for (let i = 0; i < kept; i++) writeEntry(c, i, entryAt(table, base + i)); // the effective entry: a frozen one is written out
    for (let i = kept; i < size; i++) writeEntry(c, i, entry);
    chunks.push(freeze(c));
  }
  return makeTable(table.segmentBlocks, segmentCount, generation, chunks, flatIfUsed(table.flat, inFlat), inFlat, table.flatAlts, flatIfUsed(frozen, frozen), null, null, table.grainBlocks);
};
