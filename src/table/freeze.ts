/**
 * Freezing a whole table: every segment with a primary location becomes `noWrite`, the rest is
 * unchanged. A snapshot does this to its source (both disks then share every primary).
 *
 * It is dm-thin's rule with a one-bit time: the result shares every chunk, and the records
 * themselves, with `table`, and sets one bit per chunk (`MappingTable.frozen`) meaning "every
 * located segment of this chunk is `noWrite`". A freeze costs a bit per chunk (128 words at a
 * million segments), not a copy of every record. The first update that copies a frozen chunk
 * writes the flags into the copy (`materializeFreeze`) and clears the bit, at no extra order of
 * cost: it copies the chunk anyway. Every reader of records sees the effective flags
 * (`headAt` in layout.ts); translation looks at the bit on writes only.
 */
import * as E from 'fp-ts/lib/Either.js';
import { unreadableError, validationError, type ValidationError } from '../errors.js';
import type { MutableChunk } from './chunk-builder.js';
import { checkGeneration } from './create.js';
import { F_HAS_LOCATION, F_NO_WRITE, REC_WORDS, type MappingTable } from './layout.js';
import { checkTable, isTable, makeTable, noChunksInFlat, setChunkBit } from './table-value.js';

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

/** @internal Bits set for every one of `chunkCount` chunks. */
const allChunks = (chunkCount: number): Uint32Array => {
  const bits = noChunksInFlat(chunkCount);
  bits.fill(0xffffffff);
  if ((chunkCount & 31) !== 0) bits[bits.length - 1] = (2 ** (chunkCount & 31) - 1) >>> 0;
  return bits;
};

/** @internal `table` with every located segment `noWrite`, at `generation`: O(chunks / 32). */
export const frozenTable = (table: MappingTable, generation: number): MappingTable =>
  makeTable(table.segmentBlocks, table.segmentCount, generation, table.chunks, table.flat, table.inFlat, table.flatAlts, table.chunks.length === 0 ? null : allChunks(table.chunks.length), table.segmentStarts, table.segmentDirectory, table.grainBlocks);

/** @internal Writes the freeze into a copied chunk's records: `noWrite` on every located segment. */
export const materializeFreeze = (c: MutableChunk): void => {
  const rec = c.rec;
  for (let r = 0; r < rec.length; r += REC_WORDS) {
    const head = rec[r]!;
    if ((head & F_HAS_LOCATION) !== 0) rec[r] = (head | F_NO_WRITE) >>> 0;
  }
};

/** @internal `bits` without the bits of `chunks` (copied, hence materialized), or null when none is left. */
export const withoutBits = (bits: Uint32Array | null, chunks: Iterable<number>): Uint32Array | null => {
  if (bits === null) return null;
  let out: Uint32Array | null = null;
  for (const ci of chunks) {
    if (((bits[ci >>> 5]! >>> (ci & 31)) & 1) === 0) continue;
    out ??= bits.slice();
    setChunkBit(out, ci, false);
  }
  if (out === null) return bits;
  return out.some((w) => w !== 0) ? out : null;
};

/**
 * The table with every segment that has a primary location made `noWrite` (its primary must not
 * change; writes fault), every other entry unchanged: what a snapshot does to the disk it
 * shares primaries with. Equal, in every answer and encoding, to `setEntries` of
 * `{ ...entry, noWrite: true }` for every located segment, but it costs one bit per chunk: the
 * result shares every chunk with `table`. Left when `table` is not a table or the generation is
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
