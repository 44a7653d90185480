/**
 * Fuzz: translation and the consistency checker answer a value for any input.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { checkTables, countReferences } from '../../src/check/check.js';
import { createTable, type MappingTable } from '../../src/table/table.js';
import { translate } from '../../src/translate/translate.js';
import { hostileArb, hostileProperty, noThrow, plant, expectErrors, RUNS } from './hostile.js';

const table = E.getOrElseW(() => expect.fail('fixture'))(
  createTable({ segmentBlocks: 8, entries: [{ location: { lun: 1, start: 0 } }, { zero: true }, { location: { lun: 1, start: 8 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [1] } }] }),
) as MappingTable;

describe('fuzz: translate and checkTables', () => {
  it('translate: a Right of pieces or a Left of a known failure', () => {
    fc.assert(
      hostileProperty(
        fc.oneof({ weight: 3, arbitrary: fc.constant(table) }, { weight: 1, arbitrary: hostileArb }),
        fc.oneof(plant({ op: 'write', start: 3, length: 10 }), hostileArb),
        fc.oneof(fc.constant(undefined), plant({ variant: 'distributed' }), hostileArb),
        (t, request, options) => {
          const result = noThrow(() => translate(t as never, request as never, options as never));
          if (E.isRight(result)) {
            expect(Array.isArray(result.right)).toBe(true);
            return;
          }
          const f = result.left;
          expect(['fault', 'error', 'out-of-range', 'invalid-request']).toContain(f.type);
          if (f.type === 'invalid-request') expectErrors(f.errors);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('checkTables: a report, with every unusable input named in a bad-input finding', () => {
    fc.assert(
      hostileProperty(
        fc.oneof(plant({ vol: table, snap: table }), hostileArb, fc.constant(new Map<unknown, unknown>([['vol', table], [1, table], ['x', 'y']]))),
        fc.oneof(fc.constant(undefined), plant({ sharing: [['vol', 'snap']], lunSizes: { 1: 100, 2: 100 }, references: [{ lun: 1, start: 0, length: 8, count: 1 }] }), hostileArb),
        (tables, options) => {
          const report = noThrow(() => checkTables(tables as never, options as never));
          expect(Array.isArray(report.findings)).toBe(true);
          for (const f of report.findings) expect(typeof f.message).toBe('string');
          expect(report.counts.corruption + report.counts.leak + report.counts.info).toBe(report.findings.length);
          expect(Array.isArray(noThrow(() => countReferences(tables as never)))).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
