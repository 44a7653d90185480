/**
 * Tests for src/sim/checkers.ts: each checker passes the state of a healthy run and reports the
 * broken property when that state is damaged on purpose, so that a clean simulation means
 * something.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { checkContent, checkConvergence, checkFinalTables, checkFreeReferenced, checkRead, FrozenPrimaries, isQuiet } from '../../src/sim/checkers.js';
import * as R from '../../src/controller/refcounts.js';
import { createCluster, type Cluster } from '../../src/sim/cluster.js';
import type { SimConfig } from '../../src/sim/config.js';
import { DiskModel } from '../../src/sim/disk-model.js';
import type { HostIo } from '../../src/sim/workload.js';
import { LunBlocks } from '../../src/sim/world.js';
import { entryAt } from '../../src/table/table.js';
import { translate } from '../../src/translate/translate.js';

const LUNS = { 1: 2048, 2: 2048 };
const config: SimConfig = { seed: 4, agents: 2, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 16 }], luns: LUNS };

/** A cluster after a clean run of `ios` host I/Os (mostly writes), every property held. */
const ranCluster = (ios: number, schedule: Parameters<Cluster['run']>[0]['schedule'] = []): Cluster => {
  const cluster = createCluster(config);
  expect(cluster.run({ ios, readRatio: 0.2, schedule }).violation).toBeNull();
  return cluster;
};

const agentsOf = (cluster: Cluster) => [0, 1].map((i) => ({ id: `a${i}`, state: cluster.agentState(i) }));

const readIo = (model: DiskModel, start: number, length: number, data: number[]): HostIo => ({
  id: 1,
  submittedAt: 0,
  agent: 0,
  epoch: 1,
  disk: 'd',
  op: 'read',
  start,
  length,
  value: 0,
  seen: model.readStarted(start, length),
  data: Float64Array.from(data),
  model,
});

describe('checkRead', () => {
  it('passes a read of the last acknowledged writes and reports one that returns anything else', () => {
    const model = new DiskModel(16);
    model.writeStarted(4, 2);
    model.writeAcknowledged(4, 2, 9);
    expect(checkRead(readIo(model, 3, 3, [0, 9, 9]))).toBeUndefined();
    expect(checkRead(readIo(model, 3, 3, [0, 9, 0]))).toEqual({ kind: 'read-mismatch', message: 'read of d block 5 by a0 returned 0, expected 9' });
  });
});

describe('the final checks', () => {
  const cluster = ranCluster(300);
  const controller = cluster.controllerState();
  const committed = controller.disks.get('d')!.committed;

  it('isQuiet holds after a run, and not while a host I/O is open', () => {
    expect(isQuiet(controller, agentsOf(cluster), 0)).toBe(true);
    expect(isQuiet(controller, agentsOf(cluster), 1)).toBe(false);
  });

  it('checkConvergence passes converged agents and reports an agent whose table differs', () => {
    expect(checkConvergence(controller, agentsOf(cluster))).toBeUndefined();
    // The controller of a fresh cluster holds the disk as created: thin, before any write located it.
    const fresh = createCluster(config);
    expect(checkConvergence(fresh.controllerState(), agentsOf(cluster))).toMatchObject({ kind: 'no-convergence', message: expect.stringContaining("a0's table of d differs") });
  });

  it('checkFinalTables passes the tables of a run and reports extents past the end of a LUN', () => {
    expect(checkFinalTables(controller, new Map([['d', 'd']]), LUNS)).toBeUndefined();
    expect(checkFinalTables(controller, new Map([['d', 'd']]), { 1: 1, 2: 1 })).toMatchObject({ kind: 'table-check' });
  });

  it('checkContent reports a block that does not read back as its model or snapshot image says', () => {
    const blocks = new LunBlocks(LUNS);
    // Blank storage reads back as a never-written disk.
    expect(checkContent(controller, new Map([['d', new DiskModel(128)]]), new Map(), blocks)).toBeUndefined();
    // A block the run located, said by the model to hold 5.
    const seg = Array.from({ length: committed.segmentCount }, (_, i) => i).find((i) => entryAt(committed, i).location !== null && !entryAt(committed, i).error);
    expect(seg).toBeDefined();
    const block = seg! * 8 + 3;
    const written = new DiskModel(128);
    written.writeStarted(block, 1);
    written.writeAcknowledged(block, 1, 5);
    expect(checkContent(controller, new Map([['d', written]]), new Map(), blocks)).toEqual({ kind: 'lost-write', message: `d block ${block} holds 0, expected 5` });
    expect(checkContent(controller, new Map(), new Map([['d', written]]), blocks)).toEqual({ kind: 'snapshot-changed', message: `d block ${block} holds 0, expected 5` });
    // Once storage holds the value where the table maps the block, the disk reads back right.
    const pieces = translate(committed, { op: 'read', start: block, length: 1 });
    if (E.isLeft(pieces)) throw new Error('a located segment must translate');
    blocks.write(pieces.right[0]!, 5);
    expect(checkContent(controller, new Map([['d', written]]), new Map(), blocks)).toBeUndefined();
  });
});

describe('FrozenPrimaries', () => {
  it('reports a write to a primary frozen by a snapshot once every agent acknowledged it, and nothing elsewhere', () => {
    const cluster = ranCluster(0, [
      ...Array.from({ length: 16 }, (_, i) => ({ at: 1 + i, action: { type: 'hostIo' as const, agent: i % 2, disk: 'd', op: 'write' as const, start: i * 8, length: 8 } })),
      { at: 200, action: { type: 'snapshot', disk: 'd', snapshot: 's' } },
    ]);
    const controller = cluster.controllerState();
    const table = controller.disks.get('d')!.committed;
    const frozen = new FrozenPrimaries();
    frozen.resetFrom(new Map([['d', table]]));
    const seg = Array.from({ length: table.segmentCount }, (_, i) => i).find((i) => entryAt(table, i).noWrite && entryAt(table, i).location !== null);
    expect(seg).toBeDefined();
    const location = entryAt(table, seg!).location!;
    const model = new DiskModel(128);
    const io: HostIo = { id: 1, submittedAt: 0, agent: 1, epoch: 1, disk: 'd', op: 'write', start: seg! * 8, length: 1, value: 7, seen: null, data: null, model };
    const onPrimary = { kind: 'primary' as const, virtualStart: seg! * 8, length: 1, lun: location.lun, start: location.start };
    expect(frozen.checkWrite(controller, io, onPrimary)).toMatchObject({ kind: 'frozen-primary-write', message: expect.stringContaining(`segment ${seg} of d`) });
    // The same write elsewhere on the LUN breaks nothing.
    expect(frozen.checkWrite(controller, io, { ...onPrimary, lun: location.lun === 1 ? 2 : 1 })).toBeUndefined();
    // Nor does anything when no segment is frozen.
    expect(new FrozenPrimaries().checkWrite(controller, io, onPrimary)).toBeUndefined();
  });
});

describe('checkFreeReferenced and the reference counts of checkFinalTables', () => {
  // A run with a snapshot, then the source overwritten, discarded and deleted: shared and
  // exclusive extents, some released.
  const cluster = ranCluster(200, [
    { at: 50, action: { type: 'snapshot', disk: 'd', snapshot: 's' } },
    { at: 150, action: { type: 'hostIo', agent: 0, disk: 'd', op: 'zero', start: 0, length: 64 } },
    { at: 400, action: { type: 'deleteDisk', disk: 'd', force: true } },
  ]);
  const controller = cluster.controllerState();
  const snapshot = controller.disks.get('s')!.committed;
  const located = Array.from({ length: snapshot.segmentCount }, (_, seg) => entryAt(snapshot, seg).location).filter((x) => x !== null);
  const shared = { lun: located[0]!.lun, start: located[0]!.start, length: snapshot.segmentBlocks };
  const families = new Map([['d', 'd'], ['s', 'd']]);

  it('pass a healthy run in which a snapshot outlived its deleted source', () => {
    expect(located.length).toBeGreaterThan(0);
    expect(checkFreeReferenced(controller)).toBeUndefined();
    expect(checkFinalTables(controller, families, LUNS)).toBeUndefined();
  });

  it('report a release that ignored the reference count: the extent is free while the snapshot holds it', () => {
    const broken = { ...controller, allocator: E.getOrElseW(() => { throw new Error('release refused'); })(controller.allocator.release(shared)) };
    expect(checkFreeReferenced(broken)).toEqual({
      kind: 'free-while-referenced',
      message: expect.stringContaining(`LUN ${shared.lun} blocks ${shared.start}..${shared.start + shared.length - 1}, held by a reference count, are free in the allocator`),
    });
  });

  it('report a count decremented once too often (undercount) and a count nobody holds (leak)', () => {
    const under = { ...controller, refs: E.getOrElseW(() => { throw new Error('decrement refused'); })(R.decrement(controller.refs, shared))[0] };
    expect(checkFinalTables(under, families, LUNS)?.message).toMatch(/^reference-undercount/);
    const leaked = { ...controller, refs: R.increment(controller.refs, { lun: 2, start: 2000, length: 8 }) };
    expect(checkFinalTables(leaked, families, LUNS)?.message).toMatch(/^reference-leak: LUN 2 blocks 2000..2007/);
  });
});
