/**
 * The controller's state: disks, copies, agents, leases, the job index and the whole machine state.
 */
import type { AgentId, DiskId } from '../protocol/messages.js';
import type { Allocator, Extent } from './allocator.js';
import type { RefCounts } from './refcounts.js';
import type { MappingEntry } from '../table/entry.js';
import type { MappingTable } from '../table/table.js';
import type { ControllerConfig } from './config.js';
import type { PersistRecord } from './commands.js';
import type { Job } from './job-kinds.js';
import type { RecentAdmin } from './admin-dedupe.js';
import type { ReuseHold } from './reuse-hold.js';
import type { SegmentChange } from './segment-changes.js';

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
  /**
   * The agent's word (a `fetchTable` without a copy) that this life holds no table of the disk
   * below this generation: with a drop mark, for the rest of the life (mark + 1); from an agent
   * that sends none, the restored generation (`since`). It no longer counts as a holder lagging
   * behind an unfenced change at or below it (`joinHeld`, sync.ts; docs/design.md#ordering-rules).
   */
  readonly noneBelow?: number;
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
  /** Changes of segment bounds staged in this batch, in order (`updateTable.segments`). */
  readonly segments?: ReadonlyArray<SegmentChange>;
  /** A new disk: save the whole table rather than an update. */
  readonly created: boolean;
  /** Freeze the table (a snapshot) before the resize and the changes: `updateTable.freeze`. */
  readonly freeze?: true;
  /** A new disk that is a copy of this disk's table as staged in the same batch (a snapshot): `cloneTable`. */
  readonly cloneOf?: DiskId;
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
  /**
   * The segments each committed table of `history` changed, by its generation (the oldest one
   * excepted: it is only ever a delta's base). A delta walks the generations it spans
   * (`changedSegments`, sync.ts), so it costs the changes it carries, however many `lastChange`
   * holds. Absent: none recorded yet.
   */
  readonly changedAt?: ReadonlyMap<number, ReadonlyArray<number>>;
  /** Generation at controller start: segments not in `lastChange` changed at or before it. */
  readonly baseline: number;
  /**
   * The generation this controller first knew the disk at (created, snapshotted or restored);
   * never changes. An acknowledgement below it releases nothing and may come from a table of an
   * earlier life of the name: it is refused (docs/design.md#ordering-rules).
   */
  readonly since?: number;
  /**
   * Generation of the newest freeze (a snapshot) committed since the controller started: every
   * segment that had a location then changed at it, without an entry in `lastChange` each.
   */
  readonly frozenAt?: number;
  /**
   * Generation of the newest change that moved readable blocks without an `invalid` fence (one
   * possible holder, not the faulting agent) since the controller started; after a restart, the
   * restored generation (such a change may have been outstanding). An agent that holds no copy
   * gets one only once every other agent that may hold the disk has acknowledged it or said it
   * holds no table below it (`joinHeld`, sync.ts; docs/design.md#ordering-rules). Cleared when
   * none lags any more.
   */
  readonly unfencedAt?: number;
  /** Segment locks: the job holding each busy segment. */
  readonly busy: ReadonlyMap<number, number>;
  /** Jobs queued behind each busy segment, in arrival order. */
  readonly queued: ReadonlyMap<number, ReadonlyArray<number>>;
  /** A snapshot job that holds new faults on this disk until it commits. */
  readonly frozenBy: number | null;
  /** Jobs held by `frozenBy`. */
  readonly held: ReadonlyArray<number>;
  /**
   * Agents told to drop their copy that have not confirmed yet. Persisted with the attachments
   * (a plain detach), so that a restarted controller still waits for them and tells them again.
   */
  readonly dropping: ReadonlyArray<AgentId>;
  /**
   * Agents attached in memory whose `attachments` record is not durable yet (absent: none). They
   * get no table of the disk until it is: a controller restarting before then does not list them,
   * and would not track their copy (docs/design.md#ordering-rules). Cleared for the agents a
   * durable record lists (`onPersisted`, commit.ts), which then answers what they asked.
   */
  readonly attachPending?: ReadonlyArray<AgentId>;
  /** The list of attached agents changed and must be persisted with the next batch. */
  readonly attachmentsDirty: boolean;
  /**
   * The newest split, merge or variable resize since the controller started (`jobs/reshape.ts`): every segment
   * from `from` on was renumbered at `generation`, so it counts as changed then (`lastChangeOf`),
   * and a fault, mark or zero request from an older copy is stale there.
   */
  readonly reshaped?: { readonly from: number; readonly generation: number };
  /** Deleted: the next batch persists `deleteTable`, and the disk is forgotten once it is durable. */
  readonly deleted?: boolean;
}

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
 * a step looks for: `kind:<kind>`, `committing`, `syncing`, `syncing:<disk>`,
 * `syncing@<generation>:<disk>` (what an acknowledgement of that generation may release), `copying` (settle
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
 * Jobs whose copies must be durable before they go on, and the flush that makes them so
 * (`flushes.ts`): one flush in flight, over the union of its jobs' LUNs; jobs that finish their
 * copies meanwhile wait for the next one (group commit, as persists do). `flushId` of `next` is
 * reserved when its first job joins, and is the id of the flush command it becomes.
 *
 * @example
 * const waiting = state.flushes?.next?.jobs.size ?? 0;
 */
export interface FlushGroup {
  readonly flushId: number;
  /** Ascending, without repeats. */
  readonly luns: ReadonlyArray<number>;
  /** In the order they joined. */
  readonly jobs: ReadonlySet<number>;
}

/**
 * The flush in flight and the group waiting for the next one (see {@link FlushGroup}).
 *
 * @example
 * const flushing = state.flushes?.inFlight?.luns ?? []; // LUNs of the controller's flush in flight
 */
export interface FlushGroups {
  readonly inFlight: FlushGroup | null;
  readonly next: FlushGroup | null;
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
  /** After a restart: allocation held until the agents that may hold older tables are in line (see `reuse-hold.ts`). */
  readonly reuseHold: ReuseHold | null;
  /** Settle jobs waiting for a copy slot. */
  readonly copyQueue: ReadonlyArray<number>;
  /** Grouped flushes (`flushes.ts`); absent: none in flight and none waiting. */
  readonly flushes?: FlushGroups;
  readonly nextId: number;
  /**
   * Every generation a deleted disk reached is below this (absent: 0): a disk created or
   * snapshotted starts at or above it, so a table of an earlier life of its name is never taken
   * for its own (docs/design.md#ordering-rules). Persisted with `deleteTable`; only grows.
   */
  readonly generationFloor?: number;
  /** The last admin requests and their answers, so that a duplicate is never done twice (`admin-dedupe.ts`). */
  readonly recentAdmin?: ReadonlyArray<RecentAdmin>;
}
