/**
 * The simulator's public vocabulary: what defines a simulated cluster and its workload, and what
 * a run reports (counters, the first violated property, the trace).
 */
import type { HostOp } from '../agent/types.js';
import type { agentStep } from '../agent/agent.js';
import type { controllerStep } from '../controller/controller.js';
import type { DiskId, Step } from '../protocol/messages.js';
import type { Variant } from '../translate/translate.js';
import type { LatencyFigures } from './latency.js';

// ---------------------------------------------------------------------------------------------
// Configuration

/**
 * One virtual disk of a simulated cluster. It starts thin (every segment `zero`) and is created
 * and attached through the controller, as an administrator would.
 *
 * @example
 * const disk: SimDiskConfig = { id: 'vol', segmentBlocks: 8, segmentCount: 64, agents: [0, 1] };
 */
export interface SimDiskConfig {
  readonly id: DiskId;
  /** Blocks per segment; 0 for a variable disk. */
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  /** A variable disk: each segment's length, `segmentCount` of them (with `segmentBlocks` 0). */
  readonly segmentLengths?: ReadonlyArray<number>;
  /** Blocks per alternate bit, a divisor of `segmentBlocks` (a grained disk); 1 when absent. */
  readonly grainBlocks?: number;
  /** Indexes of the agents that map the disk; all agents when absent. */
  readonly agents?: ReadonlyArray<number>;
}

/**
 * Rates are probabilities per message or per operation; delays are in simulated milliseconds.
 * Everything is drawn from the run's seed, so a failing run replays exactly.
 *
 * @example
 * const faults: SimFaults = { dropRate: 0.05, duplicateRate: 0.02, storageErrorRate: 0.001, persistErrorRate: 0.01 };
 */
export interface SimFaults {
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  /** Storage operations that fail, per operation. */
  readonly storageErrorRate?: number;
  /** Persist commands that fail, per command. */
  readonly persistErrorRate?: number;
  // --- what real clusters do besides (docs/design.md#leases-and-liveness) ---
  /** Per persist answer that fans a change out: the controller crashes after the store took it, before sending anything. */
  readonly crashBeforeFanOutRate?: number;
  /** Per persist answer that fans a change out to two agents or more: the controller crashes after sending it to some of them. */
  readonly crashMidFanOutRate?: number;
  /** Storage writes and copies that land but report failure, per operation. */
  readonly lostAckRate?: number;
  /** Multi-block storage writes and copies that land in part (some blocks) and then fail, per operation. */
  readonly partialWriteRate?: number;
  /**
   * Storage operations (agent I/O, copies, flushes) that hang, per operation: half complete very
   * late, half never, and are aborted with an error by the storage path; both within
   * `maxIoLifetime` (the documented bound, docs/design.md#leases-and-liveness).
   */
  readonly hangRate?: number;
  /**
   * Clock drift, as a share (0 to 1) of the documented bound: each agent's clock runs at its own
   * rate, slow or fast by up to `clockDrift * maxClockDrift` per lease against the controller's,
   * from its own random origin.
   */
  readonly clockDrift?: number;
  /** Admin requests delivered twice (the same `requestId`), per request. */
  readonly duplicateAdminRate?: number;
}

/**
 * The fault kinds a run counts in {@link SimSummary.injected}, beyond the counters of their own.
 *
 * @example
 * const kind: InjectedFaultKind = 'crashMidFanOut';
 * createCluster(config).run(workload).summary.injected[kind] // how many times the controller crashed midway through a fan-out
 */
export type InjectedFaultKind =
  | 'crashBeforeFanOut'
  | 'crashMidFanOut'
  | 'lostAck'
  | 'partialWrite'
  | 'lateIo'
  | 'abortedIo'
  | 'agentLost'
  | 'agentPause'
  | 'controllerPause'
  | 'duplicateAdmin'
  | 'epochReuse'
  | 'cut'
  | 'isolateController';

/**
 * Everything that defines a simulated cluster: the seed, the agents, the disks and LUNs, and the
 * faults to inject. The same configuration and workload always give the same run.
 *
 * @example
 * const config: SimConfig = {
 *   seed: 42, agents: 3, variant: 'distributed', trace: true,
 *   disks: [{ id: 'vol', segmentBlocks: 8, segmentCount: 64 }],
 *   luns: { 1: 4096, 2: 4096 },
 *   faults: { dropRate: 0.05 },
 * };
 */
export interface SimConfig {
  readonly seed: number;
  readonly variant?: Variant;
  readonly agents: number;
  readonly disks: ReadonlyArray<SimDiskConfig>;
  /** LUN sizes in blocks. */
  readonly luns: Readonly<Record<number, number>>;
  readonly faults?: SimFaults;
  /** Message delay range (ms). Defaults to 1..5. */
  readonly networkDelay?: readonly [number, number];
  /** Storage delay range (ms). Defaults to 1..4. */
  readonly storageDelay?: readonly [number, number];
  /** Interval of time ticks (ms). Defaults to 10. */
  readonly tickInterval?: number;
  /** Keep a trace of every message and step (costs memory at scale). */
  readonly trace?: boolean;
  /**
   * After the last injected fault, every host I/O must end within this many simulated ms
   * (default: see `defaultLivenessBound`); `Infinity` turns the liveness checker off.
   */
  readonly livenessBound?: number;
  /**
   * Agent leases (docs/design.md#leases-and-liveness), simulated ms: on by default with a lease
   * of 2,000, a clock drift bound of 100 and an I/O lifetime of 500; `null` turns them off.
   */
  readonly lease?: { readonly duration: number; readonly maxClockDrift?: number; readonly maxIoLifetime?: number } | null;
  /**
   * For testing the checkers only: step functions that replace the real machines, typically
   * wrappers that break one rule on purpose (docs/design.md#ordering-rules), to show that the
   * simulator reports it.
   *
   * @example
   * // Answer every flush at once, without flushing: copies are persisted before they are durable.
   * const broken: typeof controllerStep = (s, e) => { ... };
   * createCluster({ ...config, testHooks: { controllerStep: broken } });
   */
  readonly testHooks?: {
    readonly controllerStep?: typeof controllerStep;
    readonly agentStep?: typeof agentStep;
  };
}

/**
 * A scripted action, run at simulated time `at`: to reproduce a scenario exactly, instead of
 * leaving it to the random rates of a {@link Workload}.
 *
 * @example
 * const action: SimAction = { type: 'restartController' };
 * createCluster(config).run({ ios: 500, schedule: [{ at: 100, action }] });
 */
export type SimAction =
  /** `op: 'zero'`: a discard or write-zeroes (afterwards the blocks read as zeros). */
  | { readonly type: 'hostIo'; readonly agent: number; readonly disk: DiskId; readonly op: HostOp; readonly start: number; readonly length: number; readonly fua?: boolean }
  | { readonly type: 'snapshot'; readonly disk: DiskId; readonly snapshot: DiskId }
  | { readonly type: 'migrate'; readonly disk: DiskId; readonly segments?: ReadonlyArray<number>; readonly lun: number }
  | { readonly type: 'markFailed'; readonly lun: number; readonly start: number; readonly length: number }
  | { readonly type: 'restartAgent'; readonly agent: number }
  | { readonly type: 'restartController' }
  /** Cuts an agent off for `duration` ms: both ways, or only its messages `toController` or `fromController` (a one-way partition). */
  | { readonly type: 'cutAgent'; readonly agent: number; readonly duration: number; readonly direction?: 'both' | 'toController' | 'fromController' }
  /** Cuts the controller off from every agent for `duration` ms. */
  | { readonly type: 'isolateController'; readonly duration: number }
  /** Agent `agent` dies for good: its host I/O fails, it never steps or answers again; the controller must evict it. */
  | { readonly type: 'loseAgent'; readonly agent: number }
  /** The controller, or agent `agent`, stops stepping for `duration` ms (a process pause); what reaches it waits. */
  | { readonly type: 'pause'; readonly target: 'controller' | 'agent'; readonly agent?: number; readonly duration: number }
  /**
   * Agent `agent` restarts with an epoch it already used (its current one, or an earlier one):
   * that life must be refused, never corrupt anything; after `duration` ms (default 300) it is
   * restarted properly.
   */
  | { readonly type: 'reuseEpoch'; readonly agent: number; readonly earlier?: boolean; readonly duration?: number }
  /** The controller crashes at the next persist answer that fans a change out: before any send, or midway. */
  | { readonly type: 'crashController'; readonly at: 'beforeFanOut' | 'midFanOut' }
  // --- deletion and rollback ---
  /** Deletes a disk or snapshot (with `force`: its agents are detached first). A deleted disk of the configuration is created again, empty. */
  | { readonly type: 'deleteDisk'; readonly disk: DiskId; readonly force?: boolean }
  | { readonly type: 'rollback'; readonly disk: DiskId; readonly snapshot: DiskId }
  // --- segment bounds of a live disk (docs/design.md#jobs) ---
  /** Resizes `disk` (new segments of a variable disk `segmentLength` blocks each); refusals are part of the run. */
  | { readonly type: 'resize'; readonly disk: DiskId; readonly segmentCount: number; readonly segmentLength?: number }
  | { readonly type: 'splitSegment'; readonly disk: DiskId; readonly segment: number; readonly at: number }
  | { readonly type: 'mergeSegments'; readonly disk: DiskId; readonly segment: number }
  // --- attachments of a live disk ---
  /** Attaches agent `agent` to `disk` (an admin `attachAgent`): it joins, and host I/O may go through it. */
  | { readonly type: 'attachAgent'; readonly disk: DiskId; readonly agent: number }
  /** Detaches agent `agent` from `disk` (an admin `detachAgent`): it drops its copy; its I/O on the disk fails. */
  | { readonly type: 'detachAgent'; readonly disk: DiskId; readonly agent: number }
  // Durability (docs/design.md#ordering-rules)
  /** A host flush of `disk` through `agent`. */
  | { readonly type: 'hostFlush'; readonly agent: number; readonly disk: DiskId }
  /**
   * Power loss of storage (unflushed writes may be lost or torn, operations in flight fail), of
   * the controller with its store (it restarts; a persist in flight may land in part), or of
   * agent `agent` (it restarts).
   */
  | { readonly type: 'powerLoss'; readonly target: 'storage' | 'controller' | 'agent'; readonly agent?: number };

/**
 * What {@link Cluster.run} drives the cluster with: host I/O and, optionally, random or
 * scripted admin actions, restarts and partitions. Afterwards, by default, the run is checked for
 * convergence and for the content of every block.
 *
 * @example
 * const workload: Workload = { ios: 2000, readRatio: 0.5, pattern: 'hotspot', rates: { snapshot: 0.001, restartAgent: 0.002 } };
 */
export interface Workload {
  /** Host I/Os to issue. */
  readonly ios: number;
  /** Mean simulated milliseconds between host I/Os (default 1; 0 issues them all at once). */
  readonly interval?: number;
  /** Share of reads (default 0.7). */
  readonly readRatio?: number;
  readonly pattern?: 'random' | 'sequential' | 'hotspot';
  /** Longest request, in blocks (default 16). */
  readonly maxLength?: number;
  /**
   * Share of writes that are discards or write-zeroes instead (default 0). Their length is
   * drawn up to four segments, so that they cover whole segments as well as parts.
   */
  readonly zeroRatio?: number;
  /** Per host I/O, chance of each random action (default none). */
  readonly rates?: {
    readonly snapshot?: number;
    readonly migrate?: number;
    readonly markFailed?: number;
    readonly restartAgent?: number;
    readonly restartController?: number;
    readonly cutAgent?: number;
    /** Deletes (with force) a random snapshot, or a disk of the configuration, which is then created again. */
    readonly deleteDisk?: number;
    /** Rolls a disk of the configuration back to a random snapshot. */
    readonly rollback?: number;
    /** Power loss of storage, of the controller and its store, of a random agent (docs/design.md#ordering-rules). */
    readonly storagePowerLoss?: number;
    readonly controllerPowerLoss?: number;
    readonly agentPowerLoss?: number;
    /** An agent dies for good (never the last one alive). */
    readonly loseAgent?: number;
    /** A random agent, or the controller, pauses for 50 ms to twice the lease. */
    readonly pauseAgent?: number;
    readonly pauseController?: number;
    /** A random agent restarts with an epoch it already used. */
    readonly reuseEpoch?: number;
    /**
     * Segment bounds of a live disk: a resize (growing past the configured blocks, or shrinking
     * back no further than them, so host I/O and the content models keep their size), a split
     * of a random segment at a random block, a merge of a random segment with the next (often
     * refused: flags or extents differ). Refusals (the disk is busy, grained) count as answers.
     */
    readonly resize?: number;
    readonly splitSegment?: number;
    readonly mergeSegments?: number;
    /**
     * Attachments of a live disk: an agent not attached to a random disk is attached (it joins),
     * one attached is detached (never the last). With either on, host I/O of a disk goes through
     * the agents attached to it now (docs/design.md#ordering-rules, the join rule).
     */
    readonly attachAgent?: number;
    readonly detachAgent?: number;
  };
  /** Share of host I/Os that are flushes instead (default none). */
  readonly flushRatio?: number;
  /** Share of writes that are FUA (default none). */
  readonly fuaRatio?: number;
  /** Scripted actions at fixed times. */
  readonly schedule?: ReadonlyArray<{ readonly at: number; readonly action: SimAction }>;
  /** Verify convergence and content after the workload (default true). */
  readonly verify?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Results

/**
 * The first property a run broke, with what is needed to replay it: the `seed`, and the `step`
 * and simulated `time` at which it was found.
 *
 * - `read-mismatch`: a read returned something other than the last acknowledged write;
 * - `frozen-primary-write`: an agent wrote to a primary the controller had frozen;
 * - `table-check`: `checkTables` found corruption or a leak in the final tables;
 * - `no-convergence`: the cluster never went quiet, or an agent's copy differs from the controller's;
 * - `lost-write`, `snapshot-changed`: a disk or a snapshot does not read back as it should;
 * - `free-while-referenced`: an extent is free in the allocator while a table (or a reference
 *   count) still holds it: it could be handed out twice;
 * - `durability`: after a power loss (or at the end), a block reads a value that no write since
 *   its last guaranteed one put there: a write acknowledged before a completed flush was lost,
 *   or the block shows zeros, another disk's data or a released extent's;
 * - `allocation`: an extent is both free in the allocator and referenced by a table;
 * - `stuck`: no progress within the step budget;
 * - `liveness`: after the last injected fault, a host I/O stayed open longer than the run's
 *   liveness bound.
 *
 * @example
 * const { violation } = createCluster(config).run({ ios: 1000 });
 * if (violation) console.error(`${violation.kind} at step ${violation.step} (seed ${violation.seed}): ${violation.message}`);
 */
export interface Violation {
  readonly kind: 'read-mismatch' | 'frozen-primary-write' | 'table-check' | 'no-convergence' | 'lost-write' | 'snapshot-changed' | 'free-while-referenced' | 'stuck' | 'durability' | 'allocation' | 'liveness';
  readonly message: string;
  readonly seed: number;
  readonly step: number;
  readonly time: number;
}

/**
 * One entry of a run's trace (with `trace: true`): a message or an effect from one participant
 * (`host`, the agents `a0`, `a1`, ..., `controller`, `persistence`, `storage`, and `admin` or
 * `sim` for scripted actions) to another, with the flowchart `step` it carries out, if any.
 * {@link traceToMermaid} and {@link traceToTimeline} render a list of them.
 *
 * @example
 * const record: TraceRecord = { time: 3, from: 'controller', to: 'a0', label: 'send setEntries', step: 575 };
 */
export interface TraceRecord {
  readonly time: number;
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly step?: Step;
}

/**
 * Counters of a run, for judging what it exercised (how many faults, restarts and resolutions of
 * each kind) as well as whether it passed.
 *
 * @example
 * const { summary } = createCluster(config).run({ ios: 1000 });
 * console.log(`${summary.faultsRaised} faults, ${summary.iosFailed} failed I/Os in ${summary.simulatedTime} ms`);
 */
export interface SimSummary {
  iosCompleted: number;
  iosFailed: number;
  reads: number;
  writes: number;
  readsChecked: number;
  faultsRaised: number;
  faultsByReason: Record<string, number>;
  resolutionsByPath: Record<string, number>;
  resolutionsByOutcome: Record<string, number>;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  agentRestarts: number;
  controllerRestarts: number;
  snapshots: number;
  migrations: number;
  errorMarkings: number;
  storageErrors: number;
  persistFailures: number;
  /** Discards and write-zeroes issued (counted among `writes` too). */
  zeroes: number;
  deletions: number;
  rollbacks: number;
  /** Attachments and detachments done by the workload's `attachAgent` / `detachAgent` (not refused). */
  attaches: number;
  detaches: number;
  /** Resizes, splits and merges done (not refused). */
  resizes: number;
  splits: number;
  merges: number;
  /** Host flushes issued, and completed. */
  flushes: number;
  flushesCompleted: number;
  storagePowerLosses: number;
  controllerPowerLosses: number;
  agentPowerLosses: number;
  steps: number;
  simulatedTime: number;
  // --- liveness (docs/design.md#leases-and-liveness) ---
  /** Host I/O latency from submission to completion or failure, simulated ms. */
  latency: LatencyFigures;
  /** Longest host I/O latency through each agent (by agent id), simulated ms. */
  maxLatencyByAgent: Record<string, number>;
  /** Faults and marks raised (each counted once, however often it was sent). */
  distinctFaults: number;
  /** Fault and mark messages sent (first sends and re-sends) per distinct fault. */
  faultMessagesPerFault: number;
  /** The liveness bound the run was checked against (simulated ms). */
  livenessBound: number;
  /** Longest a host I/O stayed open after the later of its submission and the last injected fault. */
  worstAfterLastFault: number;
  /** Agents the controller evicted because their lease had certainly expired. */
  evictions: number;
  /** Faults injected, by kind (those without a counter of their own above). */
  injected: Partial<Record<InjectedFaultKind, number>>;
}

/**
 * The outcome of {@link Cluster.run}: the seed, the counters, the first violation (`null` when
 * every property held) and the trace (empty unless the configuration asked for one).
 *
 * @example
 * const result: SimResult = createCluster({ ...config, trace: true }).run({ ios: 200 });
 * if (result.violation !== null) console.log(traceToTimeline(result.trace));
 */
export interface SimResult {
  readonly seed: number;
  readonly summary: SimSummary;
  readonly violation: Violation | null;
  readonly trace: ReadonlyArray<TraceRecord>;
}


/** Counters of a run that has not started. */
export const emptySummary = (): SimSummary => ({
  iosCompleted: 0,
  iosFailed: 0,
  reads: 0,
  writes: 0,
  readsChecked: 0,
  faultsRaised: 0,
  faultsByReason: {},
  resolutionsByPath: {},
  resolutionsByOutcome: {},
  messagesSent: 0,
  messagesDropped: 0,
  messagesDuplicated: 0,
  agentRestarts: 0,
  controllerRestarts: 0,
  snapshots: 0,
  migrations: 0,
  errorMarkings: 0,
  storageErrors: 0,
  persistFailures: 0,
  zeroes: 0,
  deletions: 0,
  rollbacks: 0,
  attaches: 0,
  detaches: 0,
  resizes: 0,
  splits: 0,
  merges: 0,
  flushes: 0,
  flushesCompleted: 0,
  storagePowerLosses: 0,
  controllerPowerLosses: 0,
  agentPowerLosses: 0,
  steps: 0,
  simulatedTime: 0,
  latency: { p50: 0, p99: 0, max: 0 },
  maxLatencyByAgent: {},
  distinctFaults: 0,
  faultMessagesPerFault: 0,
  livenessBound: 0,
  worstAfterLastFault: 0,
  evictions: 0,
  injected: {},
});

/**
 * Blocks of a simulated disk: `segmentBlocks * segmentCount`, or the sum of a variable disk's
 * `segmentLengths`.
 *
 * @example
 * diskBlocks({ id: 'v', segmentBlocks: 0, segmentCount: 3, segmentLengths: [8, 1, 30] }) // 39
 */
export const diskBlocks = (disk: SimDiskConfig): number =>
  disk.segmentLengths === undefined ? disk.segmentBlocks * disk.segmentCount : disk.segmentLengths.reduce((a, b) => a + b, 0);

/**
 * @internal The `createDisk` request of a simulated disk: a variable disk carries its lengths.
 */
export const createDiskRequest = (disk: SimDiskConfig, id: DiskId = disk.id) =>
  ({
    type: 'createDisk',
    requestId: 0,
    disk: id,
    segmentBlocks: disk.segmentBlocks,
    segmentCount: disk.segmentCount,
    ...(disk.segmentLengths === undefined ? {} : { segmentLengths: disk.segmentLengths }),
    ...(disk.grainBlocks === undefined ? {} : { grainBlocks: disk.grainBlocks }),
  }) as const;

export { simConfigErrors, workloadErrors } from './config-validation.js';
