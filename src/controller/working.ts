/**
 * The controller's working state during one step: the state it was given, read as is, and
 * private copies of the few records the step changes (copy-on-write). `result()` assembles the
 * next state from them and hands back the given state itself when nothing changed, so
 * `controllerStep` never changes its input and unchanged parts stay identical.
 *
 * It is also the step's context: everything that lives for one step only (the deltas computed
 * in it, the translation scratch buffer, the job hooks) hangs off it, never off a module, so
 * two controllers stepped in one process share nothing.
 *
 * Rules for the step code: edit a record only through `get` (which copies it first), and
 * replace arrays and nested objects of a record instead of changing them in place: copies are
 * shallow. Change a job's phase only through `jobs.setPhase`, which keeps the counts of
 * `job-index.ts` right.
 */
import type { AgentId, DiskId, EntryChange } from '../protocol/messages.js';
import { CowMap, CowRecords, sameFields } from '../protocol/copy-on-write.js';
import type { MappingTable } from '../table/table.js';
import { PieceBuffer } from '../translate/translate.js';
import type { Allocator } from './allocator.js';
import { JobTable, type Mutable } from './job-index.js';
import type { JobHookTable } from './jobs/hooks.js';
import type { RefCounts } from './refcounts.js';
import type { AgentView, ControllerConfig, ControllerState, CopyView, DiskState, FlushGroups, JobGroup, LeaseView } from './types.js';

export type { JobDraft, Mutable } from './job-index.js';

/** A delta computed in this step: diffed and encoded once however many agents it goes to. */
export interface CachedDelta {
  readonly base: MappingTable;
  readonly to: MappingTable;
  readonly changes: ReadonlyArray<EntryChange>;
}

/** A disk being edited in this step: its per-segment maps copy themselves on first write. */
export interface DiskDraft extends Omit<Mutable<DiskState>, 'busy' | 'queued' | 'lastChange'> {
  busy: CowMap<number, number>;
  queued: CowMap<number, ReadonlyArray<number>>;
  lastChange: CowMap<number, number>;
}

/** An agent being edited in this step. */
export interface AgentDraft {
  epoch: number;
  readonly copies: CowRecords<DiskId, CopyView, Mutable<CopyView>>;
}

const keepIfSame = <T extends object>(next: T, base: T | undefined): T => (base !== undefined && sameFields(next, base) ? base : next);

/** A disk record as a draft of its own (new disks are put in this form). */
export const thawDisk = (d: DiskState): DiskDraft => ({ ...d, busy: new CowMap(d.busy), queued: new CowMap(d.queued), lastChange: new CowMap(d.lastChange) });
const freezeDisk = (draft: DiskDraft, base: DiskState | undefined): DiskState =>
  keepIfSame<DiskState>({ ...draft, busy: draft.busy.result(), queued: draft.queued.result(), lastChange: draft.lastChange.result() }, base);

const thawCopy = (c: CopyView): Mutable<CopyView> => ({ ...c });
const freezeCopy = (draft: Mutable<CopyView>, base: CopyView | undefined): CopyView => keepIfSame<CopyView>(draft, base);

/** An agent record as a draft of its own (new agents are put in this form). */
export const thawAgent = (v: AgentView): AgentDraft => ({ epoch: v.epoch, copies: new CowRecords(v.copies, thawCopy, freezeCopy) });
const freezeAgent = (draft: AgentDraft, base: AgentView | undefined): AgentView => keepIfSame<AgentView>({ epoch: draft.epoch, copies: draft.copies.result() }, base);

/** No flush in flight and none waiting (`flushes.ts`). */
const NO_FLUSHES: FlushGroups = /* @__PURE__ */ Object.freeze({ inFlight: null, next: null });

const thawGroup = (g: JobGroup): Mutable<JobGroup> => ({ ...g });
const freezeGroup = (draft: Mutable<JobGroup>, base: JobGroup | undefined): JobGroup => keepIfSame<JobGroup>(draft, base);

/** One step's view of the controller state; see the module comment. */
export class Working {
  readonly config: ControllerConfig;
  now: number;
  ready: boolean;
  allocator: Allocator;
  refs: RefCounts;
  persist: ControllerState['persist'];
  stagingBatch: number;
  durableBatch: number;
  lastSweep: number;
  nextId: number;
  readonly disks: CowRecords<DiskId, DiskState, DiskDraft>;
  readonly agents: CowRecords<AgentId, AgentView, AgentDraft>;
  /** Replaced only by {@link Working.nextEvent}. */
  jobs: JobTable;
  readonly groups: CowRecords<number, JobGroup, Mutable<JobGroup>>;
  readonly faultIndex: CowMap<string, number>;
  readonly copies: CowMap<number, number>;
  // --- leases (leases.ts) ---
  readonly leases: CowMap<AgentId, LeaseView>;
  quarantine: ControllerState['quarantine'];
  // --- allocation held after a restart (reuse-hold.ts) ---
  reuseHold: ControllerState['reuseHold'];
  /** The flush in flight and the jobs waiting for the next one (flushes.ts). */
  flushes: FlushGroups;
  /** `ControllerState.generationFloor` (0: none). */
  generationFloor: number;

  /** Deltas computed in this step, by disk, base and target generation (see `sync.ts`). */
  readonly deltas = new Map<string, CachedDelta>();
  /** Settle jobs waiting for a copy slot: `base.copyQueue` until the step changes it. */
  private copyQueue: number[] | null = null;
  private copyQueueHead = 0;
  private copyQueued: Set<number> | null = null;
  private scratch: PieceBuffer | null = null;
  private lastWaiting: ReadonlyArray<AgentId> | null = null;

  /**
   * `base` is the state the step was given; read it for values as they were before the step.
   * `hooks` says what each kind of job does at each point of its life (see `jobs/hooks.ts`).
   */
  constructor(
    readonly base: ControllerState,
    readonly hooks: JobHookTable,
  ) {
    this.config = base.config;
    this.now = base.now;
    this.ready = base.ready;
    this.allocator = base.allocator;
    this.refs = base.refs;
    this.persist = base.persist;
    this.stagingBatch = base.stagingBatch;
    this.durableBatch = base.durableBatch;
    this.lastSweep = base.lastSweep;
    this.nextId = base.nextId;
    this.disks = new CowRecords(base.disks, thawDisk, freezeDisk);
    this.agents = new CowRecords(base.agents, thawAgent, freezeAgent);
    this.jobs = new JobTable(base.jobs, base.jobIndex, base.nextId);
    this.groups = new CowRecords(base.groups, thawGroup, freezeGroup);
    this.faultIndex = new CowMap(base.faultIndex);
    this.copies = new CowMap(base.copies);
    this.leases = new CowMap(base.leases);
    this.quarantine = base.quarantine;
    this.reuseHold = base.reuseHold;
    this.flushes = base.flushes ?? NO_FLUSHES;
    this.generationFloor = base.generationFloor ?? 0;
  }

  /**
   * `waiting` itself, or an equal list made earlier in this step: jobs brought in line in one
   * step mostly wait for the same agents, and sharing the list lets an acknowledgement decide
   * once for all of them (`sync.ts` `onAck`).
   */
  sameWaiting(waiting: AgentId[]): ReadonlyArray<AgentId> {
    const last = this.lastWaiting;
    if (last !== null && last.length === waiting.length && last.every((a, i) => a === waiting[i])) return last;
    this.lastWaiting = waiting;
    return waiting;
  }

  /**
   * The next event of a batch (`controllerStep`'s `batch`) in this working state: the job table
   * is written back and taken as the new start, so that scans see every job as the events
   * before left it (`job-index.ts`), as in a step of its own. Everything else carries on.
   */
  nextEvent(): void {
    const [jobs, index] = this.jobs.result();
    this.jobs = new JobTable(jobs, index, this.nextId);
  }

  /** A buffer for `translateInto`, for this step only. */
  get pieces(): PieceBuffer {
    return (this.scratch ??= new PieceBuffer(8));
  }

  /** Queues a settle job for a copy slot, unless it is queued already. */
  queueForCopySlot(id: number): void {
    const queued = (this.copyQueued ??= new Set(this.copyQueue?.slice(this.copyQueueHead) ?? this.base.copyQueue));
    if (queued.has(id)) return;
    queued.add(id);
    this.ownCopyQueue().push(id);
  }

  /** True while the copy-slot queue holds any id (some may be of jobs closed since). */
  copySlotQueued(): boolean {
    return this.copyQueue === null ? this.base.copyQueue.length > 0 : this.copyQueueHead < this.copyQueue.length;
  }

  /** Takes the first job off the copy-slot queue. */
  nextForCopySlot(): number | undefined {
    if (this.copyQueue === null && this.base.copyQueue.length === 0) return undefined;
    const queue = this.ownCopyQueue();
    if (this.copyQueueHead >= queue.length) return undefined;
    const id = queue[this.copyQueueHead++]!;
    this.copyQueued?.delete(id);
    return id;
  }

  private ownCopyQueue(): number[] {
    return (this.copyQueue ??= [...this.base.copyQueue]);
  }

  /** The next state: the given one itself when the step changed nothing. */
  result(): ControllerState {
    const [jobs, jobIndex] = this.jobs.result();
    const next: ControllerState = {
      config: this.config,
      now: this.now,
      ready: this.ready,
      disks: this.disks.result(),
      agents: this.agents.result(),
      allocator: this.allocator,
      refs: this.refs,
      jobs,
      jobIndex,
      groups: this.groups.result(),
      faultIndex: this.faultIndex.result(),
      persist: this.persist,
      stagingBatch: this.stagingBatch,
      durableBatch: this.durableBatch,
      lastSweep: this.lastSweep,
      copies: this.copies.result(),
      leases: this.leases.result(),
      quarantine: this.quarantine,
      reuseHold: this.reuseHold,
      copyQueue: this.copyQueue === null ? this.base.copyQueue : this.copyQueue.slice(this.copyQueueHead),
      nextId: this.nextId,
      // Absent until the first flush, so that a state that never flushed keeps its shape.
      ...(this.base.flushes === undefined && this.flushes === NO_FLUSHES ? {} : { flushes: this.flushes.inFlight === null && this.flushes.next === null ? NO_FLUSHES : this.flushes }),
      ...(this.generationFloor > 0 || this.base.generationFloor !== undefined ? { generationFloor: this.generationFloor } : {}),
      // Kept as is: controllerStep updates it (admin-dedupe.ts).
      ...(this.base.recentAdmin === undefined ? {} : { recentAdmin: this.base.recentAdmin }),
    };
    return sameFields(next, this.base) ? this.base : next;
  }
}
