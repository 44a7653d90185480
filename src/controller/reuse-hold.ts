/**
 * Holding back allocation after a restart (docs/design.md#ordering-rules,
 * docs/design.md#leases-and-liveness).
 *
 * A restarted controller rebuilds its allocator from the durable tables, so every extent no
 * durable table references is free: also the extents a durable change (a rollback, a promotion,
 * a zero, a migration, a deletion) stopped using while agents had not yet acknowledged it, and
 * the extents still quarantined for late writes. The quarantine and the pending releases lived
 * in memory only; an agent still holding an older table may still write those extents. So,
 * after `restored`, nothing is allocated until every agent the store lists for a disk has
 * acknowledged the disk's restored generation (or a later one), has dropped its copy, is known to
 * have started a new life, or has been evicted. With leases on, also not before `maxIoLifetime`
 * after the restore (late writes of lives that ended before it, and the quarantine the previous
 * controller kept); an agent that stays silent is evicted by the lease the restore gives it
 * (`leaseOnRestore` in leases.ts), and an evicted copy is no longer waited for.
 *
 * A job that would allocate during the hold waits (phase `waiting`) and starts again, deciding
 * afresh, when the hold lifts.
 */
import type { AgentId, DiskId } from '../protocol/messages.js';
import { CowRecords } from '../protocol/copy-on-write.js';
import { hooksFor } from './jobs/hooks.js';
import type { ControllerCommand, CopyView } from './types.js';
import type { JobDraft, Working } from './working.js';

/**
 * Allocation held back after a restart: the acknowledgements still awaited, the earliest time it
 * may lift, and the jobs waiting for it.
 *
 * @example
 * state.reuseHold?.pending.map((p) => `${p.agent} must acknowledge ${p.disk} g${p.generation}`);
 */
export interface ReuseHold {
  /** Each agent the store lists for a disk, and the disk's generation at the restore. */
  readonly pending: ReadonlyArray<{ readonly agent: AgentId; readonly disk: DiskId; readonly generation: number }>;
  /** Not lifted before this time (controller clock). */
  readonly until: number;
  /** Jobs waiting to allocate, started again in this order when the hold lifts. */
  readonly waiting: ReadonlyArray<number>;
}

const leasesOn = (s: Working): boolean => s.config.leaseDuration !== null;

/**
 * The hold a restore starts with: every attached agent of every restored disk (the caller has
 * put them in `s.disks`, with copies that may hold a table).
 */
export const holdAfterRestore = (s: Working): void => {
  const pending: { agent: AgentId; disk: DiskId; generation: number }[] = [];
  for (const disk of s.disks.keys()) {
    const d = s.disks.peek(disk)!;
    for (const agent of [...d.agents, ...d.dropping]) pending.push({ agent, disk, generation: d.committed.generation });
  }
  const lease = s.config.leaseDuration;
  // A store without tables (a first start) has nothing an older table could still use.
  if (s.disks.size === 0) return;
  const until = lease === null ? s.now : s.now + s.config.maxIoLifetime;
  if (pending.length === 0 && until <= s.now) return;
  s.reuseHold = { pending, until, waiting: [] };
};

/**
 * True when allocation is held: the job then waits, and is started again when the hold lifts
 * (its kind's `start` hook decides afresh; it still holds its segment lock).
 */
export const allocationHeld = (s: Working, job: JobDraft): boolean => {
  const hold = s.reuseHold;
  if (hold === null) return false;
  s.jobs.setPhase(job, { kind: 'waiting' });
  if (!hold.waiting.includes(job.id)) s.reuseHold = { ...hold, waiting: [...hold.waiting, job.id] };
  return true;
};

/**
 * True while the hold awaits `agent` (as of the end of the last step): it may still hold a table
 * older than a restored one, which may map space the previous controller released and gave to
 * another segment. It gets no lease until then (leases.ts): a life the previous controller
 * evicted holds none, and must not get one back for that table.
 */
export const awaitedByHold = (s: Working, agent: AgentId): boolean => s.reuseHold !== null && s.reuseHold.pending.some((p) => p.agent === agent);

const peekCopy = (s: Working, agent: AgentId, disk: DiskId): CopyView | undefined => {
  const v = s.agents.peek(agent);
  if (v === undefined) return undefined;
  return v.copies instanceof CowRecords ? v.copies.peek(disk) : v.copies.get(disk);
};

/**
 * Looks again at what the hold waits for (after every step while there is one); lifts it and
 * starts the waiting jobs once nothing is awaited.
 */
export const checkReuseHold = (s: Working, out: ControllerCommand[]): void => {
  const hold = s.reuseHold;
  if (hold === null || !s.ready) return;
  let until = hold.until;
  const awaited = (p: ReuseHold['pending'][number]): boolean => {
    const c = s.disks.peek(p.disk) === undefined ? undefined : peekCopy(s, p.agent, p.disk);
    if (c === undefined) return false; // dropped its copy, or the disk is gone (after every copy was dropped)
    if (c.mayHold && c.acked >= p.generation) return false; // no I/O under an older entry is left
    if (c.mayHold) return true;
    // A new life, or evicted: the old life's late writes are bounded by `maxIoLifetime`.
    if (leasesOn(s)) until = Math.max(until, s.now + s.config.maxIoLifetime);
    return false;
  };
  const pending = hold.pending.filter(awaited);
  if (pending.length > 0 || s.now < until) {
    if (pending.length !== hold.pending.length || until !== hold.until) s.reuseHold = { ...s.reuseHold!, pending, until };
    return;
  }
  const waiting = s.reuseHold!.waiting;
  s.reuseHold = null;
  for (const id of waiting) {
    const job = s.jobs.get(id);
    if (job !== undefined && job.phase.kind === 'waiting') hooksFor(s, job).start(s, out, job);
  }
};
