/**
 * A short scripted scenario on a simulated cluster, traced and rendered:
 *
 * 1. agent a0 writes blocks of a zero segment. Agents get no table when attached, so the write
 *    first faults for want of one (585, 595); then it faults on the zero segment, and the
 *    controller allocates the segment (570), pushes the new entry (575) and retries the write (595);
 * 2. agent a1 reads the same blocks;
 * 3. the disk is snapshotted;
 * 4. agent a1 writes to the snapshotted segment: copy-on-write;
 * 5. both agents read.
 *
 * Prints the run summary and the controller's tables, and writes the trace as a Mermaid sequence
 * diagram (`trace.mmd`) and a plain text timeline (`trace.txt`).
 *
 *   npx tsx examples/trace-scenario.ts [output-directory]    (default ./trace-output)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatTable } from '../src/index.js';
import { createCluster } from '../src/sim/cluster.js';
import type { SimAction } from '../src/sim/config.js';
import { traceToMermaid, traceToTimeline } from '../src/sim/trace.js';

const outDir = resolve(process.argv[2] ?? './trace-output');
const DISK = 'vd1';
const SNAPSHOT = 'vd1.snap';

const cluster = createCluster({
  seed: 42,
  agents: 2,
  disks: [{ id: DISK, segmentBlocks: 10, segmentCount: 3 }],
  luns: { 1: 60, 2: 60 },
  trace: true,
});

const io = (agent: number, op: 'read' | 'write', start: number, length: number): SimAction => ({ type: 'hostIo', agent, disk: DISK, op, start, length });
const schedule: ReadonlyArray<{ at: number; action: SimAction }> = [
  { at: 100, action: io(0, 'write', 2, 4) }, // no table yet (585, 595), then zero segment 0 (570, 575, 595)
  { at: 200, action: io(1, 'read', 2, 4) },
  { at: 300, action: { type: 'snapshot', disk: DISK, snapshot: SNAPSHOT } },
  // The snapshot takes a few commits (about 100 ms here); a write before it is answered would race
  // with it rather than follow it.
  { at: 600, action: io(1, 'write', 4, 3) }, // segment 0 is shared with the snapshot now: copy-on-write
  { at: 700, action: io(0, 'read', 0, 10) },
  { at: 710, action: io(1, 'read', 0, 10) },
];

const result = cluster.run({ ios: 0, schedule });
const { summary } = result;
const { trace } = result;

console.log(`violation: ${result.violation === null ? 'none' : `${result.violation.kind}: ${result.violation.message}`}`);
console.log(
  `host I/Os: ${summary.iosCompleted} completed, ${summary.iosFailed} failed (${summary.writes} writes, ${summary.reads} reads, ${summary.readsChecked} checked)`,
);
console.log(`faults: ${summary.faultsRaised} ${JSON.stringify(summary.faultsByReason)}`);
console.log(`resolutions by path: ${JSON.stringify(summary.resolutionsByPath)}`);
console.log(`snapshots: ${summary.snapshots}, messages: ${summary.messagesSent}, simulated time: ${summary.simulatedTime} ms`);

const disks = cluster.controllerState().disks;
for (const id of [DISK, SNAPSHOT]) {
  const table = disks.get(id)?.committed;
  if (table === undefined) continue;
  console.log(`\n${id} (generation ${table.generation}):\n${formatTable(table)}`);
}

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'trace.mmd'), `${traceToMermaid(trace, { title: `${DISK}: zero fault, snapshot, copy-on-write (seed 42)` })}\n`);
writeFileSync(join(outDir, 'trace.txt'), `${traceToTimeline(trace)}\n`);
console.log(`\n${trace.length} trace records written to ${join(outDir, 'trace.mmd')} and ${join(outDir, 'trace.txt')}`);
