/**
 * Reading tables: one entry, every entry, and the differences between two tables (which skip
 * the chunks they share).
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import type { ValidationError } from '../errors.js';
import { checkSegment } from './create.js';
import { entriesEqual, type MappingEntry } from './entry.js';
import { segmentStartAt } from './segments.js';
import { altStride, bitmapBits, CHUNK_SIZE, chunkFrozen, entryAt, F_HAS_ALTERNATE, F_HAS_LOCATION, FLAG_MASK, frozenHead, REC_WORDS, SLOT_SHIFT, type Chunk, type MappingTable } from './layout.js';
import { checkTable, isTable } from './table-value.js';

/**
 * The entry of one segment.
 *
 * @example
 * getEntry(table, 1) // Right({ location: { lun: 2, start: 0 }, noWrite: true, ... })
 */
export const getEntry = (table: MappingTable, segment: number): E.Either<ValidationError[], MappingEntry> => {
  if (!isTable(table)) return E.left(checkTable(table));
  const errors = checkSegment(table, segment);
  return errors.length > 0 ? E.left(errors) : E.right(entryAt(table, segment));
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

/** `frozenA`, `frozenB`: whether each chunk is frozen by its table's bit (effective `noWrite`). */
const sameSegment = (a: Chunk, b: Chunk, i: number, stride: number, frozenA: boolean, frozenB: boolean): boolean => {
  const r = i * REC_WORDS;
  const fa = (frozenA ? frozenHead(a.rec[r]!) : a.rec[r]!) & FLAG_MASK;
  if (fa !== ((frozenB ? frozenHead(b.rec[r]!) : b.rec[r]!) & FLAG_MASK)) return false;
  if ((fa & F_HAS_LOCATION) !== 0 && (a.rec[r + 1] !== b.rec[r + 1] || a.rec[r + 2] !== b.rec[r + 2] || a.rec[r + 3] !== b.rec[r + 3]))
    return false;
  if ((fa & F_HAS_ALTERNATE) === 0) return true;
  const x = (a.rec[r]! >>> SLOT_SHIFT) * stride;
  const y = (b.rec[r]! >>> SLOT_SHIFT) * stride;
  for (let w = 0; w < stride; w++) if (a.alt![x + w] !== b.alt![y + w]) return false;
  return a.bitmaps === null || B.equals(a.bitmaps[x / stride]!, b.bitmaps![y / stride]!);
};

/**
 * The segments whose entries differ between `a` and `b`, ascending. Segments present in only one
 * table differ, and so does every segment from the first whose bounds differ (every segment,
 * when two uniform tables have different segment sizes). Chunks the tables share are
 * skipped without looking inside, so diffing a table against its recent successor is cheap.
 *
 * @example
 * diffTables(table, E.getOrElseW(() => table)(setEntry(table, 2, { zero: true }))) // [2]
 */
export const diffTables = (a: MappingTable, b: MappingTable): number[] => {
  const max = Math.max(a.segmentCount, b.segmentCount);
  const common = commonSegments(a, b);
  const out: number[] = [];
  if (a.segmentBlocks !== b.segmentBlocks || a.grainBlocks !== b.grainBlocks) {
    // A uniform and a variable table, or two grains, store alternates differently: compare entries
    // (bitmaps of different grains never compare equal).
    for (let s = 0; s < common; s++) if (!entriesEqual(entryAt(a, s), entryAt(b, s))) out.push(s);
    for (let s = common; s < max; s++) out.push(s);
    return out;
  }
  const stride = altStride(bitmapBits(a));
  for (let ci = 0; ci * CHUNK_SIZE < common; ci++) {
    const x = a.chunks[ci]!;
    const y = b.chunks[ci]!;
    const frozenA = chunkFrozen(a, ci);
    const frozenB = chunkFrozen(b, ci);
    // A shared chunk frozen in one table only differs where a segment has a location.
    if (x === y && frozenA === frozenB) continue;
    const end = Math.min(CHUNK_SIZE, common - ci * CHUNK_SIZE);
    for (let i = 0; i < end; i++) if (!sameSegment(x, y, i, stride, frozenA, frozenB)) out.push(ci * CHUNK_SIZE + i);
  }
  for (let s = common; s < max; s++) out.push(s);
  return out;
};

/**
 * True when both tables have the same geometry (grain included) and entries (generations are not compared): for
 * checking that a copy or a decoded document maps exactly like the original.
 *
 * @example
 * E.map((t: MappingTable) => tablesEqual(t, table))(decodeTable(encodeTable(table))) // Right(true)
 */
export const tablesEqual = (a: MappingTable, b: MappingTable): boolean =>
  a.segmentBlocks === b.segmentBlocks &&
  a.grainBlocks === b.grainBlocks &&
  a.segmentCount === b.segmentCount &&
  commonSegments(a, b) === a.segmentCount &&
  diffTables(a, b).length === 0;

/**
 * How many leading segments have the same bounds in both tables: all common ones for two uniform
 * tables of one segment size, none for two of different sizes, else up to the first boundary
 * that differs.
 */
const commonSegments = (a: MappingTable, b: MappingTable): number => {
  const min = Math.min(a.segmentCount, b.segmentCount);
  if (a.segmentStarts === null && b.segmentStarts === null) return a.segmentBlocks === b.segmentBlocks ? min : 0;
  if (a.segmentStarts !== null && a.segmentStarts === b.segmentStarts) return min;
  let s = 0;
  while (s < min && segmentStartAt(a, s + 1) === segmentStartAt(b, s + 1)) s++;
  return s;
};
