/**
 * A host flush through the agent runtime keeps, across a power loss of storage, what the host can
 * read back of its own writes: those that completed, the blocks that landed of a write that failed,
 * and the zeros of a write-zeroes (docs/design.md#ordering-rules rule D6). Over the in-memory
 * storage, whose volatile cache a power loss drops or tears block by block.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { BS, makeEnv, microtasks, round, startAgent, startController, type Env } from './harness.js';

const SB = 4; // blocks per segment

const settle = async <T>(env: Env, p: Promise<T>): Promise<T> => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await microtasks();
  for (let i = 0; i < 1000 && !done; i++) await round(env);
  if (!done) throw new Error('no progress after 1000 rounds');
  return p;
};

const fill = (value: number, blocks: number): Uint8Array => new Uint8Array(blocks * BS).fill(value);
const values = (data: Uint8Array): number[] => Array.from({ length: data.length / BS }, (_, k) => data[k * BS]!);

/** A disk of 4 segments attached to one agent, its 16 blocks written with 1s and flushed. */
const setup = async () => {
  const env = makeEnv({ luns: { 1: 64 }, seed: 3 });
  const controller = await startController(env);
  const agent = startAgent(env, 'a');
  expect(await settle(env, controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: SB, segmentCount: 4 }))).toEqual({ ok: true });
  expect(await settle(env, controller.admin({ type: 'attachAgent', disk: 'd', agent: 'a' }))).toEqual({ ok: true });
  await settle(env, agent.write('d', 0, fill(1, 4 * SB)));
  await settle(env, agent.flush('d'));
  for (let i = 0; i < 20; i++) await round(env); // quiet: nothing else will flush the LUN
  return { env, agent };
};

describe('agent runtime: what a completed host flush keeps across a power loss of storage', () => {
  it('the blocks of a write that failed after landing (its acknowledgement lost), as the host read them back', async () => {
    const { env, agent } = await setup();
    expect(E.isRight(env.storage.failNext({ count: 1, op: 'write', mode: 'lostAck' }))).toBe(true);
    await expect(settle(env, agent.write('d', 0, fill(2, 4 * SB)))).rejects.toThrow(/acknowledgement lost/);
    const readBack = values(await settle(env, agent.read('d', 0, 4 * SB)));
    expect(readBack).toEqual(Array(4 * SB).fill(2));
    await settle(env, agent.flush('d'));
    env.storage.powerLoss();
    expect(values(await settle(env, agent.read('d', 0, 4 * SB)))).toEqual(readBack);
  });

  it('the blocks that landed of torn writes', async () => {
    const { env, agent } = await setup();
    for (let seg = 0; seg < 4; seg++) {
      expect(E.isRight(env.storage.failNext({ count: 1, op: 'write', mode: 'partial' }))).toBe(true);
      await expect(settle(env, agent.write('d', seg * SB, fill(2, SB)))).rejects.toThrow(/only its first \d+ blocks were applied/);
    }
    const readBack = values(await settle(env, agent.read('d', 0, 4 * SB)));
    for (let seg = 0; seg < 4; seg++) expect(readBack[seg * SB]).toBe(2);
    await settle(env, agent.flush('d'));
    env.storage.powerLoss();
    expect(values(await settle(env, agent.read('d', 0, 4 * SB)))).toEqual(readBack);
  });

  it('the zeros a write-zeroes wrote to partly covered segments', async () => {
    const { env, agent } = await setup();
    // Blocks 1..14: the end of segment 0, segments 1 and 2 whole, the start of segment 3.
    await settle(env, agent.writeZeros('d', 1, 14));
    const zeroed = [1, ...Array(14).fill(0), 1];
    expect(values(await settle(env, agent.read('d', 0, 4 * SB)))).toEqual(zeroed);
    await settle(env, agent.flush('d'));
    env.storage.powerLoss();
    expect(values(await settle(env, agent.read('d', 0, 4 * SB)))).toEqual(zeroed);
  });
});
