/**
 * The liveness scenarios of `bench/README.md#liveness`, each a fixed simulated run whose figures
 * (latency p50/p99/max, fault messages per distinct fault, worst time after the last fault) are
 * printed. Not part of `npm run bench`: the figures are simulated time, not wall time.
 *
 *   npx tsx bench/liveness.ts [scenario ...]     (all when none is named)
 */
import { livenessScenarios } from './liveness-scenarios.js';
import { createCluster } from '../src/sim/cluster.js';

const wanted = process.argv.slice(2);
let failed = false;
for (const s of livenessScenarios) {
  if (wanted.length > 0 && !wanted.includes(s.name)) continue;
  const started = performance.now();
  const r = createCluster(s.config).run(s.workload);
  const wall = (performance.now() - started) / 1000;
  const m = r.summary;
  const extra = s.measure === undefined ? '' : ` ${s.measure(r)}`;
  console.log(
    `${s.name}: ${r.violation === null ? 'ok' : `VIOLATION ${r.violation.kind}: ${r.violation.message}`} | ios ${m.iosCompleted}+${m.iosFailed} failed | latency p50 ${m.latency.p50} p99 ${m.latency.p99} max ${m.latency.max} ms | ` +
      `faults ${m.distinctFaults}, ${m.faultMessagesPerFault.toFixed(2)} messages each | evictions ${m.evictions} | worst after last fault ${m.worstAfterLastFault} ms (bound ${m.livenessBound}) | steps ${m.steps} | wall ${wall.toFixed(1)} s${extra}`,
  );
  if (r.violation !== null) failed = true;
}
process.exitCode = failed ? 1 : 0;
