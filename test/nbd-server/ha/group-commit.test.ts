/**
 * Tests of examples/nbd-server/ha/group-commit.ts over an in-memory stand-in for the etcd store:
 * a real controller's persist commands become one `saveBatch` each, and a batch whose
 * acknowledgement is lost is finished without saving again what landed.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createMemoryPersistence, decodeTable, tablesEqual, type PersistRecord } from '../../../src/index.js';
import type { EtcdTableStore } from '../../../examples/nbd-server/ha/etcd-store.js';
import { groupCommits } from '../../../examples/nbd-server/ha/group-commit.js';
import { BLOCK_SIZE, newStorage, right, startSystem } from './system.js';

/**
 * The etcd store's batch interface over the in-memory store. After `loseNextAck()`, the next
 * batch of more than one record lands but its acknowledgement is lost.
 */
const standIn = () => {
  const memory = createMemoryPersistence();
  const batches: PersistRecord[][] = [];
  let loseAck = 0;
  let lost: PersistRecord[] | null = null;
  const store = {
    save: (r: PersistRecord) => store.saveBatch([r]),
    async saveBatch(records: ReadonlyArray<PersistRecord>) {
      for (const r of records) await memory.save(r);
      batches.push([...records]);
      if (loseAck > 0 && records.length > 1) {
        loseAck--;
        lost = [...records];
        throw new Error('the acknowledgement was lost (injected): the batch landed');
      }
    },
    load: () => memory.load(),
  };
  return { memory, batches, store: store as unknown as EtcdTableStore, loseNextAck: () => void loseAck++, lost: () => lost };
};

describe('group commits', () => {
  it('turns each persist command into one batch, and finishes a batch whose acknowledgement was lost', async () => {
    const { memory, batches, store, loseNextAck, lost } = standIn();
    const group = groupCommits(store);
    const sys = await startSystem(group.persistence, newStorage(), group.onCommand);
    try {
      await sys.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 16, segmentCount: 32 });
      await sys.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
      for (let i = 0; i < 6; i++) await sys.settle(sys.agent.write('vol', i * 40, new Uint8Array(2 * BLOCK_SIZE).fill(i + 1)));
      loseNextAck();
      await sys.admin({ type: 'snapshot', disk: 'vol', snapshot: 'snap' });
      for (let i = 0; i < 4; i++) await sys.settle(sys.agent.write('vol', i * 40 + 20, new Uint8Array(BLOCK_SIZE).fill(50 + i)));

      expect(lost()?.length).toBeGreaterThan(1);
      expect(group.stats().commits).toBe(batches.length - 1); // the batch with the lost acknowledgement did not count
      // No update was saved twice: each generation of a disk reached the store once.
      const generations = batches.flat().flatMap((r) => (r.type === 'updateTable' ? [`${r.disk}@${r.generation}`] : []));
      expect(new Set(generations).size).toBe(generations.length);
      // The store holds exactly what the controller committed.
      const state = sys.controller.state();
      for (const { disk, table } of memory.peek().tables) expect(tablesEqual(right(decodeTable(table)), state.disks.get(disk)!.committed)).toBe(true);
      expect(memory.peek().tables.map((t) => t.disk)).toEqual(['snap', 'vol']);
      const data = await sys.settle(sys.agent.read('vol', 20, 1));
      expect(E.right([...data].every((b) => b === 50))).toEqual(E.right(true));
    } finally {
      sys.stop();
    }
  });

  it('leaves out of a batch the records the runtime skips as landed, wherever they stand', async () => {
    const { memory, batches, store } = standIn();
    const group = groupCommits(store);
    const doc = { format: 'vdisk-map/table', version: 1, segmentBlocks: 8, segmentCount: 1, generation: 0, entries: [{ zero: true }] } as const;
    await memory.save({ type: 'saveTable', disk: 'vol', table: doc });
    const update: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, changes: [] };
    await memory.save(update); // landed before its acknowledgement was lost
    const attach: PersistRecord = { type: 'attachments', disk: 'vol', agents: ['a1'] };
    const update2: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: 1, generation: 2, changes: [] };
    group.onCommand({ type: 'persist', persistId: 2, records: [attach, update, update2] });
    await group.persistence.load(); // the runtime's check after a failure
    await group.persistence.save(attach); // the runtime skips `update`, which landed
    await group.persistence.save(update2);
    expect(batches).toEqual([[attach, update2]]);
    expect(memory.table('vol')?.generation).toBe(2);
    expect(group.stats()).toEqual({ commits: 1, records: 2 });
  });
});
