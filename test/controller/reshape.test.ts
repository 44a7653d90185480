/**
 * Changing a live disk's segment bounds through the controller (src/controller/jobs/reshape.ts):
 * `resize` of a variable disk, `splitSegment`, `mergeSegments`. Each request checked by field
 * and value; each persisted record replayed by a store (applyPersistRecord) gives exactly the
 * controller's table, whatever requests share a batch (a property test against the table
 * operations as the model); faults and discards from copies older than a split or merge.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { applyPersistRecord, EMPTY_DURABLE_STATE, type DurableState } from '../../src/controller/persist-record.js';
import { applySegmentChanges } from '../../src/controller/segment-changes.js';
import * as R from '../../src/controller/refcounts.js';
import type { ControllerCommand, ControllerEvent, ControllerState, PersistRecord } from '../../src/controller/types.js';
import { segmentLengthAt, segmentOfBlock, tableBlocks } from '../../src/table/segments.js';
import { createTable, entryAt, resizeTable, tablesEqual, type MappingTable } from '../../src/table/table.js';
import { mergeSegments, splitSegment } from '../../src/table/variable.js';

const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

/** A controller, the store its persist records build (answered at once unless `hold`), and every command. */
class Rig {
  state: ControllerState;
  store: DurableState = EMPTY_DURABLE_STATE;
  pending: Extract<ControllerCommand, { type: 'persist' }>[] = [];
  readonly log: ControllerCommand[] = [];
  readonly records: PersistRecord[] = [];
  hold = false;
  private nextRequest = 1;

  constructor() {
    const allocator = right(createAllocator({ 1: 100_000, 2: 100_000 }));
    [this.state] = controllerStep(initialControllerState(allocator, { materializeZeroSegments: false }), { type: 'restored', state: { tables: [], attachments: [] }, now: 0 });
  }

  step(event: unknown): ReadonlyArray<ControllerCommand> {
    const [next, cs] = controllerStep(this.state, event as ControllerEvent);
    this.state = next;
    this.log.push(...cs);
    for (const c of cs) if (c.type === 'persist') this.pending.push(c);
    if (this.agents) this.answer(cs);
    if (!this.hold) this.flush();
    return cs;
  }

  /** Plays storage and agents that acknowledge every table they are sent (when `agents` is set). */
  agents = false;
  private answer(cs: ReadonlyArray<ControllerCommand>): void {
    for (const c of cs) {
      if (c.type === 'copyBlocks' || c.type === 'writeZeros') this.step({ type: 'copyDone', copyId: c.copyId });
      else if (c.type === 'flush') this.step({ type: 'flushed', flushId: c.flushId });
      else if (c.type === 'send' && c.message.type === 'setEntries') this.step({ type: 'message', message: { type: 'tableAck', agent: c.to, epoch: 1, disk: c.message.disk, generation: c.message.generation } });
      else if (c.type === 'send' && c.message.type === 'replaceTable') this.step({ type: 'message', message: { type: 'tableAck', agent: c.to, epoch: 1, disk: c.message.disk, generation: c.message.table.generation } });
      else if (c.type === 'send' && c.message.type === 'refreshTable') this.step({ type: 'message', message: { type: 'fetchTable', agent: c.to, epoch: 1, disk: c.message.disk, generation: -1 } });
    }
  }

  /** Answers every persist command in flight, applying its records to the store first. */
  flush(): void {
    while (this.pending.length > 0) {
      const p = this.pending.shift()!;
      for (const r of p.records) {
        this.records.push(r);
        this.store = right(applyPersistRecord(this.store, r));
      }
      const [next, cs] = controllerStep(this.state, { type: 'persisted', persistId: p.persistId });
      this.state = next;
      this.log.push(...cs);
      for (const c of cs) if (c.type === 'persist') this.pending.push(c);
      if (this.agents) this.answer(cs);
    }
  }

  admin(request: Record<string, unknown>): { ok: boolean; error?: string } | undefined {
    const requestId = this.nextRequest++;
    const before = this.log.length;
    this.step({ ...request, requestId });
    const done = this.log.slice(before).find((c) => c.type === 'adminDone' && c.requestId === requestId);
    return done?.type === 'adminDone' ? done.result : undefined;
  }

  committed(disk: string): MappingTable {
    return this.state.disks.get(disk)!.committed;
  }
}

const lengths = (t: MappingTable): number[] => Array.from({ length: t.segmentCount }, (_, s) => segmentLengthAt(t, s));

describe('controller: resizing a variable disk', () => {
  it('grows by segmentLength, shrinks, and its records replay to the same table', () => {
    const r = new Rig();
    expect(r.admin({ type: 'createDisk', disk: 'v', segmentBlocks: 0, segmentCount: 3, segmentLengths: [8, 1, 40] })).toEqual({ ok: true });
    expect(r.admin({ type: 'resize', disk: 'v', segmentCount: 5, segmentLength: 16 })).toEqual({ ok: true });
    expect(lengths(r.committed('v'))).toEqual([8, 1, 40, 16, 16]);
    expect(r.records.at(-1)).toMatchObject({ type: 'updateTable', segments: [{ op: 'resize', segmentCount: 5, length: 16 }] });
    expect(r.records.at(-1)).not.toHaveProperty('segmentCount');
    expect(tablesEqual(r.store.tables.get('v')!, r.committed('v'))).toBe(true);
    expect(r.admin({ type: 'resize', disk: 'v', segmentCount: 2 })).toEqual({ ok: true });
    expect(lengths(r.committed('v'))).toEqual([8, 1]);
    expect(tablesEqual(r.store.tables.get('v')!, r.committed('v'))).toBe(true);
  });

  it('refuses a grow without segmentLength, a bad segmentLength, and a segmentLength that is not a uniform disk\'s, naming field and value', () => {
    const r = new Rig();
    r.admin({ type: 'createDisk', disk: 'v', segmentBlocks: 0, segmentCount: 2, segmentLengths: [8, 4] });
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 2 });
    expect(r.admin({ type: 'resize', disk: 'v', segmentCount: 3 })).toMatchObject({ ok: false, error: expect.stringContaining('segmentLength is required to grow disk v') });
    expect(r.admin({ type: 'resize', disk: 'v', segmentCount: 3, segmentLength: 0 })).toMatchObject({ ok: false, error: 'resize: segmentLength must be a positive safe integer, got 0' });
    expect(r.admin({ type: 'resize', disk: 'v', segmentCount: 3, segmentLength: 'x' })).toMatchObject({ ok: false, error: expect.stringContaining('segmentLength must be a positive safe integer, got "x"') });
    expect(r.admin({ type: 'resize', disk: 'v', segmentCount: 3, segmentLength: 2 ** 25 })).toMatchObject({ ok: false, error: expect.stringContaining('segmentLength') });
    expect(r.admin({ type: 'resize', disk: 'u', segmentCount: 3, segmentLength: 4 })).toMatchObject({ ok: false, error: expect.stringContaining('segmentLength must be absent or 8 on disk u') });
    // A uniform disk's resize is recorded as it always was: segmentCount, no segments.
    expect(r.admin({ type: 'resize', disk: 'u', segmentCount: 3, segmentLength: 8 })).toEqual({ ok: true });
    expect(r.records.at(-1)).toMatchObject({ type: 'updateTable', segmentCount: 3 });
    expect(r.records.at(-1)).not.toHaveProperty('segments');
    expect(lengths(r.committed('v'))).toEqual([8, 4]);
  });

  it('two resizes of a uniform disk in one batch replay in order: a segment dropped and added again reads as zeros', () => {
    const r = new Rig();
    r.agents = true;
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 3 });
    r.admin({ type: 'createDisk', disk: 'w', segmentBlocks: 8, segmentCount: 1 });
    for (const disk of ['u', 'w']) {
      r.admin({ type: 'attachAgent', disk, agent: 'a' });
      r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk, generation: -1 } });
    }
    r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'u', faultId: 1, segment: 2, op: 'write', start: 17, length: 1, reason: 'zero', generation: r.committed('u').generation } });
    expect(entryAt(r.committed('u'), 2).alternate).not.toBeNull();
    r.hold = true; // a write to w keeps a persist in flight: both resizes of u join one batch
    r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'w', faultId: 2, segment: 0, op: 'write', start: 1, length: 1, reason: 'zero', generation: r.committed('w').generation } });
    expect(r.admin({ type: 'resize', disk: 'u', segmentCount: 2 })).toBeUndefined();
    expect(r.admin({ type: 'resize', disk: 'u', segmentCount: 3 })).toBeUndefined();
    r.hold = false;
    r.flush();
    const record = r.records.find((x) => x.type === 'updateTable' && x.disk === 'u' && x.segmentCount === 2);
    expect(record).toMatchObject({ segmentCount: 2, segments: [{ op: 'resize', segmentCount: 3 }] });
    expect(entryAt(r.store.tables.get('u')!, 2)).toEqual(entryAt(r.committed('u'), 2));
    expect(entryAt(r.committed('u'), 2).zero).toBe(true);
  });
});

describe('controller: splitting and merging segments of a live disk', () => {
  it('splits a uniform disk (it becomes variable) and merges the halves back, records replayed alike', () => {
    const r = new Rig();
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 4 });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 1, at: 3 })).toEqual({ ok: true });
    expect(lengths(r.committed('u'))).toEqual([8, 3, 5, 8, 8]);
    expect(r.committed('u').segmentBlocks).toBe(0);
    expect(r.records.at(-1)).toMatchObject({ type: 'updateTable', segments: [{ op: 'split', segment: 1, at: 3 }] });
    expect(tablesEqual(r.store.tables.get('u')!, r.committed('u'))).toBe(true);
    expect(r.admin({ type: 'mergeSegments', disk: 'u', segment: 1 })).toEqual({ ok: true });
    expect(lengths(r.committed('u'))).toEqual([8, 8, 8, 8]);
    expect(tablesEqual(r.store.tables.get('u')!, r.committed('u'))).toBe(true);
    expect(tableBlocks(r.committed('u'))).toBe(32);
  });

  it('refuses by field and value: a segment or split point out of range, neighbours that cannot merge, a grained disk, an unknown disk', () => {
    const r = new Rig();
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 4 });
    r.admin({ type: 'createDisk', disk: 'g', segmentBlocks: 8, segmentCount: 4, grainBlocks: 4 });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 4, at: 3 })).toMatchObject({ ok: false, error: expect.stringContaining('segment must be an integer from 0 to 3, got 4') });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 0, at: 8 })).toMatchObject({ ok: false, error: expect.stringContaining('at must be an integer from 1 to 7') });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 0, at: 0 })).toMatchObject({ ok: false, error: 'splitSegment: at must be a positive safe integer, got 0' });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: -1, at: 2 })).toMatchObject({ ok: false, error: 'splitSegment: segment must be a non-negative safe integer, got -1' });
    expect(r.admin({ type: 'mergeSegments', disk: 'u', segment: 3 })).toMatchObject({ ok: false, error: expect.stringContaining('a segment with a next one') });
    expect(r.admin({ type: 'splitSegment', disk: 'g', segment: 0, at: 4 })).toMatchObject({ ok: false, error: expect.stringContaining('grainBlocks of disk g is 4') });
    expect(r.admin({ type: 'mergeSegments', disk: 'g', segment: 0 })).toMatchObject({ ok: false, error: expect.stringContaining('grainBlocks of disk g is 4') });
    expect(r.admin({ type: 'mergeSegments', disk: 'nope', segment: 0 })).toMatchObject({ ok: false, error: 'unknown disk nope' });
    // Zero segments with no location merge; a located one next to a zero one does not.
    expect(r.admin({ type: 'mergeSegments', disk: 'u', segment: 0 })).toEqual({ ok: true });
    expect(lengths(r.committed('u'))).toEqual([16, 8, 8]);
  });

  it('refuses to cut or join an extent a snapshot shares, and moves the counts of one it does not', () => {
    const r = new Rig();
    r.agents = true;
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 4 });
    r.admin({ type: 'attachAgent', disk: 'u', agent: 'a' });
    r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk: 'u', generation: -1 } });
    for (const [faultId, start] of [[1, 0], [2, 8]] as const)
      r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'u', faultId, segment: start / 8, op: 'write', start, length: 8, reason: 'zero', generation: r.committed('u').generation } });
    const primary = entryAt(r.committed('u'), 1).location!;
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 1, at: 3 })).toEqual({ ok: true });
    expect(r.admin({ type: 'snapshot', disk: 'u', snapshot: 'u@1' })).toEqual({ ok: true });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 0, at: 2 })).toMatchObject({ ok: false, error: expect.stringContaining('segment 0 of disk u shares LUN') });
    expect(r.admin({ type: 'mergeSegments', disk: 'u', segment: 1 })).toMatchObject({ ok: false, error: expect.stringContaining('segment 1 of disk u shares LUN') });
    // Counts follow the split: one per half, none left for the whole extent.
    const counts = new Map(R.entries(r.state.refs).map((c) => [`${c.lun}:${c.start}+${c.length}`, c.count]));
    expect(counts.get(`${primary.lun}:${primary.start}+8`)).toBeUndefined();
    expect(counts.get(`${primary.lun}:${primary.start}+3`)).toBe(2);
    expect(counts.get(`${primary.lun}:${primary.start + 3}+5`)).toBe(2);
  });

  it('refuses while a job works on the disk, and takes the request once it is done', () => {
    const r = new Rig();
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 4 });
    r.admin({ type: 'attachAgent', disk: 'u', agent: 'a' });
    r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk: 'u', generation: -1 } });
    const g = r.committed('u').generation;
    r.hold = true;
    r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'u', faultId: 1, segment: 2, op: 'write', start: 16, length: 2, reason: 'zero', generation: g } });
    expect(r.state.disks.get('u')!.busy.size).toBe(1);
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 0, at: 4 })).toMatchObject({ ok: false, error: 'disk u is busy; try again when its faults are resolved' });
    expect(r.admin({ type: 'resize', disk: 'u', segmentCount: 2 })).toMatchObject({ ok: false, error: expect.stringContaining('busy') });
  });
});

describe('controller: faults from copies older than a split or merge', () => {
  /** Disk `u` of 4 segments of 8 blocks, agent `a` holding generation `old`; then segment 1 split at 3. */
  const splitUnderAgent = (): { r: Rig; old: number } => {
    const r = new Rig();
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 4 });
    r.admin({ type: 'attachAgent', disk: 'u', agent: 'a' });
    r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk: 'u', generation: -1 } });
    const old = r.committed('u').generation;
    r.step({ type: 'message', message: { type: 'tableAck', agent: 'a', epoch: 1, disk: 'u', generation: old } });
    expect(r.admin({ type: 'splitSegment', disk: 'u', segment: 1, at: 3 })).toBeUndefined(); // answered once a has it
    return { r, old };
  };

  it('files a stale write fault by its first block, cut to that segment, and serves it', () => {
    const { r, old } = splitUnderAgent();
    // Old segment 2 (blocks 16..23) is new segment 3; a write to blocks 10..13 of old segment 1 straddles new segments 1 and 2.
    const before = r.log.length;
    r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'u', faultId: 7, segment: 1, op: 'write', start: 10, length: 4, reason: 'zero', generation: old } });
    const fault = r.log.slice(before).find((c) => c.type === 'refused' || (c.type === 'send' && c.message.type === 'failIo'));
    expect(fault).toBeUndefined();
    const job = [...r.state.jobs.values()].find((j) => j.kind === 'fault');
    expect(job).toMatchObject({ segment: 1, start: 10, length: 1 });
    // A fault of this copy whose blocks lie in one new segment is filed under that segment's new number.
    r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'u', faultId: 8, segment: 2, op: 'write', start: 17, length: 2, reason: 'zero', generation: old } });
    expect([...r.state.jobs.values()].find((j) => j.kind === 'fault' && j.faultId === 8)).toMatchObject({ segment: 3, start: 17, length: 2 });
  });

  it('still refuses a fault outside its segment from a copy that is not older', () => {
    const { r } = splitUnderAgent();
    r.step({ type: 'message', message: { type: 'tableAck', agent: 'a', epoch: 1, disk: 'u', generation: r.committed('u').generation } });
    const before = r.log.length;
    r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'u', faultId: 9, segment: 1, op: 'write', start: 10, length: 4, reason: 'zero', generation: r.committed('u').generation } });
    expect(r.log.slice(before)).toContainEqual(expect.objectContaining({ type: 'resolved', outcome: 'failed', detail: expect.stringContaining('not inside segment 1') }));
  });

  it('a stale whole-segment discard zeroes nothing after a merge, even past the new end', () => {
    const r = new Rig();
    r.admin({ type: 'createDisk', disk: 'u', segmentBlocks: 8, segmentCount: 3 });
    r.admin({ type: 'attachAgent', disk: 'u', agent: 'a' });
    r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk: 'u', generation: -1 } });
    const old = r.committed('u').generation;
    r.step({ type: 'message', message: { type: 'tableAck', agent: 'a', epoch: 1, disk: 'u', generation: old } });
    r.admin({ type: 'mergeSegments', disk: 'u', segment: 0 });
    const before = r.log.length;
    r.step({ type: 'message', message: { type: 'zeroSegment', agent: 'a', epoch: 1, disk: 'u', faultId: 3, segment: 2, generation: old } });
    const after = r.log.slice(before);
    expect(after.filter((c) => c.type === 'persist')).toEqual([]);
    expect(after).not.toContainEqual(expect.objectContaining({ type: 'send', message: expect.objectContaining({ type: 'failIo' }) }));
    expect([...r.state.jobs.values()].find((j) => j.kind === 'zero')).toMatchObject({ segment: 1 });
  });
});

describe('segment changes in persist records', () => {
  const base = right(createTable({ segmentBlocks: 8, segmentCount: 4, entries: (s) => (s === 1 ? { location: { lun: 1, start: 0 } } : { zero: true }) }));

  it('names the change, the field and the value of what cannot be applied', () => {
    expect(applySegmentChanges(base, 'x', 5)).toEqual(E.left('segments must be an array, got "x"'));
    expect(applySegmentChanges(base, [{ op: 'cut' }], 5)).toEqual(E.left("segments[0].op must be 'split', 'merge' or 'resize', got \"cut\""));
    expect(applySegmentChanges(base, [{ op: 'split', segment: 0, at: 4 }, { op: 'merge', segment: 1 }], 5)).toEqual(
      E.left("segments[1]: segment 2: zero must equal the first segment's zero true, got false"),
    );
    expect(applySegmentChanges(base, [{ op: 'split', segment: 0, at: 4 }, { op: 'resize', segmentCount: 9 }], 5)).toEqual(
      E.left("segments[1].length must give the new segments' length when a variable table grows, got undefined"),
    );
    const store = right(applyPersistRecord(EMPTY_DURABLE_STATE, { type: 'saveTable', disk: 'd', table: { format: 'vdisk-map/table', version: 1, segmentBlocks: 8, segmentCount: 1, generation: 0, entries: [{ zero: true }] } as never }));
    expect(applyPersistRecord(store, { type: 'updateTable', disk: 'd', fromGeneration: 0, generation: 1, segments: [{ op: 'merge', segment: 0 }], changes: [] })).toEqual(
      E.left(expect.stringContaining('"updateTable" for disk "d": segments[0]: segment must be an integer from 0 to -1')),
    );
  });

  type Op =
    | { kind: 'resize'; count: number; length: number }
    | { kind: 'split'; segment: number; at: number }
    | { kind: 'merge'; segment: number }
    | { kind: 'write'; block: number }
    | { kind: 'other'; block: number }
    | { kind: 'persist' };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('resize' as const), count: fc.integer({ min: 0, max: 8 }), length: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ kind: fc.constant('split' as const), segment: fc.integer({ min: 0, max: 8 }), at: fc.integer({ min: 1, max: 11 }) }),
    fc.record({ kind: fc.constant('merge' as const), segment: fc.integer({ min: 0, max: 8 }) }),
    fc.record({ kind: fc.constant('write' as const), block: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ kind: fc.constant('other' as const), block: fc.integer({ min: 0, max: 3 }) }),
    fc.constant({ kind: 'persist' as const }),
  );

  it('any sequence of writes, resizes, splits and merges, batched any way: each request does what the table operation does, and the store replays the committed table', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.boolean(), fc.array(opArb, { maxLength: 16 }), (variable, ops) => {
        const r = new Rig();
        r.agents = true;
        r.admin(variable ? { type: 'createDisk', disk: 'v', segmentBlocks: 0, segmentCount: 3, segmentLengths: [5, 1, 9] } : { type: 'createDisk', disk: 'v', segmentBlocks: 6, segmentCount: 3 });
        r.admin({ type: 'attachAgent', disk: 'v', agent: 'a' });
        r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk: 'v', generation: -1 } });
        // Writes to another disk keep a persist in flight while requests on v join the next batch.
        r.admin({ type: 'createDisk', disk: 'w', segmentBlocks: 4, segmentCount: 1 });
        r.admin({ type: 'attachAgent', disk: 'w', agent: 'a' });
        r.step({ type: 'message', message: { type: 'fetchTable', agent: 'a', epoch: 1, disk: 'w', generation: -1 } });
        r.hold = true;
        let faultId = 1;
        for (const op of ops) {
          if (op.kind === 'persist') {
            r.flush();
            continue;
          }
          if (op.kind === 'other') {
            const g = r.committed('w').generation;
            r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'w', faultId: faultId++, segment: 0, op: 'write', start: op.block, length: 1, reason: 'zero', generation: g } });
            continue;
          }
          const model: MappingTable = r.state.disks.get('v')!.working;
          if (op.kind === 'write') {
            if (op.block >= tableBlocks(model)) continue;
            const segment = right(segmentOfBlock(model, op.block));
            r.step({ type: 'message', message: { type: 'ioFault', agent: 'a', epoch: 1, disk: 'v', faultId: faultId++, segment, op: 'write', start: op.block, length: 1, reason: 'zero', generation: r.committed('v').generation } });
            continue;
          }
          const uniform = model.segmentStarts === null;
          const busy = r.state.disks.get('v')!.busy.size > 0;
          const expected =
            op.kind === 'resize' ? resizeTable(model, op.count, { zero: true, length: op.length })
            : op.kind === 'split' ? splitSegment(model, op.segment, op.at)
            : mergeSegments(model, op.segment);
          const request =
            op.kind === 'resize' ? { type: 'resize', disk: 'v', segmentCount: op.count, ...(uniform ? {} : { segmentLength: op.length }) }
            : op.kind === 'split' ? { type: 'splitSegment', disk: 'v', segment: op.segment, at: op.at }
            : { type: 'mergeSegments', disk: 'v', segment: op.segment };
          const answer = r.admin(request);
          // Answered at once only when refused (else once durable and in line).
          expect(answer === undefined || answer.ok === false).toBe(true);
          expect(answer === undefined).toBe(E.isRight(expected) && !busy);
          if (answer !== undefined) continue;
          accepted++;
          expect(tablesEqual(r.state.disks.get('v')!.working, right(expected))).toBe(true);
        }
        r.hold = false;
        r.flush();
        const committed = r.committed('v');
        expect(r.state.disks.get('v')!.working).toBe(committed);
        expect(tablesEqual(r.store.tables.get('v')!, committed)).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(accepted).toBeGreaterThan(200);
  });
});
