/**
 * The simulator sweep: a fixed list of seeded runs over every fault kind (message drops and
 * duplicates, storage and persistence errors, agent and controller restarts, short partitions,
 * partitions long enough to evict, one-way partitions, an isolated controller, controller
 * crashes before and midway through a fan-out, writes that land but fail, partial writes and
 * copies, hung I/O, agents lost for good, process pauses, clock drift, duplicated admin
 * requests, epoch reuse, snapshots, migrations, failed-block markings), in both variants and all
 * access patterns. It prints the faults injected by kind. Each seed decides its run's shape, so a failing seed
 * replays exactly: `npm run sim:sweep -- --seed N`.
 *
 *   npm run sim:sweep                      10,000 runs
 *   npm run sim:sweep -- --runs 500        the first 500 of them
 *   npm run sim:sweep -- --from 2000 --runs 100
 *   npm run sim:sweep -- --seed 123456     one run, with its configuration printed
 *   npm run sim:sweep -- --delete 0.003    forced deletions and re-creation too (not in the
 *                                          default list: see bench/README.md, Liveness); the
 *                                          summary counts the deletions done
 *   npm run sim:sweep -- --variable        disk d0 variable (segments of differing sizes)
 *   npm run sim:sweep -- --reshape 0.02    splits and merges at that rate per host I/O, and
 *                                          resizes at half of it, on live disks
 *   npm run sim:sweep -- --attach 0.03     agents attached to and detached from live disks at
 *                                          that rate each per host I/O (joins, detach + restart)
 */
import { sweepRun, sweepSeed } from '../test/sim/sweep-runs.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};

const single = arg('seed');
const from = Number(arg('from') ?? 0);
const runs = single !== undefined ? 1 : Number(arg('runs') ?? 10_000);
const deleteRate = Number(arg('delete') ?? 0);
const variable = process.argv.includes('--variable');
const reshape = Number(arg('reshape') ?? 0);
const attach = Number(arg('attach') ?? 0);
const started = performance.now();
let ios = 0;
let evictions = 0;
/** Disks deleted by force (with --delete; the sweep's own runs delete none). */
let deletions = 0;
let violations = 0;
let worst = 0;
/** Changes of segment bounds done on live disks (with --reshape). */
const bounds = { splits: 0, merges: 0, resizes: 0 };
/** Attachments and detachments done on live disks (with --attach). */
const attachments = { attaches: 0, detaches: 0 };
/** Faults injected over the sweep, by kind, and how many runs saw each kind at least once. */
const faults: Record<string, number> = {};
const runsWith: Record<string, number> = {};
const count = (kind: string, n: number): void => {
  if (n <= 0) return;
  faults[kind] = (faults[kind] ?? 0) + n;
  runsWith[kind] = (runsWith[kind] ?? 0) + 1;
};
for (let i = 0; i < runs; i++) {
  const seed = single !== undefined ? Number(single) : sweepSeed(from + i);
  const { config, workload, result } = sweepRun(seed, deleteRate, { variable, reshape, attach });
  const s = result.summary;
  ios += s.iosCompleted + s.iosFailed;
  evictions += s.evictions;
  deletions += s.deletions;
  count('messageDropped', s.messagesDropped);
  count('messageDuplicated', s.messagesDuplicated);
  count('storageError', s.storageErrors);
  count('persistFailure', s.persistFailures);
  count('agentRestart', s.agentRestarts);
  count('controllerRestart', s.controllerRestarts);
  for (const [kind, n] of Object.entries(s.injected)) count(kind, n ?? 0);
  // Continuous or rare faults, counted by run: drifting clocks, and the rollbacks done.
  count('clockDrift (runs)', (config.faults?.clockDrift ?? 0) > 0 ? 1 : 0);
  count('rollback', s.rollbacks);
  bounds.splits += s.splits;
  bounds.merges += s.merges;
  bounds.resizes += s.resizes;
  attachments.attaches += s.attaches;
  attachments.detaches += s.detaches;
  worst = Math.max(worst, result.summary.worstAfterLastFault);
  if (single !== undefined) console.log(JSON.stringify({ config, workload }, null, 1), JSON.stringify(result.summary));
  if (result.violation !== null) {
    violations++;
    console.log(`VIOLATION seed ${seed} (run ${from + i}): ${result.violation.kind} at step ${result.violation.step}: ${result.violation.message}`);
  }
  if ((i + 1) % 500 === 0) console.log(`${i + 1} runs, ${ios} host I/Os, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
console.log('faults injected, by kind (total, and runs with at least one):');
for (const kind of Object.keys(faults).sort()) console.log(`  ${kind.padEnd(20)} ${String(faults[kind]).padStart(9)}  in ${runsWith[kind]} runs`);
if (reshape > 0) console.log(`segment bounds changed on live disks: ${bounds.splits} splits, ${bounds.merges} merges, ${bounds.resizes} resizes`);
if (attach > 0) console.log(`attachments of live disks: ${attachments.attaches} attaches, ${attachments.detaches} detaches`);
console.log(`sweep: ${runs} runs from ${from}, ${ios} host I/Os, ${Object.values(faults).reduce((a, b) => a + b, 0)} faults, ${deletions} forced deletions, ${evictions} evictions, worst time after the last fault ${worst} ms, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exitCode = violations === 0 ? 0 : 1;
