/**
 * An agent restarted with an epoch it had used before: refused with a clear error that the agent
 * runtime turns into the rejection of the host request (it used to loop forever: the controller
 * believed the copy was held and only ever answered "retry"). Both sides can tell: the agent
 * (told to retry a no-table fault it never got a table for) and the controller (a fault without
 * a copy after one that came with it); test/controller/validation.test.ts checks the controller alone.
 */
import { expect, it } from 'vitest';
import { BS, makeEnv, startAgent, startController } from './harness.js';

it('an epoch reused by a restarted agent is refused with an error naming it', { timeout: 30_000 }, async () => {
  const env = makeEnv({ luns: { 1: 1024, 2: 1024 } });
  const controller = await startController(env);
  const settle = async <T>(p: Promise<T>): Promise<{ value?: T; error?: Error } | null> => {
    let r: { value?: T; error?: Error } | null = null;
    p.then((value) => (r = { value }), (error: Error) => (r = { error }));
    // Bounded rounds: a ping-pong between a confused agent and the controller must not run forever.
    for (let i = 0; i < 40 && r === null; i++) {
      for (let k = 0; k < 20; k++) await Promise.resolve();
      env.network.deliver(200);
      for (let k = 0; k < 20; k++) await Promise.resolve();
      env.clock.advance(10);
    }
    return r;
  };
  expect(await settle(controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 8 }))).toEqual({ value: { ok: true } });
  expect(await settle(controller.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' }))).toEqual({ value: { ok: true } });
  const first = startAgent(env, 'a1', 1);
  expect(await settle(first.write('vol', 0, new Uint8Array(BS).fill(1)))).toEqual({ value: undefined });
  first.stop();
  const again = startAgent(env, 'a1', 1);
  const read = await settle(again.read('vol', 0, 1));
  expect(read?.error?.message).toMatch(/epoch 1 of agent a1 is (used by two lives|also used by another life)/);
  again.stop();
  // A new life with a higher epoch works.
  const next = startAgent(env, 'a1', 2);
  expect(await settle(next.read('vol', 0, 1))).toEqual({ value: new Uint8Array(BS).fill(1) });
  next.stop();
  controller.stop();
});
