/**
 * The simulator at scale (issue target: 64 agents, 4 disks of 65,536 segments, 100,000 host
 * I/Os in well under a minute). Not part of `npm run bench`: it reports wall time only.
 *
 *   npx tsx bench/sim-scale.ts [agents=64] [segmentsPerDisk=65536] [ios=100000]
 */
import { createCluster } from '../src/sim/cluster.js';

const agents = Number(process.argv[2] ?? 64);
const segments = Number(process.argv[3] ?? 65_536);
const ios = Number(process.argv[4] ?? 100_000);
const perDisk = Math.max(1, Math.floor(agents / 4));

const started = performance.now();
// Each disk is mapped by a quarter of the agents plus one agent from another quarter.
const disks = [0, 1, 2, 3].map((d) => ({
  id: `d${d}`,
  segmentBlocks: 8,
  segmentCount: segments,
  agents: [...new Set([...Array.from({ length: perDisk }, (_, i) => (d * perDisk + i) % agents), (d * perDisk + perDisk + 4) % agents])],
}));
const cluster = createCluster({ seed: 1, agents, disks, luns: { 1: segments * 8 * 3, 2: segments * 8 * 3 } });
const built = performance.now();
const result = cluster.run({ ios });
const done = performance.now();

console.log(`${agents} agents, 4 disks of ${segments} segments, ${ios} host I/Os`);
console.log(`build ${((built - started) / 1000).toFixed(1)} s, run and verify ${((done - built) / 1000).toFixed(1)} s`);
console.log(`faults ${result.summary.faultsRaised}, messages ${result.summary.messagesSent}, steps ${result.summary.steps}`);
console.log(result.violation === null ? 'no violation' : `VIOLATION: ${JSON.stringify(result.violation)}`);
process.exitCode = result.violation === null ? 0 : 1;
