/**
 * The controller's events, commands, configuration and state: plain data in, plain data out.
 */
import type { TableDocument } from '../table/codec.js';
import type { MappingEntry } from '../table/entry.js';
import type { MappingTable } from '../table/table.js';
import type { FaultReason, Op, Variant } from '../translate/translate.js';
import type { AgentId, AgentMessage, ControllerMessage, DiskId, EntryChange, Step } from '../protocol/messages.js';
import type { Allocator, Extent } from './allocator.js';
import type { RefCounts } from './refcounts.js';

// ---------------------------------------------------------------------------------------------
// Configuration

/**
 * Tuning of the controller machine. Every field has a default in {@link defaultControllerConfig},
 * and `initialControllerState` and `createController` take any subset.
 *
 * @example
 * const state = initialControllerState(allocator, { variant: 'distributed', retryInterval: 250 });
 */
export interface ControllerConfig {
  /** Who sets alternate bits: the controller on each fault, or the writing agent. */
  readonly variant: Variant;
  /** Milliseconds before an unanswered table change or persistence failure is tried again. */
  readonly retryInterval: number;
  /** Committed table versions kept per disk, to send deltas instead of whole tables. */
  readonly historyLimit: number;
  /** Background copies in flight at once. */
  readonly copyConcurrency: number;
  // --- leases and liveness (docs/design.md#leases-and-liveness; leases.ts) ---
  /** Lease granted to agents (ms); `null`: no leases, an agent is never evicted. */
  readonly leaseDuration: number | null;
  /** Bound on how far an agent's clock may run slow against the controller's over one lease (ms). */
  readonly maxClockDrift: number;
  /** Longest a storage I/O may take from issue to landing (ms): eviction and extent reuse wait for it. */
  readonly maxIoLifetime: number;
  /**
   * A write fault on a `zero` segment with no alternate takes the whole segment at once (zeros
   * written to it first), rather than only the written blocks: one fault per segment instead of
   * one per write (`coalesce.ts`).
   */
  readonly materializeZeroSegments: boolean;
  // --- space (host operations and administration) ---
  /**
   * Low-water mark in blocks (dm-thin's): a `lowSpace` command is issued when a LUN's free space
   * drops below it, so the product can grow its pool in time. 0 (the default): never.
   */
  readonly lowWaterMark: number;
  /**
   * The controller epoch stamped on every message to agents (`ControllerEpoched`): each new
   * active controller of a group takes one higher than any before, so agents refuse its
   * predecessors. 0 (the default) stamps nothing, as a lone controller needs.
   */
  readonly controllerEpoch: number;
  /** What one request or one disk may ask of the controller; see {@link ControllerLimits}. */
  readonly limits: ControllerLimits;
}

/**
 * Resource limits: a request that would exceed one is refused at once, with an error naming the
 * limit, before anything is allocated for it.
 *
 * @example
 * const state = initialControllerState(allocator, { limits: { ...defaultControllerLimits, maxDisks: 64 } });
 */
export interface ControllerLimits {
  /** Segments of one disk (`createDisk`, `resize`, a `migrate` list). */
  readonly maxSegmentsPerDisk: number;
  /** Disks, snapshots included. */
  readonly maxDisks: number;
  /** Segments of every disk together (each costs memory in every table and copy). */
  readonly maxTotalSegments: number;
  /** Estimated size of one request or message (names, segment lists), in bytes. */
  readonly maxMessageBytes: number;
}

/**
 * The default {@link ControllerLimits}: 4,194,304 segments per disk, 4,096 disks, 16,777,216
 * segments in all and 64 MiB per request. A segment costs a few dozen bytes in each table version
 * the controller keeps, so the defaults keep a controller well inside a default Node heap.
 *
 * @example
 * const limits: ControllerLimits = { ...defaultControllerLimits, maxTotalSegments: 2 ** 20 };
 */
export const defaultControllerLimits: ControllerLimits = Object.freeze({
  maxSegmentsPerDisk: 2 ** 22,
  maxDisks: 4096,
  maxTotalSegments: 2 ** 24,
  maxMessageBytes: 2 ** 26,
});

/**
 * The values used for every {@link ControllerConfig} field a caller leaves out.
 *
 * @example
 * const config: ControllerConfig = { ...defaultControllerConfig, copyConcurrency: 16 };
 */
export const defaultControllerConfig: ControllerConfig = {
  variant: 'centralized',
  retryInterval: 100,
  historyLimit: 32,
  copyConcurrency: 4,
  leaseDuration: null,
  maxClockDrift: 100,
  maxIoLifetime: 1000,
  materializeZeroSegments: true,
  lowWaterMark: 0,
  controllerEpoch: 0,
  limits: defaultControllerLimits,
};

/**
 * What a caller passes for a {@link ControllerConfig}: any subset, limits included.
 *
 * @example
 * const options: ControllerOptions = { retryInterval: 250, limits: { maxDisks: 16 } };
 */
export type ControllerOptions = Partial<Omit<ControllerConfig, 'limits'>> & { readonly limits?: Partial<ControllerLimits> };

// ---------------------------------------------------------------------------------------------
// Persistence records (what step 570 makes durable)

/**
 * One durable change of the controller's state (step 570):
 *
 * - `saveTable`: the whole table of `disk` (created, or rewritten);
 * - `updateTable`: the table at `fromGeneration` becomes `generation` by resizing it to
 *   `segmentCount` when present (new segments are `zero`, as in `setEntries` messages) and then
 *   applying `changes`; a store must refuse it when its copy is not at `fromGeneration`;
 * - `deleteTable`: `disk` and its attachments are gone;
 * - `attachments`: the agents that map `disk` are now exactly `agents`.
 *
 * @example
 * const record: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: 3, generation: 4, changes: [{ segment: 0, entry: { zero: true } }] };
 */
export type PersistRecord =
  | { readonly type: 'saveTable'; readonly disk: DiskId; readonly table: TableDocument }
  | {
      readonly type: 'updateTable';
      readonly disk: DiskId;
      readonly fromGeneration: number;
      readonly generation: number;
      readonly segmentCount?: number;
      readonly changes: ReadonlyArray<EntryChange>;
    }
  | { readonly type: 'deleteTable'; readonly disk: DiskId }
  | { readonly type: 'attachments'; readonly disk: DiskId; readonly agents: ReadonlyArray<AgentId> };

/**
 * Everything a controller needs to restart: every table, and the agents attached to each disk
 * (disks without attached agents may be absent from `attachments`). Lists are sorted by disk.
 *
 * @example
 * const state: PersistedState = { tables: [{ disk: 'vol', table: doc }], attachments: [{ disk: 'vol', agents: ['a1', 'a2'] }] };
 */
export interface PersistedState {
  readonly tables: ReadonlyArray<{ readonly disk: DiskId; readonly table: TableDocument }>;
  readonly attachments: ReadonlyArray<{ readonly disk: DiskId; readonly agents: ReadonlyArray<AgentId> }>;
}


// ---------------------------------------------------------------------------------------------
// Events

/**
 * Administrative requests. Each carries a `requestId` echoed by its `adminDone` command.
 *
 * - `attachAgent`: the agent may map the disk from now on (it gets the table on its first I/O).
 *   A snapshot is a disk of its own: to read it, attach an agent to the snapshot's name.
 * - `snapshot`: `snapshot` becomes a new, frozen-in-time disk sharing every block with `disk`;
 *   nothing maps it until an `attachAgent` on it.
 * - A malformed request (a field of the wrong type, a limit of `ControllerConfig.limits`
 *   exceeded) is answered `{ ok: false, error }` naming the field and the value; one without a
 *   usable `requestId` gets an `eventRefused` command instead.
 *
 * @example
 * const [next, commands] = controllerStep(state, { type: 'snapshot', requestId: 12, disk: 'vol', snapshot: 'vol@1' });
 */
export type AdminEvent =
  | { readonly type: 'createDisk'; readonly requestId: number; readonly disk: DiskId; readonly segmentBlocks: number; readonly segmentCount: number }
  | { readonly type: 'attachAgent'; readonly requestId: number; readonly disk: DiskId; readonly agent: AgentId }
  | { readonly type: 'detachAgent'; readonly requestId: number; readonly disk: DiskId; readonly agent: AgentId }
  | { readonly type: 'snapshot'; readonly requestId: number; readonly disk: DiskId; readonly snapshot: DiskId }
  | {
      readonly type: 'migrate';
      readonly requestId: number;
      readonly disk: DiskId;
      /** Segments to move; all located segments when absent. */
      readonly segments?: ReadonlyArray<number>;
      readonly lun: number;
    }
  | { readonly type: 'markFailed'; readonly requestId: number; readonly lun: number; readonly start: number; readonly length: number }
  | { readonly type: 'resize'; readonly requestId: number; readonly disk: DiskId; readonly segmentCount: number }
  // --- deletion and rollback (docs/design.md#jobs) ---
  /**
   * Deletes a disk or a snapshot: refused while agents are attached, unless `force` (they are
   * detached first, and the deletion waits until each has dropped its copy). Extents no other
   * table references go back to the allocator.
   */
  | { readonly type: 'deleteDisk'; readonly requestId: number; readonly disk: DiskId; readonly force?: boolean }
  /** The content of `disk` becomes that of `snapshot` again: entries shared, nothing copied. */
  | { readonly type: 'rollback'; readonly requestId: number; readonly disk: DiskId; readonly snapshot: DiskId };

/**
 * Everything that can happen to the controller: its persisted state at start, agent messages,
 * the results of its commands, the passing of time and admin requests. A runtime feeds them
 * to `controllerStep` one at a time.
 *
 * @example
 * const event: ControllerEvent = { type: 'message', message: { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'vol', generation: 5 } };
 * const [next, commands] = controllerStep(state, event);
 */
export type ControllerEvent =
  /** The persisted state, loaded at start: must be the first event. */
  | { readonly type: 'restored'; readonly state: PersistedState; readonly now: number }
  | { readonly type: 'message'; readonly message: AgentMessage }
  | { readonly type: 'persisted'; readonly persistId: number }
  | { readonly type: 'persistFailed'; readonly persistId: number; readonly error: string }
  | { readonly type: 'copyDone'; readonly copyId: number }
  | { readonly type: 'copyFailed'; readonly copyId: number; readonly error: string }
  /** Time passes: drives re-sends and retries. */
  | { readonly type: 'tick'; readonly now: number }
  | AdminEvent
  // Durability (docs/design.md#ordering-rules): the answer to a `flush` command.
  | { readonly type: 'flushed'; readonly flushId: number }
  | { readonly type: 'flushFailed'; readonly flushId: number; readonly error: string };

// ---------------------------------------------------------------------------------------------
// Commands

/**
 * How an admin request ended, as carried by its `adminDone` command; `error` says why in words.
 *
 * @example
 * const result: AdminResult = await controller.admin({ type: 'resize', disk: 'vol', segmentCount: 128 });
 * if (!result.ok) console.error(result.error);
 */
export type AdminResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/**
 * What a resolution ended with, for traces and summaries (step 597): the agent was told to
 * `retry`, the I/O `failed`, a mark was `confirmed`, or the job was `abandoned` because the
 * agent restarted and nobody is waiting for the answer.
 *
 * @example
 * if (command.type === 'resolved' && command.outcome === 'failed') console.warn(command.disk, command.segment, command.detail);
 */
export type Outcome = 'retry' | 'failed' | 'confirmed' | 'abandoned';

/**
 * What the controller asks its runtime to do: make records durable, send messages, copy or zero
 * blocks, flush them. `persist`, `copyBlocks`, `writeZeros` and `flush` must be answered with an event; the other
 * commands are carried out or only observed (logs, metrics, a waiting admin caller).
 *
 * @example
 * for (const c of commands) if (c.type === 'send') transport.send(c.to, c.message);
 */
export type ControllerCommand =
  /** Step 570: make these records durable, then answer `persisted` (or `persistFailed`). */
  | { readonly type: 'persist'; readonly persistId: number; readonly records: ReadonlyArray<PersistRecord> }
  /**
   * Send a message to an agent; `step` names the flowchart step it carries out, if any. The
   * table and entry documents in it are frozen and shared (one list of changes for every agent a
   * step sends it to, one document per committed table): serialize or copy, never modify.
   */
  | { readonly type: 'send'; readonly to: AgentId; readonly message: ControllerMessage; readonly step?: Step }
  /** Background copy of `length` blocks, then answer `copyDone` (or `copyFailed`). */
  | { readonly type: 'copyBlocks'; readonly copyId: number; readonly from: { readonly lun: number; readonly start: number }; readonly to: { readonly lun: number; readonly start: number }; readonly length: number }
  /** Fill `length` blocks with zeros (settling a zero segment), then answer `copyDone` (or `copyFailed`). */
  | { readonly type: 'writeZeros'; readonly copyId: number; readonly to: { readonly lun: number; readonly start: number }; readonly length: number }
  /** Space that no table references any more went back to the allocator. */
  | { readonly type: 'released'; readonly extent: Extent }
  /** Step 597: a fault or mark is finished. `path` lists the steps it went through. */
  | {
      readonly type: 'resolved';
      readonly agent: AgentId;
      readonly faultId: number;
      readonly disk: DiskId;
      readonly segment: number;
      readonly reason: FaultReason | 'mark' | 'no-table' | 'zero-segment';
      readonly outcome: Outcome;
      readonly path: ReadonlyArray<Step>;
      readonly detail?: string;
    }
  /** A message was refused (stale epoch, unknown agent or disk). */
  | { readonly type: 'refused'; readonly message: AgentMessage; readonly why: string }
  /** An event that is not a usable `ControllerEvent` (and carries no `requestId` to answer) was ignored; `why` says what was wrong. */
  | { readonly type: 'eventRefused'; readonly why: string }
  /**
   * The agent's lease has certainly expired and it was evicted: table changes stop waiting for
   * it. A product that cannot trust the lease alone cuts the agent's storage path here (the
   * optional `fence` adapter hook: SCSI persistent reservations, a blocklist).
   */
  | { readonly type: 'fence'; readonly agent: AgentId; readonly epoch: number }
  | { readonly type: 'adminDone'; readonly requestId: number; readonly result: AdminResult }
  /**
   * Durability (docs/design.md#ordering-rules): make every copy and zero-fill to these LUNs that
   * was answered `copyDone` before now durable (`BlockStorage.flush` of each), then answer
   * `flushed` (or `flushFailed`). The record that makes a table depend on those blocks waits
   * for it.
   */
  | { readonly type: 'flush'; readonly flushId: number; readonly luns: ReadonlyArray<number> }
  /** LUN `lun`'s free space just dropped below `config.lowWaterMark` blocks: time to grow the pool. */
  | { readonly type: 'lowSpace'; readonly lun: number; readonly free: number; readonly size: number; readonly lowWaterMark: number };

// ---------------------------------------------------------------------------------------------
// State

/**
 * What the controller knows of one agent's copy of one disk: enough to choose between a delta,
 * a whole table and a refresh when it brings the agent up to date.
 *
 * @example
 * state.agents.get('a1')?.copies.get('vol')?.acked // highest generation of vol that a1 acknowledged
 */
export interface CopyView {
  /** Highest generation the agent acknowledged in its current epoch (-1: none). */
  readonly acked: number;
  /** False only when the agent is known to hold no copy (a new epoch that was sent nothing). */
  readonly mayHold: boolean;
  /** When something was last sent to bring it up to date (controller time), or -Infinity. */
  readonly sentAt: number;
  /** The committed generation that was current when it was last sent something (-1: none). */
  readonly sentGeneration: number;
  /**
   * Highest fault id of this life that came with a copy of the disk (generation >= 0). A later
   * fault of the same epoch without a copy proves another life uses the epoch.
   */
  readonly faultWithCopy?: number;
}

/**
 * An agent's lease as the controller sees it: when it last granted one, and whether it evicted
 * that life (`evictedEpoch`; -1: not evicted).
 *
 * @example
 * state.leases.get('a1')?.grantedAt
 */
export interface LeaseView {
  readonly grantedAt: number;
  readonly epoch: number;
  readonly evictedEpoch: number;
  /** The agent has not acknowledged `generation` of `disk` since `since`: renewals stop once that lasts a lease. */
  readonly lag?: { readonly disk: DiskId; readonly generation: number; readonly since: number } | null;
}

/**
 * What the controller knows of one agent: its newest epoch, used to refuse messages from older
 * lives, and its copy of each disk it may hold.
 *
 * @example
 * const view = state.agents.get('a1');
 * if (view !== undefined && view.epoch < 0) console.log('a1 has not been heard from since the controller started');
 */
export interface AgentView {
  /** Newest epoch seen (-1: not yet heard from since the controller started). */
  readonly epoch: number;
  readonly copies: ReadonlyMap<DiskId, CopyView>;
}

/**
 * A staged, not yet persisted batch of changes to one disk. Changes decided while a persist is
 * in flight wait here and go to the store together in the next one.
 *
 * @example
 * state.disks.get('vol')?.staged?.changes.size // segments changed since the last persist started
 */
export interface StagedChanges {
  readonly changes: ReadonlyMap<number, MappingEntry>;
  readonly segmentCount?: number;
  /** A new disk: save the whole table rather than an update. */
  readonly created: boolean;
}

/**
 * The controller's view of one disk: the committed and working tables, the changes on their
 * way to the store, the attached agents, and the segment locks of the jobs working on it.
 *
 * @example
 * const disk = state.disks.get('vol');
 * if (disk !== undefined) console.log(disk.committed.generation, disk.working.generation, disk.agents);
 */
export interface DiskState {
  /** The persisted table: the truth. */
  readonly committed: MappingTable;
  /** Committed plus every decided change, persisted or not: decisions are made against it. */
  readonly working: MappingTable;
  /** Generation being persisted, if any. */
  readonly persisting: number | null;
  readonly staged: StagedChanges | null;
  /** Recent committed versions, oldest first, for deltas. */
  readonly history: ReadonlyArray<MappingTable>;
  readonly agents: ReadonlyArray<AgentId>;
  /** Generation that last changed each segment, since the controller started. */
  readonly lastChange: ReadonlyMap<number, number>;
  /** Generation at controller start: segments not in `lastChange` changed at or before it. */
  readonly baseline: number;
  /** Segment locks: the job holding each busy segment. */
  readonly busy: ReadonlyMap<number, number>;
  /** Jobs queued behind each busy segment, in arrival order. */
  readonly queued: ReadonlyMap<number, ReadonlyArray<number>>;
  /** A snapshot job that holds new faults on this disk until it commits. */
  readonly frozenBy: number | null;
  /** Jobs held by `frozenBy`. */
  readonly held: ReadonlyArray<number>;
  /** Agents told to drop their copy that have not confirmed yet. */
  readonly dropping: ReadonlyArray<AgentId>;
  /** The list of attached agents changed and must be persisted with the next batch. */
  readonly attachmentsDirty: boolean;
  /** Deleted: the next batch persists `deleteTable`, and the disk is forgotten once it is durable. */
  readonly deleted?: boolean;
}

/**
 * Where a job is: queued behind a segment lock, committing its change, waiting for agents to
 * acknowledge it, copying blocks, or `waiting` (started, between those steps, for instance for
 * a free copy slot).
 *
 * @example
 * const syncing = [...state.jobs.values()].filter((j) => j.phase.kind === 'syncing').length;
 */
export type JobPhase =
  | { readonly kind: 'queued' }
  /** Waiting for persist batch `batch` to be durable (570). */
  | { readonly kind: 'committing'; readonly batch: number }
  /** Waiting until every agent that may hold the disk acknowledges `generation`; `waiting` lists those that have not yet. */
  | { readonly kind: 'syncing'; readonly generation: number; readonly waiting: ReadonlyArray<AgentId> }
  /** `flushing`: the copies are done and `copies` is the flush of `flushLuns` that makes them durable. */
  | { readonly kind: 'copying'; readonly copies: ReadonlyArray<number>; readonly failed: boolean; readonly flushing?: boolean; readonly flushLuns?: ReadonlyArray<number> }
  | { readonly kind: 'waiting' };

/**
 * What every {@link Job} has: its id, disk, phase, the flowchart steps it went through, and the
 * extents it releases when it ends.
 *
 * @example
 * const describe = (j: JobBase): string => `job ${j.id} on ${j.disk}: ${j.phase.kind} via ${j.path.join(',')}`;
 */
export interface JobBase {
  readonly id: number;
  readonly disk: DiskId;
  readonly phase: JobPhase;
  readonly path: ReadonlyArray<Step>;
  /** Extents to release once every agent has the change that stopped using them. */
  readonly release: ReadonlyArray<Extent>;
  /** Changes held back until every agent has acknowledged the fence in front of them. */
  readonly deferred?: ReadonlyArray<readonly [number, MappingEntry]> | null;
}

/**
 * A host I/O fault (steps 570-597). `segment` -1: the agent has no copy of the disk.
 *
 * @example
 * const faults = [...state.jobs.values()].filter((j): j is FaultJob => j.kind === 'fault');
 */
export interface FaultJob extends JobBase {
  readonly kind: 'fault';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly faultId: number;
  readonly segment: number;
  readonly op: Op;
  readonly start: number;
  readonly length: number;
  readonly reason: FaultReason;
  readonly generation: number;
  /** Outcome decided before syncing. */
  readonly then: { readonly type: 'retry' } | { readonly type: 'fail'; readonly reason: string } | { readonly type: 'confirm' };
  /**
   * A relocation waiting for the old content of the blocks it marks to be copied to the
   * alternate, and the extent allocated for it (released if the write never comes).
   */
  readonly prepared?: {
    readonly changes: ReadonlyArray<readonly [number, MappingEntry]>;
    readonly allocated: Extent | null;
    /** LUNs the copies went to, flushed before the change is staged (docs/design.md#ordering-rules). */
    readonly flush?: ReadonlyArray<number>;
  } | null;
}

/**
 * Distributed variant: an agent's alternate write waiting for its bits to become durable.
 *
 * @example
 * const marks = [...state.jobs.values()].filter((j): j is MarkJob => j.kind === 'mark');
 */
export interface MarkJob extends JobBase {
  readonly kind: 'mark';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly faultId: number;
  readonly segment: number;
  readonly start: number;
  readonly length: number;
  readonly generation: number;
  readonly then: { readonly type: 'retry' } | { readonly type: 'fail'; readonly reason: string } | { readonly type: 'confirm' };
}

/**
 * Background work on one segment: copy (or zero-fill) the blocks not yet at the alternate, then
 * promote the alternate to primary and release the old primary.
 *
 * @example
 * const settling = [...state.jobs.values()].filter((j) => j.kind === 'settle').length; // background copies queued or running
 */
export interface SettleJob extends JobBase {
  readonly kind: 'settle';
  readonly segment: number;
  readonly group: number | null;
  readonly attempts: number;
}

/**
 * Start moving one segment: attach an alternate on the target LUN and freeze the primary. A
 * settle job then copies the blocks and promotes the alternate.
 *
 * @example
 * for (const j of state.jobs.values()) if (j.kind === 'migrate') console.log(`moving ${j.disk} segment ${j.segment} to LUN ${j.lun}`);
 */
export interface MigrateJob extends JobBase {
  readonly kind: 'migrate';
  readonly segment: number;
  readonly lun: number;
  readonly group: number | null;
}

/**
 * Set the `error` flag of one segment, or (`unfence`) lift a fence left by a controller that stopped.
 *
 * @example
 * const marking = [...state.jobs.values()].some((j) => j.kind === 'markError' && j.disk === 'vol');
 */
export interface ErrorJob extends JobBase {
  readonly kind: 'markError' | 'unfence';
  readonly segment: number;
  readonly group: number | null;
}

/**
 * Snapshot of a whole disk: settle alternates, then freeze and share every segment.
 *
 * @example
 * for (const j of state.jobs.values()) if (j.kind === 'snapshot') console.log(`${j.disk} -> ${j.snapshot}: ${j.phase.kind}`);
 */
export interface SnapshotJob extends JobBase {
  readonly kind: 'snapshot';
  readonly snapshot: DiskId;
  readonly requestId: number;
}

/**
 * Admin work that only needs a commit (and agents in line) before it answers.
 *
 * @example
 * const attaching = [...state.jobs.values()].filter((j): j is AdminJob => j.kind === 'admin' && j.attach !== undefined);
 */
export interface AdminJob extends JobBase {
  readonly kind: 'admin';
  readonly requestId: number;
  /** After the commit: push the table to this newly attached agent, or tell it to drop its copy. */
  readonly attach?: AgentId;
  readonly detach?: AgentId;
}

/**
 * A host discard or write-zeroes of one whole segment (an agent's `zeroSegment`): the segment
 * becomes `zero`, and its extents are released once every agent holding a copy has the change
 * (only those no other table references go back to the allocator).
 *
 * @example
 * const zeroing = [...state.jobs.values()].filter((j): j is ZeroJob => j.kind === 'zero').map((j) => j.segment);
 */
export interface ZeroJob extends JobBase {
  readonly kind: 'zero';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly faultId: number;
  readonly segment: number;
  /** The generation of the agent's copy when it asked. */
  readonly generation: number;
}

/**
 * Deletion of a disk (`deleteDisk`), or its rollback to a snapshot (`rollback`). Both wait for
 * the disk to be quiet (new faults on it are held meanwhile, as for a snapshot); a deletion
 * also waits until every detached agent has dropped its copy.
 *
 * @example
 * for (const j of state.jobs.values()) if (j.kind === 'rollback') console.log(`${j.disk} <- ${j.snapshot}: ${j.phase.kind}`);
 */
export interface DeleteJob extends JobBase {
  readonly kind: 'delete';
  readonly requestId: number;
}
/**
 * See {@link DeleteJob}: a rollback stages the snapshot's entries for every segment of `disk`.
 *
 * @example
 * const rollingBack = [...state.jobs.values()].some((j) => j.kind === 'rollback' && j.disk === 'vol');
 */
export interface RollbackJob extends JobBase {
  readonly kind: 'rollback';
  readonly requestId: number;
  readonly snapshot: DiskId;
}

/**
 * Every kind of work the controller tracks, told apart by `kind`. Jobs on one segment hold its
 * lock, so two jobs never change one segment at once.
 *
 * @example
 * const byKind = new Map<Job['kind'], number>();
 * for (const j of state.jobs.values()) byKind.set(j.kind, (byKind.get(j.kind) ?? 0) + 1);
 */
/**
 * Extents an abandoned fault or mark could not release itself, waiting for every agent to have
 * the change that stopped using them (see `jobs/release.ts`).
 *
 * @example
 * const pending = [...state.jobs.values()].filter((j) => j.kind === 'release').flatMap((j) => j.release);
 */
export interface ReleaseJob extends JobBase {
  readonly kind: 'release';
}

export type Job = FaultJob | MarkJob | SettleJob | MigrateJob | ErrorJob | SnapshotJob | AdminJob | ZeroJob | DeleteJob | RollbackJob | ReleaseJob;

/**
 * Admin requests that finish when several jobs have (a migration of many segments, for
 * instance); the request is answered once `remaining` reaches 0.
 *
 * @example
 * for (const g of state.groups.values()) console.log(`request ${g.requestId}: ${g.remaining} jobs left, ${g.errors.length} failed`);
 */
export interface JobGroup {
  readonly requestId: number;
  readonly remaining: number;
  readonly errors: ReadonlyArray<string>;
}

/**
 * Where the controller finds its jobs without looking at every one: the jobs on each segment
 * (by disk, then segment), and the jobs of each class
 * a step looks for: `kind:<kind>`, `committing`, `syncing`, `syncing:<disk>`, `copying` (settle
 * jobs with copies in flight, counted for the copy slots) and `copyRetry` (settle jobs whose
 * copies failed, retried by the next sweep). Derived from `jobs`; kept with it by every step.
 *
 * @example
 * const settling = state.jobIndex.classes.get('kind:settle')?.size ?? 0;
 */
export interface JobIndex {
  /** Ids of the jobs on each segment, by disk then segment, oldest first. */
  readonly bySegment: ReadonlyMap<DiskId, ReadonlyMap<number, ReadonlyArray<number>>>;
  /** Ids of the jobs in each class (absent: none). */
  readonly classes: ReadonlyMap<string, ReadonlySet<number>>;
}

/**
 * The whole state of the controller machine. Immutable: `controllerStep` returns a new state and
 * never changes its input, so any state can be kept, compared or inspected later.
 *
 * @example
 * const [next] = controllerStep(initialControllerState(allocator), { type: 'restored', state: { tables: [], attachments: [] }, now: 0 });
 * next.ready // true
 */
export interface ControllerState {
  readonly config: ControllerConfig;
  readonly now: number;
  readonly ready: boolean;
  readonly disks: ReadonlyMap<DiskId, DiskState>;
  readonly agents: ReadonlyMap<AgentId, AgentView>;
  readonly allocator: Allocator;
  readonly refs: RefCounts;
  readonly jobs: ReadonlyMap<number, Job>;
  /** `jobs` indexed by segment and by what steps look for. */
  readonly jobIndex: JobIndex;
  readonly groups: ReadonlyMap<number, JobGroup>;
  /** In-flight faults by `agent/epoch/faultId`, so that re-sent duplicates are not queued twice. */
  readonly faultIndex: ReadonlyMap<string, number>;
  /** The persist command in flight: its batch, and the table version of each disk it commits. */
  readonly persist: {
    readonly persistId: number;
    readonly batch: number;
    readonly records: ReadonlyArray<PersistRecord>;
    readonly commits: ReadonlyArray<readonly [DiskId, MappingTable]>;
    readonly failedAt: number | null;
  } | null;
  /** The batch that staged changes join; it is persisted by the next `persist` command. */
  readonly stagingBatch: number;
  /** Every batch up to this one is durable. */
  readonly durableBatch: number;
  /** When the last full sweep of re-sends and retries ran. */
  readonly lastSweep: number;
  /** Copy commands in flight: copyId -> job. */
  readonly copies: ReadonlyMap<number, number>;
  /** Each agent's lease, when leases are on (see `leases.ts`). */
  readonly leases: ReadonlyMap<AgentId, LeaseView>;
  /** Released extents held back until a late write of an earlier agent life can no longer land. */
  readonly quarantine: ReadonlyArray<{ readonly extent: Extent; readonly until: number }>;
  /** Settle jobs waiting for a copy slot. */
  readonly copyQueue: ReadonlyArray<number>;
  readonly nextId: number;
}
