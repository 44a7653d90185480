/**
 * The sweep the disk-kind simulator tests share (grain-disk, reshape-disk, variable-disk): each
 * file's run shape drawn from the seed's own generator in one fixed order, so a file's list of
 * seeds keeps defining its runs, and the loop that runs every seed, holds it to 0 violations and
 * every host I/O answered, and tallies what the runs did. Not a test file itself.
 */
import { expect } from 'vitest';
import { createPrng, mulberry32, type Prng } from '../../src/adapters/prng.js';
import { createCluster, type Cluster } from '../../src/sim/cluster.js';
import type { SimConfig, SimDiskConfig, SimFaults, SimResult, Workload } from '../../src/sim/config.js';

/** Runs per sweep (`VDISK_SWEEP_RUNS` for a longer one). */
export const RUNS = Number(process.env.VDISK_SWEEP_RUNS ?? 30);

/** The `i`th seed of the list that starts at `base` (each file has its own base). */
export const diskSweepSeed = (base: number, i: number): number => mulberry32((base + i) | 0)[1];

export type Pick = <T>(xs: ReadonlyArray<T>) => T;

/** Fault choices every file draws first: message drops and duplicates, storage and persist errors. */
export const MESSAGE_AND_STORE_FAULTS = {
  dropRate: [0, 0.02, 0.1],
  duplicateRate: [0, 0.05, 0.2],
  storageErrorRate: [0, 0.005, 0.02],
  persistErrorRate: [0, 0.02, 0.1],
} as const;

/** Controller crashes before and midway through a fan-out. */
export const FAN_OUT_CRASHES = { crashBeforeFanOutRate: [0, 0.01], crashMidFanOutRate: [0, 0.01] } as const;

/** What a file varies in its runs; everything else is common. */
export interface DiskShape {
  /** Segment lengths for a variable disk: `min + rng.int(spread)` of them, each one of `choices`. */
  readonly lengths?: { readonly min: number; readonly spread: number; readonly choices: ReadonlyArray<number> };
  /** The disks (`lengths` as drawn, or empty). */
  readonly disks: (draw: { readonly rng: Prng; readonly pick: Pick; readonly agents: number; readonly lengths: ReadonlyArray<number> }) => ReadonlyArray<SimDiskConfig>;
  /** The choices of each fault kind the runs inject. */
  readonly faults: { readonly [K in keyof SimFaults]?: ReadonlyArray<NonNullable<SimFaults[K]>> };
  /** The choices of the longest host I/O. */
  readonly maxLength: ReadonlyArray<number>;
  readonly rates: Workload['rates'];
}

/**
 * The configuration and workload of `seed`'s run. The draws come in this order, which the seeds
 * depend on: agents (2 to 4), segment lengths, variant, disks, faults (in the order `faults`
 * lists them), lease, I/O count, interval, read ratio, zero ratio, pattern, longest I/O.
 */
export const diskShape = (seed: number, shape: DiskShape): { config: SimConfig; workload: Workload } => {
  const rng = createPrng(seed);
  const pick: Pick = (xs) => xs[rng.int(xs.length)]!;
  const agents = 2 + rng.int(3);
  const lengths = shape.lengths === undefined ? [] : Array.from({ length: shape.lengths.min + rng.int(shape.lengths.spread) }, () => pick(shape.lengths!.choices));
  const variant = pick(['centralized', 'distributed'] as const);
  const disks = shape.disks({ rng, pick, agents, lengths });
  const faults: Record<string, number> = {};
  for (const [kind, choices] of Object.entries(shape.faults)) faults[kind] = pick(choices);
  const config: SimConfig = {
    seed,
    variant,
    agents,
    disks,
    luns: { 1: 4096, 2: 4096 },
    faults,
    lease: { duration: 200 + rng.int(400), maxClockDrift: 20, maxIoLifetime: 50 },
  };
  const workload: Workload = {
    ios: 80 + rng.int(100),
    interval: pick([0, 1, 3]),
    readRatio: pick([0.3, 0.5, 0.7]),
    zeroRatio: pick([0, 0.1]),
    pattern: pick(['random', 'sequential', 'hotspot'] as const),
    maxLength: pick(shape.maxLength),
    rates: shape.rates,
  };
  return { config, workload };
};

/** One run of a sweep, as `each` sees it. */
export interface DiskRun {
  readonly i: number;
  readonly seed: number;
  readonly config: SimConfig;
  readonly workload: Workload;
  readonly cluster: Cluster;
  readonly result: SimResult;
}

/** What the runs of a sweep did, summed. */
export interface DiskSweepTotals {
  ios: number;
  faults: number;
  checked: number;
  splits: number;
  merges: number;
  resizes: number;
  readonly variants: Set<string>;
}

/**
 * Runs seeds `0 .. runs-1` of the list at `base`, shaped by `shape`, on `cluster` (the real
 * machines by default); each must end with no violation and every host I/O completed or failed;
 * `each` adds a file's own checks of a run.
 */
export const sweepDisks = (
  runs: number,
  base: number,
  shape: (seed: number) => { config: SimConfig; workload: Workload },
  options: { readonly cluster?: (config: SimConfig, seed: number) => Cluster; readonly each?: (run: DiskRun) => void } = {},
): DiskSweepTotals => {
  const totals: DiskSweepTotals = { ios: 0, faults: 0, checked: 0, splits: 0, merges: 0, resizes: 0, variants: new Set() };
  for (let i = 0; i < runs; i++) {
    const seed = diskSweepSeed(base, i);
    const { config, workload } = shape(seed);
    const cluster = options.cluster?.(config, seed) ?? createCluster(config);
    const result = cluster.run(workload);
    expect(result.violation, `seed ${seed} (run ${i})`).toBeNull();
    expect(result.summary.iosCompleted + result.summary.iosFailed).toBe(workload.ios);
    options.each?.({ i, seed, config, workload, cluster, result });
    const s = result.summary;
    totals.ios += s.iosCompleted + s.iosFailed;
    totals.faults += s.faultsRaised;
    totals.checked += s.readsChecked;
    totals.splits += s.splits;
    totals.merges += s.merges;
    totals.resizes += s.resizes;
    totals.variants.add(config.variant!);
  }
  return totals;
};
