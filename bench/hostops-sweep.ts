/**
 * Sweeps of disk deletion in the simulator: seeds × variants × access patterns, each run
 * printed when it breaks a property, with what replays it.
 *
 *   tsx bench/hostops-sweep.ts --runs 2000                host operations (the second property of
 *                                                         test/sim/cluster.test.ts: deletions,
 *                                                         rollbacks, discards, restarts)
 *   tsx bench/hostops-sweep.ts --power --runs 500         power loss of storage, controller and
 *                                                         agents, with deletions and rollbacks
 *   tsx bench/hostops-sweep.ts --from 136 --runs 1        one seed (all variants and patterns)
 *
 * A run is `seed` (from 1) × variant × pattern: `--runs N` covers seeds from..from+N-1, 6 runs each.
 */
import { createCluster } from '../src/sim/cluster.js';
import type { SimAction, SimConfig, Workload } from '../src/sim/config.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const power = process.argv.includes('--power');
const from = Number(arg('from') ?? 1);
const seeds = Number(arg('runs') ?? 100);
const ios = Number(arg('ios') ?? (power ? 500 : 400));
const zeroRatio = Number(arg('zero') ?? (power ? 0 : 0.3));

type Variant = 'centralized' | 'distributed';
type Pattern = 'random' | 'sequential' | 'hotspot';

const config = (seed: number, variant: Variant): SimConfig => ({
  seed,
  variant,
  agents: 3,
  disks: [
    { id: 'd0', segmentBlocks: 8, segmentCount: 16 },
    { id: 'd1', segmentBlocks: 4, segmentCount: 20, agents: [0] },
  ],
  luns: { 1: 4096, 2: 4096 },
  faults: { dropRate: 0.05, duplicateRate: 0.05, storageErrorRate: 0.01, persistErrorRate: 0.02 },
});

const everything = { snapshot: 0.003, migrate: 0.005, markFailed: 0.001, restartAgent: 0.003, restartController: 0.002, cutAgent: 0.003 };
const hostOps: Workload['rates'] = { ...everything, snapshot: 0.01, deleteDisk: 0.004, rollback: 0.006 };
const powerRates: Workload['rates'] = { ...hostOps, storagePowerLoss: 0.005, controllerPowerLoss: 0.003, agentPowerLoss: 0.003 };

const workload = (seed: number, pattern: Pattern): Workload => {
  if (!power) return { ios, readRatio: 0.4, zeroRatio, pattern, rates: hostOps };
  // A few power losses at fixed times on top of the random ones, each after a deletion.
  const schedule: { at: number; action: SimAction }[] = [];
  for (let k = 0; k < 3; k++) {
    const at = 50 + ((seed * 97 + k * 131) % 400);
    schedule.push({ at, action: { type: 'deleteDisk', disk: k % 2 === 0 ? 'd0' : 'd1', force: true } });
    schedule.push({ at: at + 1 + ((seed + k) % 30), action: { type: 'powerLoss', target: (['storage', 'controller', 'agent'] as const)[(seed + k) % 3]!, agent: (seed + k) % 3 } });
  }
  return { ios, readRatio: 0.4, zeroRatio, flushRatio: 0.05, fuaRatio: 0.1, pattern, rates: powerRates, schedule };
};

const started = performance.now();
const totals = { runs: 0, ios: 0, deletions: 0, powerLosses: 0, restarts: 0, violations: 0 };
const byKind: Record<string, number> = {};
for (let seed = from; seed < from + seeds; seed++)
  for (const variant of ['centralized', 'distributed'] as const)
    for (const pattern of ['random', 'sequential', 'hotspot'] as const) {
      const result = createCluster(config(seed, variant)).run(workload(seed, pattern));
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
      }
      if (totals.runs % 300 === 0) console.log(`${totals.runs} runs, ${totals.violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
console.log(
  `${power ? 'power-loss+delete' : 'host-ops'} sweep: seeds ${from}..${from + seeds - 1}, ${totals.runs} runs, ${totals.ios} host I/Os, ${totals.deletions} deletions, ` +
    `${totals.powerLosses} power losses, ${totals.restarts} restarts, ${totals.violations} violations ${JSON.stringify(byKind)}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exitCode = totals.violations === 0 ? 0 : 1;
