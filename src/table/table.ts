/**
 * Mapping tables: one entry per segment, persistent and structure-sharing.
 *
 * Entries live in chunks of {@link CHUNK_SIZE} segments, each a handful of typed-array columns
 * (qcow2's L2 tables); the table holds the list of chunks (its L1). Updating an entry copies one
 * chunk and the chunk list, never the whole table, and an updated table shares every untouched
 * chunk with its predecessor, which also lets `diffTables` skip shared chunks outright.
 */
import * as E from 'fp-ts/lib/Either.js';
import { MAX_BITMAP_SIZE } from '../bitmap/bitmap.js';
import { checkBlockNumber, validationError, type ValidationError } from '../errors.js';
import { entriesEqual, validateEntry, type Alternate, type EntrySpec, type LunSizes, type MappingEntry } from './entry.js';

/** log2 of the number of segments per chunk. */
export const CHUNK_BITS = 10;
/**
 * Segments per chunk: an update copies about 13 bytes times this, plus the chunk list. Useful to
 * estimate what a change costs and how much two table versions share.
 *
 * @example
 * Math.ceil(table.segmentCount / CHUNK_SIZE) // chunks in the table; a one-entry update copies one
 */
export const CHUNK_SIZE = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_SIZE - 1;

/** @internal Flag bits of the `flags` column. */
export const F_INVALID = 1;
export const F_NO_WRITE = 2;
export const F_ZERO = 4;
export const F_ERROR = 8;
export const F_HAS_LOCATION = 16;
/** @internal Set when the segment has an alternate, so translation loads the alternate only then. */
export const F_HAS_ALTERNATE = 32;

/** @internal One chunk of consecutive segments, as parallel columns. Never mutated once shared. */
export interface Chunk {
  readonly flags: Uint8Array;
  readonly lun: Uint32Array;
  readonly start: Float64Array;
  /** Alternate of each segment, or `null` when no segment of the chunk has one. */
  readonly alternates: ReadonlyArray<Alternate | undefined> | null;
}

/**
 * A virtual disk's mapping table: `segmentCount` segments of `segmentBlocks` blocks each.
 * Immutable; every change returns a new table with `generation` advanced.
 *
 * @example
 * const t = createTable({ segmentBlocks: 8, segmentCount: 1024, entries: () => ({ zero: true }) });
 * if (E.isRight(t)) console.log(t.right.segmentCount * t.right.segmentBlocks, t.right.generation); // 8192 0
 */
export interface MappingTable {
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  /** Advanced on every change; the controller's copy is the authority. */
  readonly generation: number;
  /** @internal */
  readonly chunks: ReadonlyArray<Chunk>;
}

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
}

/**
 * Options of {@link setEntry} and {@link setEntries}. An explicit `generation` lets a copy of a
 * table take the number its authority assigned to the same change.
 *
 * @example
 * setEntry(table, 0, { zero: true }, { generation: 10 }) // Right: a table at generation 10
 */
export interface UpdateOptions extends TableOptions {
  /** The generation of the result; defaults to the table's generation + 1. */
  readonly generation?: number;
}

/**
 * Largest table: 2^32 segments keeps every segment number exact in the chunk arithmetic.
 *
 * @example
 * resizeTable(table, MAX_SEGMENT_COUNT + 1, { zero: true }) // Left: segmentCount must be an integer from 0 to 4294967296
 */
export const MAX_SEGMENT_COUNT = 2 ** 32;

const newChunk = (size: number): MutableChunk => ({
  flags: new Uint8Array(size),
  lun: new Uint32Array(size),
  start: new Float64Array(size),
  alternates: null,
  sharedAlternates: false,
});

/** A chunk being built. Its alternates may still be the original's array until first written. */
interface MutableChunk {
  flags: Uint8Array;
  lun: Uint32Array;
  start: Float64Array;
  alternates: (Alternate | undefined)[] | null;
  sharedAlternates: boolean;
}

const copyChunk = (c: Chunk): MutableChunk => ({
  flags: c.flags.slice(),
  lun: c.lun.slice(),
  start: c.start.slice(),
  alternates: c.alternates as (Alternate | undefined)[] | null,
  sharedAlternates: c.alternates !== null,
});

const writeEntry = (c: MutableChunk, i: number, e: MappingEntry): void => {
  c.flags[i] =
    (e.invalid ? F_INVALID : 0) |
    (e.noWrite ? F_NO_WRITE : 0) |
    (e.zero ? F_ZERO : 0) |
    (e.error ? F_ERROR : 0) |
    (e.location !== null ? F_HAS_LOCATION : 0) |
    (e.alternate !== null ? F_HAS_ALTERNATE : 0);
  c.lun[i] = e.location?.lun ?? 0;
  c.start[i] = e.location?.start ?? 0;
  const current = c.alternates === null ? undefined : c.alternates[i];
  if ((e.alternate ?? undefined) === current) return; // most updates leave the alternate alone
  if (c.alternates === null) c.alternates = new Array<Alternate | undefined>(c.flags.length).fill(undefined);
  else if (c.sharedAlternates) c.alternates = c.alternates.slice();
  c.sharedAlternates = false;
  c.alternates[i] = e.alternate ?? undefined;
};

// Arrays are not frozen: freezing a large array costs more than the whole update. Tables keep
// them private (`chunks` is internal) and never write to a shared one.
const freeze = (c: MutableChunk): Chunk => ({
  flags: c.flags,
  lun: c.lun,
  start: c.start,
  alternates: c.alternates !== null && (c.sharedAlternates || c.alternates.some((a) => a !== undefined)) ? c.alternates : null,
});

/**
 * Tables are class instances so that state libraries which copy plain objects on write (immer
 * drafts) treat a table as one opaque value instead of walking its chunks.
 */
class TableValue implements MappingTable {
  constructor(
    readonly segmentBlocks: number,
    readonly segmentCount: number,
    readonly generation: number,
    readonly chunks: ReadonlyArray<Chunk>,
  ) {
    Object.freeze(this);
  }
}

const makeTable = (segmentBlocks: number, segmentCount: number, generation: number, chunks: ReadonlyArray<Chunk>): MappingTable =>
  new TableValue(segmentBlocks, segmentCount, generation, chunks);

const checkSegmentBlocks = (errors: ValidationError[], value: unknown): value is number => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_BITMAP_SIZE) return true;
  errors.push(validationError('segmentBlocks', value, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`));
  return false;
};

const checkGeneration = (errors: ValidationError[], value: unknown): value is number =>
  checkBlockNumber(errors, 'generation', value);

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
export const createTable = (spec: TableSpec, options: TableOptions = {}): E.Either<ValidationError[], MappingTable> => {
  const errors: ValidationError[] = [];
  if (typeof spec !== 'object' || spec === null) return E.left([validationError('spec', spec, 'must be an object')]);
  const okBlocks = checkSegmentBlocks(errors, spec.segmentBlocks);
  const generation = spec.generation ?? 0;
  checkGeneration(errors, generation);
  const entries = spec.entries;
  let count: number;
  if (typeof entries === 'function') {
    count = spec.segmentCount as number;
    if (!(Number.isSafeInteger(count) && count >= 0 && count <= MAX_SEGMENT_COUNT))
      errors.push(validationError('segmentCount', spec.segmentCount, `must be an integer from 0 to ${MAX_SEGMENT_COUNT}`));
  } else if (Array.isArray(entries)) {
    count = entries.length;
    if (spec.segmentCount !== undefined && spec.segmentCount !== count)
      errors.push(validationError('segmentCount', spec.segmentCount, `must equal entries.length ${count}`));
  } else {
    errors.push(validationError('entries', entries, 'must be an array of entry specs or a function of the segment'));
    count = 0;
  }
  if (!okBlocks || errors.length > 0) return E.left(errors);
  const get = typeof entries === 'function' ? entries : (s: number) => (entries as ReadonlyArray<EntrySpec>)[s];
  const chunks: Chunk[] = [];
  for (let base = 0; base < count; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, count - base);
    const chunk = newChunk(size);
    for (let i = 0; i < size; i++) {
      const entry = validateEntry(get(base + i), spec.segmentBlocks, base + i, errors, options?.lunSizes);
      if (entry !== undefined) writeEntry(chunk, i, entry);
      if (errors.length >= 100) return E.left(errors); // enough to act on; do not drown the caller
    }
    chunks.push(freeze(chunk));
  }
  return errors.length > 0 ? E.left(errors) : E.right(makeTable(spec.segmentBlocks, count, generation, chunks));
};

/** @internal Reads segment `segment` without bounds checks. */
export const entryAt = (table: MappingTable, segment: number): MappingEntry => {
  const c = table.chunks[segment >>> CHUNK_BITS]!;
  const i = segment & CHUNK_MASK;
  const f = c.flags[i]!;
  return {
    location: (f & F_HAS_LOCATION) !== 0 ? { lun: c.lun[i]!, start: c.start[i]! } : null,
    invalid: (f & F_INVALID) !== 0,
    noWrite: (f & F_NO_WRITE) !== 0,
    zero: (f & F_ZERO) !== 0,
    error: (f & F_ERROR) !== 0,
    alternate: c.alternates?.[i] ?? null,
  };
};

const checkSegment = (table: MappingTable, segment: unknown, field = 'segment'): ValidationError[] =>
  typeof segment === 'number' && Number.isSafeInteger(segment) && segment >= 0 && segment < table.segmentCount
    ? []
    : [validationError(field, segment, `must be an integer from 0 to ${table.segmentCount - 1}`)];

/**
 * The entry of one segment.
 *
 * @example
 * getEntry(table, 1) // Right({ location: { lun: 2, start: 0 }, noWrite: true, ... })
 */
export const getEntry = (table: MappingTable, segment: number): E.Either<ValidationError[], MappingEntry> => {
  const errors = checkSegment(table, segment);
  return errors.length > 0 ? E.left(errors) : E.right(entryAt(table, segment));
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
): E.Either<ValidationError[], MappingTable> => {
  const errors: ValidationError[] = [];
  const generation = options?.generation ?? table.generation + 1;
  checkGeneration(errors, generation);
  if (!Array.isArray(updates)) return E.left([validationError('updates', updates, 'must be an array of { segment, entry }')]);
  const validated: { segment: number; entry: MappingEntry }[] = [];
  updates.forEach((u, n) => {
    const segErrors = checkSegment(table, u?.segment, `updates[${n}].segment`);
    if (segErrors.length > 0) return void errors.push(...segErrors);
    const entry = validateEntry(u.entry, table.segmentBlocks, u.segment, errors, options?.lunSizes);
    if (entry !== undefined) validated.push({ segment: u.segment, entry });
  });
  if (errors.length > 0) return E.left(errors);
  const chunks = table.chunks.slice();
  const copied = new Map<number, MutableChunk>();
  for (const { segment, entry } of validated) {
    const ci = segment >>> CHUNK_BITS;
    let c = copied.get(ci);
    if (c === undefined) {
      c = copyChunk(table.chunks[ci]!);
      copied.set(ci, c);
    }
    writeEntry(c, segment & CHUNK_MASK, entry);
  }
  for (const [ci, c] of copied) chunks[ci] = freeze(c);
  return E.right(makeTable(table.segmentBlocks, table.segmentCount, generation, chunks));
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
 * chunk with `table`; Left when `generation` is not a non-negative safe integer.
 *
 * @example
 * withGeneration(table, 42) // Right: the same entries at generation 42
 */
export const withGeneration = (table: MappingTable, generation: number): E.Either<ValidationError[], MappingTable> => {
  const errors: ValidationError[] = [];
  return checkGeneration(errors, generation)
    ? E.right(makeTable(table.segmentBlocks, table.segmentCount, generation, table.chunks))
    : E.left(errors);
};

/**
 * A table of `segmentCount` segments: existing entries are kept, new segments get `fill`.
 * Advances the generation. Grows or shrinks a virtual disk; shrinking drops the last segments.
 *
 * @example
 * resizeTable(table, table.segmentCount + 16, { zero: true }) // Right: 16 more segments that read as zeros
 */
export const resizeTable = (
  table: MappingTable,
  segmentCount: number,
  fill: EntrySpec,
  options: UpdateOptions = {},
): E.Either<ValidationError[], MappingTable> => {
  const errors: ValidationError[] = [];
  if (!(Number.isSafeInteger(segmentCount) && segmentCount >= 0 && segmentCount <= MAX_SEGMENT_COUNT))
    errors.push(validationError('segmentCount', segmentCount, `must be an integer from 0 to ${MAX_SEGMENT_COUNT}`));
  const generation = options?.generation ?? table.generation + 1;
  checkGeneration(errors, generation);
  const entry = validateEntry(fill, table.segmentBlocks, undefined, errors, options?.lunSizes);
  if (errors.length > 0 || entry === undefined) return E.left(errors);
  const chunks: Chunk[] = [];
  for (let base = 0; base < segmentCount; base += CHUNK_SIZE) {
    const size = Math.min(CHUNK_SIZE, segmentCount - base);
    const old = table.chunks[base >>> CHUNK_BITS];
    if (old !== undefined && old.flags.length === size) {
      chunks.push(old);
      continue;
    }
    const c = newChunk(size);
    const kept = old === undefined ? 0 : Math.min(old.flags.length, size);
    if (old !== undefined) {
      c.flags.set(old.flags.subarray(0, kept));
      c.lun.set(old.lun.subarray(0, kept));
      c.start.set(old.start.subarray(0, kept));
      if (old.alternates !== null) c.alternates = [...old.alternates.slice(0, kept), ...new Array<undefined>(size - kept).fill(undefined)];
    }
    for (let i = kept; i < size; i++) writeEntry(c, i, entry);
    chunks.push(freeze(c));
  }
  return E.right(makeTable(table.segmentBlocks, segmentCount, generation, chunks));
};

/**
 * Every segment's entry, in order. Entries are built one at a time as the generator advances,
 * so walking a large table does not hold all of them in memory.
 *
 * @example
 * for (const [segment, entry] of tableEntries(table)) if (entry.error) console.log(`segment ${segment} has failed`);
 */
export function* tableEntries(table: MappingTable): Generator<[segment: number, entry: MappingEntry]> {
  for (let s = 0; s < table.segmentCount; s++) yield [s, entryAt(table, s)];
}

const sameSlot = (a: Chunk, b: Chunk, i: number): boolean => {
  if (a.flags[i] !== b.flags[i]) return false;
  if ((a.flags[i]! & F_HAS_LOCATION) !== 0 && (a.lun[i] !== b.lun[i] || a.start[i] !== b.start[i])) return false;
  const x = a.alternates?.[i];
  const y = b.alternates?.[i];
  if (x === y) return true;
  if (x === undefined || y === undefined) return false;
  return entriesEqual(
    { location: null, invalid: false, noWrite: false, zero: false, error: false, alternate: x },
    { location: null, invalid: false, noWrite: false, zero: false, error: false, alternate: y },
  );
};

/**
 * The segments whose entries differ between `a` and `b`, ascending. Segments present in only one
 * table differ; if the segment sizes differ, every segment differs. Chunks the tables share are
 * skipped without looking inside, so diffing a table against its recent successor is cheap.
 *
 * @example
 * diffTables(table, E.getOrElseW(() => table)(setEntry(table, 2, { zero: true }))) // [2]
 */
export const diffTables = (a: MappingTable, b: MappingTable): number[] => {
  const max = Math.max(a.segmentCount, b.segmentCount);
  const common = a.segmentBlocks === b.segmentBlocks ? Math.min(a.segmentCount, b.segmentCount) : 0;
  const out: number[] = [];
  for (let ci = 0; ci * CHUNK_SIZE < common; ci++) {
    const x = a.chunks[ci]!;
    const y = b.chunks[ci]!;
    if (x === y) continue;
    const end = Math.min(CHUNK_SIZE, common - ci * CHUNK_SIZE);
    for (let i = 0; i < end; i++) if (!sameSlot(x, y, i)) out.push(ci * CHUNK_SIZE + i);
  }
  for (let s = common; s < max; s++) out.push(s);
  return out;
};

/**
 * True when both tables have the same geometry and entries (generations are not compared): for
 * checking that a copy or a decoded document maps exactly like the original.
 *
 * @example
 * E.map((t: MappingTable) => tablesEqual(t, table))(decodeTable(encodeTable(table))) // Right(true)
 */
export const tablesEqual = (a: MappingTable, b: MappingTable): boolean =>
  a.segmentBlocks === b.segmentBlocks && a.segmentCount === b.segmentCount && diffTables(a, b).length === 0;
