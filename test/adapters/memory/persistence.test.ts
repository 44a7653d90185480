/**
 * Tests for src/adapters/memory/persistence.ts: round trips, refusals, failure injection.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InjectedFault } from '../../../src/adapters/memory/injection.js';
import { createMemoryPersistence } from '../../../src/adapters/memory/persistence.js';
import type { PersistRecord } from '../../../src/adapters/types.js';
import type { EntryChange } from '../../../src/protocol/messages.js';
import { encodeTable } from '../../../src/table/codec.js';
import { createTable, resizeTable, setEntries, type MappingTable } from '../../../src/table/table.js';
import { entrySpecArb, tableArb } from '../../../src/testing/arbitraries.js';
import { leftErrors, rejection, right } from './helpers.js';

const tableOf = (doc: { segmentBlocks: number; entries: object[]; generation?: number }): MappingTable =>
  right(createTable({ segmentBlocks: doc.segmentBlocks, entries: doc.entries, generation: doc.generation ?? 0 }));

/** Random updates of a table, as records plus the expected result. */
const updatesArb = (table: MappingTable) =>
  fc.array(
    fc.tuple(fc.nat(table.segmentCount - 1), entrySpecArb(table.segmentBlocks)),
    { maxLength: 6 },
  );

describe('memory persistence', () => {
  it('round-trips saved tables and attachments, and survives a "restart"', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tableArb(), { minLength: 1, maxLength: 4 }), async (tables) => {
        const p = createMemoryPersistence();
        for (const [i, t] of tables.entries()) await p.save({ type: 'saveTable', disk: `d${i}`, table: encodeTable(t) });
        await p.save({ type: 'attachments', disk: 'd0', agents: ['a2', 'a1'] });
        // A new controller loads the same object.
        const state = await p.load();
        expect(state.tables).toEqual(tables.map((t, i) => ({ disk: `d${i}`, table: encodeTable(t) })));
        expect(state.attachments).toEqual([{ disk: 'd0', agents: ['a2', 'a1'] }]);
      }),
      { numRuns: 50 },
    );
  });

  it('applies updateTable records like setEntries, and refuses generation gaps without changing anything', async () => {
    await fc.assert(
      fc.asyncProperty(
        tableArb().chain((t) => fc.tuple(fc.constant(t), updatesArb(t), fc.integer({ min: 1, max: 3 }))),
        async ([table, updates, step]) => {
          const p = createMemoryPersistence();
          await p.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
          const expected = right(setEntries(table, updates.map(([segment, entry]) => ({ segment, entry })), { generation: table.generation + step }));
          const changes: EntryChange[] = updates.map(([segment, entry]) => ({
            segment,
            entry: encodeTable(right(createTable({ segmentBlocks: table.segmentBlocks, entries: [entry] }))).entries[0]!,
          }));
          // A record from the wrong generation is refused, and nothing changes.
          const gap: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: table.generation + 1, generation: table.generation + 2, changes };
          const e = await rejection(p.save(gap));
          expect(e.message).toContain(`stored table is at generation ${table.generation}`);
          expect((await p.load()).tables[0]!.table).toEqual(encodeTable(table));
          await p.save({ type: 'updateTable', disk: 'vol', fromGeneration: table.generation, generation: table.generation + step, changes });
          expect((await p.load()).tables[0]!.table).toEqual(encodeTable(expected));
          // Replaying the same record (a duplicate) is refused too.
          await rejection(p.save({ type: 'updateTable', disk: 'vol', fromGeneration: table.generation, generation: table.generation + step, changes }));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('resizes on segmentCount, new segments zero, before applying changes', async () => {
    const p = createMemoryPersistence();
    const t = tableOf({ segmentBlocks: 10, entries: [{ location: { lun: 1, start: 0 } }, { location: { lun: 1, start: 10 } }] });
    await p.save({ type: 'saveTable', disk: 'vol', table: encodeTable(t) });
    await p.save({ type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, segmentCount: 4, changes: [{ segment: 3, entry: { location: { lun: 2, start: 0 } } }] });
    const expected = right(setEntries(right(resizeTable(t, 4, { zero: true })), [{ segment: 3, entry: { location: { lun: 2, start: 0 } } }], { generation: 1 }));
    expect((await p.load()).tables[0]!.table).toEqual(encodeTable(expected));
    expect(p.table('vol')?.segmentCount).toBe(4);
    await p.save({ type: 'updateTable', disk: 'vol', fromGeneration: 1, generation: 2, segmentCount: 1, changes: [] });
    expect((await p.load()).tables[0]!.table.entries).toEqual([{ location: { lun: 1, start: 0 } }]);
  });

  it('refuses malformed records with clear errors', async () => {
    const p = createMemoryPersistence();
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    expect((await rejection(p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 1, changes: [] }))).message).toContain(
      'no table is stored',
    );
    expect((await rejection(p.save({ type: 'deleteTable', disk: 'x' }))).message).toContain('no table is stored');
    expect((await rejection(p.save({ type: 'attachments', disk: 'x', agents: [] }))).message).toContain('no table is stored');
    expect((await rejection(p.save({ type: 'saveTable', disk: 'x', table: { ...doc, segmentBlocks: 0 } }))).message).toContain('segmentBlocks');
    expect((await rejection(p.save({ type: 'frob', disk: 'x' } as unknown as PersistRecord))).message).toContain('unknown record type');
    await p.save({ type: 'saveTable', disk: 'x', table: doc });
    const bad = await rejection(
      p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 1, changes: [{ segment: 0, entry: { location: { lun: -1, start: 0 } } }] }),
    );
    expect(bad.message).toContain('changes[0].entry.location.lun');
    const outside = await rejection(p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 1, changes: [{ segment: 5, entry: { zero: true } }] }));
    expect(outside.message).toContain('changes[0].segment');
    expect((await rejection(p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 0, changes: [] }))).message).toContain('above 0');
    expect((await p.load()).tables).toEqual([{ disk: 'x', table: doc }]);
  });

  it('deletes tables with their attachments; empty attachment lists vanish', async () => {
    const p = createMemoryPersistence();
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    await p.save({ type: 'saveTable', disk: 'a', table: doc });
    await p.save({ type: 'saveTable', disk: 'b', table: doc });
    await p.save({ type: 'attachments', disk: 'a', agents: ['x'] });
    await p.save({ type: 'attachments', disk: 'b', agents: ['y'] });
    await p.save({ type: 'attachments', disk: 'b', agents: [] });
    await p.save({ type: 'deleteTable', disk: 'a' });
    expect(await p.load()).toEqual({ tables: [{ disk: 'b', table: doc }], attachments: [] });
  });

  it('injects failures: before applying, after applying (lost ack), and on load', async () => {
    const p = createMemoryPersistence();
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    const saved: PersistRecord[] = [];
    p.onSave((r) => saved.push(r));
    right(p.failNext(1));
    expect(await rejection(p.save({ type: 'saveTable', disk: 'a', table: doc }))).toBeInstanceOf(InjectedFault);
    expect(p.peek().tables).toEqual([]);
    right(p.failNext(1, { applied: true }));
    const lost = await rejection(p.save({ type: 'saveTable', disk: 'a', table: doc }));
    expect(lost.message).toContain('acknowledgement lost');
    expect(p.peek().tables).toEqual([{ disk: 'a', table: doc }]);
    expect(saved).toEqual([{ type: 'saveTable', disk: 'a', table: doc }]);
    right(p.failNext(2, { op: 'load' }));
    await rejection(p.load());
    await rejection(p.load());
    expect((await p.load()).tables.length).toBe(1);
    leftErrors(p.failNext(0));
  });

  it('does not share state with the caller', async () => {
    const p = createMemoryPersistence();
    const agents = ['a1'];
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    await p.save({ type: 'saveTable', disk: 'a', table: doc });
    await p.save({ type: 'attachments', disk: 'a', agents });
    agents.push('a2');
    const loaded = await p.load();
    (loaded.attachments[0]!.agents as string[]).push('a3');
    expect((await p.load()).attachments).toEqual([{ disk: 'a', agents: ['a1'] }]);
  });
});

describe('power loss (docs/design.md#ordering-rules)', () => {
  it('keeps what was acknowledged, loses the unacknowledged tail (or keeps a prefix of it), and rejects every unacknowledged save', async () => {
    for (const keep of [0, 1, 2]) {
      const p = createMemoryPersistence();
      await p.save({ type: 'saveTable', disk: 'a', table: encodeTable(right(createTable({ segmentBlocks: 4, segmentCount: 2, entries: () => ({ zero: true }) }))) });
      const saves = ['b', 'c'].map((disk) => p.save({ type: 'saveTable', disk, table: encodeTable(right(createTable({ segmentBlocks: 4, segmentCount: 2, entries: () => ({ zero: true }) }))) }));
      expect(p.powerLoss(keep)).toBe(2 - keep);
      for (const s of saves) await expect(s).rejects.toThrow(/power loss before it was acknowledged/);
      expect(p.peek().tables.map((t) => t.disk)).toEqual(['a', 'b', 'c'].slice(0, 1 + keep));
      expect((await p.load()).tables.map((t) => t.disk)).toEqual(['a', 'b', 'c'].slice(0, 1 + keep));
    }
  });
});
