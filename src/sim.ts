/**
 * `vdisk-map/sim`: a deterministic, seeded cluster simulator with fault injection, property
 * checkers and readable traces.
 *
 * @example
 * import { createCluster } from 'vdisk-map/sim';
 * const result = createCluster({ seed: 1, agents: 2, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 64 }], luns: { 1: 4096 } }).run({ ios: 1000 });
 * if (result.violation) console.error(result.violation); // carries the seed and step to replay it
 *
 * @packageDocumentation
 */
export type { InjectedFaultKind, SimAction, SimConfig, SimDiskConfig, SimFaults, SimResult, SimSummary, TraceRecord, Violation, Workload } from './sim/config.js';
export { simConfigErrors, workloadErrors } from './sim/config.js';
export { Cluster, createCluster } from './sim/cluster.js';
export type { MermaidOptions, TimelineOptions } from './sim/trace.js';
export { escapeMermaidText, traceParticipants, traceToMermaid, traceToTimeline } from './sim/trace.js';
export { DiskModel } from './sim/disk-model.js';
export { DurabilityModel, type TrackedWrite } from './sim/durability-model.js';
export type { LatencyFigures } from './sim/latency.js';
