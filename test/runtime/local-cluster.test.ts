/**
 * First use: the documented code works as written. With the network in `auto` delivery and a
 * real clock, `await agent.write(...)` finishes without the caller moving time or delivering
 * messages (with the manual adapters it used to leave the process with nothing to do: exit 13).
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAgent, createAllocator, createController, createLocalCluster, createMemoryNetwork, createMemoryPersistence, createMemoryStorage, createRealClock } from '../../src/index.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

describe('auto mode', () => {
  it('runs the doc-comment sequence of createController and createAgent by itself', async () => {
    const storage = right(createMemoryStorage({ blockSize: 16, luns: { 1: 1024, 2: 1024 } }));
    const network = right(createMemoryNetwork({ seed: 1, delivery: 'auto' }));
    const clock = createRealClock();
    const controller = await createController({ storage, transport: network.transport('controller'), persistence: createMemoryPersistence(), clock, allocator: right(createAllocator({ 1: 1024, 2: 1024 })) });
    expect(await controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 64 })).toEqual({ ok: true });
    expect(await controller.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' })).toEqual({ ok: true });
    const agent = createAgent({ storage, transport: network.transport('a1'), clock }, { agent: 'a1', epoch: 1 });
    await agent.write('vol', 16, new Uint8Array(2 * storage.blockSize).fill(7));
    expect(await agent.read('vol', 16, 2)).toEqual(new Uint8Array(32).fill(7));
    agent.stop();
    controller.stop();
  });

  it('refuses an unknown delivery mode', () => {
    const n = createMemoryNetwork({ seed: 1, delivery: 'sometimes' as never });
    expect(E.isLeft(n) && n.left[0]!.message).toMatch(/delivery must be 'manual' or 'auto'/);
  });
});

describe('createLocalCluster', () => {
  it('wires a controller and agents that survive restarts', async () => {
    const cluster = await createLocalCluster({ agents: ['a1', 'a2'], blockSize: 16, luns: { 1: 1024, 2: 1024 } });
    try {
      expect(await cluster.controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 8 })).toEqual({ ok: true });
      for (const a of cluster.agents) expect(await cluster.controller.admin({ type: 'attachAgent', disk: 'vol', agent: a })).toEqual({ ok: true });
      await cluster.agent('a1').write('vol', 3, new Uint8Array(16).fill(5));
      expect(await cluster.agent('a2').read('vol', 3, 1)).toEqual(new Uint8Array(16).fill(5));
      cluster.restartAgent('a2');
      await cluster.restartController();
      expect(await cluster.agent('a2').read('vol', 3, 1)).toEqual(new Uint8Array(16).fill(5));
      expect(() => cluster.agent('zz')).toThrow(/no agent "zz"/);
    } finally {
      cluster.stop();
    }
  });

  it('rejects malformed options, naming each', async () => {
    await expect(createLocalCluster({ agents: ['a1', 'a1'], luns: { 1: Number.NaN } })).rejects.toThrow(/luns\[1\].*agents must be distinct/);
    await expect(createLocalCluster(null as never)).rejects.toThrow(/options must be an object/);
  });
});
