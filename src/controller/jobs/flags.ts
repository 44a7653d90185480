/**
 * Flag jobs on one segment: `markError` sets its `error` flag (an admin `markFailed` of the
 * storage under it), `unfence` lifts an `invalid` fence left by a controller that stopped before
 * the change behind the fence was made (found at restart).
 */
import { entryAt } from '../../table/table.js';
import { stage } from '../commit.js';
import { closeJob } from '../locks.js';
import { syncWithCommitted } from '../sync.js';
import type { ControllerCommand, ErrorJob } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';

const startFlagChange = (s: Working, out: ControllerCommand[], job: Mutable<ErrorJob>): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  const next = job.kind === 'markError' ? { ...e, error: true } : { ...e, invalid: false };
  if (next.error === e.error && next.invalid === e.invalid) return closeJob(s, out, job.id);
  stage(s, out, job, [[job.segment, next]]);
};

const flagSynced = (s: Working, out: ControllerCommand[], job: Mutable<ErrorJob>): void => closeJob(s, out, job.id);

export const flagHooks: JobHooks<ErrorJob> = {
  start: startFlagChange,
  copied: nothing,
  committed: syncWithCommitted,
  synced: flagSynced,
  poke: nothing,
  abandoned: nothing,
};
