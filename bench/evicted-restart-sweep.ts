/**
 * Agents evicted before a controller restart (docs/design.md#leases-and-liveness, "After a lapse
 * of the lease"): per seed, an agent that wrote a disk is cut off (both ways or from the
 * controller only) and evicted while the disk is deleted by force; the controller restarts around
 * `deleteTable` and the disk created again; the cut-off agent then writes and the other reads.
 * Every timing is drawn from the seed. Each run that breaks a property is printed with its seed.
 *
 *   tsx bench/evicted-restart-sweep.ts --runs 400
 *   tsx bench/evicted-restart-sweep.ts --from 17 --runs 1
 */
import { createCluster } from '../src/sim/cluster.js';
import type { SimAction } from '../src/sim/config.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const from = Number(arg('from') ?? 1);
const runs = Number(arg('runs') ?? 200);

/** A small PRNG of the seed (the simulator draws its own from the same seed). */
const draws = (seed: number): ((n: number) => number) => {
  let x = (seed * 2654435761) % 4294967296;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
};

const started = performance.now();
const totals = { runs: 0, ios: 0, deletions: 0, evictions: 0, restarts: 0, violations: 0 };
const byKind: Record<string, number> = {};
for (let seed = from; seed < from + runs; seed++) {
  const draw = draws(seed);
  const schedule: { at: number; action: SimAction }[] = [
    { at: 1, action: { type: 'hostIo', agent: 1, disk: 'd', op: 'write', start: 0, length: 2 } },
    { at: 40 + draw(40), action: { type: 'cutAgent', agent: 1, duration: 300 + draw(300), direction: draw(2) === 0 ? 'both' : 'fromController' } },
    { at: 100 + draw(100), action: { type: 'deleteDisk', disk: 'd', force: true } },
    { at: 380 + draw(80), action: { type: 'restartController' } },
    { at: 450 + draw(400), action: { type: 'hostIo', agent: 1, disk: 'd', op: 'write', start: draw(8), length: 1 + draw(8) } },
    { at: 900, action: { type: 'hostIo', agent: 0, disk: 'd', op: 'read', start: 0, length: 16 } },
  ];
  const result = createCluster({
    seed,
    agents: 2,
    disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 4 }],
    luns: { 1: 1024 },
    lease: { duration: 300, maxClockDrift: 20, maxIoLifetime: 50 },
  }).run({ ios: 0, schedule });
  const s = result.summary;
  totals.runs++;
  totals.ios += s.iosCompleted + s.iosFailed;
  totals.deletions += s.deletions;
  totals.evictions += s.evictions;
  totals.restarts += s.controllerRestarts;
  if (result.violation !== null) {
    totals.violations++;
    byKind[result.violation.kind] = (byKind[result.violation.kind] ?? 0) + 1;
    console.log(`VIOLATION seed ${seed}: ${result.violation.kind} at step ${result.violation.step} (t=${result.violation.time}): ${result.violation.message}`);
  }
}
const seconds = Math.round((performance.now() - started) / 1000);
console.log(
  `evicted-restart sweep: seeds ${from}..${from + runs - 1}, ${totals.runs} runs, ${totals.ios} host I/Os, ${totals.deletions} deletions, ${totals.evictions} evictions, ${totals.restarts} controller restarts, ${totals.violations} violations ${JSON.stringify(byKind)}, ${seconds} s`,
);
