/**
 * Zero jobs: a host discard or write-zeroes that covers a whole segment (an agent's
 * `zeroSegment`, docs/design.md#jobs).
 *
 * Life of a zero job: `startZero` (segment lock held) decides -> `stage` (570: the segment
 * becomes `zero`, no location, no alternate; fenced first when several agents hold the disk,
 * since the change moves blocks) -> `committed` -> 575-590 (every agent holding a copy
 * acknowledges, so none still reads or writes the old extents) -> the old extents are released
 * through their reference counts (`releaseExtents`: blocks a snapshot still shares stay) ->
 * `zeroSynced` answers the agent `retry` (595, 597). The agent then finds the segment zero in its
 * copy and completes the host request.
 *
 * A request older than the segment's last change (a re-sent duplicate of one already done, or a
 * request overtaken by another change) changes nothing: the agent is brought up to date and
 * told to retry, and looks again. So a late duplicate never zeroes data written after it.
 */
import type { MappingEntry } from '../../table/entry.js';
import { entryAt } from '../../table/table.js';
import { addStep, lastChangeOf, segmentExtent, send } from '../basics.js';
import { stage } from '../commit.js';
import { closeJob } from '../locks.js';
import { syncWithCommitted, toSync } from '../sync.js';
import type { ControllerCommand, Outcome, ZeroJob } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';

/** A segment that reads as zeros and holds no space. */
export const ZERO_ENTRY: MappingEntry = Object.freeze({ location: null, invalid: false, noWrite: false, zero: true, error: false, alternate: null });

/** True when `e` reads as zeros everywhere without the controller: nothing to do for a zero request. */
export const readsAsZeros = (e: MappingEntry): boolean => e.zero && e.alternate === null && !e.invalid && !e.error;

const startZero = (s: Working, out: ControllerCommand[], job: Mutable<ZeroJob>): void => {
  const d = s.disks.peek(job.disk)!;
  const last = lastChangeOf(d, job.segment);
  // Overtaken (or a duplicate of a request already done): the agent looks again with a newer copy.
  if (job.generation < last) return toSync(s, out, job, last);
  const table = d.working;
  const e = entryAt(table, job.segment);
  if (e.error) return answerZero(s, out, job, 'failed', `error: segment ${job.segment} of disk ${job.disk} is marked failed`);
  if (readsAsZeros(e)) return toSync(s, out, job, last);
  // Released once every agent has the zero entry; reference counts keep what a snapshot shares.
  job.release = [e.location, e.alternate].filter((x) => x !== null).map((x) => segmentExtent(table, x));
  stage(s, out, job, [[job.segment, ZERO_ENTRY]]);
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
const zeroSynced = (s: Working, out: ControllerCommand[], job: Mutable<ZeroJob>): void => answerZero(s, out, job, 'retry');

export const zeroHooks: JobHooks<ZeroJob> = {
  start: startZero,
  copied: nothing,
  committed: syncWithCommitted,
  synced: zeroSynced,
  poke: nothing,
  abandoned: nothing,
};
