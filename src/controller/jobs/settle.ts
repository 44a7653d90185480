/**
 * Settle and migrate jobs: the background data path.
 *
 * A settle job copies (or zero-fills) every block of a segment not yet at its alternate, then
 * promotes the alternate to primary and releases the old primary once every agent has the
 * change. At most `copyConcurrency` settle jobs copy at once; the others wait in `copyQueue`, and
 * each step ends by giving free slots to them (`drainCopyQueue`). A
 * migrate job starts moving a segment: it attaches an alternate on the target LUN and freezes
 * the primary, and hands the rest to a settle job.
 */
import { segmentLengthAt } from '../../table/segments.js';
import { blocksOfGrainsUnchecked } from '../../table/grain.js';
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../../bitmap/bitmap.js';
import type { DiskId } from '../../protocol/messages.js';
import { entryAt } from '../../table/table.js';
import { lastChangeOf, newId, segmentExtent, unwrap } from '../basics.js';
import { flushCopiesFirst, stage } from '../commit.js';
import { closeJob, groupDone, startJob } from '../locks.js';
import * as R from '../refcounts.js';
import { allocationHeld } from '../reuse-hold.js';
import { syncWithCommitted, toSync } from '../sync.js';
import type { ControllerCommand, MigrateJob, SettleJob } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';
import { abandonSnapshot } from './snapshot.js';

/** Gives up settling after this many failed copy attempts; the segment stays correct, just unsettled. */
const MAX_COPY_ATTEMPTS = 5;

/** Queues background settling of a segment unless it is already queued; returns the new job's id. */
export const enqueueSettle = (s: Working, out: ControllerCommand[], disk: DiskId, segment: number, group: number | null): number | null => {
  // A disk deleted meanwhile (the job that asked closed first, and its lock let the deletion go on): nothing to settle.
  const peeked = s.disks.peek(disk);
  if (peeked === undefined || peeked.deleted === true) return null;
  for (const other of s.jobs.on(disk, segment)) if (s.jobs.peek(other)?.kind === 'settle') return null;
  const id = newId(s);
  const job: SettleJob = { id, kind: 'settle', disk, segment, phase: { kind: 'queued' }, path: [], release: [], group, attempts: 0 };
  s.jobs.put(id, job);
  const d = s.disks.get(disk);
  if (d !== undefined && s.ready) {
    // Behind whatever holds the segment now; started when that job finishes.
    const holder = d.busy.get(segment);
    if (holder === undefined) {
      d.busy.set(segment, id);
      startJob(s, out, id);
    } else {
      d.queued.set(segment, [...(d.queued.get(segment) ?? []), id]);
    }
  }
  return id;
};

/** Bring every agent in line with the segment first: no host write under an old entry may race the copy. */
const startSettle = (s: Working, out: ControllerCommand[], job: Mutable<SettleJob>): void => toSync(s, out, job, lastChangeOf(s.disks.peek(job.disk)!, job.segment));

/**
 * Copies (or, for a zero segment, zero-fills) every block not yet at the alternate. Runs with the
 * segment locked and every agent in line, so no host write to the primary is in flight and any
 * host write to these blocks waits for the copy and lands after it.
 */
const startCopies = (s: Working, out: ControllerCommand[], job: Mutable<SettleJob>, itsTurn = false): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  const alt = e.alternate;
  if (alt === null || e.error || e.invalid) return closeJob(s, out, job.id);
  const blocks = blocksOfGrainsUnchecked(alt.blocks, d.working.grainBlocks); // copies are in blocks, bits per grain
  const clear = [...B.runsUnchecked(blocks, 0, blocks.size)].filter((r) => !r.set);
  if (clear.length === 0) return promote(s, out, job);
  // Behind the jobs already queued, even if a slot was freed earlier in this step: they get it first.
  if (s.jobs.copying() >= s.config.copyConcurrency || (!itsTurn && s.copySlotQueued())) {
    s.jobs.setPhase(job, { kind: 'waiting' });
    s.queueForCopySlot(job.id);
    return;
  }
  const copies: number[] = [];
  for (const r of clear) {
    const copyId = newId(s);
    copies.push(copyId);
    s.copies.set(copyId, job.id);
    const to = { lun: alt.lun, start: alt.start + r.start };
    if (e.location !== null && !e.zero) out.push({ type: 'copyBlocks', copyId, from: { lun: e.location.lun, start: e.location.start + r.start }, to, length: r.length });
    else out.push({ type: 'writeZeros', copyId, to, length: r.length });
  }
  s.jobs.setPhase(job, { kind: 'copying', copies, failed: false });
};

/**
 * Every copy of the job is answered: promote, or count the failure. Either way its copy slot is
 * free (unless it now waits for a flush), and goes to the next queued job at the end of the step.
 */
const settleCopied = (s: Working, out: ControllerCommand[], job: Mutable<SettleJob>): void => {
  if (job.phase.kind === 'copying' && job.phase.failed) {
    job.attempts += 1;
    if (job.attempts >= MAX_COPY_ATTEMPTS) {
      // A snapshot waiting for this segment cannot be taken consistently: give it up.
      const d = s.disks.get(job.disk)!;
      const snap = d.frozenBy === null ? undefined : s.jobs.get(d.frozenBy);
      if (snap !== undefined && snap.kind === 'snapshot') abandonSnapshot(s, out, snap, `copying segment ${job.segment} failed ${job.attempts} times`);
      closeJob(s, out, job.id);
    }
    // otherwise the next sweep starts the copies again
  } else {
    // Ordering rule: the copies are durable before the promotion's record depends on them.
    const alt = entryAt(s.disks.peek(job.disk)!.working, job.segment).alternate;
    if (alt !== null && flushCopiesFirst(s, out, job, [alt.lun])) return; // keeps its copy slot while flushing
    promote(s, out, job);
  }
};

/**
 * Gives every free copy slot to the settle jobs queued for one, in queue order, skipping those
 * closed or moved on since they queued. Run at the end of every step (`controllerStep`), so a
 * slot is never left free while a job waits, whatever freed it: copies finishing, or the copying
 * job closed by any path (a deletion, a rollback, a failure), now or added later.
 */
export const drainCopyQueue = (s: Working, out: ControllerCommand[]): void => {
  while (s.copySlotQueued() && s.jobs.copying() < s.config.copyConcurrency) {
    const id = s.nextForCopySlot()!;
    const job = s.jobs.peek(id);
    if (job === undefined || job.kind !== 'settle' || job.phase.kind !== 'waiting') continue;
    startCopies(s, out, s.jobs.get(id) as Mutable<SettleJob>, true);
  }
};

/** The periodic sweep restarts copies that failed. */
const retryFailedCopies = (s: Working, out: ControllerCommand[], job: Mutable<SettleJob>): void => {
  if (job.phase.kind === 'copying' && job.phase.failed && job.phase.copies.length === 0) startCopies(s, out, job);
};

/** Every block is at the alternate: it becomes the primary, and the old primary is released once agents agree. */
const promote = (s: Working, out: ControllerCommand[], job: Mutable<SettleJob>): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  if (e.alternate === null) return closeJob(s, out, job.id);
  if (e.location !== null) job.release = [...job.release, segmentExtent(d.working, e.location, job.segment)];
  stage(s, out, job, [[job.segment, { location: { lun: e.alternate.lun, start: e.alternate.start }, invalid: false, noWrite: false, zero: false, error: false, alternate: null }]]);
};

/** Agents are in line: before the promotion, copy; after it, done. */
const settleSynced = (s: Working, out: ControllerCommand[], job: Mutable<SettleJob>): void => {
  if (job.phase.kind === 'syncing' && job.path.includes(570)) return closeJob(s, out, job.id); // promoted and in line
  startCopies(s, out, job);
};

export const settleHooks: JobHooks<SettleJob> = {
  start: startSettle,
  copied: settleCopied,
  committed: syncWithCommitted,
  synced: settleSynced,
  poke: retryFailedCopies,
  abandoned: nothing,
};

const startMigrate = (s: Working, out: ControllerCommand[], job: Mutable<MigrateJob>): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  if (e.location === null || e.zero || e.invalid || e.error || e.alternate !== null || e.location.lun === job.lun) return closeJob(s, out, job.id);
  if (allocationHeld(s, job)) return; // reuse-hold.ts: after a restart, until the agents are in line
  const got = s.allocator.allocate(segmentLengthAt(d.working, job.segment), job.lun);
  if (E.isLeft(got) || got.right[1].lun !== job.lun) {
    if (job.group !== null) groupDone(s, out, job.group, `no space on LUN ${job.lun} for segment ${job.segment} of disk ${job.disk}`);
    job.group = null;
    return closeJob(s, out, job.id);
  }
  const [next, extent] = got.right;
  s.allocator = next;
  s.refs = R.increment(s.refs, extent);
  stage(s, out, job, [[job.segment, { ...e, noWrite: true, alternate: { lun: extent.lun, start: extent.start, blocks: unwrap(B.empty(segmentLengthAt(d.working, job.segment) / d.working.grainBlocks), 'bitmap') } }]]);
};

/** The alternate is attached everywhere: a settle job (in the same group) copies and promotes. */
const migrateSynced = (s: Working, out: ControllerCommand[], job: Mutable<MigrateJob>): void => {
  const { disk, segment, group } = job;
  job.group = null;
  closeJob(s, out, job.id);
  if (enqueueSettle(s, out, disk, segment, group) === null && group !== null) groupDone(s, out, group, null);
};

export const migrateHooks: JobHooks<MigrateJob> = {
  start: startMigrate,
  copied: nothing,
  committed: syncWithCommitted,
  synced: migrateSynced,
  poke: nothing,
  abandoned: nothing,
};
