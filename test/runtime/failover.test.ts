/**
 * Tests of the runtimes' failover support: the controller epoch stamped on every message
 * (ControllerConfig.controllerEpoch), an agent following a new active controller at another
 * transport peer id (AgentRuntime.setController) and refusing the deposed one, and the optional
 * TablePersistence.saveBatch called once per persist command.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryPersistence } from '../../src/adapters/memory.js';
import type { PersistRecord, TablePersistence } from '../../src/adapters/types.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerCommand } from '../../src/controller/types.js';
import { createAgent } from '../../src/runtime/agent-runtime.js';
import { createController, type ControllerRuntimeConfig } from '../../src/runtime/controller-runtime.js';
import { BS, makeEnv, microtasks, right, round, TICK, type Env } from './harness.js';

const LUNS = { 1: 512, 2: 512 };
const ok = { ok: true } as const;

const settle = async <T>(env: Env, until: Promise<T>, maxRounds = 500): Promise<T> => {
  let done = false;
  until.then(() => (done = true), () => (done = true));
  await microtasks();
  for (let i = 0; i < maxRounds && !done; i++) await round(env);
  if (!done) throw new Error(`no progress after ${maxRounds} rounds`);
  return until;
};

const startAt = (env: Env, peer: string, config: ControllerRuntimeConfig = {}, persistence: TablePersistence = env.persistence) =>
  createController(
    { storage: env.storage, transport: env.network.transport(peer), persistence, clock: env.clock, allocator: right(createAllocator(env.luns)) },
    { variant: env.variant, retryInterval: 50, tickInterval: TICK, onCommand: (c) => env.commands.push(c), ...config },
  );

const sends = (commands: ReadonlyArray<ControllerCommand>) => commands.flatMap((c) => (c.type === 'send' ? [c.message] : []));
const block = (v: number, n = 1): Uint8Array => new Uint8Array(n * BS).fill(v);

describe('controller epoch on the runtimes', () => {
  it('every message of a controller with a controllerEpoch carries it; with none (0) none does', async () => {
    for (const controllerEpoch of [0, 4]) {
      const env = makeEnv({ luns: LUNS });
      const controller = await startAt(env, 'controller', { controllerEpoch });
      const agent = createAgent({ storage: env.storage, transport: env.network.transport('a'), clock: env.clock }, { agent: 'a', epoch: 1, faultTimeout: 50, tickInterval: TICK });
      expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 }))).toEqual(ok);
      expect(await settle(env, controller.admin({ type: 'attachAgent', disk: 'd', agent: 'a' }))).toEqual(ok);
      await settle(env, agent.write('d', 0, block(1, 6)));
      const messages = sends(env.commands);
      expect(messages.length).toBeGreaterThan(0);
      for (const m of messages) expect(m.controllerEpoch).toBe(controllerEpoch === 0 ? undefined : controllerEpoch);
      expect(agent.state().controllerEpoch ?? 0).toBe(controllerEpoch);
      controller.stop();
      agent.stop();
    }
  });

  it('rejects a malformed controllerEpoch at start', async () => {
    const env = makeEnv({ luns: LUNS });
    await expect(startAt(env, 'controller', { controllerEpoch: -1 })).rejects.toThrow(/controllerEpoch must be a non-negative safe integer, got -1/);
  });

  it('failover: a held write completes through a new controller at another peer id, and the deposed one is refused', async () => {
    const env = makeEnv({ luns: LUNS });
    const first = await startAt(env, 'ctl-1', { controllerEpoch: 1 });
    const refused: string[] = [];
    const agent = createAgent(
      { storage: env.storage, transport: env.network.transport('a'), clock: env.clock },
      { agent: 'a', epoch: 1, faultTimeout: 1_000_000, tickInterval: TICK, controller: 'ctl-1', onRefused: (why) => refused.push(why) },
    );
    expect(agent.controller()).toBe('ctl-1');
    expect(await settle(env, first.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 }))).toEqual(ok);
    expect(await settle(env, first.admin({ type: 'attachAgent', disk: 'd', agent: 'a' }))).toEqual(ok);
    await settle(env, agent.write('d', 0, block(1, 4)));

    // The active controller dies (stops answering) while a write to a hole is held behind its fault.
    first.stop();
    const held = agent.write('d', 8, block(2, 4));
    let done = false;
    void held.then(() => (done = true));
    for (let i = 0; i < 5; i++) await round(env);
    expect(done).toBe(false);

    // A standby takes over at another address with a higher epoch; the agent follows it. The
    // fault timeout is far away, so only the new epoch's immediate re-send can release the write.
    const second = await startAt(env, 'ctl-2', { controllerEpoch: 2 });
    agent.setController('ctl-2');
    await settle(env, held);
    expect(agent.state().controllerEpoch).toBe(2);
    expect(await settle(env, agent.read('d', 8, 4))).toEqual(block(2, 4));
    expect(await settle(env, agent.read('d', 0, 4))).toEqual(block(1, 4));

    // A message of the deposed controller's epoch, even from the current peer, is refused.
    env.network.transport('ctl-2').send('a', { type: 'failIo', epoch: 1, faultId: 1, reason: 'stale', controllerEpoch: 1 });
    for (let i = 0; i < 3; i++) await round(env);
    expect(refused.some((why) => /controllerEpoch 1 is older than controller epoch 2/.test(why))).toBe(true);
    expect(() => agent.setController('')).toThrow(/setController: peer must be a non-empty/);
    second.stop();
    agent.stop();
  });
});

describe('saveBatch', () => {
  it('a store with saveBatch gets one call per persist command, holding its records in order, and no save', async () => {
    const env = makeEnv({ luns: LUNS });
    const inner = createMemoryPersistence();
    const batches: PersistRecord[][] = [];
    let saves = 0;
    const store: TablePersistence = {
      load: () => inner.load(),
      save: async (r) => {
        saves++;
        await inner.save(r);
      },
      saveBatch: async (records) => {
        batches.push([...records]);
        for (const r of records) await inner.save(r);
      },
    };
    const controller = await startAt(env, 'controller', {}, store);
    const agent = createAgent({ storage: env.storage, transport: env.network.transport('a'), clock: env.clock }, { agent: 'a', epoch: 1, faultTimeout: 50, tickInterval: TICK });
    expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 }))).toEqual(ok);
    expect(await settle(env, controller.admin({ type: 'attachAgent', disk: 'd', agent: 'a' }))).toEqual(ok);
    await settle(env, Promise.all([agent.write('d', 0, block(1, 4)), agent.write('d', 4, block(2, 4)), agent.write('d', 20, block(3, 4))]));
    const commands = env.commands.flatMap((c) => (c.type === 'persist' ? [c.records] : []));
    expect(saves).toBe(0);
    expect(batches).toEqual(commands.map((r) => [...r]));
    // What the batches made durable is what a restarted controller serves.
    controller.stop();
    const again = await startAt(env, 'controller', {}, store);
    expect(again.state().disks.get('d')?.committed.generation).toBe(controller.state().disks.get('d')?.committed.generation);
    expect(await settle(env, agent.read('d', 20, 4))).toEqual(block(3, 4));
    again.stop();
    agent.stop();
  });
});
