/**
 * A simulator sweep weighted towards snapshots: the shapes of the standard sweep
 * (`test/sim/sweep-runs.ts`: every fault kind, both variants, all access patterns), with
 * snapshots, rollbacks and deletions ten times as frequent, and disks of up to three table
 * chunks (768 segments) in a third of the runs, so that snapshots share several chunks and
 * writes, resizes and deletions retire some of them while others stay shared.
 *
 *   npx tsx bench/sim-snapshot-sweep.ts                 2,000 runs
 *   npx tsx bench/sim-snapshot-sweep.ts --runs 300 --from 1000
 *   npx tsx bench/sim-snapshot-sweep.ts --seed 123      one run, its configuration printed
 *   npx tsx bench/sim-snapshot-sweep.ts --seed 123 --trace   the same with its trace, one line a record
 *   npx tsx bench/sim-snapshot-sweep.ts --rollback 0 --delete 0   snapshots only (rates per host I/O)
 */
import { createPrng } from '../src/adapters/prng.js';
import { createCluster } from '../src/sim/cluster.js';
import type { SimConfig, Workload } from '../src/sim/config.js';
import { sweepSeed, sweepShape } from '../test/sim/sweep-runs.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};

const rate = (name: string, fallback: number): number => Number(arg(name) ?? fallback);

/** The standard shape of `seed`, with snapshot-family actions up and sometimes multi-chunk disks. */
export const snapshotShape = (seed: number): { config: SimConfig; workload: Workload } => {
  const { config, workload } = sweepShape(seed);
  const rng = createPrng(seed ^ 0x5a5a5a5a);
  const big = rng.chance(1 / 3);
  const disks = config.disks.map((d, i) => (i === 0 && big ? { ...d, segmentCount: 250 + rng.int(520) } : d));
  // Enough room for a few snapshots' copy-on-write of the bigger disks.
  const luns = big ? { 1: 65536, 2: 65536 } : config.luns;
  return {
    config: { ...config, disks, luns },
    workload: {
      ...workload,
      ios: workload.ios + (big ? 100 : 0),
      rates: { ...workload.rates, snapshot: rate('snapshot', 0.04), rollback: rate('rollback', 0.02), deleteDisk: rate('delete', 0.02) },
    },
  };
};

const single = arg('seed');
const trace = process.argv.includes('--trace');
const from = Number(arg('from') ?? 0);
const runs = single !== undefined ? 1 : Number(arg('runs') ?? 2000);
const started = performance.now();
let ios = 0;
let snapshots = 0;
let rollbacks = 0;
let deletions = 0;
let violations = 0;
for (let i = 0; i < runs; i++) {
  const seed = single !== undefined ? Number(single) : sweepSeed(1_000_000 + from + i);
  const { config, workload } = snapshotShape(seed);
  const result = createCluster({ ...config, trace: single !== undefined && trace }).run(workload);
  ios += result.summary.iosCompleted + result.summary.iosFailed;
  snapshots += result.summary.snapshots;
  rollbacks += result.summary.rollbacks;
  deletions += result.summary.deletions;
  if (single !== undefined) console.log(JSON.stringify({ config, workload }, null, 1), JSON.stringify(result.summary));
  for (const r of result.trace) console.log(`${r.time} ${r.from} -> ${r.to}: ${r.label}${r.step === undefined ? '' : ` [${r.step}]`}`);
  if (result.violation !== null) {
    violations++;
    console.log(`VIOLATION seed ${seed} (run ${from + i}): ${result.violation.kind} at step ${result.violation.step}: ${result.violation.message}`);
  }
  if ((i + 1) % 250 === 0)
    console.log(`${i + 1} runs, ${ios} host I/Os, ${snapshots} snapshots, ${rollbacks} rollbacks, ${deletions} deletions, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
console.log(
  `snapshot sweep: ${runs} runs from ${from}, ${ios} host I/Os, ${snapshots} snapshots, ${rollbacks} rollbacks, ${deletions} deletions, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exitCode = violations === 0 ? 0 : 1;
