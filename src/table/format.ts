/**
 * A mapping table as text a person can read, one row per segment, in the spirit of the
 * reference figure: virtual blocks, primary LUN and blocks, alternate LUN and blocks, the four
 * flags and the bitmap.
 */
import * as B from '../bitmap/bitmap.js';
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

const span = (start: number, length: number): string => (length === 1 ? `${start}` : `${start}-${start + length - 1}`);

/**
 * `start` and `count`, each read once; a range that is not numbers (or cannot be read) selects
 * no segment, like any other range outside the table.
 */
const readRange = (range: unknown): [number, number] => {
  try {
    const { start, count } = range as { start?: unknown; count?: unknown };
    return typeof start === 'number' && typeof count === 'number' ? [start, count] : [0, 0];
  } catch {
    return [0, 0];
  }
};

/** Bit strings up to this many blocks; the compact `2,7-8` form beyond. */
const BIT_STRING_LIMIT = 64;

/**
 * Renders the table (or `range` of it) as aligned text columns. Flags show as `x`, absent values
 * as `-`. The bitmap column shows one character per block (`1` = at the alternate) for segments
 * of up to 64 blocks, and the compact run form (`2,7-8`) for bigger ones.
 *
 * @example
 * console.log(formatTable(table));
 * // segment  virtual  lun  blocks  alt-lun  alt-blocks  invalid  no-write  zero  error  bitmap
 * // 0        0-9      1    0-9     2        10-19       .        .         .     .      0010000110
 */
export const formatTable = (table: MappingTable, range: FormatRange = { start: 0, count: table.segmentCount }): string => {
  const sb = table.segmentBlocks;
  const [start, count] = readRange(range);
  const first = Math.max(0, Math.floor(start));
  const last = Math.min(table.segmentCount, first + Math.max(0, Math.floor(count)));
  const rows: string[][] = [['segment', 'virtual', 'lun', 'blocks', 'alt-lun', 'alt-blocks', 'invalid', 'no-write', 'zero', 'error', 'bitmap']];
  const flag = (x: boolean) => (x ? 'x' : '.');
  for (let s = first; s < last; s++) {
    const e = entryAt(table, s);
    const alt = e.alternate;
    const bitmap =
      alt === null
        ? '-'
        : sb <= BIT_STRING_LIMIT
          ? Array.from({ length: sb }, (_, k) => (B.has(alt.blocks, k) ? '1' : '0')).join('')
          : B.format(alt.blocks) || '(none)';
    rows.push([
      `${s}`,
      span(s * sb, sb),
      e.location === null ? '-' : `${e.location.lun}`,
      e.location === null ? '-' : span(e.location.start, sb),
      alt === null ? '-' : `${alt.lun}`,
      alt === null ? '-' : span(alt.start, sb),
      flag(e.invalid),
      flag(e.noWrite),
      flag(e.zero),
      flag(e.error),
      bitmap,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
};
