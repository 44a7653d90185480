/**
 * The runs of the simulator sweep (`bench/sim-sweep.ts`; a short slice in sweep.test.ts):
 * each seed decides the shape of its run, drawn from the seed's own generator, so the list of
 * seeds is the whole definition of the sweep.
 */
import { createPrng, mulberry32 } from '../../src/adapters/prng.js';
import { createCluster } from '../../src/sim/cluster.js';
import type { SimAction, SimConfig, SimResult, Workload } from '../../src/sim/config.js';

/** The `i`th seed of the fixed list. */
export const sweepSeed = (i: number): number => mulberry32((0x5eed0000 + i) | 0)[1];

/** The configuration and workload of a seed's run. */
export const sweepShape = (seed: number): { config: SimConfig; workload: Workload } => {
  const rng = createPrng(seed);
  const pick = <T>(xs: ReadonlyArray<T>): T => xs[rng.int(xs.length)]!;
  const agents = 2 + rng.int(4);
  const segmentBlocks = pick([2, 4, 8, 16]);
  const config: SimConfig = {
    seed,
    variant: pick(['centralized', 'distributed'] as const),
    agents,
    disks: [
      { id: 'd0', segmentBlocks, segmentCount: 8 + rng.int(24) },
      { id: 'd1', segmentBlocks: 4, segmentCount: 8, agents: [rng.int(agents)] },
    ],
    luns: { 1: 2048, 2: 2048 },
    faults: {
      dropRate: pick([0, 0.02, 0.1]),
      duplicateRate: pick([0, 0.05, 0.2]),
      storageErrorRate: pick([0, 0.005, 0.02]),
      persistErrorRate: pick([0, 0.02, 0.1]),
      crashBeforeFanOutRate: pick([0, 0.01, 0.05]),
      crashMidFanOutRate: pick([0, 0.01, 0.05]),
      lostAckRate: pick([0, 0.005, 0.02]),
      partialWriteRate: pick([0, 0.005, 0.02]),
      hangRate: pick([0, 0.002, 0.01]),
      clockDrift: pick([0, 0.5, 1]),
      duplicateAdminRate: pick([0, 0.2, 0.5]),
    },
    // Short leases, so that partitions evict agents often.
    lease: { duration: 200 + rng.int(400), maxClockDrift: 20, maxIoLifetime: 50 },
  };
  // Long partitions (evicting), one-way ones, and an isolated controller.
  const schedule: { at: number; action: SimAction }[] = [];
  const at = () => 20 + rng.int(200);
  if (rng.chance(0.3)) schedule.push({ at: at(), action: { type: 'cutAgent', agent: rng.int(agents), duration: 300 + rng.int(1500) } });
  if (rng.chance(0.2)) schedule.push({ at: at(), action: { type: 'cutAgent', agent: rng.int(agents), duration: 100 + rng.int(1200), direction: pick(['toController', 'fromController'] as const) } });
  if (rng.chance(0.1)) schedule.push({ at: at(), action: { type: 'isolateController', duration: 50 + rng.int(1000) } });
  // Scripted kinds too, so that each shows up in many runs whatever the rates draw.
  if (rng.chance(0.1)) schedule.push({ at: at(), action: { type: 'crashController', at: pick(['beforeFanOut', 'midFanOut'] as const) } });
  if (rng.chance(0.05)) schedule.push({ at: at(), action: { type: 'loseAgent', agent: rng.int(agents) } });
  if (rng.chance(0.05)) schedule.push({ at: at(), action: { type: 'reuseEpoch', agent: rng.int(agents), earlier: rng.chance(0.5) } });
  const workload: Workload = {
    ios: 60 + rng.int(100),
    interval: pick([0, 1, 3]),
    readRatio: pick([0.3, 0.5, 0.7]),
    pattern: pick(['random', 'sequential', 'hotspot'] as const),
    maxLength: pick([1, 4, 16]),
    rates: {
      snapshot: 0.004, migrate: 0.006, markFailed: 0.002, restartAgent: 0.004, restartController: 0.003, cutAgent: 0.004,
      loseAgent: 0.002, pauseAgent: 0.004, pauseController: 0.003, reuseEpoch: 0.004, rollback: 0.004,
    },
    schedule,
  };
  return { config, workload };
};

/**
 * What a sweep adds to the fixed list (none by default, so the list keeps its runs):
 * `variable` makes disk d0 variable (the same segment count, lengths drawn from the seed's own
 * second generator), `reshape` is the rate of splits and merges (half of it, resizes) on live disks,
 * `attach` the rate of attachments and of detachments of live disks (joins, and detach + restart).
 */
export interface SweepOptions {
  readonly variable?: boolean;
  readonly reshape?: number;
  readonly attach?: number;
}

/** Disk d0 as a variable disk: its segment count, lengths of 1 to 40 blocks from a generator of its own. */
const variableD0 = (config: SimConfig): SimConfig => {
  const rng = createPrng((config.seed ^ 0x7a41) >>> 0);
  const [d0, ...rest] = config.disks;
  const lengths = Array.from({ length: d0!.segmentCount }, () => [1, 2, 3, 5, 8, 13, 32, 40][rng.int(8)]!);
  return { ...config, disks: [{ id: d0!.id, segmentBlocks: 0, segmentCount: lengths.length, segmentLengths: lengths }, ...rest] };
};

/** Runs one seed of the sweep; `deleteRate` adds forced disk deletions (and re-creation) to its actions. */
export const sweepRun = (seed: number, deleteRate = 0, options: SweepOptions = {}): { config: SimConfig; workload: Workload; result: SimResult } => {
  const { config: base, workload: shape } = sweepShape(seed);
  const config = options.variable === true ? variableD0(base) : base;
  const r = options.reshape ?? 0;
  const attach = options.attach ?? 0;
  const rates = {
    ...shape.rates,
    ...(deleteRate > 0 ? { deleteDisk: deleteRate } : {}),
    ...(r > 0 ? { resize: r / 2, splitSegment: r, mergeSegments: r } : {}),
    ...(attach > 0 ? { attachAgent: attach, detachAgent: attach } : {}),
  };
  const workload = deleteRate > 0 || r > 0 || attach > 0 ? { ...shape, rates } : shape;
  return { config, workload, result: createCluster(config).run(workload) };
};
