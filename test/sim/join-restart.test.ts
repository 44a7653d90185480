/**
 * The join rule across a controller restart, in the simulator (docs/design.md#ordering-rules):
 * agent a0, the only holder of disk d, is cut off while a migration of segment 0 commits without
 * a fence; a1 is attached meanwhile and its join waits; the controller restarts; a1 writes block
 * 1 and a0, still within its lease, reads it. A restarted controller that forgets the unfenced
 * change (a broken machine: the restored disks' `unfencedAt` dropped) gives a1 the table at once,
 * and checker `read-mismatch` fires; the real one holds the join until a0 is back.
 */
import { describe, expect, it } from 'vitest';
import { controllerStep } from '../../src/controller/controller.js';
import type { ControllerState } from '../../src/controller/types.js';
import { createCluster } from '../../src/sim/cluster.js';
import type { SimAction, SimConfig } from '../../src/sim/config.js';

const config: SimConfig = {
  seed: 1,
  agents: 2,
  disks: [{ id: 'd', segmentBlocks: 4, segmentCount: 4, agents: [0] }],
  luns: { 1: 256, 2: 256 },
  networkDelay: [1, 1],
  storageDelay: [1, 1],
};

/** The scenario, a0 cut off at `cutAt` (between the migration's start and its promotion for 103 to 106). */
const schedule = (cutAt: number): { at: number; action: SimAction }[] => [
  { at: 10, action: { type: 'hostIo', agent: 0, disk: 'd', op: 'write', start: 0, length: 4 } },
  { at: 100, action: { type: 'migrate', disk: 'd', segments: [0], lun: 2 } },
  { at: cutAt, action: { type: 'cutAgent', agent: 0, duration: 1500 } },
  { at: 200, action: { type: 'attachAgent', disk: 'd', agent: 1 } },
  { at: 300, action: { type: 'restartController' } },
  { at: 400, action: { type: 'hostIo', agent: 1, disk: 'd', op: 'write', start: 1, length: 1 } },
  { at: 500, action: { type: 'hostIo', agent: 0, disk: 'd', op: 'read', start: 1, length: 1 } },
];

/** A controller that forgets, at a restart, that a change may have been left unfenced (the rule before it was restored). */
const forgetful: typeof controllerStep = (s, e) => {
  const [next, cmds] = controllerStep(s, e);
  if (e.type !== 'restored') return [next, cmds];
  const disks = new Map([...next.disks].map(([disk, d]) => [disk, { ...d, unfencedAt: undefined }]));
  return [{ ...next, disks } as ControllerState, cmds];
};

describe('the join rule across a controller restart (simulator)', () => {
  it('a restarted controller that forgets the unfenced change: checker read-mismatch fires', () => {
    const kinds = [103, 104, 105, 106].map((cutAt) => createCluster({ ...config, testHooks: { controllerStep: forgetful } }).run({ ios: 0, schedule: schedule(cutAt) }).violation?.kind);
    expect(kinds).toEqual(['read-mismatch', 'read-mismatch', 'read-mismatch', 'read-mismatch']);
  });

  it('the real controller holds the join until the holder is back: every property holds, the write lands', () => {
    for (let cutAt = 100; cutAt <= 140; cutAt += 1) {
      const r = createCluster(config).run({ ios: 0, schedule: schedule(cutAt) });
      expect(r.violation, `cut at ${cutAt}`).toBeNull();
      expect(r.summary.controllerRestarts).toBe(1);
      expect(r.summary.iosCompleted + r.summary.iosFailed).toBe(3);
    }
  });
});
