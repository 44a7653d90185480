/**
 * Segment locks, the queues behind them, and the start and end of every job's life.
 *
 * One job at a time holds a segment, so a host write and the background copy of the same
 * blocks never race (the host write waits, and wins). A job that finds its segment busy waits
 * in the segment's queue, in arrival order, and starts when the holder closes.
 */
import { adminDone } from './basics.js';
import { hooksFor } from './jobs/hooks.js';
import type { AdminResult, ControllerCommand } from './types.js';
import type { Working } from './working.js';

/** Takes the job's segment lock and starts it, or queues it behind the holder. */
export const acquire = (s: Working, out: ControllerCommand[], id: number): void => {
  const job = s.jobs.get(id)!;
  const seg = (job as { segment: number }).segment;
  const d = s.disks.get(job.disk)!;
  const holder = d.busy.get(seg);
  if (holder !== undefined && holder !== id) {
    d.queued.set(seg, [...(d.queued.get(seg) ?? []), id]);
    return;
  }
  d.busy.set(seg, id);
  startJob(s, out, id);
};

/** The job holds what it needs: its kind's `start` hook decides what it does. */
export const startJob = (s: Working, out: ControllerCommand[], id: number): void => {
  const job = s.jobs.get(id)!;
  s.jobs.setPhase(job, { kind: 'waiting' });
  hooksFor(s, job).start(s, out, job);
};

/**
 * Removes a finished job: it leaves its group, frees its segment lock (starting the next job
 * queued there), and a snapshot waiting for the disk to be quiet looks again. (Answering a
 * faulting agent is `answerFault`, in `jobs/fault.ts`; it ends by closing the job.)
 */
export const closeJob = (s: Working, out: ControllerCommand[], id: number): void => {
  const job = s.jobs.get(id);
  if (job === undefined) return;
  s.jobs.delete(id);
  if (job.kind === 'fault' || job.kind === 'mark' || job.kind === 'zero') s.faultIndex.delete(`${job.agent}/${job.epoch}/${job.faultId}`);
  const d = s.disks.get(job.disk);
  if ('group' in job && job.group !== null) groupDone(s, out, job.group, null);
  if (d === undefined) return;
  const seg = (job as { segment?: number }).segment;
  if (seg !== undefined && d.busy.get(seg) === id) {
    d.busy.delete(seg);
    const q = d.queued.get(seg);
    if (q !== undefined && q.length > 0) {
      const nextId = q[0]!;
      if (q.length === 1) d.queued.delete(seg);
      else d.queued.set(seg, q.slice(1));
      d.busy.set(seg, nextId);
      startJob(s, out, nextId);
    }
  }
  if (d.frozenBy !== null) pokeJob(s, out, d.frozenBy);
};

/** Asks a job to look again at what it waits for. */
export const pokeJob = (s: Working, out: ControllerCommand[], id: number): void => {
  const job = s.jobs.get(id);
  if (job !== undefined) hooksFor(s, job).poke(s, out, job);
};

/** One job of an admin request's group is done; the request is answered with the last one. */
export const groupDone = (s: Working, out: ControllerCommand[], group: number, error: string | null): void => {
  const g = s.groups.get(group);
  if (g === undefined) return;
  g.remaining -= 1;
  if (error !== null) g.errors = [...g.errors, error];
  if (g.remaining <= 0) {
    s.groups.delete(group);
    adminDone(out, g.requestId, g.errors.length === 0 ? { ok: true } : { ok: false, error: g.errors.join('; ') });
  }
};

/**
 * Ends a job that froze its disk (a snapshot, a rollback): unfreezes the disk, answers the
 * request, and lets the faults it held proceed.
 */
export const endFreezingJob = (s: Working, out: ControllerCommand[], job: { readonly id: number; readonly disk: string; readonly requestId: number }, result: AdminResult): void => {
  const d = s.disks.get(job.disk)!;
  d.frozenBy = null;
  const held = [...d.held];
  d.held = [];
  adminDone(out, job.requestId, result);
  closeJob(s, out, job.id);
  for (const h of held) acquire(s, out, h);
};
