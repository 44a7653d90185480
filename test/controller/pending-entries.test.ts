/**
 * Entry changes written to the working table later (pending-entries.ts) read and end exactly as
 * the same changes written one `setEntries` at a time (the reference model): through the overlay
 * while pending, through the disk draft's `working` (which writes them), and in the state the
 * step hands back.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { jobHooks } from '../../src/controller/jobs/index.js';
import { setEntriesLater, workingEntry, workingGeneration, workingShape } from '../../src/controller/pending-entries.js';
import { Working } from '../../src/controller/working.js';
import type { MappingEntry } from '../../src/table/entry.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable, entryAt, setEntries, type MappingTable } from '../../src/table/table.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

const SEGMENTS = 3000; // more than one chunk
const DISK = 'vol';

/** A ready controller state holding one disk, with a persist in flight (so changes wait). */
const stateWithDisk = () => {
  const table = right(createTable({ segmentBlocks: 8, segmentCount: SEGMENTS, entries: (s) => (s % 2 === 0 ? { zero: true } : { location: { lun: 1, start: s * 8 } }) }));
  const [state] = controllerStep(initialControllerState(right(createAllocator({ 1: 1_000_000 }))), {
    type: 'restored',
    now: 0,
    state: { tables: [{ disk: DISK, table: encodeTable(table) }], attachments: [{ disk: DISK, agents: ['a'] }] },
  });
  return { ...state, persist: { persistId: 99, batch: state.stagingBatch, records: [], commits: [], failedAt: null } };
};

const entryArb: fc.Arbitrary<MappingEntry> = fc.oneof(
  fc.constant<MappingEntry>({ location: null, invalid: false, noWrite: false, zero: true, error: false, alternate: null }),
  fc.integer({ min: 0, max: 100_000 }).map((k): MappingEntry => ({ location: { lun: 1, start: k * 8 }, invalid: false, noWrite: false, zero: false, error: false, alternate: null })),
  fc.integer({ min: 0, max: 100_000 }).map((k): MappingEntry => ({ location: { lun: 1, start: k * 8 }, invalid: true, noWrite: true, zero: false, error: false, alternate: null })),
);
const batchArb = fc.array(fc.tuple(fc.integer({ min: 0, max: SEGMENTS - 1 }), entryArb), { minLength: 1, maxLength: 4 });

describe('pending entry changes', () => {
  it('read and end as the same changes written one update at a time', () => {
    const base = stateWithDisk();
    fc.assert(
      fc.property(fc.array(batchArb, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 0, max: SEGMENTS - 1 }), { maxLength: 20 }), (batches, probes) => {
        const s = new Working(base, jobHooks);
        const d = s.disks.get(DISK)!;
        const generation = d.working.generation + 1;
        let model: MappingTable = d.working;
        for (const changes of batches) {
          setEntriesLater(s, d, changes, generation);
          model = right(setEntries(model, changes.map(([segment, entry]) => ({ segment, entry })), { generation }));
          for (const seg of [...probes, ...changes.map(([seg]) => seg)]) expect(workingEntry(d, seg)).toEqual(entryAt(model, seg));
          expect(workingGeneration(d)).toBe(generation);
          expect(workingShape(d).segmentCount).toBe(SEGMENTS);
        }
        // Reading the field writes them: the table read is the model's, and stays put.
        const written = d.working;
        for (const seg of probes) expect(entryAt(written, seg)).toEqual(entryAt(model, seg));
        for (const [seg] of batches.flat()) expect(entryAt(written, seg)).toEqual(entryAt(model, seg));
        expect(written.generation).toBe(generation);
        expect(d.working).toBe(written);
        expect(Object.getOwnPropertyDescriptor(d, 'working')?.get).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('are in the state the step hands back, which holds plain fields', () => {
    const base = stateWithDisk();
    fc.assert(
      fc.property(batchArb, (changes) => {
        const s = new Working(base, jobHooks);
        const d = s.disks.get(DISK)!;
        const generation = d.working.generation + 1;
        setEntriesLater(s, d, changes, generation);
        const next = s.result().disks.get(DISK)!;
        const model = right(setEntries(base.disks.get(DISK)!.working, changes.map(([segment, entry]) => ({ segment, entry })), { generation }));
        for (const [seg] of changes) expect(entryAt(next.working, seg)).toEqual(entryAt(model, seg));
        expect(Object.getOwnPropertyDescriptor(next, 'working')?.get).toBeUndefined();
        // The state the step was given is unchanged.
        expect(base.disks.get(DISK)!.working.generation).toBe(generation - 1);
      }),
      { numRuns: 30 },
    );
  });

  it('are written at once when no persist is in flight', () => {
    const base = { ...stateWithDisk(), persist: null };
    const s = new Working(base, jobHooks);
    const d = s.disks.get(DISK)!;
    const entry: MappingEntry = { location: { lun: 1, start: 800 }, invalid: false, noWrite: false, zero: false, error: false, alternate: null };
    setEntriesLater(s, d, [[4, entry]], d.working.generation + 1);
    expect(Object.getOwnPropertyDescriptor(d, 'working')?.get).toBeUndefined();
    expect(entryAt(d.working, 4)).toEqual(entry);
  });
});
