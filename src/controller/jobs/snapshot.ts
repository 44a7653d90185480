/**
 * Snapshot jobs: a new disk that shares every segment of a source disk.
 *
 * The whole life of a snapshot, in this module: `beginSnapshot` freezes the source (new faults
 * on it are held), `trySnapshot` waits until nothing on the disk is in flight and settles every
 * alternate first (alternates cannot be shared safely: writes to set bits ignore no-write), then
 * stages a freeze of the source (every located segment `noWrite`: one flag on the batch's
 * record, one on the agents' delta) and the snapshot as a clone of the frozen table, in the same
 * batch; once that is durable and agents are in line, `endSnapshot` unfreezes the disk and
 * releases the held faults. A settle job that keeps failing abandons the snapshot. Nothing here
 * touches an entry or an extent per segment: the freeze sets one bit per chunk, the
 * reference counts gain one holder per chunk (refcounts.ts).
 */
import { F_ERROR, segmentsWithAlternate, type MappingTable } from '../../table/table.js';
import { adminDone, newDiskState, newId } from '../basics.js';
import { stageFreeze, waitForCommit } from '../commit.js';
import { endFreezingJob } from '../locks.js';
import * as R from '../refcounts.js';
import { syncWithCommitted } from '../sync.js';
import type { AdminEvent, AdminResult, ControllerCommand, SnapshotJob } from '../types.js';
import { thawDisk, type Mutable, type Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';
import { enqueueSettle } from './settle.js';

/** Starts a snapshot of a disk that exists and is not being snapshotted, to a new disk name (checked by the caller). */
export const beginSnapshot = (s: Working, out: ControllerCommand[], event: Extract<AdminEvent, { type: 'snapshot' }>): void => {
  const d = s.disks.get(event.disk)!;
  const id = newId(s);
  s.jobs.put(id, { id, kind: 'snapshot', disk: event.disk, snapshot: event.snapshot, requestId: event.requestId, phase: { kind: 'waiting' }, path: [], release: [] });
  // Alternates cannot be shared safely (writes to set bits ignore no-write): trySnapshot
  // settles them first, with new faults on the disk held meanwhile.
  d.frozenBy = id;
  const job = s.jobs.get(id)!;
  if (job.kind === 'snapshot') trySnapshot(s, out, job);
};

/** Takes the snapshot once nothing on the disk is in flight and no segment has an alternate. */
const trySnapshot = (s: Working, out: ControllerCommand[], job: Mutable<SnapshotJob>): void => {
  if (job.phase.kind !== 'waiting') return;
  const d = s.disks.get(job.disk)!;
  if (d.busy.size > 0 || d.queued.size > 0) return;
  const table = d.working as MappingTable;
  // Faults already under way when the disk froze may have attached alternates since: settle
  // those too. An alternate on a failed segment is never written again and may be shared.
  const unsettled = segmentsWithAlternate(table, F_ERROR);
  if (unsettled.length > 0) {
    for (const seg of unsettled) enqueueSettle(s, out, job.disk, seg, null);
    return;
  }
  // The snapshot's table is the source's once frozen, at the same generation. Both are staged
  // before the flush, so they are made durable in one batch that the job waits for; the source's
  // record comes first (disks are flushed in creation order), so the snapshot is never durable
  // while the source could still write the primaries it shares.
  const frozen = stageFreeze(s, job);
  // Both disks share every chunk, primaries and alternates (error segments keep theirs) alike,
  // and both are copy-on-write from now on: one more holder per chunk, not per extent.
  s.refs = R.shareTable(s.refs, frozen);
  s.disks.put(job.snapshot, thawDisk({ ...newDiskState(frozen, []), staged: { changes: new Map(), created: true, cloneOf: job.disk } }));
  waitForCommit(s, out, job);
};

/** Gives the snapshot up (a segment could not be settled); the source carries on unfrozen. */
export const abandonSnapshot = (s: Working, out: ControllerCommand[], job: Mutable<SnapshotJob>, why: string): void =>
  endSnapshot(s, out, job, { ok: false, error: `snapshot of ${job.disk} abandoned: ${why}` });

const endSnapshot = endFreezingJob;

const snapshotTaken = (s: Working, out: ControllerCommand[], job: Mutable<SnapshotJob>): void => endSnapshot(s, out, job, { ok: true });

export const snapshotHooks: JobHooks<SnapshotJob> = {
  start: nothing,
  copied: nothing,
  committed: syncWithCommitted,
  synced: snapshotTaken,
  poke: trySnapshot,
  abandoned: nothing,
};
