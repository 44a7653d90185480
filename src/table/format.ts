/**
 * A mapping table as text a person can read, one row per segment, in the spirit of the
 * reference figure: virtual blocks, primary LUN and blocks, alternate LUN and blocks, the four
 * flags and the bitmap; or, split as the figure draws it, a main table and an alternate table.
 */
import * as B from '../bitmap/bitmap.js';
import type { Alternate } from './entry.js';
import { segmentLengthAt, segmentStartAt } from './segments.js';
import { entryAt, type MappingTable } from './table.js';

/**
 * Which segments to show: `count` segments from `start`. Out-of-range parts are left out, so a
 * large table can be shown a window at a time; a range that is not two numbers shows none.
 *
 * @example
 * console.log(formatTable(table, { start: 100, count: 10 })); // segments 100..109 only
 */
export interface FormatRange {
  readonly start: number;
  readonly count: number;
}

/**
 * How {@link formatTable} lays a table out: `wide` (the default) puts each segment's alternate on
 * its row; `split` draws the reference design's figure, a main table whose `alt` column indexes a
 * separate alternate table.
 *
 * @example
 * const layout: FormatLayout = 'split';
 */
export type FormatLayout = 'wide' | 'split';

/**
 * What to render: a window of segments (all by default) and the layout. A {@link FormatRange} is
 * a `FormatOptions` too.
 *
 * @example
 * console.log(formatTable(table, { start: 0, count: 3, layout: 'split' }));
 */
export interface FormatOptions {
  /** First segment shown; defaults to 0. */
  readonly start?: number;
  /** Segments shown; defaults to the rest of the table. */
  readonly count?: number;
  /** Defaults to `wide`. */
  readonly layout?: FormatLayout;
}

const span = (start: number, length: number): string => (length === 1 ? `${start}` : `${start}-${start + length - 1}`);

/**
 * `start`, `count` and `layout`, each read once. A missing `start` is 0 and a missing `count` the
 * rest of the table; a range that is not numbers (or cannot be read) selects no segment, like
 * any other range outside the table.
 */
const readOptions = (options: unknown, segmentCount: number): [number, number, FormatLayout] => {
  try {
    const { start = 0, count = segmentCount, layout } = (options ?? {}) as { start?: unknown; count?: unknown; layout?: unknown };
    const shape: FormatLayout = layout === 'split' ? 'split' : 'wide';
    return typeof start === 'number' && typeof count === 'number' ? [start, count, shape] : [0, 0, shape];
  } catch {
    return [0, 0, 'wide'];
  }
};

/** Bit strings up to this many bits; the compact `2,7-8` form beyond. */
const BIT_STRING_LIMIT = 64;

/** The bitmap as stored: one character (or run entry) per bit, so per grain in a grained table. */
const bitmapCell = (alt: Alternate | null): string =>
  alt === null
    ? '-'
    : alt.blocks.size <= BIT_STRING_LIMIT
      ? Array.from({ length: alt.blocks.size }, (_, k) => (B.has(alt.blocks, k) ? '1' : '0')).join('')
      : B.format(alt.blocks) || '(none)';

const flag = (x: boolean): string => (x ? 'x' : '.');

/** Aligned columns, two spaces apart; the last column is not padded. */
const columns = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
};

/**
 * The reference figure: the main table, a blank line, then the alternate table. Alternates are
 * numbered in segment order from 0 within the window shown. In memory each chunk keeps its
 * alternates in the same split form: a segment's record holds its slot number, and the slots are
 * packed in segment order, so for a whole table a row's index is the slot plus the number of
 * alternates in earlier chunks.
 */
const splitLayout = (table: MappingTable, first: number, last: number): string => {
  const main: string[][] = [['segment', 'virtual', 'lun', 'blocks', 'invalid', 'no-write', 'zero', 'error', 'alt']];
  const alternates: string[][] = [['alt', 'virtual', 'lun', 'blocks', 'bitmap']];
  for (let s = first; s < last; s++) {
    const e = entryAt(table, s);
    const alt = e.alternate;
    const index = alternates.length - 1;
    const sb = segmentLengthAt(table, s);
    const v = segmentStartAt(table, s);
    main.push([
      `${s}`,
      span(v, sb),
      e.location === null ? '-' : `${e.location.lun}`,
      e.location === null ? '-' : span(e.location.start, sb),
      flag(e.invalid),
      flag(e.noWrite),
      flag(e.zero),
      flag(e.error),
      alt === null ? '-' : `${index}`,
    ]);
    if (alt !== null) alternates.push([`${index}`, span(v, sb), `${alt.lun}`, span(alt.start, sb), bitmapCell(alt)]);
  }
  return `${columns(main)}\n\n${columns(alternates)}`;
};

/**
 * Renders the table (or a window of it) as aligned text columns. Flags show as `x`, absent values
 * as `-`. The bitmap column shows one character per bit (`1` = at the alternate) for bitmaps of
 * up to 64 bits, and the compact run form (`2,7-8`) for bigger ones. A bit is a block, or a
 * grain in a table with `grainBlocks` above 1 (a 16-block segment with 4-block grains shows
 * `0100` when blocks 4..7 are at the alternate). A variable table's rows each show their own
 * segment's blocks, so segments of differing sizes read as they are.
 *
 * With `layout: 'split'` the alternates move to a table of their own, as the reference design
 * draws it: the main table's `alt` column gives the row of the alternate table (virtual blocks,
 * LUN, blocks, bitmap), after a blank line (docs/design.md#mapping-entries).
 *
 * @example
 * console.log(formatTable(table));
 * // segment  virtual  lun  blocks  alt-lun  alt-blocks  invalid  no-write  zero  error  bitmap
 * // 0        0-9      1    0-9     2        10-19       .        .         .     .      0010000110
 * console.log(formatTable(table, { layout: 'split' }));
 * // segment  virtual  lun  blocks  invalid  no-write  zero  error  alt
 * // 0        0-9      1    0-9     .        .         .     .      0
 * // 1        10-19    2    0-9     .        x         .     .      -
 * // 2        20-29    1    10-19   .        .         .     .      -
 * //
 * // alt  virtual  lun  blocks  bitmap
 * // 0    0-9      2    10-19   0010000110
 */
export const formatTable = (table: MappingTable, options: FormatOptions = {}): string => {
  const [start, count, layout] = readOptions(options, table.segmentCount);
  const first = Math.max(0, Math.floor(start));
  const last = Math.min(table.segmentCount, first + Math.max(0, Math.floor(count)));
  if (layout === 'split') return splitLayout(table, first, last);
  const rows: string[][] = [['segment', 'virtual', 'lun', 'blocks', 'alt-lun', 'alt-blocks', 'invalid', 'no-write', 'zero', 'error', 'bitmap']];
  for (let s = first; s < last; s++) {
    const e = entryAt(table, s);
    const alt = e.alternate;
    const sb = segmentLengthAt(table, s);
    const v = segmentStartAt(table, s);
    rows.push([
      `${s}`,
      span(v, sb),
      e.location === null ? '-' : `${e.location.lun}`,
      e.location === null ? '-' : span(e.location.start, sb),
      alt === null ? '-' : `${alt.lun}`,
      alt === null ? '-' : span(alt.start, sb),
      flag(e.invalid),
      flag(e.noWrite),
      flag(e.zero),
      flag(e.error),
      bitmapCell(alt),
    ]);
  }
  return columns(rows);
};
