/**
 * The liveness scenarios, shared by `bench/liveness.ts` (figures) and the simulator tests
 * (targets). Each is a fixed configuration and workload.
 */
import type { SimConfig, SimResult, Workload } from '../src/sim/config.js';

export interface LivenessScenario {
  readonly name: string;
  readonly config: SimConfig;
  readonly workload: Workload;
  /** An extra figure to print. */
  readonly measure?: (r: SimResult) => string;
}

/** 7 agents writing 1-block requests sequentially over 256-block zero segments. */
const sequentialSmallWrites = (name: string, networkDelay: readonly [number, number]): LivenessScenario => ({
  name,
  config: { seed: 7, variant: 'centralized', agents: 7, disks: [{ id: 'd0', segmentBlocks: 256, segmentCount: 64 }], luns: { 1: 256 * 80, 2: 256 * 80 }, networkDelay },
  workload: { ios: 2000, interval: 1, readRatio: 0, pattern: 'sequential', maxLength: 1 },
});

export const livenessScenarios: ReadonlyArray<LivenessScenario> = [
  {
    // The step-budget reproduction: 15 agents, one cut off for 3 s, heavy message and persistence faults.
    name: 'cut-one-of-15',
    config: {
      seed: 44367175,
      variant: 'distributed',
      agents: 15,
      disks: [{ id: 'd0', segmentBlocks: 2, segmentCount: 848 }],
      luns: { 1: 3456, 2: 3456 },
      faults: { dropRate: 0.15, duplicateRate: 0.3, persistErrorRate: 0.3 },
    },
    workload: { ios: 632, interval: 0, readRatio: 0.3, pattern: 'sequential', maxLength: 300, schedule: [{ at: 66, action: { type: 'cutAgent', agent: 12, duration: 3000 } }] },
  },
  {
    // One agent of three cut off for 10 s: I/O through the other two must not wait for it.
    name: 'cut-one-of-3',
    config: { seed: 3, variant: 'centralized', agents: 3, disks: [{ id: 'd0', segmentBlocks: 8, segmentCount: 256 }], luns: { 1: 8 * 600, 2: 8 * 600 } },
    workload: { ios: 2000, interval: 10, readRatio: 0.5, pattern: 'random', maxLength: 16, schedule: [{ at: 2000, action: { type: 'cutAgent', agent: 2, duration: 10_000 } }] },
    measure: (r) => `| worst through a0 ${r.summary.maxLatencyByAgent.a0} ms, a1 ${r.summary.maxLatencyByAgent.a1} ms`,
  },
  {
    // The same, one way: the cut agent is heard (it renews) but hears nothing, so it never takes a table change.
    name: 'deaf-one-of-3',
    config: { seed: 3, variant: 'centralized', agents: 3, disks: [{ id: 'd0', segmentBlocks: 8, segmentCount: 256 }], luns: { 1: 8 * 600, 2: 8 * 600 } },
    workload: { ios: 2000, interval: 10, readRatio: 0.5, pattern: 'random', maxLength: 16, schedule: [{ at: 2000, action: { type: 'cutAgent', agent: 2, duration: 10_000, direction: 'fromController' } }] },
    measure: (r) => `| worst through a0 ${r.summary.maxLatencyByAgent.a0} ms, a1 ${r.summary.maxLatencyByAgent.a1} ms`,
  },
  sequentialSmallWrites('seq-small-writes-1-5ms', [1, 5]),
  sequentialSmallWrites('seq-small-writes-1-60ms', [1, 60]),
];
