/**
 * Freezing a whole table: every segment with a primary location becomes `noWrite`, the rest is
 * unchanged. A snapshot does this to its source (both disks then share every primary), so it is
 * one pass over the typed records rather than one entry update per segment: no entry objects,
 * no validation per entry. When every chunk has something to freeze the result is built like a
 * fresh table (its records back to back in one array), so translation reads it as fast as a
 * table just created; otherwise the chunks with nothing to freeze are kept, shared with `table`
 * (and with the snapshots that share them), and only the others are copied.
 */
import * as E from 'fp-ts/lib/Either.js';
import { unreadableError, validationError, type ValidationError } from '../errors.js';
import { checkGeneration } from './create.js';
import { altStride, F_HAS_LOCATION, F_NO_WRITE, FLAT_MAX_SEGMENTS, REC_WORDS, type Chunk, type MappingTable } from './layout.js';
import { assembleTable, checkTable, flatIfUsed, gatherAlternates, isTable, makeTable, setChunkBit } from './table-value.js';

/**
 * What {@link freezeTable} takes: the generation of the result, which defaults to the table's
 * plus one and may equal the table's own (a freeze joining changes already made at that
 * generation), never be below it.
 *
 * @example
 * const options: FreezeOptions = { generation: 7 };
 */
export interface FreezeOptions {
  readonly generation?: number;
}

/** True when some located segment of `c` is still writable. */
const hasWritable = (c: Chunk): boolean => {
  const rec = c.rec;
  for (let r = 0; r < rec.length; r += REC_WORDS) if ((rec[r]! & (F_HAS_LOCATION | F_NO_WRITE)) === F_HAS_LOCATION) return true;
  return false;
};

/** `c`'s records copied into `rec`, every located segment made `noWrite`. */
const frozenChunk = (c: Chunk, rec: Uint32Array): Chunk => {
  rec.set(c.rec);
  for (let r = 0; r < rec.length; r += REC_WORDS) {
    const head = rec[r]!;
    if ((head & F_HAS_LOCATION) !== 0) rec[r] = (head | F_NO_WRITE) >>> 0;
  }
  return { size: c.size, rec, alt: c.alt, bitmaps: c.bitmaps };
};

/** @internal `table` with every located segment `noWrite`, at `generation`. */
export const frozenTable = (table: MappingTable, generation: number): MappingTable => {
  const writable = table.chunks.map(hasWritable);
  if (!writable.includes(true))
    return makeTable(table.segmentBlocks, table.segmentCount, generation, table.chunks, table.flat, table.inFlat, table.flatAlts);
  if (writable.includes(false) || table.segmentCount > FLAT_MAX_SEGMENTS) {
    // Chunks with nothing to freeze are kept as they are (a table frozen before and written a
    // little since shares them with its snapshots); the others are copied like any update.
    const chunks = table.chunks.map((c, ci) => (writable[ci] ? frozenChunk(c, new Uint32Array(c.rec.length)) : c));
    const inFlat = table.inFlat.slice();
    writable.forEach((w, ci) => w && setChunkBit(inFlat, ci, false));
    return makeTable(table.segmentBlocks, table.segmentCount, generation, chunks, flatIfUsed(table.flat, inFlat), inFlat, table.flatAlts);
  }
  const flat = new Uint32Array(table.segmentCount * REC_WORDS);
  const chunks: Chunk[] = [];
  let offset = 0;
  for (const c of table.chunks) {
    chunks.push(frozenChunk(c, flat.subarray(offset, offset + c.rec.length)));
    offset += c.rec.length;
  }
  const flatAlts = gatherAlternates(chunks, altStride(table.segmentBlocks));
  return assembleTable(table.segmentBlocks, table.segmentCount, generation, chunks, flat, flatAlts);
};

/**
 * The table with every segment that has a primary location made `noWrite` (its primary must not
 * change; writes fault), every other entry unchanged: what a snapshot does to the disk it
 * shares primaries with. Equal to `setEntries` of `{ ...entry, noWrite: true }` for every located
 * segment, in one pass over the records. Left when `table` is not a table or the generation is
 * not a safe integer at least the table's.
 *
 * @example
 * freezeTable(table) // Right: every located segment noWrite, generation + 1
 */
export const freezeTable = (table: MappingTable, options: FreezeOptions = {}): E.Either<ValidationError[], MappingTable> => {
  if (!isTable(table)) return E.left(checkTable(table));
  const errors: ValidationError[] = [];
  let generation: unknown;
  try {
    generation = typeof options === 'object' && options !== null ? options.generation : undefined;
  } catch (thrown) {
    return E.left([unreadableError('options', thrown)]);
  }
  if (generation === undefined) generation = table.generation + 1;
  if (checkGeneration(errors, generation) && (generation as number) < table.generation)
    errors.push(validationError('generation', generation, `must be at least the table's generation ${table.generation} (generations never go backwards)`));
  return errors.length > 0 ? E.left(errors) : E.right(frozenTable(table, generation as number));
};
