/**
 * Tests for src/sim/workload.ts: every drawn host I/O fits its disk and goes to an agent that
 * maps it, patterns shape the extents, and random actions follow their rates.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPrng } from '../../src/adapters/prng.js';
import { diskBlocks, type SimAction, type SimConfig, type Workload } from '../../src/sim/config.js';
import { WorkloadGenerator } from '../../src/sim/workload.js';
import { simConfigArb } from '../../src/testing/sim-arbitraries.js';

const patternArb = fc.constantFrom<NonNullable<Workload['pattern']>>('random', 'sequential', 'hotspot');

describe('WorkloadGenerator', () => {
  it('draws host I/Os inside their disk, to an agent that maps it, no longer than maxLength', () => {
    fc.assert(
      fc.property(simConfigArb(), patternArb, fc.integer({ min: 1, max: 40 }), fc.nat(), (config, pattern, maxLength, seed) => {
        const generator = new WorkloadGenerator(config, { ios: 50, pattern, maxLength }, createPrng(seed), config.agents);
        for (let i = 0; i < 50; i++) {
          const io = generator.drawHostIo();
          const disk = config.disks.find((d) => d.id === io.disk)!;
          expect(disk).toBeDefined();
          expect(disk.agents ?? Array.from({ length: config.agents }, (_, a) => a)).toContain(io.agent);
          expect(io.length).toBeGreaterThanOrEqual(1);
          expect(io.length).toBeLessThanOrEqual(maxLength);
          expect(io.start).toBeGreaterThanOrEqual(0);
          expect(io.start + io.length).toBeLessThanOrEqual(diskBlocks(disk));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('sequential I/Os follow one another through the disk', () => {
    const config: SimConfig = { seed: 1, agents: 1, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 64 }], luns: { 1: 1024 } };
    const generator = new WorkloadGenerator(config, { ios: 20, pattern: 'sequential' }, createPrng(3), 1);
    let next = 0;
    for (let i = 0; i < 20; i++) {
      const io = generator.drawHostIo();
      expect(io.start).toBe(next);
      next += io.length;
    }
  });

  it('draws no random action at rate 0 and every kind at rate 1, with valid arguments', () => {
    const config: SimConfig = { seed: 1, agents: 3, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 16 }], luns: { 1: 512, 2: 256 } };
    const actions = (rates: Workload['rates']): SimAction[] => {
      const drawn: SimAction[] = [];
      const generator = new WorkloadGenerator(config, { ios: 1, ...(rates === undefined ? {} : { rates }) }, createPrng(9), 3);
      for (let i = 0; i < 10; i++) generator.drawActions((a) => drawn.push(a), () => 40 + i);
      return drawn;
    };
    expect(actions(undefined)).toEqual([]);
    const all = actions({ snapshot: 1, migrate: 1, markFailed: 1, restartAgent: 1, restartController: 1, cutAgent: 1 });
    expect(all.map((a) => a.type).slice(0, 6)).toEqual(['snapshot', 'migrate', 'markFailed', 'restartAgent', 'restartController', 'cutAgent']);
    expect(all).toHaveLength(60);
    for (const a of all) {
      if (a.type === 'snapshot') expect(a.snapshot).toMatch(/^d\.s4\d$/);
      if (a.type === 'migrate') for (const s of a.segments ?? []) expect(s).toBeLessThan(16);
      if (a.type === 'markFailed') expect(a.start).toBeLessThan(a.lun === 1 ? 512 : 256);
      if (a.type === 'restartAgent' || a.type === 'cutAgent') expect(a.agent).toBeLessThan(3);
    }
  });
});
