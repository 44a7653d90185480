/**
 * The jobs of one step, with the indexes that let the step find what it acts on without looking
 * at every job in flight: the jobs on a segment, the jobs of a class (kind, or a phase a step
 * waits on, see {@link JobIndex}), and the number of settle jobs copying (for the copy slots).
 *
 * Scans keep the meaning they had as loops over every job: a scan sees each job that existed
 * when the step began as it was then, and each job added in the step as it is now. So a scan's
 * candidates are the indexed jobs of the class as the step began, then the jobs added since
 * (the caller tests those itself), in id order (ids only grow, and maps keep insertion order).
 * The index of the next state is worked out in `result()` from the jobs the step changed.
 */
import type { DiskId } from '../protocol/messages.js';
import { CowMap, CowRecords, sameFields } from '../protocol/copy-on-write.js';
import { type MapBuilder, PersistentMap, PersistentSet, type SetBuilder } from '../protocol/persistent-map.js';
import type { Job, JobIndex, JobPhase } from './types.js';

/** The class of the jobs syncing on `disk` for `generation`: acks find the jobs they may release by it (`sync.ts`). */
export const syncingClass = (disk: DiskId, generation: number): string => `syncing@${generation}:${disk}`;

/** `T` with its own fields writable (nested values stay read-only). */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A job being edited in this step. */
export type JobDraft = Mutable<Job>;

/** An index of no jobs. */
export const emptyJobIndex: JobIndex = { bySegment: new Map(), classes: new Map() };

/** A settle job with copies in flight: it holds one of the `copyConcurrency` copy slots. */
const isCopying = (j: Job | JobDraft | undefined): boolean => j !== undefined && j.kind === 'settle' && j.phase.kind === 'copying' && j.phase.copies.length > 0;

/** The classes of {@link JobIndex.classes} a job belongs to. */
const classesOf = (j: Job): string[] => {
  const out = [`kind:${j.kind}`];
  const p = j.phase;
  if (p.kind === 'committing') out.push('committing');
  else if (p.kind === 'syncing') out.push('syncing', `syncing:${j.disk}`, syncingClass(j.disk, p.generation));
  else if (p.kind === 'copying' && j.kind === 'settle') {
    if (p.copies.length > 0) out.push('copying');
    else if (p.failed) out.push('copyRetry');
  }
  return out;
};

const segmentOf = (j: Job | JobDraft): number => ('segment' in j ? j.segment : -1);

const thawJob = (job: Job): JobDraft => ({ ...job });
const freezeJob = (draft: JobDraft, base: Job | undefined): Job => (base !== undefined && sameFields(draft, base) ? base : draft);

/** The jobs of one step; see the module comment. */
export class JobTable {
  private readonly records: CowRecords<number, Job, JobDraft>;
  /** Jobs put in this step, in order. */
  private readonly added: number[] = [];
  /**
   * `index.bySegment` as the step changes it, made on the first change: a builder of the disks
   * (a disk leaves it when its last job goes, and comes back last, as in a persistent map), and
   * one of each disk's segments changed in the step (the disks' entries are these, at `result()`).
   */
  private disksOn: MapBuilder<DiskId, ReadonlyMap<number, ReadonlyArray<number>>> | null = null;
  private segments: Map<DiskId, MapBuilder<number, ReadonlyArray<number>>> | null = null;
  /**
   * Settle jobs copying now minus those of the `copying` class as the step began: a job that
   * stops copying frees its slot within the step, so that a job queued for a slot can take it
   * in the same step (a flush group's jobs all finish in one step).
   */
  private copyingChange = 0;

  /** `firstNewId`: every job added in the step has an id at least this (ids only grow). */
  constructor(
    private readonly base: ReadonlyMap<number, Job>,
    private readonly index: JobIndex,
    private readonly firstNewId: number,
  ) {
    this.records = new CowRecords(base, thawJob, freezeJob);
  }

  has(id: number): boolean {
    return this.records.has(id);
  }

  get size(): number {
    return this.records.size;
  }

  /** The job as it is now, without copying it. */
  peek(id: number): Job | JobDraft | undefined {
    return this.records.peek(id);
  }

  /** The job as a scan of the step saw it: as the step began, or (added since) as it is now. */
  scanned(id: number): Job | JobDraft | undefined {
    return this.base.get(id) ?? this.records.peek(id);
  }

  /** The job for editing (a private copy, made on first use). */
  get(id: number): JobDraft | undefined {
    return this.records.get(id);
  }

  /** Adds a new job, as a record private to this step. */
  put(id: number, job: Job): JobDraft {
    const draft = this.records.put(id, job);
    this.added.push(id);
    const seg = segmentOf(draft);
    if (seg >= 0) this.setOn(draft.disk, seg, [...this.on(draft.disk, seg), id]);
    if (isCopying(draft)) this.copyingChange++;
    return draft;
  }

  delete(id: number): void {
    const job = this.records.peek(id);
    if (job === undefined) return;
    if (isCopying(job)) this.copyingChange--;
    const seg = segmentOf(job);
    if (seg >= 0) this.setOn(job.disk, seg, this.on(job.disk, seg).filter((x) => x !== id));
    this.records.delete(id);
  }

  /** Every job id, in id order. */
  keys(): number[] {
    return this.records.keys();
  }

  /** The jobs on a segment, oldest first. */
  on(disk: DiskId, segment: number): ReadonlyArray<number> {
    const changed = this.segments?.get(disk);
    return (changed !== undefined ? changed.get(segment) : this.index.bySegment.get(disk)?.get(segment)) ?? [];
  }

  /** Sets the jobs on a segment (none: the segment, and a disk left without any, leave the index). */
  private setOn(disk: DiskId, segment: number, ids: ReadonlyArray<number>): void {
    const disks = (this.disksOn ??= PersistentMap.from(this.index.bySegment).builder());
    const segments = (this.segments ??= new Map());
    let jobs = segments.get(disk);
    if (jobs === undefined) segments.set(disk, (jobs = PersistentMap.from(this.index.bySegment.get(disk) ?? []).builder()));
    const before = jobs.size;
    if (ids.length === 0) jobs.delete(segment);
    else jobs.set(segment, ids);
    // The disk's entry itself is filled in by `result()`; here it only leaves and comes back.
    if (jobs.size === 0) disks.delete(disk);
    else if (before === 0) disks.set(disk, PersistentMap.empty());
  }

  /** Changes a job's phase; every phase change goes through here, so that the counts stay right. */
  setPhase(job: JobDraft, phase: JobPhase): void {
    const was = isCopying(job) ? 1 : 0;
    job.phase = phase;
    this.copyingChange += (isCopying(job) ? 1 : 0) - was;
  }

  /** Settle jobs holding a copy slot now. */
  copying(): number {
    return (this.index.classes.get('copying')?.size ?? 0) + this.copyingChange;
  }

  /**
   * The candidates of a scan for any of `classes`: the jobs that were in one of them when the
   * step began and still exist, then every job added since (test those with `scanned`), in id order.
   */
  candidates(...classes: string[]): number[] {
    const fromIndex = new Set<number>();
    // forEach, not for-of: a persistent set walks its trie without a generator.
    for (const c of classes) this.index.classes.get(c)?.forEach((id) => void (this.existed(id) && fromIndex.add(id)));
    const out = [...fromIndex].sort((a, b) => a - b);
    for (const id of this.added) if (this.records.has(id)) out.push(id);
    return out;
  }

  /**
   * `candidates(...classes)` narrowed by `keep`, which is asked before the ids are sorted: for a
   * scan that keeps few of many (an ack looking for the jobs it releases), so that it sorts only those.
   */
  candidatesWhere(classes: ReadonlyArray<string>, keep: (id: number) => boolean): number[] {
    const kept: number[] = [];
    for (const c of classes) this.index.classes.get(c)?.forEach((id) => void (this.existed(id) && keep(id) && kept.push(id)));
    const out = classes.length > 1 ? [...new Set(kept)] : kept;
    out.sort((a, b) => a - b);
    for (const id of this.added) if (this.records.has(id) && keep(id)) out.push(id);
    return out;
  }

  /** A job of the index (one that existed when the step began) that still exists. */
  private existed(id: number): boolean {
    return !this.records.deleted(id);
  }

  /** The jobs of the next state and their index. */
  result(): readonly [ReadonlyMap<number, Job>, JobIndex] {
    const jobs = this.records.result();
    if (jobs === this.base) return [jobs, this.index];
    return [jobs, { bySegment: this.bySegmentResult(), classes: this.classesResult() }];
  }

  private bySegmentResult(): JobIndex['bySegment'] {
    const disks = this.disksOn;
    if (disks === null) return this.index.bySegment;
    for (const [disk, jobs] of this.segments!) if (jobs.size > 0) disks.set(disk, jobs.done());
    return disks.done();
  }

  /**
   * The classes of the next state, from the class changes of the jobs the step changed: each
   * class changed goes through a builder of its own; a class leaves the index when its last job
   * goes, and comes back last (the order a change at a time would give).
   */
  private classesResult(): JobIndex['classes'] {
    const classes = new CowMap(this.index.classes);
    const sets = new Map<string, SetBuilder<number>>();
    const move = (c: string, id: number, add: boolean): void => {
      let set = sets.get(c);
      if (set === undefined) sets.set(c, (set = PersistentSet.from(classes.get(c) ?? []).builder()));
      const before = set.size;
      if (add) set.add(id);
      else set.delete(id);
      if (set.size === 0) classes.delete(c);
      else if (before === 0) classes.set(c, PersistentSet.empty());
    };
    for (const [id, before, after] of this.records.changes()) {
      // Classes depend on kind, disk and phase only; a job edited otherwise stays where it is.
      if (before !== undefined && after !== undefined && before.phase === after.phase && before.kind === after.kind && before.disk === after.disk) continue;
      const was = before === undefined ? [] : classesOf(before);
      const is = after === undefined ? [] : classesOf(after);
      for (const c of was) if (!is.includes(c)) move(c, id, false);
      for (const c of is) if (!was.includes(c)) move(c, id, true);
    }
    for (const [c, set] of sets) if (set.size > 0) classes.set(c, set.done());
    return classes.result();
  }
}
