import fc from 'fast-check';
import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFrames, encodeFrame, openJournalStore } from '../../examples/nbd-server/journal-store.js';
import type { PersistRecord } from '../../src/index.js';
import { tempDirs, zeroTable } from './journal-kit.js';

const tempDir = tempDirs();

const table = (segmentCount: number) => zeroTable(4, segmentCount);

/** A disk, then `n` generations of changes to it. */
const records = (n: number): PersistRecord[] => [
  { type: 'saveTable', disk: 'vol', table: table(8) },
  { type: 'attachments', disk: 'vol', agents: ['a1'] },
  ...Array.from({ length: n }, (_, i): PersistRecord => ({
    type: 'updateTable',
    disk: 'vol',
    fromGeneration: i,
    generation: i + 1,
    changes: [{ segment: i % 8, entry: { location: { lun: 1, start: 4 * i } } }],
  })),
];

const generationOf = async (dir: string): Promise<number | undefined> => {
  const store = await openJournalStore(dir, { warn: () => undefined });
  const g = store.peek().tables.find((t) => t.disk === 'vol')?.table.generation;
  await store.close();
  return g;
};

describe('frames', () => {
  it('decode every sequence of frames they encode, and stop at the first damaged byte', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), fc.nat(), (payloads, cutAt) => {
        const bytes = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        expect(decodeFrames(bytes)).toEqual({ frames: payloads.map((p) => Buffer.from(p)), goodBytes: bytes.length, problem: null });
        if (bytes.length === 0) return;
        const cut = cutAt % bytes.length;
        const torn = decodeFrames(bytes.subarray(0, cut));
        expect(torn.goodBytes).toBeLessThanOrEqual(cut);
        expect(torn.problem === null).toBe(torn.goodBytes === cut);
        const flipped = Buffer.from(bytes);
        flipped[cut] = flipped[cut]! ^ 0x40;
        const corrupt = decodeFrames(flipped);
        expect(corrupt.goodBytes).toBeLessThanOrEqual(cut);
        expect(corrupt.problem).not.toBeNull();
      }),
    );
  });
});

describe('journaled store', () => {
  it('loads what it saved after a restart', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir);
    await Promise.all(records(20).map((r) => store.save(r)));
    await store.close();
    const again = await openJournalStore(dir);
    const state = await again.load();
    expect(state.tables[0]!.table.generation).toBe(20);
    expect(state.attachments).toEqual([{ disk: 'vol', agents: ['a1'] }]);
    await again.close();
  });

  it('refuses a record the state does not allow, without writing it', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir);
    for (const r of records(2)) await store.save(r);
    await expect(store.save({ type: 'updateTable', disk: 'vol', fromGeneration: 7, generation: 8, changes: [] })).rejects.toThrow(/generation/);
    await store.save(records(3)[4]!);
    await store.close();
    expect(await generationOf(dir)).toBe(3);
  });

  it('cuts off a torn or corrupt tail with a warning, keeps every whole record, and appends after it', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir);
    for (const r of records(5)) await store.save(r);
    await store.close();
    const journal = join(dir, 'journal-0.log');
    const size = (await stat(journal)).size;
    await appendFile(journal, encodeFrame(Buffer.from('{"type":"updateTable"')).subarray(0, 20)); // a torn append
    const warnings: string[] = [];
    const reopened = await openJournalStore(dir, { warn: (m) => warnings.push(m) });
    expect(warnings.join()).toMatch(/torn or corrupt tail after byte/);
    expect((await stat(journal)).size).toBe(size);
    await reopened.save(records(6)[7]!);
    await reopened.close();
    expect(await generationOf(dir)).toBe(6);

    // A flipped bit in the last record: that record is dropped, the ones before it stay.
    const bytes = await readFile(journal);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 1;
    await writeFile(journal, bytes);
    expect(await generationOf(dir)).toBe(5);
    await truncate(journal, 3);
    expect(await generationOf(dir)).toBeUndefined();
  });

  it('compacts into a checkpoint and a fresh journal, and loads the same state from them', async () => {
    const dir = await tempDir();
    const store = await openJournalStore(dir, { compactEvery: 10 });
    const all = records(45);
    for (let i = 0; i < all.length; i += 3) await Promise.all(all.slice(i, i + 3).map((r) => store.save(r)));
    const before = store.peek();
    await store.close();
    const files = await readdir(dir);
    expect(files).toContain('checkpoint');
    expect(files.filter((f) => f.startsWith('journal-'))).toHaveLength(1);
    expect(files).not.toContain('journal-0.log');
    const again = await openJournalStore(dir);
    expect(again.peek()).toEqual(before);
    await again.compact();
    await again.save({ type: 'attachments', disk: 'vol', agents: ['a1', 'a2'] });
    await again.close();
    const third = await openJournalStore(dir);
    expect(third.peek().tables).toEqual(before.tables);
    expect(third.peek().attachments).toEqual([{ disk: 'vol', agents: ['a1', 'a2'] }]);
    await third.close();
  });
});
