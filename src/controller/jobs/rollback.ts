/**
 * Rollback jobs: an admin `rollback(disk, snapshot)` (docs/design.md#jobs).
 *
 * Life of a rollback job: `beginRollback` freezes the disk (new faults on it are held) ->
 * `tryRollback`, on every poke, waits until nothing works on the disk or the snapshot, then
 * stages, for every segment that differs, the snapshot's entry: its extents are shared, counted
 * once more, and `noWrite` as every located segment of a snapshot is, so the disk's next write
 * to it copies first; nothing is copied up front. A snapshot of another size resizes the disk to
 * it. -> 570 (fenced when several agents hold the disk: the change moves blocks) -> 575-590 ->
 * the disk's old extents are released through the reference counts (what the snapshot, or
 * another snapshot, still shares stays) -> `rolledBack` unfreezes the disk and answers.
 *
 * The snapshot must be read-only as taken: a segment written since (located and writable, or
 * with an alternate) could not be shared safely, and the rollback is refused with the reason.
 */
import type { MappingEntry } from '../../table/entry.js';
import { entriesEqual } from '../../table/entry.js';
import { entryAt, resizeTable, type MappingTable } from '../../table/table.js';
import type { Extent } from '../allocator.js';
import { adminDone, newId, segmentExtent, unwrap } from '../basics.js';
import { nextGeneration, setWorking, stage, waitForCommit } from '../commit.js';
import { endFreezingJob } from '../locks.js';
import * as R from '../refcounts.js';
import { syncWithCommitted } from '../sync.js';
import type { AdminEvent, AdminResult, ControllerCommand, RollbackJob } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';

/** Starts a rollback of a disk that exists and is not frozen, to an existing other disk (checked by the caller). */
export const beginRollback = (s: Working, out: ControllerCommand[], event: Extract<AdminEvent, { type: 'rollback' }>): void => {
  const d = s.disks.get(event.disk)!;
  const id = newId(s);
  s.jobs.put(id, { id, kind: 'rollback', disk: event.disk, snapshot: event.snapshot, requestId: event.requestId, phase: { kind: 'waiting' }, path: [], release: [] });
  d.frozenBy = id;
  tryRollback(s, out, s.jobs.get(id) as Mutable<RollbackJob>);
};

/** Why `table` cannot be shared as a snapshot, or null. */
const notReadOnly = (table: MappingTable, name: string): string | null => {
  for (let seg = 0; seg < table.segmentCount; seg++) {
    const e = entryAt(table, seg);
    if ((e.location !== null && !e.noWrite && !e.error) || (e.alternate !== null && !e.error))
      return `snapshot ${name} has segment ${seg} written since it was taken; rollback needs a read-only snapshot`;
  }
  return null;
};

/** Stages the snapshot's entries once neither disk has work in flight. */
const tryRollback = (s: Working, out: ControllerCommand[], job: Mutable<RollbackJob>): void => {
  if (job.phase.kind !== 'waiting') return;
  const peeked = s.disks.peek(job.disk)!;
  const snap = s.disks.peek(job.snapshot);
  if (snap === undefined || snap.deleted === true) return endRollback(s, out, job, { ok: false, error: `rollback of ${job.disk}: snapshot ${job.snapshot} no longer exists` });
  if (peeked.busy.size > 0 || peeked.queued.size > 0 || snap.busy.size > 0 || snap.queued.size > 0 || snap.staged?.created === true) return;
  const source = snap.working as MappingTable;
  const why = notReadOnly(source, job.snapshot);
  if (why !== null) return endRollback(s, out, job, { ok: false, error: `rollback of ${job.disk}: ${why}` });
  const d = s.disks.get(job.disk)!;
  let table = d.working as MappingTable;
  const release: Extent[] = [];
  const shared: Extent[] = [];
  const held = (e: MappingEntry, t: MappingTable): Extent[] => [e.location, e.alternate].filter((x) => x !== null).map((x) => segmentExtent(t, x));
  if (source.segmentCount !== table.segmentCount) {
    for (let seg = source.segmentCount; seg < table.segmentCount; seg++) release.push(...held(entryAt(table, seg), table));
    const generation = nextGeneration(d);
    table = unwrap(resizeTable(table, source.segmentCount, { zero: true }, { generation }), 'resizeTable');
    setWorking(s, d, table);
    const changes = new Map(d.staged?.changes ?? []);
    for (const seg of [...changes.keys()]) if (seg >= source.segmentCount) changes.delete(seg);
    d.staged = { ...(d.staged ?? { created: false }), changes, segmentCount: source.segmentCount };
  }
  const changes: [number, MappingEntry][] = [];
  for (let seg = 0; seg < source.segmentCount; seg++) {
    const now = entryAt(table, seg);
    const then = entryAt(source, seg);
    if (entriesEqual(now, then)) continue;
    release.push(...held(now, table));
    shared.push(...held(then, source));
    changes.push([seg, then]);
  }
  s.refs = R.incrementAll(s.refs, shared);
  job.release = release;
  if (changes.length > 0) return stage(s, out, job, changes);
  // Only a resize (or nothing) to make: wait for what is staged, as `resize` does.
  if (d.staged !== null) return waitForCommit(s, out, job);
  syncWithCommitted(s, out, job);
};

const endRollback = endFreezingJob;

const rolledBack = (s: Working, out: ControllerCommand[], job: Mutable<RollbackJob>): void => endRollback(s, out, job, { ok: true });

export const rollbackHooks: JobHooks<RollbackJob> = {
  start: nothing,
  copied: nothing,
  committed: syncWithCommitted,
  synced: rolledBack,
  poke: tryRollback,
  abandoned: nothing,
};
