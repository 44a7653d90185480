/**
 * The simulator running variable disks (segments of differing sizes) under every fault kind: the
 * controller allocates each segment's alternate by that segment's length, agents split requests
 * at its bounds, and every checker (lost writes, stale reads, frozen primaries, allocation,
 * durability) holds.
 */
import { describe, expect, it } from 'vitest';
import { isVariableTable, tableBlocks } from '../../src/table/segments.js';
import { diskBlocks, simConfigErrors, type SimConfig, type Workload } from '../../src/sim/config.js';
import { diskShape, MESSAGE_AND_STORE_FAULTS, RUNS, sweepDisks } from './disk-sweep.js';

const shape = (seed: number): { config: SimConfig; workload: Workload } =>
  diskShape(seed, {
    // Long and short segments side by side, single blocks included.
    lengths: { min: 6, spread: 20, choices: [1, 2, 3, 5, 8, 13, 32, 40] },
    disks: ({ rng, agents, lengths }) => [
      { id: 'v0', segmentBlocks: 0, segmentCount: lengths.length, segmentLengths: lengths },
      { id: 'u1', segmentBlocks: 4, segmentCount: 8, agents: [rng.int(agents)] },
    ],
    faults: {
      ...MESSAGE_AND_STORE_FAULTS,
    },
    maxLength: [1, 4, 16, 48],
    rates: { snapshot: 0.004, migrate: 0.006, markFailed: 0.002, restartAgent: 0.004, restartController: 0.003, cutAgent: 0.004, deleteDisk: 0.002, rollback: 0.003 },
  });

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
    const totals = sweepDisks(RUNS, 0x7a410000, shape, {
      each: ({ config, cluster }) => {
        // The disk really is variable, at the controller, with the configured bounds.
        const v0 = cluster.controllerState().disks.get('v0')!.committed;
        expect([isVariableTable(v0), tableBlocks(v0)]).toStrictEqual([true, diskBlocks(config.disks[0]!)]);
      },
    });
    // Copy-on-write and zero-segment faults were resolved, and reads were checked against the model.
    expect(totals.faults).toBeGreaterThan(RUNS);
    expect(totals.checked).toBeGreaterThan(RUNS);
  });
});
