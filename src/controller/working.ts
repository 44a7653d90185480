/**
 * The controller's working state during one step: the state it was given, read as is, and
 * private copies of the few records the step changes (copy-on-write). `result()` assembles the
 * next state from them and hands back the given state itself when nothing changed, so
 * `controllerStep` never changes its input and unchanged parts stay identical.
 *
 * Rules for the step code: edit a record only through `get` (which copies it first), and
 * replace arrays and nested objects of a record instead of changing them in place: copies are
 * shallow.
 */
import type { AgentId, DiskId } from '../protocol/messages.js';
import { CowMap, CowRecords, sameFields } from '../protocol/copy-on-write.js';
import type { Allocator } from './allocator.js';
import type { RefCounts } from './refcounts.js';
import type { AgentView, ControllerConfig, ControllerState, CopyView, DiskState, Job, JobGroup } from './types.js';

/** `T` with its own fields writable (nested values stay read-only). */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A job being edited in this step. */
export type JobDraft = Mutable<Job>;

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

const thawJob = (job: Job): JobDraft => ({ ...job });
const freezeJob = (draft: JobDraft, base: Job | undefined): Job => keepIfSame<Job>(draft, base);

/** A disk record as a draft of its own (new disks are put in this form). */
export const thawDisk = (d: DiskState): DiskDraft => ({ ...d, busy: new CowMap(d.busy), queued: new CowMap(d.queued), lastChange: new CowMap(d.lastChange) });
const freezeDisk = (draft: DiskDraft, base: DiskState | undefined): DiskState =>
  keepIfSame<DiskState>({ ...draft, busy: draft.busy.result(), queued: draft.queued.result(), lastChange: draft.lastChange.result() }, base);

const thawCopy = (c: CopyView): Mutable<CopyView> => ({ ...c });
const freezeCopy = (draft: Mutable<CopyView>, base: CopyView | undefined): CopyView => keepIfSame<CopyView>(draft, base);

/** An agent record as a draft of its own (new agents are put in this form). */
export const thawAgent = (v: AgentView): AgentDraft => ({ epoch: v.epoch, copies: new CowRecords(v.copies, thawCopy, freezeCopy) });
const freezeAgent = (draft: AgentDraft, base: AgentView | undefined): AgentView => keepIfSame<AgentView>({ epoch: draft.epoch, copies: draft.copies.result() }, base);

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
  copyQueue: ReadonlyArray<number>;
  nextId: number;
  readonly disks: CowRecords<DiskId, DiskState, DiskDraft>;
  readonly agents: CowRecords<AgentId, AgentView, AgentDraft>;
  readonly jobs: CowRecords<number, Job, JobDraft>;
  readonly groups: CowRecords<number, JobGroup, Mutable<JobGroup>>;
  readonly faultIndex: CowMap<string, number>;
  readonly copies: CowMap<number, number>;

  /** `base` is the state the step was given; read it for values as they were before the step. */
  constructor(readonly base: ControllerState) {
    this.config = base.config;
    this.now = base.now;
    this.ready = base.ready;
    this.allocator = base.allocator;
    this.refs = base.refs;
    this.persist = base.persist;
    this.stagingBatch = base.stagingBatch;
    this.durableBatch = base.durableBatch;
    this.lastSweep = base.lastSweep;
    this.copyQueue = base.copyQueue;
    this.nextId = base.nextId;
    this.disks = new CowRecords(base.disks, thawDisk, freezeDisk);
    this.agents = new CowRecords(base.agents, thawAgent, freezeAgent);
    this.jobs = new CowRecords(base.jobs, thawJob, freezeJob);
    this.groups = new CowRecords(base.groups, thawGroup, freezeGroup);
    this.faultIndex = new CowMap(base.faultIndex);
    this.copies = new CowMap(base.copies);
  }

  /** The next state: the given one itself when the step changed nothing. */
  result(): ControllerState {
    const next: ControllerState = {
      config: this.config,
      now: this.now,
      ready: this.ready,
      disks: this.disks.result(),
      agents: this.agents.result(),
      allocator: this.allocator,
      refs: this.refs,
      jobs: this.jobs.result(),
      groups: this.groups.result(),
      faultIndex: this.faultIndex.result(),
      persist: this.persist,
      stagingBatch: this.stagingBatch,
      durableBatch: this.durableBatch,
      lastSweep: this.lastSweep,
      copies: this.copies.result(),
      copyQueue: this.copyQueue,
      nextId: this.nextId,
    };
    return sameFields(next, this.base) ? this.base : next;
  }
}
