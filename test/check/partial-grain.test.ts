/**
 * checkTables' `partial-grain` finding (src/check/check.ts): a grained table whose alternate sets
 * part of a grain. The public constructors refuse such a table, so the damaged one here is put
 * together from the chunks of a table without a grain, as a corrupted store could give it.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { checkTables } from '../../src/check/check.js';
import { assembleTable, createTable, type MappingTable } from '../../src/table/table.js';

const build = (grainBlocks: number, blocks: number[]): MappingTable => {
  const t = createTable({ segmentBlocks: 8, grainBlocks, entries: [{ zero: true }, { location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 0, blocks } }] });
  if (E.isLeft(t)) throw new Error(t.left[0]!.message);
  return t.right;
};

describe('checkTables: partial-grain', () => {
  it('reports an alternate that sets part of a grain as corruption, naming disk, segment and offset', () => {
    const plain = build(1, [0, 1, 2, 3, 5]); // grain 1: nothing to report
    expect(checkTables({ vol: plain }).findings.filter((f) => f.code === 'partial-grain')).toEqual([]);
    const damaged = assembleTable(8, plain.segmentCount, plain.generation, plain.chunks, null, null, null, 4);
    const report = checkTables({ vol: damaged });
    expect(report.findings.map((f) => [f.severity, f.code, f.disk, f.segment, f.role])).toEqual([['corruption', 'partial-grain', 'vol', 1, 'alternate']]);
    expect(report.findings[0]!.message).toContain('offset 4');
  });

  it('finds nothing in a grained table built by createTable', () => {
    expect(checkTables({ vol: build(4, [0, 1, 2, 3]) }).counts).toEqual({ corruption: 0, leak: 0, info: 0 });
  });
});
