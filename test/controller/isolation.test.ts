/**
 * Two controllers stepped alternately in one process each produce exactly what they produce
 * alone: no step's result depends on anything but its own state and event (no module-level
 * state, caches or scratch carried between steps or between controllers).
 *
 * Each controller is driven by its own seeded driver that plays persistence, storage, agents and
 * an operator, and reacts only to its own controller's commands: so a run is a function of the
 * seed, and any difference between the solo and the interleaved run is a leak. Every run loads
 * the controller modules afresh, so a solo run is not affected by what ran before it either.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Driver, print, type ControllerModule } from './random-driver.js';

/** The controller modules, loaded afresh (nothing left by earlier runs in module scope). */
const freshController = async (): Promise<ControllerModule> => {
  vi.resetModules();
  return import('../../src/controller/controller.js');
};

const STEPS = 160;

const solo = async (seed: number): Promise<Driver> => {
  const d = new Driver(await freshController(), seed);
  for (let i = 0; i < STEPS; i++) d.step();
  return d;
};

describe('controller isolation', () => {
  it('two controllers stepped alternately in one process each produce exactly what they produce alone', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seedA, seedB) => {
        fc.pre(seedA !== seedB);
        const aloneA = await solo(seedA);
        const aloneB = await solo(seedB);
        const shared = await freshController();
        const a = new Driver(shared, seedA);
        const b = new Driver(shared, seedB);
        for (let i = 0; i < STEPS; i++) {
          a.step();
          b.step();
        }
        expect(a.log).toEqual(aloneA.log);
        expect(b.log).toEqual(aloneB.log);
        expect(print(a.state)).toBe(print(aloneA.state));
        expect(print(b.state)).toBe(print(aloneB.state));
        // The runs differ from each other, so a value carried from one to the other would show.
        expect(a.log).not.toEqual(b.log);
      }),
      { numRuns: 15 },
    );
  });

  it('the driven runs reach the paths that keep per-step working data (deltas, copies, snapshots)', async () => {
    const kinds = new Set<string>();
    for (const seed of [1, 2, 3, 4]) {
      const d = await solo(seed);
      for (const line of d.log) for (const k of ['"setEntries"', '"replaceTable"', '"copyBlocks"', '"resolved"', '"adminDone"', '"persist"']) if (line.includes(k)) kinds.add(k);
    }
    expect([...kinds].sort()).toEqual(['"adminDone"', '"copyBlocks"', '"persist"', '"replaceTable"', '"resolved"', '"setEntries"']);
  });
});
