/**
 * Zero jobs: a host discard or write-zeroes that covers a whole segment (an agent's
 * `zeroSegment`, docs/design.md#jobs).
 *
 * Life of a zero job: `startZero` (segment lock held) decides -> 570: the segment is fenced
 * (`invalid`), always, even with one agent -> 575-590: every agent holding a copy acknowledges
 * the fence, so no host write lands on the segment any more (it faults and waits for this job)
 * -> 570: the segment becomes `zero` (no location, no alternate) -> 575-590 -> the old extents
 * are released through their reference counts (`releaseExtents`: blocks a snapshot still shares
 * stay) -> `zeroSynced` answers the agent `retry` (595, 597). The agent then finds the segment
 * zero in its copy and completes the host request.
 *
 * Why always a fence: zeroing destroys data, unlike every other change. Without it, an agent
 * that restarts after the zero is staged and before it is durable fails the discard (the host
 * sees an error) while a write of its new life lands on the old extent, and the zero then made
 * durable would erase that later, acknowledged write. With the fence, an agent restarted before
 * every agent acknowledged it gets its fence lifted (`sync.ts`: the old entry comes back, nothing
 * is zeroed); one restarted after cannot write the segment until the zero is done.
 *
 * A request older than the segment's last change (a re-sent duplicate of one already done, or a
 * request overtaken by another change) changes nothing: the agent is brought up to date and
 * told to retry, and looks again. So a late duplicate never zeroes data written after it.
 */
import type { MappingEntry } from '../../table/entry.js';
import { entryAt } from '../../table/table.js';
import { addStep, agentRestarted, lastChangeOf, segmentExtent, send } from '../basics.js';
import { stage } from '../commit.js';
import { closeJob } from '../locks.js';
import { syncWithCommitted, toSync } from '../sync.js';
import type { ControllerCommand, Outcome, ZeroJob } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';
import { handOverRelease } from './release.js';

/** A segment that reads as zeros and holds no space. */
export const ZERO_ENTRY: MappingEntry = /* @__PURE__ */ Object.freeze({ location: null, invalid: false, noWrite: false, zero: true, error: false, alternate: null });

/** True when `e` reads as zeros everywhere without the controller: nothing to do for a zero request. */
export const readsAsZeros = (e: MappingEntry): boolean => e.zero && e.alternate === null && !e.invalid && !e.error;

const startZero = (s: Working, out: ControllerCommand[], job: Mutable<ZeroJob>): void => {
  if (agentRestarted(s, job)) return answerZero(s, out, job, 'abandoned', 'the agent restarted');
  const d = s.disks.peek(job.disk)!;
  const last = lastChangeOf(d, job.segment);
  // Overtaken (or a duplicate of a request already done): the agent looks again with a newer copy.
  if (job.generation < last) return toSync(s, out, job, last);
  const table = d.working;
  const e = entryAt(table, job.segment);
  if (e.error) return answerZero(s, out, job, 'failed', `error: segment ${job.segment} of disk ${job.disk} is marked failed`);
  if (readsAsZeros(e)) return toSync(s, out, job, last);
  // Released once every agent has the zero entry; reference counts keep what a snapshot shares.
  job.release = [e.location, e.alternate].filter((x) => x !== null).map((x) => segmentExtent(table, x, job.segment));
  job.deferred = [[job.segment, ZERO_ENTRY]];
  stage(s, out, job, [[job.segment, { ...e, invalid: true }]], true);
};

/** Answers the agent (retry, or failIo), reports the resolution and closes the job. */
const answerZero = (s: Working, out: ControllerCommand[], job: Mutable<ZeroJob>, outcome: Outcome, detail?: string): void => {
  if (outcome === 'retry') {
    send(out, job.agent, { type: 'retry', epoch: job.epoch, faultId: job.faultId }, 595);
    addStep(job, 595);
  } else if (outcome === 'failed') send(out, job.agent, { type: 'failIo', epoch: job.epoch, faultId: job.faultId, reason: detail ?? 'failed' });
  addStep(job, 597);
  out.push({
    type: 'resolved',
    agent: job.agent,
    faultId: job.faultId,
    disk: job.disk,
    segment: job.segment,
    reason: 'zero-segment',
    outcome,
    path: [...job.path],
    ...(detail === undefined ? {} : { detail }),
  });
  closeJob(s, out, job.id);
};

/**
 * Every agent has the change, and the old extents are released. An agent that restarted
 * meanwhile is not waited for (its new life holds no copy) and ignores the answer.
 */
const zeroSynced = (s: Working, out: ControllerCommand[], job: Mutable<ZeroJob>): void =>
  agentRestarted(s, job) ? answerZero(s, out, job, 'abandoned', 'the agent restarted') : answerZero(s, out, job, 'retry');

/**
 * The agent restarted while agents were being brought in line with the zero entry (the fence
 * was acknowledged, so the zero stands): its extents are still released once the others have it.
 */
const zeroAbandoned = (s: Working, out: ControllerCommand[], job: Mutable<ZeroJob>): void => {
  if (job.phase.kind === 'syncing') handOverRelease(s, out, job, job.phase.generation);
  answerZero(s, out, job, 'abandoned', 'the agent restarted');
};

export const zeroHooks: JobHooks<ZeroJob> = {
  start: startZero,
  copied: nothing,
  committed: syncWithCommitted,
  synced: zeroSynced,
  poke: nothing,
  abandoned: zeroAbandoned,
};
