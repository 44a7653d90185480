/**
 * What a controller needs to survive a restart besides its tables, through every store of the
 * repository but etcd (its own test is in ha/): the generation floor that `deleteTable` raises,
 * and the agents still dropping a copy that `attachments` lists (docs/design.md#ordering-rules).
 * Documents written before either existed load as they did (a missing field means none).
 */
import { describe, expect, it } from 'vitest';
import { openJournalStore } from '../../examples/nbd-server/journal-store.js';
import { createMemoryPersistence, type PersistedState, type PersistRecord } from '../../src/index.js';
import { DurableStore } from '../../src/sim/world.js';
import { tempDirs, zeroTable } from './journal-kit.js';

const tempDir = tempDirs();

const doc = (generation: number) => zeroTable(8, 2, generation);

/** Two lives of `old`, a detach still in progress on `vol`, and a floor raised twice (it only grows). */
const RECORDS: ReadonlyArray<PersistRecord> = [
  { type: 'saveTable', disk: 'vol', table: doc(0) },
  { type: 'saveTable', disk: 'old', table: doc(7) },
  { type: 'attachments', disk: 'vol', agents: ['a1', 'a2'] },
  { type: 'attachments', disk: 'vol', agents: ['a2'], dropping: ['a1'] },
  { type: 'deleteTable', disk: 'old', generationFloor: 8 },
  { type: 'saveTable', disk: 'old', table: doc(8) },
  { type: 'deleteTable', disk: 'old', generationFloor: 5 }, // lower: the floor stays
];

const EXPECTED = { attachments: [{ disk: 'vol', agents: ['a2'], dropping: ['a1'] }], generationFloor: 8 };

const summary = (state: PersistedState) => ({ attachments: state.attachments, generationFloor: state.generationFloor });

describe('stores keep the generation floor and the agents still dropping', () => {
  it('memory persistence', async () => {
    const p = createMemoryPersistence();
    for (const r of RECORDS) await p.save(r);
    expect(summary(await p.load())).toEqual(EXPECTED);
    // The drop confirmed: the list empties, and the entry carries no `dropping`.
    await p.save({ type: 'attachments', disk: 'vol', agents: ['a2'] });
    expect((await p.load()).attachments).toEqual([{ disk: 'vol', agents: ['a2'] }]);
  });

  it('the simulator store', () => {
    const store = new DurableStore();
    for (const r of RECORDS) store.apply(r);
    expect(summary(store.restored())).toEqual(EXPECTED);
  });

  it('the NBD journal, replayed and from a checkpoint', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir);
    for (const r of RECORDS) await store.save(r);
    await store.close();
    const replayed = await openJournalStore(dir);
    expect(summary(await replayed.load())).toEqual(EXPECTED);
    await replayed.compact();
    await replayed.close();
    const checkpointed = await openJournalStore(dir);
    expect(summary(await checkpointed.load())).toEqual(EXPECTED);
    // A deletion after the checkpoint with a lower floor leaves the checkpoint's.
    await checkpointed.save({ type: 'saveTable', disk: 'tmp', table: doc(8) });
    await checkpointed.save({ type: 'deleteTable', disk: 'tmp', generationFloor: 3 });
    expect(checkpointed.peek().generationFloor).toBe(8);
    await checkpointed.save({ type: 'saveTable', disk: 'tmp', table: doc(9) });
    await checkpointed.save({ type: 'deleteTable', disk: 'tmp', generationFloor: 10 });
    await checkpointed.close();
    const again = await openJournalStore(dir);
    expect((await again.load()).generationFloor).toBe(10);
    await again.close();
  });

  it('records and checkpoints written before (no floor, no dropping) load as they did', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir);
    await store.save({ type: 'saveTable', disk: 'vol', table: doc(0) });
    await store.save({ type: 'attachments', disk: 'vol', agents: ['a1'] });
    await store.save({ type: 'saveTable', disk: 'old', table: doc(4) });
    await store.save({ type: 'deleteTable', disk: 'old' });
    await store.compact();
    await store.close();
    const loaded = await (await openJournalStore(dir, { readOnly: true })).load();
    expect(loaded.attachments).toEqual([{ disk: 'vol', agents: ['a1'] }]);
    expect(loaded.generationFloor).toBeUndefined();
  });
});
