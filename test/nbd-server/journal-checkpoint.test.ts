import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeCheckpoint, decodeFrames, encodeCheckpoint, encodeFrame, openJournalStore } from '../../examples/nbd-server/journal-store.js';
import { createTable, decodeTable, encodeTable, type EntrySpec, type PersistRecord } from '../../src/index.js';
import { makeTempDir, removeDir } from './harness.js';

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await makeTempDir();
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const d of dirs.splice(0)) await removeDir(d);
});

const SEGMENT_BLOCKS = 8;

/** Entries of every kind a checkpoint must keep: located, zero, noWrite, with an alternate, failed. */
const entrySpec: fc.Arbitrary<EntrySpec> = fc.oneof(
  fc.constant<EntrySpec>({ zero: true }),
  fc.record({ lun: fc.integer({ min: 1, max: 4 }), slot: fc.nat(1000), noWrite: fc.boolean(), error: fc.boolean() }).map(
    ({ lun, slot, noWrite, error }): EntrySpec => ({ location: { lun, start: slot * SEGMENT_BLOCKS }, noWrite, error }),
  ),
  fc.record({ slot: fc.nat(1000), bits: fc.uniqueArray(fc.nat(SEGMENT_BLOCKS - 1), { minLength: 1, maxLength: SEGMENT_BLOCKS - 1 }) }).map(
    ({ slot, bits }): EntrySpec => ({ location: { lun: 1, start: slot * SEGMENT_BLOCKS }, noWrite: true, alternate: { lun: 5, start: slot * SEGMENT_BLOCKS, blocks: bits } }),
  ),
);

const document = (specs: ReadonlyArray<EntrySpec>) => {
  const t = createTable({ segmentBlocks: SEGMENT_BLOCKS, segmentCount: specs.length, entries: (s) => specs[s]! });
  if (E.isLeft(t)) throw new Error(`table: ${JSON.stringify(t.left)}`);
  return encodeTable(t.right);
};

const tableOf = (doc: ReturnType<typeof document>) => {
  const t = decodeTable(doc);
  if (E.isLeft(t)) throw new Error('decode');
  return t.right;
};

describe('checkpoints', () => {
  it('decode to the tables and attachments they were encoded from, whatever the entries', () => {
    fc.assert(
      fc.property(fc.array(fc.array(entrySpec, { minLength: 1, maxLength: 40 }), { maxLength: 3 }), fc.nat(1000), (disks, journal) => {
        const docs = disks.map((specs, i) => ({ disk: `vol-${i}`, table: document(specs) }));
        const attachments = docs.map(({ disk }, i) => ({ disk, agents: Array.from({ length: i }, (_, k) => `agent-${k}`) }));
        const payload = encodeCheckpoint(journal, docs.map(({ disk, table }) => ({ disk, table: tableOf(table) })), attachments);
        expect(decodeCheckpoint(payload, 'checkpoint')).toEqual({ journal, state: { tables: docs, attachments } });
      }),
      { numRuns: 60 },
    );
  });

  it('refuse a damaged table, naming the disk, and trailing bytes', () => {
    const table = tableOf(document([{ zero: true }, { location: { lun: 1, start: 8 } }]));
    const payload = encodeCheckpoint(3, [{ disk: 'vol', table }], []);
    const damaged = Buffer.from(payload);
    damaged[damaged.length - 10] = damaged[damaged.length - 10]! ^ 0x01;
    expect(() => decodeCheckpoint(damaged, 'cp')).toThrow(/cp: the table of disk "vol" does not decode/);
    expect(() => decodeCheckpoint(Buffer.concat([payload, Buffer.from([0])]), 'cp')).toThrow(/1 bytes follow the last table/);
    expect(() => decodeCheckpoint(payload.subarray(0, payload.length - 1), 'cp')).toThrow(/does not fit/);
  });

  it('are written in the binary form by compaction, smaller than the JSON document, and load the same state', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir, { compactEvery: 1_000_000 });
    const specs = Array.from({ length: 4096 }, (_, s): EntrySpec => (s % 7 === 0 ? { zero: true } : { location: { lun: 1 + (s % 4), start: s * SEGMENT_BLOCKS }, noWrite: s % 3 === 0 }));
    const records: PersistRecord[] = [
      { type: 'saveTable', disk: 'vol', table: document(specs) },
      { type: 'attachments', disk: 'vol', agents: ['a1', 'a2'] },
      { type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, changes: [{ segment: 5, entry: { location: { lun: 3, start: 999 * SEGMENT_BLOCKS } } }] },
    ];
    for (const r of records) await store.save(r);
    const before = store.peek();
    await store.compact();
    await store.close();
    const bytes = await readFile(join(dir, 'checkpoint'));
    const { frames } = decodeFrames(bytes);
    expect(Buffer.from(frames[0]!).subarray(0, 8).toString('ascii')).toBe('VDMCKPT2');
    const json = JSON.stringify({ format: 'vdisk-map-nbd/checkpoint', journal: 1, state: before }).length;
    expect(bytes.length).toBeLessThan(json / 2);
    const again = await openJournalStore(dir);
    expect(again.peek()).toEqual(before);
    await again.close();
  });

  it('of the first format (one JSON document) are still read, with the journal after them', async () => {
    const dir = await tempDir();
    const doc = document([{ zero: true }, { location: { lun: 1, start: 0 } }, { location: { lun: 2, start: 8 }, noWrite: true }]);
    const state = { tables: [{ disk: 'vol', table: doc }], attachments: [{ disk: 'vol', agents: ['a1'] }] };
    await writeFile(join(dir, 'checkpoint'), encodeFrame(Buffer.from(JSON.stringify({ format: 'vdisk-map-nbd/checkpoint', journal: 4, state }), 'utf8')));
    const update: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, changes: [{ segment: 0, entry: { location: { lun: 3, start: 16 } } }] };
    await writeFile(join(dir, 'journal-4.log'), encodeFrame(Buffer.from(JSON.stringify(update), 'utf8')));
    const store = await openJournalStore(dir);
    const loaded = store.peek();
    expect(loaded.attachments).toEqual(state.attachments);
    expect(loaded.tables[0]!.table.generation).toBe(1);
    expect(loaded.tables[0]!.table).toEqual(encodeTable(tableOf(loaded.tables[0]!.table)));
    // Compacting it writes the new format, which loads the same state.
    await store.compact();
    await store.close();
    const { frames } = decodeFrames(await readFile(join(dir, 'checkpoint')));
    expect(Buffer.from(frames[0]!).subarray(0, 8).toString('ascii')).toBe('VDMCKPT2');
    const again = await openJournalStore(dir);
    expect(again.peek()).toEqual(loaded);
    await again.close();
  });
});
