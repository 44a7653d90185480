/**
 * Delete jobs: an admin `deleteDisk` of a disk or a snapshot (docs/design.md#jobs).
 *
 * Life of a delete job: `beginDelete` freezes the disk (new faults are held, other admin
 * requests on it refused) and, with `force`, detaches its agents (in memory: the durable
 * attachments go with `deleteTable`, so until then a change still staged by a job in flight is
 * fenced as if they were all attached, `attached`) and tells each to drop its copy
 * -> `tryDelete`, on every poke, waits until no job works on the disk and no agent may still
 * hold a copy (an agent with a copy could still read or write its extents directly) -> the disk
 * is marked `deleted`: the next batch persists `deleteTable` and forgets the disk (570) ->
 * `deleted` releases every extent of its table through the reference counts (only what no other
 * table references goes back to the allocator) and answers the request.
 *
 * Snapshot families keep working in any deletion order: a snapshot's table is a table of its
 * own whose extents are counted, so deleting the source, the snapshot or both in either order
 * releases each shared extent exactly when its last holder goes.
 */
import type { AgentId } from '../../protocol/messages.js';
import { entryAt, type MappingTable } from '../../table/table.js';
import type { Extent } from '../allocator.js';
import { adminDone, newId, segmentExtent, send } from '../basics.js';
import { releaseExtents, waitForCommit } from '../commit.js';
import { closeJob } from '../locks.js';
import type { AdminEvent, ControllerCommand, DeleteJob } from '../types.js';
import type { Mutable, Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';

/** Starts deleting a disk that exists and is quiet enough to freeze (checked by the caller). */
export const beginDelete = (s: Working, out: ControllerCommand[], event: Extract<AdminEvent, { type: 'deleteDisk' }>): void => {
  const d = s.disks.get(event.disk)!;
  const id = newId(s);
  // Who the store may still list as attached: they count as holders when a change is fenced (commit.ts `stage`).
  const attached = [...new Set([...d.agents, ...d.dropping])];
  s.jobs.put(id, { id, kind: 'delete', disk: event.disk, requestId: event.requestId, phase: { kind: 'waiting' }, path: [], release: [], attached });
  d.frozenBy = id;
  // Detached in memory only: the store keeps the attachments until `deleteTable` forgets them
  // with the disk, so a controller that restarts before then finds the disk attached as before
  // (and knows who may hold a copy) rather than agents it no longer knows holding copies.
  for (const agent of d.agents) detachForDelete(s, out, event.disk, agent);
  d.agents = [];
  tryDelete(s, out, s.jobs.get(id) as Mutable<DeleteJob>);
};

/** Tells an attached agent to drop its copy (it joins `dropping`), or forgets a copy it cannot hold. */
const detachForDelete = (s: Working, out: ControllerCommand[], disk: string, agent: AgentId): void => {
  const d = s.disks.get(disk)!;
  const v = s.agents.get(agent);
  const c = v?.copies.get(disk);
  if (v !== undefined && c !== undefined && c.mayHold) {
    if (!d.dropping.includes(agent)) d.dropping = [...d.dropping, agent];
    c.sentAt = s.now;
    // An agent not heard from since the controller started (epoch -1) drops on a dropTable meant for an earlier life.
    // The generation: table messages sent before this one are at or below it, and the agent refuses them once it dropped.
    send(out, agent, { type: 'dropTable', epoch: Math.max(v.epoch, 0), disk, generation: d.committed.generation });
  } else v?.copies.delete(disk);
};

/**
 * True while some agent may still hold a copy of the disk. Every agent the controller knows is
 * looked at, not only those attached or dropping: a fault of a detached agent that was already
 * in hand brings that agent in line again (sync includes the faulting agent), and a copy
 * nobody tracks would outlive the disk (and a disk created again under its name could then be
 * mistaken for it by generation). Each one found not yet told is told to drop its copy.
 */
const copiesRemain = (s: Working, out: ControllerCommand[], disk: string): boolean => {
  let remain = false;
  for (const agent of s.agents.keys()) {
    const c = s.agents.peek(agent)!.copies.get(disk);
    if (c === undefined || !c.mayHold) continue;
    remain = true;
    if (!s.disks.peek(disk)!.dropping.includes(agent)) detachForDelete(s, out, disk, agent);
  }
  return remain;
};

/** Deletes the disk once nothing works on it and no agent may hold a copy. */
const tryDelete = (s: Working, out: ControllerCommand[], job: Mutable<DeleteJob>): void => {
  if (job.phase.kind !== 'waiting') return;
  const peeked = s.disks.peek(job.disk);
  if (peeked === undefined || peeked.busy.size > 0 || peeked.queued.size > 0 || copiesRemain(s, out, job.disk)) return;
  // Jobs without a segment lock (an attachment being committed, extents waiting for a release) finish first.
  for (const id of s.jobs.keys()) if (id !== job.id && s.jobs.peek(id)?.disk === job.disk && !peeked.held.includes(id)) return;
  const d = s.disks.get(job.disk)!;
  // Held faults came from agents detached since: their I/O failed when they dropped the copy.
  for (const h of d.held) failHeld(s, out, h, `disk ${job.disk} was deleted`);
  d.held = [];
  const table = d.working as MappingTable;
  const release: Extent[] = [];
  for (let seg = 0; seg < table.segmentCount; seg++) {
    const e = entryAt(table, seg);
    for (const x of [e.location, e.alternate]) if (x !== null) release.push(segmentExtent(table, x, seg));
  }
  job.release = release;
  d.deleted = true;
  d.staged = null;
  d.dropping = [];
  waitForCommit(s, out, job);
};

/** Answers a held fault or zero request as failed and closes it. */
const failHeld = (s: Working, out: ControllerCommand[], id: number, why: string): void => {
  const job = s.jobs.peek(id);
  if (job !== undefined && (job.kind === 'fault' || job.kind === 'mark' || job.kind === 'zero')) {
    send(out, job.agent, { type: 'failIo', epoch: job.epoch, faultId: job.faultId, reason: why });
    const reason = job.kind === 'fault' ? job.reason : job.kind === 'mark' ? 'mark' : 'zero-segment';
    out.push({ type: 'resolved', agent: job.agent, faultId: job.faultId, disk: job.disk, segment: job.segment, reason, outcome: 'failed', path: [...job.path, 597], detail: why });
  }
  closeJob(s, out, id);
};

/** `deleteTable` is durable and the disk forgotten: give its space back, and answer. */
const deleted = (s: Working, out: ControllerCommand[], job: Mutable<DeleteJob>): void => {
  // What the controller knew of agents' copies goes too: a disk created again under the name starts afresh.
  for (const agent of s.agents.keys()) if (s.agents.peek(agent)!.copies.get(job.disk) !== undefined) s.agents.get(agent)!.copies.delete(job.disk);
  releaseExtents(s, out, job);
  adminDone(out, job.requestId, { ok: true });
  closeJob(s, out, job.id);
};

export const deleteHooks: JobHooks<DeleteJob> = {
  start: nothing,
  copied: nothing,
  committed: deleted,
  synced: nothing,
  poke: tryDelete,
  abandoned: nothing,
};
