import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import { formatTable } from '../../src/table/format.js';
import { createTable, getEntry, type MappingTable } from '../../src/table/table.js';
import { tableArb } from '../../src/testing/arbitraries.js';

const right = <A>(e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: A }): A => {
  if (e._tag === 'Left') throw new Error(JSON.stringify(e.left));
  return e.right;
};

/** Parses a rendered row back into its cells. */
const cells = (line: string): string[] => line.trim().split(/\s+/);

describe('formatTable', () => {
  it('renders the reference example as in the figure', () => {
    const table = right(
      createTable({
        segmentBlocks: 10,
        entries: [
          { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
          { location: { lun: 2, start: 0 }, noWrite: true },
          { location: { lun: 1, start: 10 } },
        ],
      }),
    );
    const lines = formatTable(table).split('\n');
    expect(lines.map(cells)).toEqual([
      ['segment', 'virtual', 'lun', 'blocks', 'alt-lun', 'alt-blocks', 'invalid', 'no-write', 'zero', 'error', 'bitmap'],
      ['0', '0-9', '1', '0-9', '2', '10-19', '.', '.', '.', '.', '0010000110'],
      ['1', '10-19', '2', '0-9', '-', '-', '.', 'x', '.', '.', '-'],
      ['2', '20-29', '1', '10-19', '-', '-', '.', '.', '.', '.', '-'],
    ]);
  });

  it('has one row per segment in the range, each agreeing with getEntry', () => {
    fc.assert(
      fc.property(
        tableArb({ segmentBlocks: fc.integer({ min: 1, max: 100 }) }),
        fc.nat(15),
        fc.nat(15),
        (table: MappingTable, start, count) => {
          const lines = formatTable(table, { start, count }).split('\n');
          const shown = Math.max(0, Math.min(table.segmentCount, start + count) - start);
          expect(lines).toHaveLength(1 + shown);
          lines.slice(1).forEach((line, i) => {
            const s = start + i;
            const e = right(getEntry(table, s));
            const [seg, virtual, lun, , altLun, , inv, nw, zero, err, bits] = cells(line);
            const sb = table.segmentBlocks;
            expect(seg).toBe(`${s}`);
            expect(virtual).toBe(sb === 1 ? `${s}` : `${s * sb}-${s * sb + sb - 1}`);
            expect(lun).toBe(e.location === null ? '-' : `${e.location.lun}`);
            expect(altLun).toBe(e.alternate === null ? '-' : `${e.alternate.lun}`);
            expect([inv, nw, zero, err]).toEqual([e.invalid, e.noWrite, e.zero, e.error].map((x) => (x ? 'x' : '.')));
            if (e.alternate === null) expect(bits).toBe('-');
            else if (sb <= 64) expect(bits).toBe(Array.from({ length: sb }, (_, k) => (B.has(e.alternate!.blocks, k) ? '1' : '0')).join(''));
            else expect(bits).toBe(B.format(e.alternate.blocks) || '(none)');
          });
        },
      ),
    );
  });

  it('draws the split layout of the reference figure: main table, then the alternate table', () => {
    const table = right(
      createTable({
        segmentBlocks: 10,
        entries: [
          { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
          { location: { lun: 2, start: 0 }, noWrite: true },
          { location: { lun: 1, start: 10 } },
        ],
      }),
    );
    const [main, alternates] = formatTable(table, { layout: 'split' }).split('\n\n');
    expect(main!.split('\n').map(cells)).toEqual([
      ['segment', 'virtual', 'lun', 'blocks', 'invalid', 'no-write', 'zero', 'error', 'alt'],
      ['0', '0-9', '1', '0-9', '.', '.', '.', '.', '0'],
      ['1', '10-19', '2', '0-9', '.', 'x', '.', '.', '-'],
      ['2', '20-29', '1', '10-19', '.', '.', '.', '.', '-'],
    ]);
    expect(alternates!.split('\n').map(cells)).toEqual([
      ['alt', 'virtual', 'lun', 'blocks', 'bitmap'],
      ['0', '0-9', '2', '10-19', '0010000110'],
    ]);
    expect(formatTable(table, { start: 0, count: 3, layout: 'wide' })).toBe(formatTable(table));
  });

  it('split layout: every alt index names the alternate table row with that segment\'s alternate', () => {
    fc.assert(
      fc.property(tableArb({ segmentBlocks: fc.integer({ min: 1, max: 100 }) }), fc.nat(15), fc.nat(15), (table: MappingTable, start, count) => {
        const [main, alternates] = formatTable(table, { start, count, layout: 'split' }).split('\n\n');
        const rows = main!.split('\n').slice(1).map(cells);
        const altRows = alternates!.split('\n').slice(1).map(cells);
        const sb = table.segmentBlocks;
        let next = 0;
        expect(rows).toHaveLength(Math.max(0, Math.min(table.segmentCount, start + count) - start));
        rows.forEach(([seg, virtual, lun, , inv, nw, zero, err, alt]) => {
          const e = right(getEntry(table, Number(seg)));
          expect(lun).toBe(e.location === null ? '-' : `${e.location.lun}`);
          expect([inv, nw, zero, err]).toEqual([e.invalid, e.noWrite, e.zero, e.error].map((x) => (x ? 'x' : '.')));
          if (e.alternate === null) return expect(alt).toBe('-');
          expect(alt).toBe(`${next}`);
          const [index, altVirtual, altLun, altBlocks, bits] = altRows[next++]!;
          expect([index, altVirtual, altLun]).toEqual([alt, virtual, `${e.alternate.lun}`]);
          expect(altBlocks).toBe(sb === 1 ? `${e.alternate.start}` : `${e.alternate.start}-${e.alternate.start + sb - 1}`);
          if (sb <= 64) expect(bits).toBe(Array.from({ length: sb }, (_, k) => (B.has(e.alternate!.blocks, k) ? '1' : '0')).join(''));
          else expect(bits).toBe(B.format(e.alternate.blocks) || '(none)');
        });
        expect(altRows).toHaveLength(next);
      }),
    );
  });
});
