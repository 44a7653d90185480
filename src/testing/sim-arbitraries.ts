/**
 * fast-check arbitraries for simulator inputs: cluster configurations, workloads and fault
 * schedules, so that a property test can let fast-check choose and shrink whole scenarios.
 */
import fc from 'fast-check';
import { diskBlocks, type SimAction, type SimConfig, type SimDiskConfig, type SimFaults, type Workload } from '../sim/config.js';

/**
 * Limits for generated clusters: keep them small for fast properties, or pin the variant.
 *
 * @example
 * const options: SimConfigArbOptions = { maxAgents: 3, maxDisks: 2, variant: 'distributed' };
 * fc.assert(fc.property(simConfigArb(options), (config) => createCluster(config).run({ ios: 50 }).violation === null));
 */
export interface SimConfigArbOptions {
  readonly maxAgents?: number;
  readonly maxDisks?: number;
  readonly variant?: 'centralized' | 'distributed';
  /** Generate variable disks (segments of differing sizes) among the uniform ones; default true. */
  readonly variableDisks?: boolean;
}

/**
 * Message, storage and persistence fault rates, from none to harsh.
 *
 * @example
 * fc.sample(simFaultsArb(), 1)[0] // e.g. { dropRate: 0.05, duplicateRate: 0, storageErrorRate: 0.01, persistErrorRate: 0 }
 */
export const simFaultsArb = (): fc.Arbitrary<SimFaults> =>
  fc.record({
    dropRate: fc.constantFrom(0, 0.02, 0.1),
    duplicateRate: fc.constantFrom(0, 0.02, 0.1),
    storageErrorRate: fc.constantFrom(0, 0.01, 0.03),
    persistErrorRate: fc.constantFrom(0, 0.02, 0.05),
  });

/**
 * Small clusters: 1 to `maxAgents` agents, 1 to `maxDisks` disks of random geometry (uniform, or
 * variable: 1 to 24 segments of 1 to 16 blocks each, unless `variableDisks` is false), each
 * mapped by a random non-empty set of agents, two LUNs big enough for every disk twice over,
 * and a seed for the simulator's own choices.
 *
 * @example
 * fc.assert(fc.property(simConfigArb(), (config) => createCluster(config).run({ ios: 100 }).violation === null));
 * fc.sample(simConfigArb(), 1)[0].disks // e.g. [{ id: 'd0', segmentBlocks: 0, segmentCount: 3, segmentLengths: [5, 1, 12], agents: [0] }]
 */
export const simConfigArb = (options: SimConfigArbOptions = {}): fc.Arbitrary<SimConfig> =>
  fc
    .record({
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      agents: fc.integer({ min: 1, max: options.maxAgents ?? 4 }),
      variant: options.variant === undefined ? fc.constantFrom<'centralized' | 'distributed'>('centralized', 'distributed') : fc.constant(options.variant),
      faults: simFaultsArb(),
      geometries: fc.array(
        fc.record({
          segmentBlocks: fc.integer({ min: 1, max: 16 }),
          segmentCount: fc.integer({ min: 1, max: 24 }),
          lengths:
            options.variableDisks === false
              ? fc.constant(undefined)
              : fc.option(fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 24 }), { nil: undefined, freq: 3 }),
          mappers: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        }),
        { minLength: 1, maxLength: options.maxDisks ?? 3 },
      ),
    })
    .map(({ seed, agents, variant, faults, geometries }) => {
      const disks: SimDiskConfig[] = geometries.map((g, i) => ({
        id: `d${i}`,
        ...(g.lengths === undefined
          ? { segmentBlocks: g.segmentBlocks, segmentCount: g.segmentCount }
          : { segmentBlocks: 0, segmentCount: g.lengths.length, segmentLengths: g.lengths }),
        agents: [...new Set(g.mappers.map((m) => m % agents))],
      }));
      // Room for every segment, its alternate, snapshots' copies and migrations.
      const blocks = disks.reduce((n, d) => n + diskBlocks(d), 0);
      return { seed, agents, variant, faults, disks, luns: { 1: 4 * blocks + 64, 2: 4 * blocks + 64 } };
    });

/**
 * A schedule of faults and administrative actions for a cluster built from `config`, at times
 * from 0 to `horizon` simulated milliseconds.
 *
 * @example
 * const schedule = fc.sample(faultScheduleArb(config, 500), 1)[0]; // e.g. [{ at: 40, action: { type: 'restartAgent', agent: 1 } }, ...]
 */
export const faultScheduleArb = (config: SimConfig, horizon: number): fc.Arbitrary<Array<{ at: number; action: SimAction }>> => {
  const disk = fc.constantFrom(...config.disks);
  const agent = fc.nat(config.agents - 1);
  const action: fc.Arbitrary<SimAction> = fc.oneof(
    agent.map((a): SimAction => ({ type: 'restartAgent', agent: a })),
    fc.constant<SimAction>({ type: 'restartController' }),
    fc.tuple(agent, fc.integer({ min: 10, max: 200 })).map(([a, duration]): SimAction => ({ type: 'cutAgent', agent: a, duration })),
    fc.tuple(disk, fc.nat()).map(([d, n]): SimAction => ({ type: 'snapshot', disk: d.id, snapshot: `${d.id}.snap${n}` })),
    fc.tuple(disk, fc.nat(), fc.constantFrom(1, 2)).map(([d, seg, lun]): SimAction => ({ type: 'migrate', disk: d.id, segments: [seg % d.segmentCount], lun })),
    fc.tuple(fc.constantFrom(1, 2), fc.nat(63)).map(([lun, start]): SimAction => ({ type: 'markFailed', lun, start, length: 1 })),
    // Segment bounds of a live disk (a split point past the segment, or neighbours that cannot merge, are refused).
    fc.tuple(disk, fc.nat(), fc.integer({ min: 1, max: 16 })).map(([d, seg, at]): SimAction => ({ type: 'splitSegment', disk: d.id, segment: seg % d.segmentCount, at })),
    fc.tuple(disk, fc.nat()).map(([d, seg]): SimAction => ({ type: 'mergeSegments', disk: d.id, segment: seg % Math.max(1, d.segmentCount - 1) })),
  );
  return fc.array(fc.record({ at: fc.nat(horizon), action }), { maxLength: 8 });
};

/**
 * Workloads for a cluster built from `config`: a number of host I/Os with random read share,
 * pattern and request size, rates of resizes, splits and merges of live disks (none to
 * frequent), plus a fault schedule within the time they take.
 *
 * @example
 * fc.assert(fc.property(simConfigArb().chain((c) => workloadArb(c).map((w) => [c, w] as const)), ([c, w]) => createCluster(c).run(w).violation === null));
 */
export const workloadArb = (config: SimConfig, maxIos = 300): fc.Arbitrary<Workload> =>
  fc
    .record({
      ios: fc.integer({ min: 1, max: maxIos }),
      readRatio: fc.constantFrom(0.3, 0.5, 0.7, 0.9),
      pattern: fc.constantFrom<'random' | 'sequential' | 'hotspot'>('random', 'sequential', 'hotspot'),
      maxLength: fc.integer({ min: 1, max: 24 }),
      rates: fc.record({ resize: fc.constantFrom(0, 0.01, 0.05), splitSegment: fc.constantFrom(0, 0.02, 0.1), mergeSegments: fc.constantFrom(0, 0.02, 0.1) }),
    })
    .chain((w) => faultScheduleArb(config, 2 * w.ios).map((schedule): Workload => ({ ...w, schedule })));
