/**
 * Sweeps of disk deletion in the simulator: seeds × variants × access patterns, each run that
 * breaks a property printed with the command that prints its trace (`tsx bench/hostops-trace.ts
 * SEED VARIANT PATTERN` and this sweep's own --power, --ios and --zero). The runs are defined in
 * bench/hostops-sweep-shape.ts.
 *
 *   tsx bench/hostops-sweep.ts --runs 400               host operations: seeds 1..400, 2,400 runs
 *   tsx bench/hostops-sweep.ts --power --runs 100       power loss with deletions
 *   tsx bench/hostops-sweep.ts --from 136 --runs 1      one seed (its 6 runs)
 *   --ios N, --zero RATIO                               other workload sizes and discard shares
 */
import { createCluster } from '../src/sim/cluster.js';
import { sweepConfig, sweepWorkload } from './hostops-sweep-shape.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const power = process.argv.includes('--power');
const from = Number(arg('from') ?? 1);
const seeds = Number(arg('runs') ?? 100);
const ios = arg('ios') === undefined ? undefined : Number(arg('ios'));
const zero = arg('zero') === undefined ? undefined : Number(arg('zero'));
/** The flags that make bench/hostops-trace.ts replay a run of this sweep. */
const replayFlags = `${power ? ' --power' : ''}${ios === undefined ? '' : ` --ios ${ios}`}${zero === undefined ? '' : ` --zero ${zero}`}`;

const started = performance.now();
const totals = { runs: 0, ios: 0, deletions: 0, powerLosses: 0, restarts: 0, violations: 0 };
const byKind: Record<string, number> = {};
for (let seed = from; seed < from + seeds; seed++)
  for (const variant of ['centralized', 'distributed'] as const)
    for (const pattern of ['random', 'sequential', 'hotspot'] as const) {
      const result = createCluster(sweepConfig(seed, variant)).run(sweepWorkload(seed, pattern, power, ios, zero));
      const s = result.summary;
      totals.runs++;
      totals.ios += s.iosCompleted + s.iosFailed;
      totals.deletions += s.deletions;
      totals.powerLosses += s.storagePowerLosses + s.controllerPowerLosses + s.agentPowerLosses;
      totals.restarts += s.agentRestarts + s.controllerRestarts;
      if (result.violation !== null) {
        totals.violations++;
        byKind[result.violation.kind] = (byKind[result.violation.kind] ?? 0) + 1;
        console.log(`VIOLATION seed ${seed} ${variant} ${pattern}: ${result.violation.kind} at step ${result.violation.step} (t=${result.violation.time}): ${result.violation.message}`);
        console.log(`  its trace: npx tsx bench/hostops-trace.ts ${seed} ${variant} ${pattern}${replayFlags}`);
      }
      if (totals.runs % 300 === 0) console.log(`${totals.runs} runs, ${totals.violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
console.log(
  `${power ? 'power-loss+delete' : 'host-ops'} sweep: seeds ${from}..${from + seeds - 1}, ${totals.runs} runs, ${totals.ios} host I/Os, ${totals.deletions} deletions, ` +
    `${totals.powerLosses} power losses, ${totals.restarts} restarts, ${totals.violations} violations ${JSON.stringify(byKind)}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exitCode = totals.violations === 0 ? 0 : 1;
