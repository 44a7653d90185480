/**
 * Fault and mark jobs: one agent's host I/O that its table could not serve (`fault`), or, in the
 * distributed variant, an agent's write to an alternate whose bits must become durable (`mark`).
 *
 * The life of a write to a no-write segment, end to end: `startFault` (translate against the
 * working table: the write cannot land) -> `relocateWrite` (attach or extend the alternate;
 * with the old content of the written blocks copied there first) -> `preparedAlternate` (the
 * copies are answered) -> `stage` (570, `commit.ts`, fenced when several agents hold the disk)
 * -> the `committed` hook -> `toSync` (575-590, `sync.ts`) -> the `synced` hook ->
 * `answerFault` (595 retry, then 597).
 */
import { segmentLengthAt, segmentStartAt } from '../../table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../../bitmap/bitmap.js';
import { forEachRunUnchecked } from '../../bitmap/bitmap.js';
import type { MappingEntry } from '../../table/entry.js';
import { blocksOfGrainsUnchecked, grainsOfBlocksUnchecked, markingVariant, wholeGrains } from '../../table/grain.js';
import { entryAt } from '../../table/table.js';
import { REASON_INVALID, REASON_NO_WRITE, REASON_ZERO, STATUS_ERROR, STATUS_FAULT, STATUS_OK, translateInto } from '../../translate/translate.js';
import type { Extent } from '../allocator.js';
import { addStep, agentRestarted, lastChangeOf, newId, segmentExtent, send } from '../basics.js';
import { flushCopiesFirst, releaseExtents, stage } from '../commit.js';
import { coalescedWrites } from '../coalesce.js';
import { closeJob } from '../locks.js';
import * as R from '../refcounts.js';
import { syncWithCommitted, toSync } from '../sync.js';
import type { ControllerCommand, FaultJob, MarkJob, Outcome, PreparedCopy } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';
import { allocationHeld } from '../reuse-hold.js';
import { handOverRelease } from './release.js';
import { enqueueSettle } from './settle.js';

type AgentJob = Mutable<FaultJob | MarkJob>;

/** A bitmap of `size` clear bits, built without validation (sizes here come from the table). */
const emptyBitmap = (size: number): B.Bitmap => B.unsafeFromWords(size, new Uint32Array((size + 31) >>> 5));

/**
 * `a | b`, or `a & ~b` when `minus`, as a new bitmap: `B.union` / `B.difference` without their
 * checks of bitmaps this step built or read from a valid table (same sizes by construction).
 */
const combineWords = (a: B.Bitmap, b: B.Bitmap, minus: boolean): B.Bitmap => {
  if (a.size !== b.size) throw new Error(`vdisk-map controller: internal bitmap sizes differ: ${a.size} and ${b.size}`);
  const x = a.words;
  const y = b.words;
  const words = new Uint32Array(x.length);
  if (minus) for (let i = 0; i < words.length; i++) words[i] = x[i]! & ~y[i]!;
  else for (let i = 0; i < words.length; i++) words[i] = x[i]! | y[i]!;
  return B.unsafeFromWords(a.size, words);
};

const startFault = (s: Working, out: ControllerCommand[], job: Mutable<FaultJob>): void => {
  if (agentRestarted(s, job)) return answerFault(s, out, job, 'abandoned', 'the agent restarted');
  const d = s.disks.peek(job.disk)!;
  if (job.segment < 0) return toSync(s, out, job, d.committed.generation);
  const pieces = s.pieces;
  const status = translateInto(d.working, job.op, job.start, job.length, pieces, markingVariant(d.working, s.config.variant));
  // A fault older than the segment's last change carries no data, so it is decided against the
  // table as it is now, like a fresh one: a bare retry only when the I/O would now go through
  // (else the agent would fault again, a round trip later). Any other answer fails or relocates.
  if (status === STATUS_OK || job.generation < lastChangeOf(d, job.segment) && status !== STATUS_FAULT) return toSync(s, out, job, lastChangeOf(d, job.segment));
  if (status === STATUS_ERROR) return decided(s, out, job, { type: 'fail', reason: `error: segment ${job.segment} of disk ${job.disk} is marked failed` });
  if (status !== STATUS_FAULT) return decided(s, out, job, { type: 'fail', reason: `request ${job.start}+${job.length} is outside disk ${job.disk}` });
  const reason = pieces.failureReason[0];
  if (reason === REASON_INVALID) return decided(s, out, job, { type: 'fail', reason: `segment ${job.segment} of disk ${job.disk} is invalid at the controller` });
  if (reason !== REASON_ZERO && reason !== REASON_NO_WRITE) return decided(s, out, job, { type: 'fail', reason: 'unexpected fault' });
  relocateWrite(s, out, job, { type: 'retry' });
};

const startMark = (s: Working, out: ControllerCommand[], job: Mutable<MarkJob>): void => {
  if (agentRestarted(s, job)) return answerFault(s, out, job, 'abandoned', 'the agent restarted');
  const d = s.disks.peek(job.disk)!;
  const last = lastChangeOf(d, job.segment);
  if (job.generation < last) return toSync(s, out, job, last); // the data may have been overwritten: write again
  const e = entryAt(d.working, job.segment);
  if (e.invalid || e.error) return decided(s, out, job, { type: 'fail', reason: `segment ${job.segment} of disk ${job.disk} is ${e.error ? 'marked failed' : 'invalid'}` });
  const off = job.start - segmentStartAt(d.working, job.segment);
  const alt = e.alternate;
  // Agents do not mark in a grained table (markingVariant); a mark of part of a grain is refused.
  const clear = d.working.grainBlocks === 1 && alt !== null && e.noWrite && off >= 0 && off + job.length <= segmentLengthAt(d.working, job.segment) && B.scanFor(alt.blocks.words, off, off + job.length, true) === off + job.length;
  if (!clear) return toSync(s, out, job, last);
  relocateWrite(s, out, job, { type: 'confirm' });
};

/**
 * The policy for a write that cannot land where the entry points (zero or no-write): put the
 * job's blocks at the alternate (attaching one if needed), and promote the alternate once every
 * block is there. A no-write segment also gets a background copy of the rest.
 */
const relocateWrite = (s: Working, out: ControllerCommand[], job: AgentJob, then: FaultJob['then']): void => {
  const { segment, start, length } = job;
  const d = s.disks.get(job.disk)!;
  const table = d.working;
  const e = entryAt(table, segment);
  // Allocation and bitmaps by this segment's own size (a variable table's segments differ).
  // The marking is worked out in blocks; the entry's bitmap has one bit per grain (grain.ts).
  const blocksHere = segmentLengthAt(table, segment);
  const grain = table.grainBlocks;
  let alt = e.alternate;
  let allocated: Extent | null = null;
  if (alt === null) {
    if (allocationHeld(s, job)) return; // reuse-hold.ts: after a restart, until the agents are in line
    const got = s.allocator.allocate(blocksHere, e.location?.lun);
    if (E.isLeft(got)) return decided(s, out, job, { type: 'fail', reason: `no space for an alternate of segment ${segment} of disk ${job.disk}: ${got.left.message}` });
    const [next, extent] = got.right;
    s.allocator = next;
    s.refs = R.increment(s.refs, extent);
    allocated = extent;
    alt = { lun: extent.lun, start: extent.start, blocks: emptyBitmap(blocksHere / grain) };
  }
  const off = start - segmentStartAt(table, segment);
  // Intake and startMark keep the range inside the segment: anything else is a bug, not input.
  if (!(off >= 0 && length >= 1 && off + length <= blocksHere)) throw new Error(`vdisk-map controller: internal range check failed: blocks ${off}+${length} of a segment of ${blocksHere}`);
  const unmarked = blocksOfGrainsUnchecked(alt.blocks, grain);
  // The bitmaps below are built word by word: each is new and private to this step until the
  // entry takes it, and the ranges are known to be in bounds (a fault costs no validation here).
  let want = emptyBitmap(blocksHere);
  B.fillWords(want.words, off, off + length, true);
  // Coalescing (coalesce.ts): write faults queued on this segment are served by the same change.
  if (job.kind === 'fault') want = coalescedWrites(s, job, segmentStartAt(table, segment), blocksHere, want);
  // A zero segment's first write takes the whole segment at once (zeros written there first):
  // later writes to it go straight through instead of each faulting (coalesce.ts).
  if (job.kind === 'fault' && e.zero && e.alternate === null && s.config.materializeZeroSegments) {
    want = emptyBitmap(blocksHere);
    B.fillWords(want.words, 0, blocksHere, true);
  }
  // A grain is marked whole or not at all (grain.ts): the rest of each touched grain is copied too.
  want = wholeGrains(want, grain);
  const blocks = combineWords(alt.blocks, grainsOfBlocksUnchecked(want, grain), false);
  let entry: MappingEntry;
  if (B.isFull(blocks)) {
    entry = { location: { lun: alt.lun, start: alt.start }, invalid: false, noWrite: false, zero: false, error: false, alternate: null };
    if (e.location !== null) job.release = [...job.release, segmentExtent(table, e.location, segment)];
  } else {
    entry = { ...e, alternate: { lun: alt.lun, start: alt.start, blocks } };
    if (e.noWrite) enqueueSettle(s, out, job.disk, segment, null);
  }
  job.then = then;
  if (job.kind === 'mark') return stage(s, out, job, [[segment, entry]]); // the agent has written the data already
  // Centralized: the bits go durable before the data lands (metadata before data). Until the
  // write lands, and for ever if it never comes (the agent restarts), those blocks must read as
  // they did: so the old content is copied to the alternate first (zeros for a zero segment).
  const copies: number[] = [];
  const target = alt;
  const toCopy = combineWords(want, unmarked, true);
  const firstCopy = out.length;
  forEachRunUnchecked(toCopy, 0, blocksHere, (k, n, set) => {
    if (!set) return;
    const copyId = newId(s);
    copies.push(copyId);
    s.copies.set(copyId, job.id);
    const to = { lun: target.lun, start: target.start + k };
    if (e.zero || e.location === null) out.push({ type: 'writeZeros', copyId, to, length: n });
    else out.push({ type: 'copyBlocks', copyId, from: { lun: e.location.lun, start: e.location.start + k }, to, length: n });
  });
  job.prepared = { changes: [[segment, entry]], allocated, ...(copies.length > 0 ? { flush: [target.lun], copies: withoutIds(out.slice(firstCopy)) } : {}) };
  s.jobs.setPhase(job, { kind: 'copying', copies, failed: false });
  if (copies.length === 0) preparedAlternate(s, out, job);
};

/** The old content of a fault's blocks is at the alternate (or could not be put there). */
const preparedAlternate = (s: Working, out: ControllerCommand[], job: Mutable<FaultJob>): void => {
  const p = job.prepared!;
  const failed = job.phase.kind === 'copying' && job.phase.failed;
  // Availability: a copy or flush that failed (a flush aborted by a storage power loss) is made once more before the write fails.
  if (failed && p.retried !== true && p.copies !== undefined && p.copies.length > 0 && !agentRestarted(s, job)) return copyAgain(s, out, job, p.copies);
  // Ordering rule: the old content copied to the alternate is durable before the bits that expose it.
  if (!agentRestarted(s, job) && flushCopiesFirst(s, out, job, p.flush ?? [])) return;
  job.prepared = null;
  if (!agentRestarted(s, job) && !failed) return stage(s, out, job, p.changes);
  // Nothing was staged: give back the space allocated for it, and keep what the change would
  // have freed (the old primary of a promotion is still in use).
  job.release = p.allocated === null ? [] : [p.allocated];
  releaseExtents(s, out, job);
  if (failed) return answerFault(s, out, job, 'failed', `storage failed while preparing the alternate of segment ${job.segment} of disk ${job.disk}`);
  answerFault(s, out, job, 'abandoned', 'the agent restarted');
};

/**
 * Makes a relocation's copies again, under new ids, once. Every copy of the first attempt is
 * answered by now, and a late flush answer finds its group gone, so nothing of the first attempt
 * can vouch for the second: its copies are flushed again before the change is staged
 * (`flushCopiesFirst`, in the next flush group like any other job). The segment lock is still
 * held, so the source reads as it did the first time.
 */
const copyAgain = (s: Working, out: ControllerCommand[], job: Mutable<FaultJob>, again: ReadonlyArray<PreparedCopy>): void => {
  const copies: number[] = [];
  for (const c of again) {
    const copyId = newId(s);
    copies.push(copyId);
    s.copies.set(copyId, job.id);
    out.push({ ...c, copyId });
  }
  job.prepared = { ...job.prepared!, retried: true };
  s.jobs.setPhase(job, { kind: 'copying', copies, failed: false });
};

/** The copy commands among `cmds`, without their ids. */
const withoutIds = (cmds: ReadonlyArray<ControllerCommand>): PreparedCopy[] => {
  const kept: PreparedCopy[] = [];
  for (const c of cmds) {
    if (c.type === 'copyBlocks') kept.push({ type: c.type, from: c.from, to: c.to, length: c.length });
    else if (c.type === 'writeZeros') kept.push({ type: c.type, to: c.to, length: c.length });
  }
  return kept;
};

/** A decision that needs no table change. */
const decided = (s: Working, out: ControllerCommand[], job: AgentJob, then: FaultJob['then']): void => {
  job.then = then;
  if (then.type === 'fail') return answerFault(s, out, job, 'failed', then.reason);
  const d = s.disks.peek(job.disk)!;
  toSync(s, out, job, job.segment < 0 ? d.committed.generation : lastChangeOf(d, job.segment));
};

/**
 * Answers the faulting agent (595 retry, confirmMark, or failIo; nothing when it restarted),
 * reports the resolution (597), and closes the job.
 */
const answerFault = (s: Working, out: ControllerCommand[], job: AgentJob, outcome: Outcome, detail?: string): void => {
  if (outcome === 'retry') {
    send(out, job.agent, { type: 'retry', epoch: job.epoch, faultId: job.faultId }, 595);
    addStep(job, 595);
  } else if (outcome === 'confirmed') {
    send(out, job.agent, { type: 'confirmMark', epoch: job.epoch, faultId: job.faultId }, 595);
    addStep(job, 595);
  } else if (outcome === 'failed') {
    send(out, job.agent, { type: 'failIo', epoch: job.epoch, faultId: job.faultId, reason: detail ?? 'failed' });
  }
  addStep(job, 597);
  out.push({
    type: 'resolved',
    agent: job.agent,
    faultId: job.faultId,
    disk: job.disk,
    segment: job.segment,
    reason: job.kind === 'mark' ? 'mark' : job.segment < 0 ? 'no-table' : job.reason,
    outcome,
    path: [...job.path],
    ...(detail === undefined ? {} : { detail }),
  });
  closeJob(s, out, job.id);
};

/** Every agent has the change (or the segment never needed one): the I/O can be tried again. */
const faultSynced = (s: Working, out: ControllerCommand[], job: AgentJob): void => {
  if (agentRestarted(s, job)) return answerFault(s, out, job, 'abandoned', 'the agent restarted');
  answerFault(s, out, job, job.then.type === 'confirm' ? 'confirmed' : 'retry');
};

const agentRestartedWhileSyncing = (s: Working, out: ControllerCommand[], job: AgentJob): void => {
  // The change is durable: what it stopped using is still released, once the other agents have it.
  if (job.phase.kind === 'syncing') handOverRelease(s, out, job, job.phase.generation);
  answerFault(s, out, job, 'abandoned', 'the agent restarted');
};

export const faultHooks: JobHooks<FaultJob> = {
  start: startFault,
  copied: preparedAlternate,
  committed: syncWithCommitted,
  synced: faultSynced,
  poke: nothing,
  abandoned: agentRestartedWhileSyncing,
};

export const markHooks: JobHooks<MarkJob> = {
  start: startMark,
  copied: nothing,
  committed: syncWithCommitted,
  synced: faultSynced,
  poke: nothing,
  abandoned: agentRestartedWhileSyncing,
};
