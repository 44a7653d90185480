/**
 * The controller runtime checks what it is given: `admin` never rejects, whatever the request,
 * and `createController` rejects a malformed configuration with every problem named.
 */
import { describe, expect, it } from 'vitest';
import { makeEnv, round, startController } from './harness.js';

const settle = async <T>(env: ReturnType<typeof makeEnv>, p: Promise<T>): Promise<T> => {
  let r: { value: T } | null = null;
  void p.then((value) => (r = { value }));
  for (let i = 0; i < 30 && r === null; i++) await round(env);
  if (r === null) throw new Error('did not settle');
  return (r as { value: T }).value;
};

describe('controller runtime: admin never rejects', () => {
  it('answers hostile requests with { ok: false, error } naming what was wrong', async () => {
    const env = makeEnv({ luns: { 1: 1024, 2: 1024 } });
    const c = await startController(env);
    expect(await settle(env, c.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 8 }))).toEqual({ ok: true });
    const throwing = Object.defineProperty({ type: 'resize' }, 'disk', { enumerable: true, get: () => { throw new Error('boom'); } });
    const cases: [unknown, RegExp][] = [
      [{ type: 'migrate', disk: 'vol', segments: 'abc', lun: 2 }, /segments must be an array/],
      [{ type: 'detachAgent', disk: Object.create(null), agent: 'a1' }, /disk must be a non-empty string/],
      [null, /must be an object/],
      [new Proxy({}, { ownKeys: () => { throw new Error('trap'); } }), /unreadable admin request/],
      [throwing, /unreadable admin request: boom/],
      [{ type: 'tick', now: 5 }, /unknown admin request type "tick"/],
      [{ type: 'createDisk', disk: 'big', segmentBlocks: 8, segmentCount: 1e9 }, /limits.maxSegmentsPerDisk/],
      [{ type: 'migrate', disk: 'vol', segments: [1n], lun: 2 }, /segments\[0\]/],
    ];
    for (const [request, error] of cases) {
      const result = await settle(env, c.admin(request as never));
      expect(result).toMatchObject({ ok: false, error: expect.stringMatching(error) });
    }
    c.stop();
  });
});

describe('controller runtime: configuration', () => {
  it('rejects malformed options, naming each', async () => {
    const env = makeEnv({ luns: { 1: 1024 } });
    await expect(startController(env, { retryInterval: Number.NaN, copyConcurrency: 0, limits: { maxDisks: -1 } } as never)).rejects.toThrow(
      /retryInterval must be a positive number.*copyConcurrency must be a positive safe integer.*limits.maxDisks must be a positive safe integer/,
    );
    await expect(startController(env, { variant: 'x' } as never)).rejects.toThrow(/variant must be 'centralized' or 'distributed', got "x"/);
  });

  it('rejects a store whose state is unreadable', async () => {
    const env = makeEnv({ luns: { 1: 1024 } });
    const persistence = { load: async () => ({ tables: 'x', attachments: [] }), save: async () => undefined };
    const { createController } = await import('../../src/runtime/controller-runtime.js');
    const { createAllocator } = await import('../../src/controller/allocator.js');
    const allocator = createAllocator({ 1: 1024 });
    if (allocator._tag === 'Left') throw new Error('allocator');
    await expect(createController({ storage: env.storage, transport: env.network.transport('controller'), persistence: persistence as never, clock: env.clock, allocator: allocator.right })).rejects.toThrow(
      /persisted state: restored state: tables must be an array/,
    );
  });
});
