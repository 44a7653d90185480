/**
 * A paused agent process (a long GC pause, a stopped VM): when it runs again, its runtime reads
 * the clock before anything else, so the machine never acts on a lease that ended during the
 * pause (docs/design.md#leases-and-liveness). Found by the simulator's `pause` fault: without it,
 * an evicted agent wrote to primaries frozen while it was paused. The test also runs leases
 * end to end through both runtimes, which once dropped the lease messages as unknown types.
 */
import { describe, expect, it } from 'vitest';
import type { BlockStorage, Clock, TimerHandle } from '../../src/adapters/types.js';
import { createAgent } from '../../src/runtime/agent-runtime.js';
import { BS, makeEnv, microtasks, round, startController } from './harness.js';

const LEASE = { leaseDuration: 300, maxClockDrift: 10, maxIoLifetime: 50 };

describe('agent runtime after a process pause', () => {
  it('reads the clock before handling a host write, so an expired lease holds the write instead of issuing it', async () => {
    const env = makeEnv({ luns: { 1: 256 } });
    const controller = await startController(env, LEASE);
    // The agent's timers stop while it is paused: its ticks come late, all at once.
    let paused = false;
    const late: (() => void)[] = [];
    const clock: Clock = {
      now: () => env.clock.now(),
      setTimer: (ms: number, cb: () => void): TimerHandle => env.clock.setTimer(ms, () => (paused ? late.push(cb) : cb())),
      clearTimer: (h: TimerHandle) => env.clock.clearTimer(h),
    };
    const base = env.storage.connect();
    let writes = 0;
    const storage: BlockStorage = Object.assign(Object.create(base) as BlockStorage, {
      write: (lun: number, start: number, data: Uint8Array) => {
        writes++;
        return base.write(lun, start, data);
      },
    });
    const agent = createAgent({ storage, transport: env.network.transport('a'), clock }, { agent: 'a', epoch: 1, faultTimeout: 50, tickInterval: 10, leaseDuration: 300 });
    const drive = async <T>(p: Promise<T>): Promise<T> => {
      let done = false;
      void p.finally(() => (done = true)).catch(() => undefined);
      for (let i = 0; i < 500 && !done; i++) await round(env);
      return p;
    };
    expect(await drive(controller.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 }))).toEqual({ ok: true });
    expect(await drive(controller.admin({ type: 'attachAgent', disk: 'd', agent: 'a' }))).toEqual({ ok: true });
    await drive(agent.write('d', 0, new Uint8Array(BS).fill(1)));
    const before = writes;
    expect(before).toBeGreaterThan(0);

    // Paused for well over a lease: the controller evicts it.
    paused = true;
    for (let i = 0; i < 60; i++) await round(env);
    expect(env.commands.some((c) => c.type === 'fence' && c.agent === 'a')).toBe(true);

    // It runs again, and the host's write is the first thing it handles.
    paused = false;
    const write = agent.write('d', 0, new Uint8Array(BS).fill(2));
    await microtasks();
    expect(writes).toBe(before); // held: the lease ended during the pause
    for (const cb of late.splice(0)) cb();
    await drive(write);
    expect(writes).toBeGreaterThan(before); // then served by a new life, with a fresh table
    agent.stop();
    controller.stop();
  });
});
