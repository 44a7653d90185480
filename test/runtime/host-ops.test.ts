/**
 * Host operations (discard, write-zeroes) and administrative operations (deleteDisk, rollback,
 * space accounting, low-water mark) through the runtimes over the in-memory adapters.
 */
import { describe, expect, it } from 'vitest';
import { checkTables } from '../../src/check/check.js';
import { entries } from '../../src/controller/refcounts.js';
import { spaceByDisk, spaceByLun } from '../../src/controller/space.js';
import type { ControllerState } from '../../src/controller/types.js';
import type { AgentRuntime } from '../../src/runtime/agent-runtime.js';
import type { ControllerRuntime } from '../../src/runtime/controller-runtime.js';
import { entryAt } from '../../src/table/table.js';
import { BS, makeEnv, microtasks, round, startAgent, startController, type Env } from './harness.js';

const LUNS = { 1: 256, 2: 256 };
const SB = 4; // blocks per segment
const SEGMENTS = 8;
const ok = { ok: true } as const;

const settle = async <T>(env: Env, p: Promise<T>, maxRounds = 1000): Promise<T> => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await microtasks();
  for (let i = 0; i < maxRounds && !done; i++) await round(env);
  if (!done) throw new Error(`no progress after ${maxRounds} rounds`);
  return p;
};

const quiet = async (env: Env): Promise<void> => {
  for (let i = 0; i < 30; i++) await round(env);
};

const fill = (value: number, blocks: number): Uint8Array => new Uint8Array(blocks * BS).fill(value);

/** The value every block of a read holds (each block uniform), for compact comparisons. */
const values = (data: Uint8Array): number[] => Array.from({ length: data.length / BS }, (_, k) => data[k * BS]!);

const setup = async (agents: ReadonlyArray<string> = ['a'], config = {}) => {
  const env = makeEnv({ luns: LUNS });
  const controller = await startController(env, config);
  const nodes = agents.map((a) => startAgent(env, a));
  expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: SB, segmentCount: SEGMENTS }))).toEqual(ok);
  for (const a of agents) expect(await settle(env, controller.admin({ type: 'attachAgent', disk: 'd', agent: a }))).toEqual(ok);
  return { env, controller, nodes };
};

/** The tables are consistent with the reference counts, and no referenced extent is free. */
const expectConsistent = (state: ControllerState): void => {
  const tables = new Map([...state.disks].map(([disk, d]) => [disk, d.committed]));
  const report = checkTables(tables, { lunSizes: LUNS, sharing: [[...tables.keys()]], references: entries(state.refs) });
  expect(report.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  const used = entries(state.refs).reduce((n, r) => n + r.length, 0);
  expect(state.allocator.free()).toBe(512 - used);
};

const attach = async (env: Env, controller: ControllerRuntime, disk: string, agent: string): Promise<void> => {
  expect(await settle(env, controller.admin({ type: 'attachAgent', disk, agent }))).toEqual(ok);
};

const readAll = async (env: Env, node: AgentRuntime, disk: string, blocks = SB * SEGMENTS): Promise<number[]> => values(await settle(env, node.read(disk, 0, blocks)));

describe('discard and write-zeroes', () => {
  it('whole segments become zero and release their space; partial segments are written as zeros; the rest is untouched', async () => {
    const { env, controller, nodes: [a, b] } = await setup(['a', 'b']);
    await settle(env, a!.write('d', 0, fill(7, SB * SEGMENTS)));
    const before = controller.state().allocator.free();
    // Blocks 2..13: the end of segment 0, segments 1 and 2 whole, the start of segment 3.
    await settle(env, a!.discard('d', 2, 12));
    const expected = Array.from({ length: SB * SEGMENTS }, (_, b) => (b >= 2 && b < 14 ? 0 : 7));
    expect(await readAll(env, a!, 'd')).toEqual(expected);
    await quiet(env);
    const t = controller.state().disks.get('d')!.committed;
    expect([0, 1, 2, 3].map((seg) => entryAt(t, seg).zero)).toEqual([false, true, true, false]);
    expect(controller.state().allocator.free()).toBe(before + 2 * SB);
    expect(env.commands.filter((c) => c.type === 'released')).toHaveLength(2);
    // The other agent reads the same.
    expect(await readAll(env, b!, 'd')).toEqual(expected);
    expectConsistent(controller.state());
  });

  it('writeZeros has the same effect; on an unwritten disk it allocates nothing', async () => {
    const { env, controller, nodes: [a] } = await setup();
    await settle(env, a!.writeZeros('d', 0, SB * SEGMENTS));
    expect(controller.state().allocator.free()).toBe(512);
    await settle(env, a!.write('d', 4, fill(3, 6)));
    await settle(env, a!.writeZeros('d', 5, 4));
    expect((await readAll(env, a!, 'd')).slice(0, 12)).toEqual([0, 0, 0, 0, 3, 0, 0, 0, 0, 3, 0, 0]);
    expectConsistent(controller.state());
  });

  it('blocks a snapshot shares stay: the snapshot still reads them, and only the disk loses its reference', async () => {
    const { env, controller, nodes: [a] } = await setup();
    await settle(env, a!.write('d', 0, fill(5, SB * SEGMENTS)));
    expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's' }))).toEqual(ok);
    const before = controller.state().allocator.free();
    await settle(env, a!.discard('d', 0, SB * SEGMENTS));
    expect(await readAll(env, a!, 'd')).toEqual(new Array(SB * SEGMENTS).fill(0));
    await quiet(env);
    expect(controller.state().allocator.free()).toBe(before); // every extent is still the snapshot's
    await attach(env, controller, 's', 'a');
    expect(await readAll(env, a!, 's')).toEqual(new Array(SB * SEGMENTS).fill(5));
    // A partial discard of the snapshot's shared segment copies on write first.
    await settle(env, a!.write('d', 0, fill(6, 2)));
    expect((await readAll(env, a!, 's')).slice(0, 4)).toEqual([5, 5, 5, 5]);
    expectConsistent(controller.state());
  });

  it('partial discards of a no-write segment copy on write; the snapshot keeps its data', async () => {
    const { env, controller, nodes: [a] } = await setup();
    await settle(env, a!.write('d', 0, fill(9, 8)));
    expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's' }))).toEqual(ok);
    await settle(env, a!.discard('d', 1, 2));
    expect((await readAll(env, a!, 'd')).slice(0, 8)).toEqual([9, 0, 0, 9, 9, 9, 9, 9]);
    await attach(env, controller, 's', 'a');
    expect((await readAll(env, a!, 's')).slice(0, 8)).toEqual([9, 9, 9, 9, 9, 9, 9, 9]);
    await quiet(env);
    expectConsistent(controller.state());
  });

  it('refuses with a clear error: unknown disk, out of range, zero length, malformed, a failed segment', async () => {
    const { env, controller, nodes: [a] } = await setup();
    await expect(settle(env, a!.discard('nope', 0, 4))).rejects.toThrow(/discard of 4 blocks at block 0 of disk "nope".*unknown disk nope/);
    await expect(settle(env, a!.discard('d', 30, 4))).rejects.toThrow(/out of range: start 30 length 4 ends past the 32 blocks/);
    await expect(settle(env, a!.writeZeros('d', 0, 0))).rejects.toThrow(/write-zeroes.*length.*must be at least 1/);
    await expect(settle(env, a!.discard('d', -1, 2))).rejects.toThrow(/start.*non-negative/);
    await settle(env, a!.write('d', 8, fill(1, SB)));
    const where = entryAt(controller.state().disks.get('d')!.committed, 2).location!;
    expect(await settle(env, controller.admin({ type: 'markFailed', lun: where.lun, start: where.start, length: 1 }))).toEqual(ok);
    await expect(settle(env, a!.discard('d', 8, 4))).rejects.toThrow(/segment 2 is marked failed/);
    await expect(settle(env, a!.discard('d', 6, 4))).rejects.toThrow(/segment 2 is marked failed/);
    // Other segments are unaffected.
    await settle(env, a!.discard('d', 0, 8));
  });

  it('survives message loss and duplication: a re-sent request never zeroes data written after it', async () => {
    const env = makeEnv({ luns: LUNS, seed: 5, dropRate: 0.2, duplicateRate: 0.3, maxDelay: 3 });
    const controller = await startController(env);
    const a = startAgent(env, 'a');
    expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: SB, segmentCount: SEGMENTS }))).toEqual(ok);
    await attach(env, controller, 'd', 'a');
    for (let i = 1; i <= 6; i++) {
      await settle(env, a.write('d', 0, fill(i, SB * 2)));
      await settle(env, a.discard('d', 0, SB));
      await settle(env, a.write('d', 0, fill(i + 10, 1)));
      for (let r = 0; r < 10; r++) await round(env); // let late duplicates arrive
      expect((await readAll(env, a, 'd')).slice(0, 8)).toEqual([i + 10, 0, 0, 0, i, i, i, i]);
    }
    await quiet(env);
    expectConsistent(controller.state());
  });
});

describe('deleteDisk', () => {
  it('is refused while agents are attached; with force it detaches them first; space goes back', async () => {
    const { env, controller, nodes: [a] } = await setup(['a', 'b']);
    await settle(env, a!.write('d', 0, fill(4, SB * SEGMENTS)));
    const refused = await settle(env, controller.admin({ type: 'deleteDisk', disk: 'd' }));
    expect(refused).toEqual({ ok: false, error: 'disk d has agents attached (a, b): detach them first, or delete with force' });
    expect(await settle(env, controller.admin({ type: 'deleteDisk', disk: 'd', force: true }))).toEqual(ok);
    expect(controller.state().disks.has('d')).toBe(false);
    expect(controller.state().allocator.free()).toBe(512);
    // Only the generation floor is left: a disk created later starts above every generation d reached.
    expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'probe', segmentBlocks: SB, segmentCount: 1 }))).toEqual(ok);
    const generation = controller.state().disks.get('probe')!.committed.generation;
    expect(generation).toBeGreaterThan(0);
    expect(await env.persistence.load()).toMatchObject({ attachments: [], generationFloor: generation });
    await expect(settle(env, a!.read('d', 0, 1))).rejects.toThrow(/unknown disk d/);
    expect(await settle(env, controller.admin({ type: 'deleteDisk', disk: 'd' }))).toEqual({ ok: false, error: 'unknown disk "d"' });
  });

  it('snapshot families keep working in any deletion order', async () => {
    for (const order of [['d', 's1', 's2'], ['s1', 'd', 's2'], ['s2', 's1', 'd'], ['s1', 's2', 'd']]) {
      const { env, controller, nodes: [a] } = await setup();
      await settle(env, a!.write('d', 0, fill(1, SB * SEGMENTS)));
      expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's1' }))).toEqual(ok);
      await settle(env, a!.write('d', 0, fill(2, SB * 4)));
      expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's2' }))).toEqual(ok);
      await settle(env, a!.write('d', 8, fill(3, SB * 4)));
      const images: Record<string, number[]> = {
        d: [...new Array(8).fill(2), ...new Array(16).fill(3), ...new Array(8).fill(1)],
        s1: new Array(32).fill(1),
        s2: [...new Array(16).fill(2), ...new Array(16).fill(1)],
      };
      await attach(env, controller, 's1', 'a');
      await attach(env, controller, 's2', 'a');
      const left = new Set(['d', 's1', 's2']);
      for (const victim of order) {
        expect(await settle(env, controller.admin({ type: 'deleteDisk', disk: victim, force: true }))).toEqual(ok);
        left.delete(victim);
        await quiet(env);
        for (const disk of left) expect(await readAll(env, a!, disk)).toEqual(images[disk]);
        expectConsistent(controller.state());
      }
      expect(controller.state().allocator.free()).toBe(512);
      controller.stop();
      a!.stop();
    }
  });

  it('persists: a restarted controller does not know the disk, and its space is free', async () => {
    const { env, controller, nodes: [a] } = await setup();
    await settle(env, a!.write('d', 0, fill(4, 8)));
    expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'e', segmentBlocks: SB, segmentCount: 2 }))).toEqual(ok);
    expect(await settle(env, controller.admin({ type: 'deleteDisk', disk: 'd', force: true }))).toEqual(ok);
    controller.stop();
    const again = await startController(env);
    await quiet(env);
    expect([...again.state().disks.keys()]).toEqual(['e']);
    expect(again.state().allocator.free()).toBe(512);
  });
});

describe('rollback', () => {
  it('the disk reads as the snapshot again, sharing its extents; later writes copy on write and leave the snapshot alone', async () => {
    const { env, controller, nodes: [a] } = await setup(['a', 'b']);
    await settle(env, a!.write('d', 0, fill(1, SB * 4)));
    expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's' }))).toEqual(ok);
    await settle(env, a!.write('d', 0, fill(2, SB * SEGMENTS)));
    const usedBefore = controller.state().allocator.free();
    expect(await settle(env, controller.admin({ type: 'rollback', disk: 'd', snapshot: 's' }))).toEqual(ok);
    const image = [...new Array(16).fill(1), ...new Array(16).fill(0)];
    expect(await readAll(env, a!, 'd')).toEqual(image);
    await quiet(env);
    // Nothing copied: the disk's own 8 segments went back, the snapshot's 4 are shared.
    expect(controller.state().allocator.free()).toBe(usedBefore + SEGMENTS * SB);
    const [d, s] = spaceByDisk(controller.state());
    expect(d).toMatchObject({ disk: 'd', allocated: 16, exclusive: 0, shared: 16 });
    expect(s).toMatchObject({ disk: 's', allocated: 16, exclusive: 0, shared: 16 });
    await settle(env, a!.write('d', 2, fill(8, 1)));
    await attach(env, controller, 's', 'a');
    expect(await readAll(env, a!, 's')).toEqual(image);
    expect((await readAll(env, a!, 'd')).slice(0, 4)).toEqual([1, 1, 8, 1]);
    expectConsistent(controller.state());
  });

  it('refuses with clear errors: unknown disk or snapshot, the disk itself, a snapshot written since', async () => {
    const { env, controller, nodes: [a] } = await setup();
    expect(await settle(env, controller.admin({ type: 'rollback', disk: 'x', snapshot: 'd' }))).toEqual({ ok: false, error: 'unknown disk "x"' });
    expect(await settle(env, controller.admin({ type: 'rollback', disk: 'd', snapshot: 'y' }))).toEqual({ ok: false, error: 'snapshot must be another existing disk, got "y"' });
    expect(await settle(env, controller.admin({ type: 'rollback', disk: 'd', snapshot: 'd' }))).toEqual({ ok: false, error: 'snapshot must be another existing disk, got "d"' });
    expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's' }))).toEqual(ok);
    await attach(env, controller, 's', 'a');
    await settle(env, a!.write('s', 4, fill(1, 1)));
    const r = await settle(env, controller.admin({ type: 'rollback', disk: 'd', snapshot: 's' }));
    expect(r).toEqual({ ok: false, error: 'rollback of d: snapshot s has segment 1 written since it was taken; rollback needs a read-only snapshot' });
    // The disk is not left frozen.
    await settle(env, a!.write('d', 0, fill(2, 1)));
  });

  it('to a snapshot of another size resizes the disk to it', async () => {
    const { env, controller, nodes: [a] } = await setup();
    await settle(env, a!.write('d', 0, fill(1, 4)));
    expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's' }))).toEqual(ok);
    expect(await settle(env, controller.admin({ type: 'resize', disk: 'd', segmentCount: 12 }))).toEqual(ok);
    await settle(env, a!.write('d', 40, fill(2, 4)));
    expect(await settle(env, controller.admin({ type: 'rollback', disk: 'd', snapshot: 's' }))).toEqual(ok);
    expect(controller.state().disks.get('d')!.committed.segmentCount).toBe(SEGMENTS);
    expect((await readAll(env, a!, 'd')).slice(0, 5)).toEqual([1, 1, 1, 1, 0]);
    await quiet(env);
    expectConsistent(controller.state());
  });
});

describe('space accounting', () => {
  it('per LUN and per disk, as pure queries; lowSpace when a LUN crosses the low-water mark', async () => {
    const { env, controller, nodes: [a] } = await setup(['a'], { lowWaterMark: 250 });
    expect(spaceByLun(controller.state())).toEqual([
      { lun: 1, size: 256, used: 0, free: 256 },
      { lun: 2, size: 256, used: 0, free: 256 },
    ]);
    await settle(env, a!.write('d', 0, fill(1, SB)));
    expect(env.commands.filter((c) => c.type === 'lowSpace')).toEqual([]);
    await settle(env, a!.write('d', 4, fill(1, 3 * SB)));
    expect(env.commands.filter((c) => c.type === 'lowSpace')).toEqual([{ type: 'lowSpace', lun: 1, free: 248, size: 256, lowWaterMark: 250 }]);
    expect(spaceByLun(controller.state())[0]).toEqual({ lun: 1, size: 256, used: 16, free: 240 });
    expect(spaceByDisk(controller.state())).toEqual([{ disk: 'd', segmentBlocks: SB, segmentCount: SEGMENTS, allocated: 16, exclusive: 16, shared: 0 }]);
    // Staying low is not a new crossing; rising above and falling again is.
    await settle(env, a!.write('d', 16, fill(1, SB)));
    expect(env.commands.filter((c) => c.type === 'lowSpace')).toHaveLength(1);
    await settle(env, a!.discard('d', 0, SB * SEGMENTS));
    await quiet(env);
    await settle(env, a!.write('d', 0, fill(1, 2 * SB)));
    expect(env.commands.filter((c) => c.type === 'lowSpace')).toHaveLength(2);
  });
});
