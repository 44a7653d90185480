/**
 * Tests for src/runtime: the controller and agent runtimes driving the machines over the
 * in-memory adapters. Time and delivery move only when the test says so (`settle`): messages by
 * `network.deliverAll()`, timers by `clock.advance()`, adapter promises by draining microtasks.
 * No real timers, no sleeps.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPrng } from '../../src/adapters/prng.js';
import type { Transport } from '../../src/adapters/types.js';
import { agentTable } from '../../src/agent/agent.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerCommand } from '../../src/controller/types.js';
import { createAgent } from '../../src/runtime/agent-runtime.js';
import { createController } from '../../src/runtime/controller-runtime.js';
import { createBatchQueue, createSerialQueue } from '../../src/runtime/serial.js';
import { entryAt } from '../../src/table/table.js';
import type { Variant } from '../../src/translate/translate.js';
import { BS, makeEnv as makeMemoryEnv, microtasks, right, round, startAgent, startController, TICK, type Env } from './harness.js';

// ---------------------------------------------------------------------------------------------
// Harness

const LUNS = { 1: 512, 2: 512 };

const makeEnv = (net: { seed?: number; dropRate?: number; duplicateRate?: number; maxDelay?: number } = {}, variant: Variant = 'centralized'): Env =>
  makeMemoryEnv({ luns: LUNS, variant, ...net });

/**
 * Runs rounds until `until` settles (a promise) or holds (a predicate); without `until`, runs
 * `quiet` rounds. Fails loudly instead of hanging.
 */
const settle = async <T = void>(env: Env, until?: Promise<T> | (() => boolean), maxRounds = 1000): Promise<T> => {
  if (until === undefined) {
    for (let i = 0; i < 30; i++) await round(env);
    return undefined as T;
  }
  let done = false;
  const check = typeof until === 'function' ? until : () => done;
  if (typeof until !== 'function') until.then(() => (done = true), () => (done = true));
  await microtasks();
  for (let i = 0; i < maxRounds && !check(); i++) await round(env);
  if (!check()) throw new Error(`no progress after ${maxRounds} rounds`);
  return typeof until === 'function' ? (undefined as T) : until;
};

/** `blocks` blocks whose bytes say which write (`tag`) and which disk block they are. */
const pattern = (tag: number, start: number, blocks: number): Uint8Array => {
  const out = new Uint8Array(blocks * BS);
  for (let k = 0; k < blocks; k++) {
    const b = out.subarray(k * BS, (k + 1) * BS);
    new DataView(b.buffer, b.byteOffset).setUint32(0, tag, true);
    new DataView(b.buffer, b.byteOffset).setUint32(4, start + k, true);
    b.fill((tag * 31 + start + k) & 0xff, 8);
  }
  return out;
};

/** The write tag a block holds (0: zeros); throws on a torn or foreign block. */
const tagOf = (data: Uint8Array, k: number, block: number): number => {
  const b = data.subarray(k * BS, (k + 1) * BS);
  const tag = new DataView(b.buffer, b.byteOffset).getUint32(0, true);
  if (tag === 0) {
    if (b.some((x) => x !== 0)) throw new Error(`block ${block} is neither zeros nor a whole write`);
    return 0;
  }
  const expected = pattern(tag, block, 1);
  if (!b.every((x, i) => x === expected[i])) throw new Error(`block ${block} is torn or misplaced (tag ${tag})`);
  return tag;
};

const ok = { ok: true } as const;

/** A controller and agents with disk `d` (8 segments of 4 blocks) mapped by each of them. */
const cluster = async (env: Env, agents: ReadonlyArray<string>, disk = 'd') => {
  const controller = await startController(env);
  const nodes = agents.map((a) => startAgent(env, a));
  expect(await settle(env, controller.admin({ type: 'createDisk', disk, segmentBlocks: 4, segmentCount: 8 }))).toEqual(ok);
  for (const a of agents) expect(await settle(env, controller.admin({ type: 'attachAgent', disk, agent: a }))).toEqual(ok);
  return { controller, nodes };
};

const resolutions = (env: Env) => env.commands.filter((c): c is Extract<ControllerCommand, { type: 'resolved' }> => c.type === 'resolved');

// ---------------------------------------------------------------------------------------------

describe('serial queue', () => {
  it('handles re-entrant pushes one at a time, in arrival order, and survives a throwing handler', () => {
    const log: string[] = [];
    const q = createSerialQueue<number>((n) => {
      log.push(`start ${n}`);
      if (n === 1) {
        q.push(2);
        q.push(3);
      }
      if (n === 2) throw new Error('boom');
      log.push(`end ${n}`);
    });
    expect(() => q.push(1)).toThrow('boom');
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'start 3', 'end 3']);
    q.push(4);
    expect(log.at(-1)).toBe('end 4');
    q.close();
    q.push(5);
    expect(log.at(-1)).toBe('end 4');
  });
});

describe('batch queue', () => {
  it('hands over everything queued at once, in the order of a serial queue (any re-entrant pushes)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat({ max: 30 }), { maxLength: 3 }), { minLength: 1, maxLength: 30 }), (children) => {
        // Event n pushes children[n] (numbers above n only, so it ends) while it is handled.
        const kids = (n: number): number[] => (children[n] ?? []).map((k) => n + 1 + k).filter((k) => k < children.length);
        const serial: number[] = [];
        const sq = createSerialQueue<number>((n) => {
          serial.push(n);
          for (const k of kids(n)) sq.push(k);
        });
        const batched: number[] = [];
        const sizes: number[] = [];
        const bq = createBatchQueue<number>((events) => {
          sizes.push(events.length);
          for (const n of events) {
            batched.push(n);
            for (const k of kids(n)) bq.push(k);
          }
        });
        sq.push(0);
        bq.push(0);
        expect(batched).toEqual(serial);
        expect(sizes[0]).toBe(1); // a lone event is handled at once, alone
        expect(sizes.every((n) => n > 0)).toBe(true);
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(serial.length);
      }),
      { numRuns: 200 },
    );
  });

  it('survives a throwing handler: the events queued meanwhile are still handled, then the error is rethrown', () => {
    const log: number[][] = [];
    const q = createBatchQueue<number>((events) => {
      log.push(events);
      if (events[0] === 1) {
        q.push(2);
        q.push(3);
        throw new Error('boom');
      }
    });
    expect(() => q.push(1)).toThrow('boom');
    expect(log).toEqual([[1], [2, 3]]);
    q.close();
    q.push(4);
    expect(log).toEqual([[1], [2, 3]]);
  });
});

describe('runtimes over in-memory adapters', () => {
  it('1. two agents share a disk: writes through one are read through the other; unwritten blocks read as zeros; faulting I/O is held', async () => {
    const env = makeEnv();
    const {
      nodes: [a, b],
    } = await cluster(env, ['a', 'b']);
    const data = pattern(1, 2, 6); // blocks 2..7: segments 0 and 1
    await settle(env, a!.write('d', 2, data));
    expect(await settle(env, b!.read('d', 2, 6))).toEqual(data);
    expect(await settle(env, b!.read('d', 12, 8))).toEqual(new Uint8Array(8 * BS));
    // A read across written and never-written blocks, through the writer.
    const mixed = await settle(env, a!.read('d', 0, 10));
    expect(mixed.subarray(0, 2 * BS)).toEqual(new Uint8Array(2 * BS));
    expect(mixed.subarray(2 * BS, 8 * BS)).toEqual(data);
    expect(mixed.subarray(8 * BS)).toEqual(new Uint8Array(2 * BS));

    // Held, not failed: with the controller cut off, a faulting write waits; it completes once healed.
    env.network.cut('controller');
    let settled = false;
    const held = b!.write('d', 20, pattern(2, 20, 4)).finally(() => (settled = true));
    for (let i = 0; i < 20; i++) await round(env);
    expect(settled).toBe(false);
    expect(b!.state().ios.size).toBe(1);
    env.network.heal('controller');
    await settle(env, held);
    expect(await settle(env, a!.read('d', 20, 4))).toEqual(pattern(2, 20, 4));
  });

  it('rejects malformed host requests with clear errors', async () => {
    const env = makeEnv();
    const {
      nodes: [a],
    } = await cluster(env, ['a']);
    await expect(a!.write('d', 0, new Uint8Array(BS + 3))).rejects.toThrow(`data length ${BS + 3} bytes is not a multiple of the block size (${BS} bytes)`);
    await expect(settle(env, a!.read('d', -1, 2))).rejects.toThrow(/read of 2 blocks at block -1 of disk "d" through agent "a" failed: invalid request: start/);
    await expect(settle(env, a!.read('d', 30, 4))).rejects.toThrow(/out of range/);
    await expect(settle(env, a!.read('nope', 0, 1))).rejects.toThrow(/disk "nope".*unknown disk nope/);
    expect(() => createAgent({ storage: env.storage, transport: env.network.transport('x'), clock: env.clock }, { agent: '', epoch: -1 })).toThrow(/agent must be a non-empty string.*epoch must be/);
  });

  it('works over a transport that delivers synchronously inside send (re-entrant callbacks)', async () => {
    const env = makeEnv();
    const handlers = new Map<string, (from: string, message: unknown) => void>();
    const transport = <Out, In>(peer: string): Transport<Out, In> => ({
      send: (to, message) => handlers.get(to)?.(peer, structuredClone(message)),
      onMessage: (handler) => void handlers.set(peer, handler as (from: string, message: unknown) => void),
    });
    const controller = await createController(
      { storage: env.storage, transport: transport('controller'), persistence: env.persistence, clock: env.clock, allocator: right(createAllocator(LUNS)) },
      { tickInterval: TICK },
    );
    const [a, b] = ['a', 'b'].map((agent) => createAgent({ storage: env.storage, transport: transport(agent), clock: env.clock }, { agent, epoch: 1, tickInterval: TICK }));
    expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 }))).toEqual(ok);
    for (const agent of ['a', 'b']) expect(await settle(env, controller.admin({ type: 'attachAgent', disk: 'd', agent }))).toEqual(ok);
    const data = pattern(1, 3, 7);
    await settle(env, a!.write('d', 3, data));
    expect(await settle(env, b!.read('d', 3, 7))).toEqual(data);
    await settle(env, b!.write('d', 4, pattern(2, 4, 2)));
    expect((await settle(env, a!.read('d', 3, 7))).subarray(BS, 3 * BS)).toEqual(pattern(2, 4, 2));
  });

  it('2. a write to a snapshot-shared segment faults and is resolved; the snapshot keeps its content', async () => {
    const env = makeEnv();
    const {
      controller,
      nodes: [a, b],
    } = await cluster(env, ['a', 'b']);
    const original = pattern(1, 0, 8);
    await settle(env, a!.write('d', 0, original));
    expect(await settle(env, controller.admin({ type: 'snapshot', disk: 'd', snapshot: 's' }))).toEqual(ok);
    const c = startAgent(env, 'c');
    expect(await settle(env, controller.admin({ type: 'attachAgent', disk: 's', agent: 'c' }))).toEqual(ok);

    const before = resolutions(env).length;
    const update = pattern(2, 2, 4); // blocks 2..5: half of segment 0, half of segment 1
    await settle(env, a!.write('d', 2, update));
    const noWrite = resolutions(env)
      .slice(before)
      .filter((r) => r.disk === 'd' && r.reason === 'no-write');
    expect(noWrite.length).toBeGreaterThan(0);
    expect(noWrite.every((r) => r.outcome === 'retry' && r.path.includes(570) && r.path.includes(595))).toBe(true);

    const expected = new Uint8Array(original);
    expected.set(update, 2 * BS);
    expect(await settle(env, b!.read('d', 0, 8))).toEqual(expected);
    expect(await settle(env, c.read('s', 0, 8))).toEqual(original);
    // Once background copies and promotions are over, both still read right.
    await settle(env, () => controller.state().jobs.size === 0);
    await settle(env);
    expect(await settle(env, a!.read('d', 0, 8))).toEqual(expected);
    expect(await settle(env, c.read('s', 0, 8))).toEqual(original);
    expect(env.commands.some((x) => x.type === 'copyBlocks')).toBe(true);
  });

  it.each(['centralized', 'distributed'] as const)('3. with a lossy, duplicating network, concurrent writes and reads across agents stay consistent (%s)', async (variant) => {
    const env = makeEnv({ seed: 42, dropRate: 0.1, duplicateRate: 0.1, maxDelay: 6 }, variant);
    const { controller, nodes } = await cluster(env, ['a', 'b', 'c']);
    const blocks = 32;
    const prng = createPrng(7);
    interface HostOp {
      readonly write: boolean;
      readonly tag: number;
      readonly start: number;
      readonly length: number;
      readonly issued: number;
      completed?: number;
      data?: Uint8Array;
      error?: unknown;
    }
    const ops: HostOp[] = [];
    let t = 0;
    let tags = 0;
    const total = 240;
    let migration: Promise<unknown> | null = null;
    const issue = (): void => {
      const node = nodes[prng.int(nodes.length)]!;
      const length = 1 + prng.int(6);
      const start = prng.int(blocks - length + 1);
      const write = prng.chance(0.5);
      const op: HostOp = { write, tag: write ? ++tags : 0, start, length, issued: ++t };
      ops.push(op);
      const p = write ? node.write('d', start, pattern(op.tag, start, length)).then(() => undefined) : node.read('d', start, length).then((d) => void (op.data = d));
      p.then(
        () => void (op.completed = ++t),
        (e: unknown) => {
          op.error = e;
          op.completed = ++t;
        },
      );
    };
    const open = () => ops.filter((o) => o.completed === undefined).length;
    for (let r = 0; ops.length < total || open() > 0; r++) {
      if (r > 20_000) throw new Error(`stuck: ${open()} host I/Os still open`);
      while (ops.length < total && open() < 8 && prng.chance(0.6)) issue();
      if (ops.length >= total / 2 && migration === null) migration = controller.admin({ type: 'migrate', disk: 'd', lun: 2 });
      await round(env);
    }
    expect(ops.filter((o) => o.error !== undefined).map((o) => String(o.error))).toEqual([]);
    expect(await settle(env, migration!)).toEqual(ok);

    const writes = ops.filter((o) => o.write);
    /** Tags a read of `block` over [issued, completed] may return, or null when a write overlapped it in time. */
    const allowed = (block: number, issued: number, completed: number): number[] | null => {
      const covering = writes.filter((w) => w.start <= block && block < w.start + w.length);
      if (covering.some((w) => w.issued < completed && w.completed! > issued)) return null;
      const before = covering.filter((w) => w.completed! < issued);
      const latest = before.filter((w) => !before.some((w2) => w2.issued > w.completed!));
      return latest.length === 0 ? [0] : latest.map((w) => w.tag);
    };
    let checked = 0;
    for (const r of ops.filter((o) => !o.write)) {
      for (let k = 0; k < r.length; k++) {
        const may = allowed(r.start + k, r.issued, r.completed!);
        if (may === null) continue;
        checked++;
        expect(may, `read of block ${r.start + k} issued at ${r.issued}`).toContain(tagOf(r.data!, k, r.start + k));
      }
    }
    expect(checked).toBeGreaterThan(150);

    // Quiet: every agent's copy converges, and every agent reads the final content.
    await settle(env, () => controller.state().jobs.size === 0);
    await settle(env);
    const generation = controller.state().disks.get('d')!.committed.generation;
    for (const node of nodes) expect(agentTable(node.state(), 'd')?.generation).toBe(generation);
    for (const node of nodes) {
      const all = await settle(env, node.read('d', 0, blocks));
      for (let b = 0; b < blocks; b++) expect(allowed(b, Infinity, Infinity)).toContain(tagOf(all, b, b));
    }
    expect(env.network.stats().dropped).toBeGreaterThan(0);
    expect(env.network.stats().duplicated).toBeGreaterThan(0);
  });

  it('4. a controller restart reloads the persisted tables and carries on', async () => {
    const env = makeEnv();
    const {
      controller,
      nodes: [a, b],
    } = await cluster(env, ['a', 'b']);
    const first = pattern(1, 0, 6);
    await settle(env, a!.write('d', 0, first));
    controller.stop();
    expect(await controller.admin({ type: 'createDisk', disk: 'e', segmentBlocks: 4, segmentCount: 1 })).toEqual({ ok: false, error: 'the controller is stopped' });

    const again = await startController(env);
    expect(again.state().disks.get('d')?.committed.generation).toBe(controller.state().disks.get('d')?.committed.generation);
    expect(await settle(env, b!.read('d', 0, 6))).toEqual(first);
    const second = pattern(2, 12, 4);
    await settle(env, b!.write('d', 12, second));
    expect(await settle(env, a!.read('d', 12, 4))).toEqual(second);

    // Restart in the middle of a fault: the old controller has the fault (and maybe persisted
    // its decision) but never answers; the agent re-sends and the new controller resolves it.
    const third = pattern(3, 24, 4);
    const pending = a!.write('d', 24, third);
    await microtasks();
    env.network.deliverAll();
    await microtasks(2);
    again.stop();
    const third_ = await startController(env);
    await settle(env, pending);
    expect(await settle(env, b!.read('d', 24, 4))).toEqual(third);
    expect(await settle(env, b!.read('d', 0, 6))).toEqual(first);
    await settle(env, () => third_.state().jobs.size === 0);
  });

  it('5b. an agent restarted with an epoch it used before fails its I/O with the reason instead of faulting for ever', async () => {
    const env = makeEnv();
    const {
      nodes: [a],
    } = await cluster(env, ['a', 'b']);
    await settle(env, a!.write('d', 4, pattern(1, 4, 8)));
    a!.stop();
    const refused: string[] = [];
    const again = createAgent(
      { storage: env.storage, transport: env.network.transport('a'), clock: env.clock },
      { agent: 'a', epoch: 1, faultTimeout: 50, tickInterval: TICK, onRefused: (why) => refused.push(why) }, // the same epoch: a configuration error
    );
    await expect(settle(env, again.read('d', 4, 8), 50)).rejects.toThrow(/epoch 1 of agent a is also used by another life.*restart with a higher epoch/);
    expect(again.state().fenced).toMatch(/also used by another life/);
    expect(refused).toHaveLength(1);
    await expect(settle(env, again.read('d', 0, 1), 5)).rejects.toThrow(/also used by another life/);
    // The controller side of refusing a reused epoch belongs to the controller; here the agent
    // only stops: nothing more is sent after the fence.
    const before = env.network.stats().sent;
    await settle(env);
    expect(env.network.stats().sent).toBe(before);
  });

  it('5. an agent restart loses its tables and recovers through faults', async () => {
    const env = makeEnv();
    const {
      nodes: [a, b],
    } = await cluster(env, ['a', 'b']);
    const data = pattern(1, 4, 8);
    await settle(env, a!.write('d', 4, data));
    expect(agentTable(a!.state(), 'd')).toBeDefined();

    // Host I/O still open when the life ends is rejected, not lost silently.
    env.network.cut('controller');
    const orphan = a!.write('d', 28, pattern(9, 28, 2));
    await round(env);
    a!.stop();
    await expect(orphan).rejects.toThrow(/agent "a" \(epoch 1\) stopped before it completed/);
    await expect(a!.read('d', 0, 1)).rejects.toThrow(/is stopped/);
    env.network.heal('controller');

    const a2 = startAgent(env, 'a', 2);
    expect(agentTable(a2.state(), 'd')).toBeUndefined();
    expect(await settle(env, a2.read('d', 4, 8))).toEqual(data);
    expect(agentTable(a2.state(), 'd')).toBeDefined();
    const more = pattern(2, 16, 4);
    await settle(env, a2.write('d', 16, more));
    expect(await settle(env, b!.read('d', 16, 4))).toEqual(more);
    expect(resolutions(env).some((r) => r.agent === 'a' && r.reason === 'no-table' && r.path.includes(585))).toBe(true);
  });

  it('6. storage failures reject the host I/O with a clear error; markFailed makes I/O to the segment fail', async () => {
    const env = makeEnv();
    const {
      controller,
      nodes: [a, b],
    } = await cluster(env, ['a', 'b']);
    await settle(env, a!.write('d', 0, pattern(1, 0, 4))); // fills segment 0: promoted to a primary
    const entry = entryAt(controller.state().disks.get('d')!.committed, 0);
    const where = entry.location!;

    right(env.storage.failNext({ lun: where.lun, op: 'write', count: 1 }));
    await expect(settle(env, a!.write('d', 0, pattern(2, 0, 4)))).rejects.toThrow(
      new RegExp(`write of 4 blocks at block 0 of disk "d" through agent "a" failed: write of ${4 * BS} bytes to LUN ${where.lun} .*injected fault`),
    );
    right(env.storage.failNext({ lun: where.lun, op: 'read', count: 1 }));
    await expect(settle(env, b!.read('d', 1, 2))).rejects.toThrow(/read of 2 blocks at block 1 of disk "d" through agent "b" failed: read of 2 blocks from LUN/);
    // The failures were one-off: the same I/O works again.
    await settle(env, a!.write('d', 0, pattern(3, 0, 4)));
    expect(await settle(env, b!.read('d', 0, 4))).toEqual(pattern(3, 0, 4));

    expect(await settle(env, controller.admin({ type: 'markFailed', lun: where.lun, start: where.start, length: 1 }))).toEqual(ok);
    await expect(settle(env, b!.read('d', 0, 4))).rejects.toThrow(/failed: error: segment 0 is marked failed/);
    await expect(settle(env, a!.write('d', 2, pattern(4, 2, 1)))).rejects.toThrow(/segment 0 is marked failed/);
    // Other segments are unaffected.
    await settle(env, a!.write('d', 4, pattern(5, 4, 4)));
    expect(await settle(env, b!.read('d', 4, 4))).toEqual(pattern(5, 4, 4));
  });

  it('7. a persistence failure delays a resolution but does not lose it, whether or not the failed save landed', async () => {
    const env = makeEnv();
    const {
      controller,
      nodes: [a, b],
    } = await cluster(env, ['a', 'b']);
    const persists = () => env.commands.filter((c) => c.type === 'persist').length;

    for (const [i, applied] of [false, true].entries()) {
      const start = 8 * i;
      const data = pattern(10 + i, start, 4);
      right(env.persistence.failNext(1, { applied }));
      const before = persists();
      let settled = false;
      const p = a!.write('d', start, data).finally(() => (settled = true));
      for (let r = 0; r < 3; r++) await round(env);
      expect(settled).toBe(false); // waiting for the retry after retryInterval
      await settle(env, p);
      expect(persists()).toBeGreaterThan(before + 1); // the failed batch was persisted again
      expect(await settle(env, b!.read('d', start, 4))).toEqual(data);
      const stored = env.persistence.table('d')!;
      expect(stored.generation).toBe(controller.state().disks.get('d')!.committed.generation);
      expect(entryAt(stored, start / 4).location).not.toBeNull();
    }

    // The store is what a restarted controller sees: everything is still there.
    controller.stop();
    await startController(env);
    expect(await settle(env, b!.read('d', 0, 4))).toEqual(pattern(10, 0, 4));
    expect(await settle(env, a!.read('d', 8, 4))).toEqual(pattern(11, 8, 4));
  });
});
