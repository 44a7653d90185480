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

  it('attachments: attaches an agent not attached, detaches one anchored elsewhere (never the last), and host I/O follows them', () => {
    const config: SimConfig = { seed: 1, agents: 4, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 16 }, { id: 'e', segmentBlocks: 8, segmentCount: 4, agents: [0] }], luns: { 1: 512 } };
    const attached = new Map<string, number[]>([['d', [0, 1, 2]], ['e', [0]]]);
    const anchored = (agent: number, disk: string): boolean => [...attached].some(([other, agents]) => other !== disk && agents.includes(agent));
    const generator = new WorkloadGenerator(config, { ios: 1, rates: { attachAgent: 1, detachAgent: 1 } }, createPrng(5), 4, (disk) => attached.get(disk)!, anchored);
    const drawn: SimAction[] = [];
    for (let i = 0; i < 200; i++) generator.drawActions((a) => drawn.push(a), () => i);
    for (const a of drawn) {
      if (a.type === 'attachAgent') expect(attached.get(a.disk)).not.toContain(a.agent);
      else if (a.type === 'detachAgent') {
        expect(attached.get(a.disk)!.length).toBeGreaterThan(1);
        expect(anchored(a.agent, a.disk)).toBe(true);
      } else throw new Error(`unexpected ${a.type}`);
    }
    expect(drawn.filter((a) => a.type === 'attachAgent').length).toBeGreaterThan(50);
    expect(drawn.filter((a) => a.type === 'detachAgent').length).toBeGreaterThan(50);
    for (const a of drawn) if (a.type === 'detachAgent') expect(a.agent).toBe(0); // the only agent attached to both
    for (let i = 0; i < 50; i++) {
      const io = generator.drawHostIo();
      expect(attached.get(io.disk)).toContain(io.agent);
    }
  });

  it('attachment rates 0 draw nothing and leave host I/O to the configured agents: runs replay as before', () => {
    const config: SimConfig = { seed: 1, agents: 3, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 16 }], luns: { 1: 512 } };
    const draw = (attachedTo?: (disk: string) => number[]) => {
      const generator = new WorkloadGenerator(config, { ios: 1, rates: { snapshot: 0.5, attachAgent: 0, detachAgent: 0 } }, createPrng(7), 3, attachedTo);
      const out: unknown[] = [];
      for (let i = 0; i < 30; i++) {
        generator.drawActions((a) => out.push(a), () => i);
        out.push(generator.drawHostIo());
      }
      return out;
    };
    expect(draw(() => [2])).toEqual(draw());
  });
});
