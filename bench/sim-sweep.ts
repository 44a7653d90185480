/**
 * The simulator sweep: a fixed list of seeded runs over every fault kind (message drops and
 * duplicates, storage and persistence errors, agent and controller restarts, short partitions,
 * partitions long enough to evict, snapshots, migrations, failed-block markings), in both
 * variants and all access patterns. Each seed decides its run's shape, so a failing seed
 * replays exactly: `npm run sim:sweep -- --seed N`.
 *
 *   npm run sim:sweep                      10,000 runs
 *   npm run sim:sweep -- --runs 500        the first 500 of them
 *   npm run sim:sweep -- --from 2000 --runs 100
 *   npm run sim:sweep -- --seed 123456     one run, with its configuration printed
 */
import { sweepRun, sweepSeed } from '../test/sim/sweep-runs.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};

const single = arg('seed');
const from = Number(arg('from') ?? 0);
const runs = single !== undefined ? 1 : Number(arg('runs') ?? 10_000);
const started = performance.now();
let ios = 0;
let evictions = 0;
let violations = 0;
let worst = 0;
for (let i = 0; i < runs; i++) {
  const seed = single !== undefined ? Number(single) : sweepSeed(from + i);
  const { config, workload, result } = sweepRun(seed);
  ios += result.summary.iosCompleted + result.summary.iosFailed;
  evictions += result.summary.evictions;
  worst = Math.max(worst, result.summary.worstAfterLastFault);
  if (single !== undefined) console.log(JSON.stringify({ config, workload }, null, 1), JSON.stringify(result.summary));
  if (result.violation !== null) {
    violations++;
    console.log(`VIOLATION seed ${seed} (run ${from + i}): ${result.violation.kind} at step ${result.violation.step}: ${result.violation.message}`);
  }
  if ((i + 1) % 500 === 0) console.log(`${i + 1} runs, ${ios} host I/Os, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
console.log(`sweep: ${runs} runs from ${from}, ${ios} host I/Os, ${evictions} evictions, worst time after the last fault ${worst} ms, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exitCode = violations === 0 ? 0 : 1;
