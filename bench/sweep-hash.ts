/**
 * One hash over the results (summaries, violations and traces) of the first runs of the
 * simulator sweep's fixed seed list. A change meant to keep the machines' commands for the same
 * events (a speed-up, a refactor) must give the same hash before and after:
 *
 *   npx tsx bench/sweep-hash.ts [RUNS=600]     # on the old and on the new code
 */
import { createHash } from 'node:crypto';
import { createCluster } from '../src/sim/cluster.js';
import { sweepSeed, sweepShape } from '../test/sim/sweep-runs.js';

const runs = Number(process.argv[2] ?? 600);
const hash = createHash('sha256');
let violations = 0;
for (let i = 0; i < runs; i++) {
  const { config, workload } = sweepShape(sweepSeed(i));
  const result = createCluster({ ...config, trace: true }).run(workload);
  if (result.violation !== null) violations++;
  hash.update(JSON.stringify(result, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
}
console.log(`runs ${runs} violations ${violations} hash ${hash.digest('hex').slice(0, 16)}`);
