/**
 * Release jobs: extents a job could not give back itself, waiting until every agent holding the
 * disk has the change that stopped using them (docs/design.md#jobs).
 *
 * A fault or mark whose agent restarts while the other agents are brought in line is abandoned
 * (nobody waits for its answer), but the change it made is durable: the primary a promotion
 * replaced must still be released, and only once the other agents have acknowledged the change
 * (they may still read it). The abandoned job hands its extents to a release job, which syncs
 * to the same generation (575-590) and then releases them through the reference counts. Without
 * it the space leaks: the reference count stays at 1 with no table holding the extent.
 */
import { newId } from '../basics.js';
import { closeJob } from '../locks.js';
import { toSync } from '../sync.js';
import type { ControllerCommand, Job, ReleaseJob } from '../types.js';
import type { JobDraft, Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';

/** Hands `job`'s pending extents to a new release job that waits for `generation` on its disk. */
export const handOverRelease = (s: Working, out: ControllerCommand[], job: JobDraft, generation: number): void => {
  if (job.release.length === 0) return;
  const id = newId(s);
  const release: Job = { id, kind: 'release', disk: job.disk, phase: { kind: 'waiting' }, path: [], release: job.release };
  job.release = [];
  s.jobs.put(id, release);
  toSync(s, out, s.jobs.get(id)!, generation);
};

/** Every agent has the change; `sync.ts` has released the extents already. */
const released = (s: Working, out: ControllerCommand[], job: Mutable<ReleaseJob>): void => closeJob(s, out, job.id);

export const releaseHooks: JobHooks<ReleaseJob> = {
  start: nothing,
  copied: nothing,
  committed: nothing,
  synced: released,
  poke: nothing,
  abandoned: nothing,
};
