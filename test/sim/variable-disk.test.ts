/**
 * The simulator running variable disks (segments of differing sizes) under every fault kind: the
 * controller allocates each segment's alternate by that segment's length, agents split requests
 * at its bounds, and every checker (lost writes, stale reads, frozen primaries, allocation,
 * durability) holds.
 */
import { describe, expect, it } from 'vitest';
import { createPrng, mulberry32 } from '../../src/adapters/prng.js';
import { createCluster } from '../../src/sim/cluster.js';
import { isVariableTable, tableBlocks } from '../../src/table/segments.js';
import { diskBlocks, simConfigErrors, type SimConfig, type Workload } from '../../src/sim/config.js';

const RUNS = Number(process.env.VDISK_SWEEP_RUNS ?? 30);

const shape = (seed: number): { config: SimConfig; workload: Workload } => {
  const rng = createPrng(seed);
  const pick = <T>(xs: ReadonlyArray<T>): T => xs[rng.int(xs.length)]!;
  const agents = 2 + rng.int(3);
  // Long and short segments side by side, single blocks included.
  const lengths = Array.from({ length: 6 + rng.int(20) }, () => pick([1, 2, 3, 5, 8, 13, 32, 40]));
  const config: SimConfig = {
    seed,
    variant: pick(['centralized', 'distributed'] as const),
    agents,
    disks: [
      { id: 'v0', segmentBlocks: 0, segmentCount: lengths.length, segmentLengths: lengths },
      { id: 'u1', segmentBlocks: 4, segmentCount: 8, agents: [rng.int(agents)] },
    ],
    luns: { 1: 4096, 2: 4096 },
    faults: {
      dropRate: pick([0, 0.02, 0.1]),
      duplicateRate: pick([0, 0.05, 0.2]),
      storageErrorRate: pick([0, 0.005, 0.02]),
      persistErrorRate: pick([0, 0.02, 0.1]),
    },
    lease: { duration: 200 + rng.int(400), maxClockDrift: 20, maxIoLifetime: 50 },
  };
  const workload: Workload = {
    ios: 80 + rng.int(100),
    interval: pick([0, 1, 3]),
    readRatio: pick([0.3, 0.5, 0.7]),
    zeroRatio: pick([0, 0.1]),
    pattern: pick(['random', 'sequential', 'hotspot'] as const),
    maxLength: pick([1, 4, 16, 48]),
    rates: { snapshot: 0.004, migrate: 0.006, markFailed: 0.002, restartAgent: 0.004, restartController: 0.003, cutAgent: 0.004, deleteDisk: 0.002, rollback: 0.003 },
  };
  return { config, workload };
};

describe('simulator with a variable disk', () => {
  it('validates a variable disk: segmentBlocks 0 and one length per segment', () => {
    const base = shape(1).config;
    const bad = { ...base, disks: [{ id: 'v', segmentBlocks: 4, segmentCount: 2, segmentLengths: [3, 0, 2] }] };
    expect(simConfigErrors(bad).map((e) => [e.field, e.value])).toStrictEqual([
      ['disks[0].segmentBlocks', 4],
      ['disks[0].segmentLengths.length', 3],
      ['disks[0].segmentLengths[1]', 0],
    ]);
    expect(diskBlocks({ id: 'v', segmentBlocks: 0, segmentCount: 3, segmentLengths: [8, 1, 30] })).toBe(39);
  });

  it('keeps every property under faults, both variants, with 0 violations', () => {
    let faults = 0;
    let checked = 0;
    for (let i = 0; i < RUNS; i++) {
      const seed = mulberry32((0x7a410000 + i) | 0)[1];
      const { config, workload } = shape(seed);
      const cluster = createCluster(config);
      const result = cluster.run(workload);
      expect(result.violation, `seed ${seed} (run ${i})`).toBeNull();
      expect(result.summary.iosCompleted + result.summary.iosFailed).toBe(workload.ios);
      // The disk really is variable, at the controller, with the configured bounds.
      const v0 = cluster.controllerState().disks.get('v0')!.committed;
      expect([isVariableTable(v0), tableBlocks(v0)]).toStrictEqual([true, diskBlocks(config.disks[0]!)]);
      faults += result.summary.faultsRaised;
      checked += result.summary.readsChecked;
    }
    // Copy-on-write and zero-segment faults were resolved, and reads were checked against the model.
    expect(faults).toBeGreaterThan(RUNS);
    expect(checked).toBeGreaterThan(RUNS);
  });
});
