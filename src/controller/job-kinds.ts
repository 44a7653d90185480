/**
 * The jobs the controller tracks, one interface per kind.
 */
import type { FaultReason, Op } from '../translate/translate.js';
import type { AgentId, DiskId, Step } from '../protocol/messages.js';
import type { Extent } from './allocator.js';
import type { MappingEntry } from '../table/entry.js';
import type { Outcome } from './commands.js';

/**
 * A `copyBlocks` or `writeZeros` command a relocation prepared its alternate with, kept without
 * its id so that it can be made again.
 *
 * @example
 * const again: PreparedCopy = { type: 'writeZeros', to: { lun: 1, start: 40 }, length: 2 };
 */
export type PreparedCopy =
  | { readonly type: 'copyBlocks'; readonly from: { readonly lun: number; readonly start: number }; readonly to: { readonly lun: number; readonly start: number }; readonly length: number }
  | { readonly type: 'writeZeros'; readonly to: { readonly lun: number; readonly start: number }; readonly length: number };

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
    /** The copies, made once more (under new ids, then flushed again) if they or their flush fail. */
    readonly copies?: ReadonlyArray<PreparedCopy>;
    /** True once the copies were made again: a second failure fails the write. */
    readonly retried?: boolean;
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
  /**
   * The agents attached (or still dropping) when the deletion began: the store may list them as
   * attached until `deleteTable` is durable, so a restart would give them the disk again. They
   * count as possible holders for fencing until then (docs/design.md#ordering-rules).
   */
  readonly attached: ReadonlyArray<AgentId>;
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
 * Extents an abandoned fault or mark could not release itself, waiting for every agent to have
 * the change that stopped using them (see `jobs/release.ts`).
 *
 * @example
 * const pending = [...state.jobs.values()].filter((j) => j.kind === 'release').flatMap((j) => j.release);
 */
export interface ReleaseJob extends JobBase {
  readonly kind: 'release';
}

/**
 * Every kind of work the controller tracks, told apart by `kind`. Jobs on one segment hold its
 * lock, so two jobs never change one segment at once.
 *
 * @example
 * const byKind = new Map<Job['kind'], number>();
 * for (const j of state.jobs.values()) byKind.set(j.kind, (byKind.get(j.kind) ?? 0) + 1);
 */
export type Job = FaultJob | MarkJob | SettleJob | MigrateJob | ErrorJob | SnapshotJob | AdminJob | ZeroJob | DeleteJob | RollbackJob | ReleaseJob;
