/**
 * Administrative requests: one handler per event, each checking its input (a refusal says which
 * field and value) and starting the work; and the `admin` job, for requests that only need
 * their change durable and agents in line before they are answered. Requests on many segments
 * (`migrate`, `markFailed`) start a group of jobs and are answered when the last one ends.
 */
import { createVariableTable } from '../../table/variable.js';
import { segmentLengthAt } from '../../table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import { validationError, type ValidationError } from '../../errors.js';
import type { AgentId, DiskId } from '../../protocol/messages.js';
import { createTable, entryAt } from '../../table/table.js';
import { adminDone, newDiskState, newId, send } from '../basics.js';
import { persistAttachments, waitForCommit } from '../commit.js';
import { acquire, closeJob } from '../locks.js';
import { catchUp, ensureCopy, syncWithCommitted } from '../sync.js';
import type { AdminEvent, AdminJob, ControllerCommand, Job } from '../types.js';
import { thawDisk, type Mutable, type Working } from '../working.js';
import { nothing, type JobHooks } from './hooks.js';
import { beginDelete } from './delete.js';
import { beginRollback } from './rollback.js';
import { beginSnapshot } from './snapshot.js';
import { beginReshape } from './reshape.js';

type AdminOf<T extends AdminEvent['type']> = Extract<AdminEvent, { type: T }>;
type Handler<T extends AdminEvent['type']> = (s: Working, out: ControllerCommand[], event: AdminOf<T>) => void;

const validName = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

const refuse = (out: ControllerCommand[], event: AdminEvent, error: string): void => adminDone(out, event.requestId, { ok: false, error });

/** A disk being deleted is unknown to every request but its own deletion. */
const liveDisk = (s: Working, disk: DiskId) => {
  const d = s.disks.peek(disk);
  if (d === undefined || d.deleted === true || (d.frozenBy !== null && s.jobs.peek(d.frozenBy)?.kind === 'delete')) return undefined;
  return s.disks.get(disk);
};

/** The grain of a new disk when the request gives one (the table constructors check it). */
const grainOf = (event: { readonly grainBlocks?: number }): { grainBlocks?: number } => (event.grainBlocks === undefined ? {} : { grainBlocks: event.grainBlocks });

const createDisk: Handler<'createDisk'> = (s, out, event) => {
  if (!validName(event.disk)) return refuse(out, event, `disk must be a non-empty string, got ${JSON.stringify(event.disk)}`);
  if (s.disks.has(event.disk)) return refuse(out, event, `disk ${event.disk} already exists`);
  const lengths = event.segmentLengths;
  // At or above the floor: an agent may still hold a table of an earlier life of this name.
  const generation = s.generationFloor;
  // A variable disk: each segment's own length; its segments are allocated by that length.
  const built =
    lengths === undefined
      ? createTable({ segmentBlocks: event.segmentBlocks, segmentCount: event.segmentCount, generation, ...grainOf(event), entries: () => ({ zero: true }) })
      : event.segmentBlocks !== 0
        ? E.left([validationError('segmentBlocks', event.segmentBlocks, 'must be 0 when segmentLengths is given (a variable disk)')])
        : lengths.length !== event.segmentCount
          ? E.left([validationError('segmentLengths.length', lengths.length, `must equal segmentCount ${event.segmentCount}`)])
          : createVariableTable({ segmentCount: event.segmentCount, generation, ...grainOf(event), entries: (s) => ({ zero: true, length: lengths[s]! }) });
  if (E.isLeft(built)) return refuse(out, event, built.left.map((e: ValidationError) => e.message).join('; '));
  const d = newDiskState(built.right, []);
  s.disks.put(event.disk, thawDisk({ ...d, staged: { changes: new Map(), created: true }, persisting: null }));
  startAdminJob(s, out, event.disk, event.requestId, {});
};

const attachAgent: Handler<'attachAgent'> = (s, out, event) => {
  const d = liveDisk(s, event.disk);
  if (d === undefined) return refuse(out, event, `unknown disk ${event.disk}`);
  if (!validName(event.agent)) return refuse(out, event, `agent must be a non-empty string, got ${JSON.stringify(event.agent)}`);
  if (d.agents.includes(event.agent)) return adminDone(out, event.requestId, { ok: true });
  d.agents = [...d.agents, event.agent];
  // No table until the record that lists it is durable (sync.ts catchUp, intake.ts onFetchTable).
  if (!(d.attachPending ?? []).includes(event.agent)) d.attachPending = [...(d.attachPending ?? []), event.agent];
  d.dropping = d.dropping.filter((a) => a !== event.agent);
  ensureCopy(s, event.agent, event.disk, false);
  d.attachmentsDirty = true;
  startAdminJob(s, out, event.disk, event.requestId, { attach: event.agent });
};

const detachAgent: Handler<'detachAgent'> = (s, out, event) => {
  const d = liveDisk(s, event.disk);
  if (d === undefined) return refuse(out, event, `unknown disk ${event.disk}`);
  if (!validName(event.agent)) return refuse(out, event, `agent must be a non-empty string, got ${JSON.stringify(event.agent)}`);
  if (!d.agents.includes(event.agent)) return adminDone(out, event.requestId, { ok: true });
  d.agents = d.agents.filter((a) => a !== event.agent);
  // Dropping from the same record on: a controller that restarts before the agent confirms
  // still waits for it and tells it again (docs/design.md#ordering-rules).
  if (s.agents.peek(event.agent)?.copies.get(event.disk)?.mayHold === true && !d.dropping.includes(event.agent)) d.dropping = [...d.dropping, event.agent];
  d.attachmentsDirty = true;
  startAdminJob(s, out, event.disk, event.requestId, { detach: event.agent });
};

const snapshot: Handler<'snapshot'> = (s, out, event) => {
  const d = liveDisk(s, event.disk);
  if (d === undefined) return refuse(out, event, `unknown disk ${event.disk}`);
  if (!validName(event.snapshot) || s.disks.has(event.snapshot)) return refuse(out, event, `snapshot must be a new disk name, got ${JSON.stringify(event.snapshot)}`);
  if (d.frozenBy !== null) return refuse(out, event, `disk ${event.disk} is already being snapshotted`);
  beginSnapshot(s, out, event);
};

const migrate: Handler<'migrate'> = (s, out, event) => {
  const d = liveDisk(s, event.disk);
  if (d === undefined) return refuse(out, event, `unknown disk ${event.disk}`);
  if (!(Number.isSafeInteger(event.lun) && event.lun >= 0)) return refuse(out, event, `lun must be a non-negative safe integer, got ${JSON.stringify(event.lun)}`);
  const table = d.working;
  const segments = event.segments ?? Array.from({ length: table.segmentCount }, (_, i) => i).filter((i) => entryAt(table, i).location !== null);
  const bad = segments.find((x) => !(Number.isSafeInteger(x) && x >= 0 && x < table.segmentCount));
  if (bad !== undefined) return refuse(out, event, `segments contains ${JSON.stringify(bad)}, not a segment of disk ${event.disk} (0..${table.segmentCount - 1})`);
  spawnGroup(s, out, event.requestId, segments.map((segment) => (id: number, group: number): Job => ({ id, kind: 'migrate', disk: event.disk, segment, lun: event.lun, group, phase: { kind: 'queued' }, path: [], release: [] })));
};

const markFailed: Handler<'markFailed'> = (s, out, event) => {
  const { lun, start, length } = event;
  if (![lun, start, length].every((x) => Number.isSafeInteger(x) && x >= 0) || length === 0)
    return refuse(out, event, `markFailed needs non-negative safe integers lun, start and a positive length, got ${JSON.stringify({ lun, start, length })}`);
  const makers: ((id: number, group: number) => Job)[] = [];
  for (const disk of s.disks.keys()) {
    if (s.disks.peek(disk)!.deleted === true) continue;
    const t = s.disks.peek(disk)!.working;
    for (let seg = 0; seg < t.segmentCount; seg++) {
      const e = entryAt(t, seg);
      const hit = [e.location, e.alternate].some((x) => x !== null && x.lun === lun && x.start < start + length && start < x.start + segmentLengthAt(t, seg));
      if (hit && !e.error) makers.push((id, group) => ({ id, kind: 'markError', disk, segment: seg, group, phase: { kind: 'queued' }, path: [], release: [] }));
    }
  }
  spawnGroup(s, out, event.requestId, makers);
};

// A resize, split or merge changes the disk's segment bounds (reshape.ts).
const reshape = (s: Working, out: ControllerCommand[], event: AdminOf<'resize' | 'splitSegment' | 'mergeSegments'>): void => {
  const d = liveDisk(s, event.disk);
  if (d === undefined) return refuse(out, event, `unknown disk ${event.disk}`);
  beginReshape(s, out, d, event);
};

// --- deletion and rollback ---------------------------------------------------------------------

const deleteDisk: Handler<'deleteDisk'> = (s, out, event) => {
  const d = s.disks.peek(event.disk);
  if (d === undefined || d.deleted === true) return refuse(out, event, `unknown disk ${JSON.stringify(event.disk)}`);
  if (d.frozenBy !== null || d.staged?.created === true) return refuse(out, event, `disk ${event.disk} is busy (being created, snapshotted, rolled back or deleted); try again`);
  if (d.agents.length > 0 && event.force !== true)
    return refuse(out, event, `disk ${event.disk} has agents attached (${d.agents.join(', ')}): detach them first, or delete with force`);
  beginDelete(s, out, event);
};

const rollback: Handler<'rollback'> = (s, out, event) => {
  const d = s.disks.peek(event.disk);
  if (d === undefined || d.deleted === true) return refuse(out, event, `unknown disk ${JSON.stringify(event.disk)}`);
  const snap = s.disks.peek(event.snapshot);
  if (snap === undefined || snap.deleted === true || event.snapshot === event.disk) return refuse(out, event, `snapshot must be another existing disk, got ${JSON.stringify(event.snapshot)}`);
  if (snap.working.segmentBlocks !== d.working.segmentBlocks)
    return refuse(out, event, `snapshot ${event.snapshot} has segments of ${snap.working.segmentBlocks} blocks, disk ${event.disk} of ${d.working.segmentBlocks}`);
  if (d.frozenBy !== null || d.staged?.created === true) return refuse(out, event, `disk ${event.disk} is busy (being created, snapshotted, rolled back or deleted); try again`);
  beginRollback(s, out, event);
};

const handlers: { readonly [T in AdminEvent['type']]: Handler<T> } = { createDisk, attachAgent, detachAgent, snapshot, migrate, markFailed, resize: reshape, splitSegment: reshape, mergeSegments: reshape, deleteDisk, rollback };

/** Every request type that has a handler (what admin-validation.ts accepts). */
export const adminTypes: ReadonlySet<string> = /* @__PURE__ */ (() => new Set(Object.keys(handlers)))();

/** An administrative request (already read by admin-validation.ts): its own handler. */
export const onAdmin = (s: Working, out: ControllerCommand[], event: AdminEvent): void => (handlers[event.type] as Handler<AdminEvent['type']>)(s, out, event);

/** An admin job that waits for the change just staged to be durable. */
const startAdminJob = (s: Working, out: ControllerCommand[], disk: DiskId, requestId: number, extra: { attach?: AgentId; detach?: AgentId }): void => {
  const id = newId(s);
  s.jobs.put(id, { id, kind: 'admin', disk, requestId, phase: { kind: 'waiting' }, path: [], release: [], ...extra });
  waitForCommit(s, out, s.jobs.get(id)!);
};

/** One job per segment, answered as one request when the last ends. */
const spawnGroup = (s: Working, out: ControllerCommand[], requestId: number, makers: ReadonlyArray<(id: number, group: number) => Job>): void => {
  if (makers.length === 0) return adminDone(out, requestId, { ok: true });
  const group = newId(s);
  s.groups.put(group, { requestId, remaining: makers.length, errors: [] });
  for (const make of makers) {
    const id = newId(s);
    s.jobs.put(id, make(id, group));
    acquire(s, out, id);
  }
};

/** After an admin change is durable: reach the agent it concerns, then bring agents in line. */
const adminCommitted = (s: Working, out: ControllerCommand[], job: Mutable<AdminJob>): void => {
  if (job.attach !== undefined) {
    const v = s.agents.get(job.attach);
    if (v !== undefined && v.epoch >= 0) catchUp(s, out, job.attach, job.disk, null);
  }
  if (job.detach !== undefined) {
    const v = s.agents.get(job.detach);
    const c = v?.copies.get(job.disk);
    const d = s.disks.get(job.disk)!;
    if (v !== undefined && c !== undefined && c.mayHold) {
      if (!d.dropping.includes(job.detach)) d.dropping = [...d.dropping, job.detach];
      c.sentAt = s.now;
      // An agent not heard from since the controller started (epoch -1) drops on a dropTable meant for an earlier life.
      send(out, job.detach, { type: 'dropTable', epoch: Math.max(v.epoch, 0), disk: job.disk, generation: d.committed.generation });
    } else {
      v?.copies.delete(job.disk);
      if (d.dropping.includes(job.detach)) {
        d.dropping = d.dropping.filter((a) => a !== job.detach);
        persistAttachments(s, out, job.disk);
      }
    }
  }
  syncWithCommitted(s, out, job);
};

const adminSynced = (s: Working, out: ControllerCommand[], job: Mutable<AdminJob>): void => {
  adminDone(out, job.requestId, { ok: true });
  closeJob(s, out, job.id);
};

export const adminHooks: JobHooks<AdminJob> = {
  start: nothing,
  copied: nothing,
  committed: adminCommitted,
  synced: adminSynced,
  poke: nothing,
  abandoned: nothing,
};
