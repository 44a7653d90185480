/**
 * The controller state machine: `controllerStep(state, event) -> [state, commands]`.
 *
 * It owns the persistent tables and resolves every fault by the flowchart of DESIGN.md
 * section 3: decide, make the change durable (570) and wait for the persistence adapter,
 * bring agents in line (575/580/585/590), wait for the acknowledgements correctness needs,
 * then tell the faulting agent to re-attempt (595). It performs no I/O: every effect is a
 * command for the caller's runtime.
 *
 * Choosing how to bring an agent in line (see `catchUp`):
 * - 585, a whole replacement table, to an agent known to hold no copy (it restarted or never
 *   had the disk);
 * - 590, the changed entries to the faulting agent only, when it is the only agent mapping the
 *   disk;
 * - 575, the changed entries to every agent holding a copy, when several agents map the disk;
 * - 580, "refresh from the controller", to an agent whose copy is at a generation the
 *   controller cannot vouch for (it restarted since, or the agent is too far behind for a
 *   delta); the agent pulls what it lacks.
 *
 * Correctness rules, all enforced here:
 * - segment lock: one job at a time per segment, so a host write and the background copy of the
 *   same block never race (the host write waits and wins);
 * - a fault or mark older than the segment's last change is answered by bringing the agent up
 *   to date and telling it to retry, never by changing the table (late duplicates are harmless);
 * - before a retry (595) or a copy, every agent that may hold a copy has acknowledged the
 *   segment's last change, and acks mean "no I/O under the old entry is still in flight".
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { forEachRunUnchecked } from '../bitmap/bitmap.js';
import type { ValidationError } from '../errors.js';
import type { AgentId, AgentMessage, ControllerMessage, DiskId, EntryChange, Step } from '../protocol/messages.js';
import { decodeTable, encodeEntry, encodeTable, type TableDocument } from '../table/codec.js';
import { entriesEqual, type MappingEntry } from '../table/entry.js';
import { createTable, diffTables, entryAt, F_ERROR, resizeTable, segmentsWithAlternate, setEntries, withGeneration, type MappingTable } from '../table/table.js';
import { PieceBuffer, REASON_INVALID, REASON_NO_WRITE, REASON_ZERO, STATUS_ERROR, STATUS_FAULT, STATUS_OK, translateInto } from '../translate/translate.js';
import type { Allocator, Extent } from './allocator.js';
import * as R from './refcounts.js';
import {
  defaultControllerConfig,
  type AdminEvent,
  type AdminResult,
  type ControllerCommand,
  type ControllerConfig,
  type ControllerEvent,
  type ControllerState,
  type CopyView,
  type DiskState,
  type FaultJob,
  type Job,
  type MarkJob,
  type PersistRecord,
  type PersistedState,
  type SettleJob,
} from './types.js';
import { CowMap, CowRecords } from '../protocol/copy-on-write.js';
import { freezeEntryDocument, freezeTableDocument } from '../protocol/shared-documents.js';
import { thawAgent, thawDisk, Working, type AgentDraft, type DiskDraft, type JobDraft, type Mutable } from './working.js';


type S = Working;
type Out = ControllerCommand[];
type DJob = JobDraft;
/** A disk read without copying it: as it was when the step began, or as edited so far. */
type DiskView = DiskState | DiskDraft;

/**
 * A controller with no disks, waiting for its `restored` event. `allocator` describes the free
 * space of every LUN before any table is taken into account.
 *
 * @example
 * const state = initialControllerState(E.getOrElseW(() => { throw 0; })(createAllocator({ 1: 1000 })));
 */
export const initialControllerState = (allocator: Allocator, config: Partial<ControllerConfig> = {}): ControllerState => ({
  config: { ...defaultControllerConfig, ...config },
  now: 0,
  ready: false,
  disks: new Map(),
  agents: new Map(),
  allocator,
  refs: R.emptyRefCounts,
  jobs: new Map(),
  groups: new Map(),
  faultIndex: new Map(),
  persist: null,
  copies: new Map(),
  copyQueue: [],
  stagingBatch: 1,
  durableBatch: 0,
  lastSweep: -Infinity,
  nextId: 1,
});

/**
 * Feeds one event to the controller. Pure: the same state and event always give the same
 * result, and the input state is never changed.
 *
 * @example
 * const [next, commands] = controllerStep(state, { type: 'tick', now: 100 });
 */
export const controllerStep = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const out: Out = [];
  const s = new Working(state);
  try {
    handle(s, out, event);
  } finally {
    deltaCache.clear(); // holds tables and documents for this step only
  }
  return [s.result(), out];
};

// ---------------------------------------------------------------------------------------------
// Small helpers

const newId = (s: S): number => s.nextId++;
const unwrap = <A>(e: E.Either<unknown, A>, what: string): A => {
  // Only reached with values the controller built itself; a Left here is a bug, not bad input.
  if (E.isLeft(e)) throw new Error(`vdisk-map controller: internal ${what} failed: ${JSON.stringify(e.left)}`);
  return e.right;
};

const segmentExtent = (table: MappingTable, x: { lun: number; start: number }): Extent => ({ lun: x.lun, start: x.start, length: table.segmentBlocks });

const lastChangeOf = (d: DiskView, segment: number): number => d.lastChange.get(segment) ?? d.baseline;

/**
 * Every job as it was when the step began (jobs added since: as they are now), without copying
 * any. A job changed earlier in the same step may show its old value, so callers use this only
 * to pick candidates and re-read what they act on.
 */
const peekJobs = (s: S): Array<readonly [number, Job]> => {
  const base = s.base.jobs;
  const out: Array<readonly [number, Job]> = [];
  for (const id of s.jobs.keys()) out.push([id, base.get(id) ?? (s.jobs.peek(id) as Job)]);
  return out;
};

/** Reads an agent's record without copying it. */
const peekView = (s: S, agent: AgentId): { readonly epoch: number } | undefined => s.agents.peek(agent);

const view = (s: S, agent: AgentId): AgentDraft | undefined => s.agents.get(agent);

const copyOf = (s: S, agent: AgentId, disk: DiskId): Mutable<CopyView> | undefined => s.agents.get(agent)?.copies.get(disk);

/** Reads an agent's view of its copy of `disk` without copying anything. */
const peekCopy = (s: S, agent: AgentId, disk: DiskId): CopyView | undefined => {
  const v = s.agents.peek(agent);
  if (v === undefined) return undefined;
  return v.copies instanceof CowRecords ? v.copies.peek(disk) : v.copies.get(disk);
};

const ensureAgent = (s: S, agent: AgentId): AgentDraft =>
  s.agents.get(agent) ?? s.agents.put(agent, thawAgent({ epoch: -1, copies: new Map() }));

const ensureCopy = (s: S, agent: AgentId, disk: DiskId, mayHold: boolean): Mutable<CopyView> => {
  const v = ensureAgent(s, agent);
  return v.copies.get(disk) ?? v.copies.put(disk, { acked: -1, mayHold, sentAt: -Infinity, sentGeneration: -1 });
};

const send = (out: Out, to: AgentId, message: ControllerMessage, step?: Step): void => {
  out.push(step === undefined ? { type: 'send', to, message } : { type: 'send', to, message, step });
};

const adminDone = (out: Out, requestId: number, result: AdminResult): void => void out.push({ type: 'adminDone', requestId, result });

const addStep = (job: DJob, step: Step): void => {
  if (!job.path.includes(step)) job.path = [...job.path, step];
};

// ---------------------------------------------------------------------------------------------
// Dispatch

const handle = (s: S, out: Out, event: ControllerEvent): void => {
  if (event.type === 'restored') return restore(s, out, event.state, event.now);
  if (!s.ready) {
    if (event.type === 'message') out.push({ type: 'refused', message: event.message, why: 'controller not started' });
    else if ('requestId' in event) adminDone(out, event.requestId, { ok: false, error: 'controller not started' });
    return;
  }
  switch (event.type) {
    case 'tick':
      return tick(s, out, event.now);
    case 'message':
      return onMessage(s, out, event.message);
    case 'persisted':
      return onPersisted(s, out, event.persistId);
    case 'persistFailed':
      if (s.persist !== null && s.persist.persistId === event.persistId) s.persist = { ...s.persist, failedAt: s.now };
      return;
    case 'copyDone':
    case 'copyFailed':
      return onCopy(s, out, event.copyId, event.type === 'copyFailed');
    default:
      return admin(s, out, event);
  }
};

// ---------------------------------------------------------------------------------------------
// Start and restart

const restore = (s: S, out: Out, persisted: PersistedState, now: number): void => {
  if (s.ready) return;
  s.now = now;
  let alloc = s.allocator;
  // Every extent a table references, counted once at the end: counting one by one would copy a
  // bucket per extent (quadratic at a million segments).
  const referenced: Extent[] = [];
  const reserved = new Set<string>();
  for (const { disk, table: doc } of persisted.tables) {
    const decoded = decodeTable(doc);
    if (E.isLeft(decoded)) {
      // A table that does not decode cannot be served; say so rather than guess.
      out.push({ type: 'refused', message: { type: 'dropped', agent: '', epoch: -1, disk }, why: `persisted table of disk ${disk} is unreadable: ${decoded.left[0]?.message ?? ''}` });
      continue;
    }
    const table = decoded.right;
    s.disks.put(disk, thawDisk(newDiskState(table, [])));
    for (let seg = 0; seg < table.segmentCount; seg++) {
      const e = entryAt(table, seg);
      for (const x of [e.location, e.alternate]) {
        if (x === null) continue;
        const extent = segmentExtent(table, x);
        const key = `${extent.lun}:${extent.start}:${extent.length}`;
        if (!reserved.has(key)) {
          reserved.add(key);
          const taken = alloc.reserve(extent);
          if (E.isRight(taken)) alloc = taken.right;
        }
        referenced.push(extent);
      }
      // The controller only ever sets `invalid` as a fence: a fence whose change was lost is lifted.
      if (e.invalid) {
        const id = newId(s);
        s.jobs.put(id, { id, kind: 'unfence' as const, disk, segment: seg, group: null, phase: { kind: 'queued' as const }, path: [], release: [] });
      }
      // A copy-on-write or migration that was under way carries on.
      if (e.alternate !== null && e.noWrite) enqueueSettle(s, out, disk, seg, null);
    }
  }
  for (const { disk, agents } of persisted.attachments) {
    const d = s.disks.get(disk);
    if (d === undefined) continue;
    d.agents = [...agents];
    for (const a of agents) ensureCopy(s, a, disk, true); // unknown: they may hold a copy
  }
  s.allocator = alloc;
  s.refs = R.incrementAll(R.emptyRefCounts, referenced);
  s.ready = true;
  for (const id of s.jobs.keys()) if (s.jobs.peek(id)?.phase.kind === 'queued') acquire(s, out, id);
};

const newDiskState = (table: MappingTable, agents: AgentId[]): DiskState => ({
  committed: table,
  working: table,
  persisting: null,
  staged: null,
  history: [table],
  agents,
  lastChange: new Map(),
  baseline: table.generation,
  busy: new Map(),
  queued: new Map(),
  frozenBy: null,
  held: [],
  dropping: [],
  attachmentsDirty: false,
});

// ---------------------------------------------------------------------------------------------
// Time

const tick = (s: S, out: Out, now: number): void => {
  s.now = Math.max(s.now, now);
  const interval = s.config.retryInterval;
  if (s.persist !== null && s.persist.failedAt !== null && s.now - s.persist.failedAt >= interval) {
    // Re-issue under a new id so that a late answer to the failed attempt is ignored.
    s.persist = { ...s.persist, persistId: newId(s), failedAt: null };
    out.push({ type: 'persist', persistId: s.persist.persistId, records: s.persist.records });
  }
  // Full sweeps (re-sends, copy retries, waiting snapshots) once per retry interval, not per tick.
  if (s.now - s.lastSweep < interval) return;
  s.lastSweep = s.now;
  for (const [id, peek] of peekJobs(s)) {
    const retryCopy = peek.kind === 'settle' && peek.phase.kind === 'copying' && peek.phase.failed && peek.phase.copies.length === 0;
    if (!retryCopy && peek.phase.kind !== 'syncing' && peek.kind !== 'snapshot') continue;
    const job = s.jobs.get(id);
    if (job === undefined) continue;
    if (job.kind === 'settle' && job.phase.kind === 'copying' && job.phase.failed && job.phase.copies.length === 0) startCopies(s, out, job);
    else if (job.phase.kind === 'syncing') checkSync(s, out, job);
    else if (job.kind === 'snapshot') trySnapshot(s, out, job.id);
  }
  pruneLastChange(s);
  // Anti-entropy: every copy converges, even with no fault to drive it. Candidates are read
  // from the state as the step began, without copying; catchUp re-reads (and rate-limits) what
  // it acts on.
  const agents = s.base.agents;
  const disks = s.base.disks;
  for (const [agent, v] of agents) {
    for (const [disk, c] of v.copies) {
      const d = disks.get(disk);
      if (d === undefined || s.now - c.sentAt < interval) continue;
      if (d.dropping.includes(agent)) {
        if (v.epoch < 0) continue;
        s.agents.get(agent)!.copies.get(disk)!.sentAt = s.now;
        send(out, agent, { type: 'dropTable', epoch: v.epoch, disk });
      } else if (c.mayHold && c.acked < d.committed.generation) catchUp(s, out, agent, disk, null);
    }
  }
};

/**
 * Forgets per-segment change generations that every agent holding the disk has acknowledged, by
 * raising the baseline instead: a fault older than the baseline is stale either way, and the map
 * stays as small as the changes still in flight.
 */
const pruneLastChange = (s: S): void => {
  for (const [disk, base] of s.base.disks) {
    if (base.lastChange.size < 64) continue;
    let floor = base.committed.generation;
    for (const a of [...base.agents, ...base.dropping]) {
      const c = s.base.agents.get(a)?.copies.get(disk);
      if (c !== undefined && c.mayHold) floor = Math.min(floor, c.acked);
    }
    if (floor <= base.baseline) continue;
    const d = s.disks.get(disk)!;
    d.baseline = floor;
    const kept = new Map<number, number>();
    for (const [seg, g] of base.lastChange) if (g > floor) kept.set(seg, g);
    d.lastChange = new CowMap(kept);
  }
};

// ---------------------------------------------------------------------------------------------
// Messages from agents

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isGeneration = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= -1;

/** Why an agent message cannot be acted on, or null. Agents are peers, not trusted code. */
const malformed = (m: AgentMessage): string | null => {
  if (typeof m !== 'object' || m === null) return 'not an object';
  if (typeof m.agent !== 'string' || m.agent === '') return `agent must be a non-empty string, got ${JSON.stringify(m.agent)}`;
  if (!isCount(m.epoch)) return `epoch must be a non-negative safe integer, got ${JSON.stringify(m.epoch)}`;
  if (typeof m.disk !== 'string') return `disk must be a string, got ${JSON.stringify(m.disk)}`;
  if (m.type === 'ioFault' || m.type === 'markBits') {
    if (!isCount(m.faultId)) return `faultId must be a non-negative safe integer, got ${JSON.stringify(m.faultId)}`;
    if (!isGeneration(m.generation)) return `generation must be a safe integer of at least -1, got ${JSON.stringify(m.generation)}`;
    if (!isCount(m.start) || !isCount(m.length) || m.length < 1) return `start and length must be safe integers with length >= 1, got ${JSON.stringify([m.start, m.length])}`;
    if (!(m.segment === -1 || isCount(m.segment))) return `segment must be -1 or a segment number, got ${JSON.stringify(m.segment)}`;
    if (m.type === 'ioFault' && m.op !== 'read' && m.op !== 'write') return `op must be 'read' or 'write', got ${JSON.stringify(m.op)}`;
    return null;
  }
  if (m.type === 'tableAck' || m.type === 'fetchTable') return isGeneration(m.generation) ? null : `generation must be a safe integer of at least -1, got ${JSON.stringify(m.generation)}`;
  return m.type === 'dropped' ? null : `unknown message type ${JSON.stringify((m as { type?: unknown }).type)}`;
};

/** The part of a fault's range outside its segment (or the disk), if any. */
const outsideSegment = (d: DiskView, m: { segment: number; start: number; length: number }): string | null => {
  if (m.segment < 0) return null;
  const t = d.working as MappingTable;
  const first = m.segment * t.segmentBlocks;
  if (m.segment >= t.segmentCount || m.start < first || m.start + m.length > first + t.segmentBlocks)
    return `blocks ${m.start}+${m.length} are not inside segment ${m.segment} of a disk of ${t.segmentCount} segments of ${t.segmentBlocks} blocks`;
  return null;
};

const onMessage = (s: S, out: Out, m: AgentMessage): void => {
  const bad = malformed(m);
  if (bad !== null) return void out.push({ type: 'refused', message: m, why: `malformed ${(m as { type?: unknown } | null)?.type ?? 'message'}: ${bad}` });
  const v = view(s, m.agent);
  if (v === undefined) return void out.push({ type: 'refused', message: m, why: `unknown agent ${m.agent}` });
  if (m.epoch < v.epoch) return void out.push({ type: 'refused', message: m, why: `stale epoch ${m.epoch} < ${v.epoch}` });
  if (m.epoch > v.epoch) newLife(s, out, m.agent, m.epoch);
  const d = s.disks.peek(m.disk);
  switch (m.type) {
    case 'ioFault':
    case 'markBits': {
      const key = `${m.agent}/${m.epoch}/${m.faultId}`;
      if (s.faultIndex.has(key)) return; // a re-sent duplicate of a fault already in hand
      const attached = d !== undefined && d.agents.includes(m.agent);
      const outside = d === undefined ? null : outsideSegment(d, m);
      if (!attached || outside !== null) {
        const why = d === undefined ? `unknown disk ${m.disk}` : !attached ? `agent ${m.agent} does not map disk ${m.disk}` : outside!;
        send(out, m.agent, { type: 'failIo', epoch: m.epoch, faultId: m.faultId, reason: why });
        out.push({ type: 'resolved', agent: m.agent, faultId: m.faultId, disk: m.disk, segment: m.segment, reason: m.type === 'markBits' ? 'mark' : m.reason, outcome: 'failed', path: [], detail: why });
        return;
      }
      const id = newId(s);
      const base = { id, disk: m.disk, phase: { kind: 'queued' as const }, path: [] as Step[], release: [] as Extent[], agent: m.agent, epoch: m.epoch, faultId: m.faultId, segment: m.segment, start: m.start, length: m.length, generation: m.generation, then: { type: 'retry' as const } };
      const job: Job = m.type === 'ioFault' ? { ...base, kind: 'fault', op: m.op, reason: m.reason } : { ...base, kind: 'mark' };
      s.jobs.put(id, job);
      s.faultIndex.set(key, id);
      if (m.segment < 0) return startJob(s, out, id); // no copy at all: nothing to lock
      if (d!.frozenBy !== null) {
        const edited = s.disks.get(m.disk)!;
        edited.held = [...edited.held, id];
        return;
      }
      return acquire(s, out, id);
    }
    case 'tableAck': {
      const c = copyOf(s, m.agent, m.disk);
      if (c === undefined || d === undefined) return;
      c.acked = Math.max(c.acked, m.generation);
      c.mayHold = true;
      return onAck(s, out, m.agent, m.disk, c.acked);
    }
    case 'fetchTable': {
      if (d === undefined || !(d.agents.includes(m.agent) || d.dropping.includes(m.agent))) return void out.push({ type: 'refused', message: m, why: `agent ${m.agent} does not map disk ${m.disk}` });
      const c = ensureCopy(s, m.agent, m.disk, true);
      c.mayHold = true;
      c.sentAt = s.now;
      c.sentGeneration = d.committed.generation;
      const delta = m.generation >= 0 ? deltaMessage(s, m.disk, m.generation, m.epoch) : null;
      send(out, m.agent, delta ?? replaceMessage(s, m.disk, m.epoch), 580);
      return;
    }
    case 'dropped': {
      if (d !== undefined) s.disks.get(m.disk)!.dropping = d.dropping.filter((a) => a !== m.agent);
      v.copies.delete(m.disk);
      return recheckDisk(s, out, m.disk);
    }
  }
};

/** An agent restarted: its old copies and its old faults are gone. */
const newLife = (s: S, out: Out, agent: AgentId, epoch: number): void => {
  const v = ensureAgent(s, agent);
  const known = v.epoch >= 0;
  v.epoch = epoch;
  // After a controller restart (epoch -1) we cannot tell a new life from the old one.
  if (known) for (const disk of v.copies.keys()) Object.assign(v.copies.get(disk)!, { acked: -1, mayHold: false, sentAt: -Infinity, sentGeneration: -1 });
  for (const disk of v.copies.keys()) recheckDisk(s, out, disk);
};

// ---------------------------------------------------------------------------------------------
// Segment locks and job lifecycle

const acquire = (s: S, out: Out, id: number): void => {
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

const finish = (s: S, out: Out, id: number): void => {
  const job = s.jobs.get(id);
  if (job === undefined) return;
  s.jobs.delete(id);
  if (job.kind === 'fault' || job.kind === 'mark') s.faultIndex.delete(`${job.agent}/${job.epoch}/${job.faultId}`);
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
  if (d.frozenBy !== null) trySnapshot(s, out, d.frozenBy);
};

const groupDone = (s: S, out: Out, group: number, error: string | null): void => {
  const g = s.groups.get(group);
  if (g === undefined) return;
  g.remaining -= 1;
  if (error !== null) g.errors = [...g.errors, error];
  if (g.remaining <= 0) {
    s.groups.delete(group);
    adminDone(out, g.requestId, g.errors.length === 0 ? { ok: true } : { ok: false, error: g.errors.join('; ') });
  }
};

const startJob = (s: S, out: Out, id: number): void => {
  const job = s.jobs.get(id)!;
  job.phase = { kind: 'waiting' };
  switch (job.kind) {
    case 'fault':
      return startFault(s, out, job);
    case 'mark':
      return startMark(s, out, job);
    case 'settle':
      return toSync(s, out, job, lastChangeOf(s.disks.peek(job.disk)!, job.segment));
    case 'migrate':
      return startMigrate(s, out, job);
    case 'markError':
    case 'unfence': {
      const d = s.disks.get(job.disk)!;
      const e = entryAt(d.working, job.segment);
      const next = job.kind === 'markError' ? { ...e, error: true } : { ...e, invalid: false };
      if (next.error === e.error && next.invalid === e.invalid) return finish(s, out, id);
      stage(s, out, job, [[job.segment, next]]);
      return;
    }
    default:
      return;
  }
};

/** The faulting agent's epoch has moved on: its I/O is gone, so change nothing for it. */
const stale = (s: S, job: FaultJob | MarkJob): boolean => (peekView(s, job.agent)?.epoch ?? -1) !== job.epoch;

const startFault = (s: S, out: Out, job: Mutable<FaultJob>): void => {
  if (stale(s, job)) return end(s, out, job, 'abandoned', 'the agent restarted');
  const d = s.disks.peek(job.disk)!;
  if (job.segment < 0) return toSync(s, out, job, d.committed.generation);
  if (job.generation < lastChangeOf(d, job.segment)) return toSync(s, out, job, lastChangeOf(d, job.segment));
  const status = translateInto(d.working, job.op, job.start, job.length, scratch, s.config.variant);
  if (status === STATUS_OK) return toSync(s, out, job, lastChangeOf(d, job.segment));
  if (status === STATUS_ERROR) return decided(s, out, job, { type: 'fail', reason: `error: segment ${job.segment} of disk ${job.disk} is marked failed` });
  if (status !== STATUS_FAULT) return decided(s, out, job, { type: 'fail', reason: `request ${job.start}+${job.length} is outside disk ${job.disk}` });
  const reason = scratch.failureReason[0];
  if (reason === REASON_INVALID) return decided(s, out, job, { type: 'fail', reason: `segment ${job.segment} of disk ${job.disk} is invalid at the controller` });
  if (reason !== REASON_ZERO && reason !== REASON_NO_WRITE) return decided(s, out, job, { type: 'fail', reason: 'unexpected fault' });
  relocateWrite(s, out, job, job.segment, job.start, job.length, { type: 'retry' });
};

const scratch = /* @__PURE__ */ new PieceBuffer(8);

const startMark = (s: S, out: Out, job: Mutable<MarkJob>): void => {
  if (stale(s, job)) return end(s, out, job, 'abandoned', 'the agent restarted');
  const d = s.disks.peek(job.disk)!;
  const last = lastChangeOf(d, job.segment);
  if (job.generation < last) return toSync(s, out, job, last); // the data may have been overwritten: write again
  const e = entryAt(d.working, job.segment);
  if (e.invalid || e.error) return decided(s, out, job, { type: 'fail', reason: `segment ${job.segment} of disk ${job.disk} is ${e.error ? 'marked failed' : 'invalid'}` });
  const off = job.start - job.segment * d.working.segmentBlocks;
  const alt = e.alternate;
  const clear = alt !== null && e.noWrite && off >= 0 && off + job.length <= d.working.segmentBlocks && B.scanFor(alt.blocks.words, off, off + job.length, true) === off + job.length;
  if (!clear) return toSync(s, out, job, last);
  relocateWrite(s, out, job, job.segment, job.start, job.length, { type: 'confirm' });
};

/**
 * The policy for a write that cannot land where the entry points (zero or no-write): put its
 * blocks at the alternate (attaching one if needed), and promote the alternate once every
 * block is there. A no-write segment also gets a background copy of the rest.
 */
const relocateWrite = (s: S, out: Out, job: Mutable<FaultJob | MarkJob>, segment: number, start: number, length: number, then: FaultJob['then']): void => {
  const d = s.disks.get(job.disk)!;
  const table = d.working;
  const e = entryAt(table, segment);
  let alt = e.alternate;
  let allocated: Extent | null = null;
  if (alt === null) {
    const got = s.allocator.allocate(table.segmentBlocks, e.location?.lun);
    if (E.isLeft(got)) return decided(s, out, job, { type: 'fail', reason: `no space for an alternate of segment ${segment} of disk ${job.disk}: ${got.left.message}` });
    const [next, extent] = got.right;
    s.allocator = next;
    s.refs = R.increment(s.refs, extent);
    allocated = extent;
    alt = { lun: extent.lun, start: extent.start, blocks: unwrap(B.empty(table.segmentBlocks), 'bitmap') };
  }
  const off = start - segment * table.segmentBlocks;
  const unmarked = alt.blocks;
  const blocks = unwrap(B.setRange(alt.blocks, off, length), 'setRange');
  let entry: MappingEntry;
  if (B.isFull(blocks)) {
    entry = { location: { lun: alt.lun, start: alt.start }, invalid: false, noWrite: false, zero: false, error: false, alternate: null };
    if (e.location !== null) job.release = [...job.release, segmentExtent(table, e.location)];
  } else {
    entry = { ...e, alternate: { lun: alt.lun, start: alt.start, blocks } };
    if (e.noWrite) enqueueSettle(s, out, job.disk, segment, null);
  }
  job.then = then;
  if (job.kind === 'mark') return stage(s, out, job, [[segment, entry]]); // the agent has written the data already
  // Centralized: the bits go durable before the data lands (metadata before data). Until the
  // write lands, and for ever if it never comes (the agent restarts), those blocks must read as
  // they did: so the old content is copied to the alternate first (zeros for a zero segment).
  const copies: number[] = [];
  const target = alt;
  forEachRunUnchecked(unmarked, off, off + length, (k, n, set) => {
    if (set) return;
    const copyId = newId(s);
    copies.push(copyId);
    s.copies.set(copyId, job.id);
    const to = { lun: target.lun, start: target.start + k };
    if (e.zero || e.location === null) out.push({ type: 'writeZeros', copyId, to, length: n });
    else out.push({ type: 'copyBlocks', copyId, from: { lun: e.location.lun, start: e.location.start + k }, to, length: n });
  });
  job.prepared = { changes: [[segment, entry]], allocated };
  job.phase = { kind: 'copying', copies, failed: false };
  if (copies.length === 0) prepared(s, out, job);
};

/** The old content of a fault's blocks is at the alternate (or could not be put there). */
const prepared = (s: S, out: Out, job: Mutable<FaultJob>): void => {
  const p = job.prepared!;
  const failed = job.phase.kind === 'copying' && job.phase.failed;
  job.prepared = null;
  if (!stale(s, job) && !failed) return stage(s, out, job, p.changes);
  // Nothing was staged: give back the space allocated for it, and keep what the change would
  // have freed (the old primary of a promotion is still in use).
  job.release = p.allocated === null ? [] : [p.allocated];
  releaseExtents(s, out, job);
  if (failed) return end(s, out, job, 'failed', `storage failed while preparing the alternate of segment ${job.segment} of disk ${job.disk}`);
  end(s, out, job, 'abandoned', 'the agent restarted');
};

const startMigrate = (s: S, out: Out, job: Mutable<Job & { kind: 'migrate' }>): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  if (e.location === null || e.zero || e.invalid || e.error || e.alternate !== null || e.location.lun === job.lun) return finish(s, out, job.id);
  const got = s.allocator.allocate(d.working.segmentBlocks, job.lun);
  if (E.isLeft(got) || got.right[1].lun !== job.lun) {
    if (job.group !== null) groupDone(s, out, job.group, `no space on LUN ${job.lun} for segment ${job.segment} of disk ${job.disk}`);
    job.group = null;
    return finish(s, out, job.id);
  }
  const [next, extent] = got.right;
  s.allocator = next;
  s.refs = R.increment(s.refs, extent);
  stage(s, out, job, [[job.segment, { ...e, noWrite: true, alternate: { lun: extent.lun, start: extent.start, blocks: unwrap(B.empty(d.working.segmentBlocks), 'bitmap') } }]]);
};

/** Queues background settling of a segment unless it is already queued. */
const enqueueSettle = (s: S, out: Out, disk: DiskId, segment: number, group: number | null): number | null => {
  for (const [, j] of peekJobs(s)) if (j.kind === 'settle' && j.disk === disk && j.segment === segment) return null;
  const id = newId(s);
  const job: SettleJob = { id, kind: 'settle', disk, segment, phase: { kind: 'queued' }, path: [], release: [], group, attempts: 0 };
  s.jobs.put(id, job);
  const d = s.disks.get(disk);
  if (d !== undefined && s.ready) {
    // Behind whatever holds the segment now; started when that job finishes.
    const holder = d.busy.get(segment);
    if (holder === undefined) {
      d.busy.set(segment, id);
      startJob(s, out, id);
    } else {
      d.queued.set(segment, [...(d.queued.get(segment) ?? []), id]);
    }
  }
  return id;
};

// ---------------------------------------------------------------------------------------------
// 570: staging and persisting changes

/**
 * Where a read of block `k` goes under entry `e`, or null when it cannot be read (it faults or
 * fails, so it cannot return stale data).
 */
const readTarget = (e: MappingEntry, k: number): string | null => {
  if (e.invalid || e.error) return null;
  if (e.alternate !== null && B.has(e.alternate.blocks, k)) return `${e.alternate.lun}:${e.alternate.start + k}`;
  if (e.zero) return 'zero';
  return e.location === null ? null : `${e.location.lun}:${e.location.start + k}`;
};

/** True when some readable block of `before` is read from somewhere else under `after`. */
const movesBlocks = (before: MappingEntry, after: MappingEntry, segmentBlocks: number): boolean => {
  for (let k = 0; k < segmentBlocks; k++) {
    const from = readTarget(before, k);
    if (from !== null && from !== readTarget(after, k)) return true;
  }
  return false;
};

/**
 * Decides changes to segment entries; the job waits until they are durable.
 *
 * A change that moves blocks is fenced when more than one agent may hold the disk: agents that
 * already have the new entry write the moved blocks without faulting, while an agent that does
 * not yet have it would still read them from the old place. So the segment first becomes
 * `invalid` everywhere (every agent acknowledges), and only then gets its new entry.
 */
const stage = (s: S, out: Out, job: DJob, changes: ReadonlyArray<readonly [number, MappingEntry]>, fenced = false): void => {
  const d = s.disks.get(job.disk)!;
  // Several attached agents: any of them may fetch a copy before this change commits.
  if (!fenced && (required(s, job).length > 1 || d.agents.length + d.dropping.length > 1)) {
    const table = d.working as MappingTable;
    const fences = changes.filter(([seg, entry]) => movesBlocks(entryAt(table, seg), entry, table.segmentBlocks)).map(([seg]): [number, MappingEntry] => [seg, { ...entryAt(table, seg), invalid: true }]);
    if (fences.length > 0) {
      job.deferred = changes;
      return stage(s, out, job, fences, true);
    }
  }
  const generation = (d.persisting ?? d.committed.generation) + 1;
  d.working = unwrap(setEntries(d.working, changes.map(([segment, entry]) => ({ segment, entry })), { generation }), 'setEntries');
  const staged = new Map(d.staged?.changes ?? []);
  for (const [segment, entry] of changes) staged.set(segment, entry);
  d.staged = { ...(d.staged ?? { created: false }), changes: staged };
  waitForCommit(s, out, job);
};

const waitForCommit = (s: S, out: Out, job: DJob): void => {
  job.phase = { kind: 'committing', batch: s.stagingBatch };
  flush(s, out);
};

/** Issues one persist command for everything staged, unless one is already in flight (group commit). */
const flush = (s: S, out: Out): void => {
  if (s.persist !== null) return;
  const records: PersistRecord[] = [];
  const commits: [DiskId, MappingTable][] = [];
  for (const disk of s.disks.keys()) {
    const peeked = s.disks.peek(disk)!;
    if (peeked.staged === null && !peeked.attachmentsDirty) continue;
    const d = s.disks.get(disk)!;
    if (d.staged !== null) {
      const table = d.working as MappingTable;
      if (d.staged.created) records.push({ type: 'saveTable', disk, table: encodeTable(table) });
      else {
        const changes: EntryChange[] = [...d.staged.changes].map(([segment, entry]) => ({ segment, entry: encodeEntry(entry as MappingEntry) }));
        records.push({
          type: 'updateTable',
          disk,
          fromGeneration: d.committed.generation,
          generation: table.generation,
          ...(d.staged.segmentCount === undefined ? {} : { segmentCount: d.staged.segmentCount }),
          changes,
        });
      }
      d.persisting = table.generation;
      d.staged = null;
      commits.push([disk, table]);
    }
    if (d.attachmentsDirty) {
      records.push({ type: 'attachments', disk, agents: [...d.agents] });
      d.attachmentsDirty = false;
    }
  }
  if (records.length === 0) return;
  const persistId = newId(s);
  s.persist = { persistId, batch: s.stagingBatch, records, commits, failedAt: null };
  s.stagingBatch += 1;
  out.push({ type: 'persist', persistId, records });
};

const onPersisted = (s: S, out: Out, persistId: number): void => {
  const p = s.persist;
  if (p === null || p.persistId !== persistId) return; // late answer to an attempt we gave up on
  s.persist = null;
  s.durableBatch = p.batch;
  for (const [disk, table] of p.commits) {
    const d = s.disks.get(disk);
    if (d === undefined) continue;
    const previous = d.committed as MappingTable;
    d.committed = table;
    d.persisting = null;
    if (previous !== table) for (const seg of diffTables(previous, table)) d.lastChange.set(seg, table.generation);
    const history = d.history[d.history.length - 1] !== table ? [...d.history, table] : d.history;
    d.history = history.length > s.config.historyLimit ? history.slice(history.length - s.config.historyLimit) : history;
  }
  for (const [id, peek] of peekJobs(s)) {
    if (peek.phase.kind !== 'committing' || peek.phase.batch > s.durableBatch) continue;
    const job = s.jobs.get(id)!;
    addStep(job, 570);
    afterCommit(s, out, job);
  }
  flush(s, out);
};

const afterCommit = (s: S, out: Out, job: DJob): void => {
  const d = s.disks.peek(job.disk)!;
  if ('segment' in job) return toSync(s, out, job, job.segment < 0 ? d.committed.generation : lastChangeOf(d, job.segment));
  if (job.kind === 'admin') adminCommitted(s, out, job);
  return toSync(s, out, job, d.committed.generation);
};

// ---------------------------------------------------------------------------------------------
// 575-590: bringing agents in line, and waiting for their acknowledgements

const toSync = (s: S, out: Out, job: DJob, generation: number): void => {
  job.phase = { kind: 'syncing', generation, waiting: [] };
  checkSync(s, out, job);
};

/** Agents whose acknowledgement a job needs before it can go on. */
const required = (s: S, job: DJob): AgentId[] => {
  const d = s.disks.peek(job.disk)!;
  const faulting = (job.kind === 'fault' || job.kind === 'mark') && !stale(s, job) ? job.agent : null;
  if (faulting !== null && job.kind === 'fault' && job.segment < 0) return [faulting];
  const agents = new Set<AgentId>([...d.agents, ...d.dropping]);
  const out: AgentId[] = [];
  for (const a of agents) if (a === faulting || peekCopy(s, a, job.disk)?.mayHold === true) out.push(a);
  if (faulting !== null && !agents.has(faulting)) out.push(faulting);
  return out;
};

const checkSync = (s: S, out: Out, job: DJob): void => {
  if (job.phase.kind !== 'syncing') return;
  if ((job.kind === 'fault' || job.kind === 'mark') && stale(s, job)) {
    if (!job.deferred) return end(s, out, job, 'abandoned', 'the agent restarted');
    // The write behind this fence will never come: lift the fence instead of making the change.
    liftFence(s, job);
  }
  const need = job.phase.generation;
  const waiting: AgentId[] = [];
  for (const a of required(s, job)) {
    const c = peekCopy(s, a, job.disk);
    if (c !== undefined && c.acked >= need) continue;
    waiting.push(a);
    const step = catchUp(s, out, a, job.disk, job);
    // The path records how the agents were first brought in line, not every re-send.
    if (step !== null && !job.path.some((x) => x === 575 || x === 580 || x === 585 || x === 590)) addStep(job, step);
  }
  job.phase = { ...job.phase, waiting };
  if (waiting.length === 0) synced(s, out, job);
};

/**
 * An acknowledgement arrived: only the jobs waiting for that agent can move, and only they are
 * looked at (a full check per acknowledgement would cost jobs x agents).
 */
const onAck = (s: S, out: Out, agent: AgentId, disk: DiskId, generation: number): void => {
  for (const [id, peek] of peekJobs(s)) {
    if (peek.disk !== disk || peek.phase.kind !== 'syncing' || peek.phase.generation > generation || !peek.phase.waiting.includes(agent)) continue;
    const job = s.jobs.get(id)!;
    if (job.phase.kind !== 'syncing') continue;
    job.phase = { ...job.phase, waiting: job.phase.waiting.filter((a) => a !== agent) };
    if (job.phase.waiting.length === 0) checkSync(s, out, job); // confirm against the full set before going on
  }
};

/**
 * Sends `agent` what it needs to reach the committed generation of `disk`, choosing the
 * cheapest correct message (see the module comment). Sends nothing if something was sent less
 * than `retryInterval` ago. Returns the step that brings the agent in line.
 */
const catchUp = (s: S, out: Out, agent: AgentId, disk: DiskId, job: DJob | null): Step | null => {
  const v = ensureAgent(s, agent);
  const c = ensureCopy(s, agent, disk, false);
  const d = s.disks.peek(disk)!;
  // A delta sent less than a retry interval ago is most likely on its way, and messages mostly
  // arrive in order: the next delta starts where that one ends, rather than at the acknowledged
  // generation (which the agent will have left by then, and would have to fetch the rest). An
  // agent that does not hold the base finds a gap and fetches, as for any delta.
  const inFlight = c.sentGeneration > c.acked && s.now - c.sentAt < s.config.retryInterval;
  const from = inFlight ? c.sentGeneration : c.acked;
  let chosen: Step;
  if (v.epoch < 0) chosen = 580; // we do not know its life yet: ask it to pull, whichever life it is
  else if (!c.mayHold) chosen = 585;
  else if (from >= 0 && d.history.some((t) => t.generation === from)) chosen = d.agents.length + d.dropping.length <= 1 && job !== null && 'agent' in job && job.agent === agent ? 590 : 575;
  else chosen = 580;
  // Something sent recently for this same generation is on its way; a newer generation goes now.
  if (c.sentGeneration >= d.committed.generation && s.now - c.sentAt < s.config.retryInterval) return chosen;
  c.sentAt = s.now;
  c.sentGeneration = d.committed.generation;
  switch (chosen) {
    case 585:
      c.mayHold = true;
      send(out, agent, replaceMessage(s, disk, v.epoch), 585);
      break;
    case 575:
    case 590:
      send(out, agent, deltaMessage(s, disk, from, v.epoch)!, chosen);
      break;
    default:
      send(out, agent, { type: 'refreshTable', epoch: v.epoch, disk, generation: d.committed.generation }, 580);
  }
  return chosen;
};

/** Encoded committed tables, frozen so that agents in the same process may share their decoding. */
const tableDocuments = new WeakMap<MappingTable, TableDocument>();

const replaceMessage = (s: S, disk: DiskId, epoch: number): ControllerMessage => {
  const table = s.disks.peek(disk)!.committed;
  let doc = tableDocuments.get(table);
  if (doc === undefined) tableDocuments.set(table, (doc = freezeTableDocument(encodeTable(table))));
  return { type: 'replaceTable', epoch, disk, table: doc };
};

/**
 * Deltas computed in the current step, by disk, base and target table: a change fanned out to
 * many agents is diffed and encoded once. Cleared at the end of every step.
 */
const deltaCache = new Map<string, { base: MappingTable; to: MappingTable; changes: ReadonlyArray<EntryChange> }>();

/** The changes from the agent's generation to the committed one, if that generation is still in history. */
const deltaMessage = (s: S, disk: DiskId, from: number, epoch: number): ControllerMessage | null => {
  const d = s.disks.peek(disk)!;
  const history = d.history;
  const base = history.find((t) => t.generation === from);
  if (base === undefined) return null;
  const to = d.committed as MappingTable;
  const key = `${disk}\u0000${from}\u0000${to.generation}`;
  let cached = deltaCache.get(key);
  if (cached === undefined || cached.base !== base || cached.to !== to) {
    const segments = changedSegments(d, base, to);
    // Frozen, list and entries alike: every agent's message of this step carries the same list.
    const changes = Object.freeze(segments.map((segment) => ({ segment, entry: freezeEntryDocument(encodeEntry(entryAt(to, segment))) })));
    cached = { base, to, changes };
    deltaCache.set(key, cached);
  }
  return {
    type: 'setEntries',
    epoch,
    disk,
    fromGeneration: from,
    generation: to.generation,
    ...(base.segmentCount === to.segmentCount ? {} : { segmentCount: to.segmentCount }),
    changes: cached.changes,
  };
};

/**
 * The segments whose entries differ between `base` and the committed table `to`, ascending:
 * those that changed after `base`, as recorded in `lastChange`, when that record reaches back
 * to `base` (else a full diff). Much cheaper than a diff, which looks at every slot of every
 * chunk either table changed.
 */
const changedSegments = (d: DiskView, base: MappingTable, to: MappingTable): number[] => {
  if (base.generation < d.baseline || base.segmentBlocks !== to.segmentBlocks) return diffTables(base, to).filter((seg) => seg < to.segmentCount);
  const out: number[] = [];
  for (const [seg, generation] of (d.lastChange instanceof CowMap ? d.lastChange.current : d.lastChange)) {
    if (generation <= base.generation || seg >= to.segmentCount) continue;
    // A segment changed and changed back since `base` is not part of the delta.
    if (seg >= base.segmentCount || !entriesEqual(entryAt(base, seg), entryAt(to, seg))) out.push(seg);
  }
  return out.sort((a, b) => a - b);
};

const recheckDisk = (s: S, out: Out, disk: DiskId): void => {
  for (const [id, peek] of peekJobs(s)) {
    if (peek.disk !== disk || peek.phase.kind !== 'syncing') continue;
    const job = s.jobs.get(id);
    if (job !== undefined) checkSync(s, out, job);
  }
};

/**
 * Turns a fenced change that will never be needed into lifting the fence: the segment gets its
 * old entry back, space allocated for the change is released, and space the change would have
 * freed is kept.
 */
const liftFence = (s: S, job: DJob): void => {
  const table = s.disks.get(job.disk)!.working as MappingTable;
  const planned = job.deferred ?? [];
  const same = (a: { lun: number; start: number } | null, b: { lun: number; start: number } | null) => a !== null && b !== null && a.lun === b.lun && a.start === b.start;
  const kept = planned.map(([seg]) => entryAt(table, seg));
  const inUse = (x: { lun: number; start: number }) => kept.some((e) => same(e.location, x) || same(e.alternate, x));
  const release = job.release.filter((x) => !inUse(x));
  for (const [, entry] of planned) for (const x of [entry.location, entry.alternate]) if (x !== null && !inUse(x) && !release.some((r) => same(r, x))) release.push(segmentExtent(table, x));
  job.release = release;
  job.deferred = planned.map(([seg], i): [number, MappingEntry] => [seg, { ...kept[i]!, invalid: false }]);
};

/** Every agent that needs it has the change: carry on with the job. */
const synced = (s: S, out: Out, job: DJob): void => {
  if (job.deferred) {
    // The fence is in place at every agent: now the real change.
    const changes = job.deferred;
    job.deferred = null;
    return stage(s, out, job, changes, true);
  }
  releaseExtents(s, out, job);
  switch (job.kind) {
    case 'fault':
    case 'mark':
      if (stale(s, job)) return end(s, out, job, 'abandoned', 'the agent restarted');
      return end(s, out, job, job.then.type === 'confirm' ? 'confirmed' : 'retry');
    case 'settle':
      if (job.phase.kind === 'syncing' && job.path.includes(570)) return finish(s, out, job.id); // promoted and in line
      return startCopies(s, out, job);
    case 'migrate': {
      const { disk, segment, group } = job;
      job.group = null;
      finish(s, out, job.id);
      if (enqueueSettle(s, out, disk, segment, group) === null && group !== null) groupDone(s, out, group, null);
      return;
    }
    case 'markError':
    case 'unfence':
      return finish(s, out, job.id);
    case 'snapshot':
      return snapshotTaken(s, out, job);
    case 'admin':
      adminDone(out, job.requestId, { ok: true });
      return finish(s, out, job.id);
  }
};

const releaseExtents = (s: S, out: Out, job: DJob): void => {
  for (const extent of job.release) {
    const dec = R.decrement(s.refs, extent);
    if (E.isLeft(dec)) continue;
    const [counts, zero] = dec.right;
    s.refs = counts;
    if (zero) {
      const freed = s.allocator.release(extent);
      if (E.isRight(freed)) {
        s.allocator = freed.right;
        out.push({ type: 'released', extent: { ...extent } });
      }
    }
  }
  job.release = [];
};

/** A decision that needs no table change. */
const decided = (s: S, out: Out, job: Mutable<FaultJob | MarkJob>, then: FaultJob['then']): void => {
  job.then = then;
  if (then.type === 'fail') return end(s, out, job, 'failed', then.reason);
  const d = s.disks.peek(job.disk)!;
  toSync(s, out, job, job.segment < 0 ? d.committed.generation : lastChangeOf(d, job.segment));
};

/** 595 (or failIo / confirmMark) to the faulting agent, then 597. */
const end = (s: S, out: Out, job: Mutable<FaultJob | MarkJob>, outcome: 'retry' | 'failed' | 'confirmed' | 'abandoned', detail?: string): void => {
  if (outcome === 'retry') {
    send(out, job.agent, { type: 'retry', epoch: job.epoch, faultId: job.faultId }, 595);
    addStep(job, 595);
  } else if (outcome === 'confirmed') {
    send(out, job.agent, { type: 'confirmMark', epoch: job.epoch, faultId: job.faultId }, 595);
    addStep(job, 595);
  } else if (outcome === 'failed') {
    send(out, job.agent, { type: 'failIo', epoch: job.epoch, faultId: job.faultId, reason: detail ?? 'failed' });
  }
  addStep(job, 597);
  out.push({
    type: 'resolved',
    agent: job.agent,
    faultId: job.faultId,
    disk: job.disk,
    segment: job.segment,
    reason: job.kind === 'mark' ? 'mark' : job.segment < 0 ? 'no-table' : job.reason,
    outcome,
    path: [...job.path],
    ...(detail === undefined ? {} : { detail }),
  });
  finish(s, out, job.id);
};

// ---------------------------------------------------------------------------------------------
// Background copy and promotion

const copyingJobs = (s: S): number => {
  let n = 0;
  for (const [, j] of peekJobs(s)) if (j.kind === 'settle' && j.phase.kind === 'copying' && j.phase.copies.length > 0) n++;
  return n;
};

/**
 * Copies (or, for a zero segment, zero-fills) every block not yet at the alternate. Runs with the
 * segment locked and every agent in line, so no host write to the primary is in flight and any
 * host write to these blocks waits for the copy and lands after it.
 */
const startCopies = (s: S, out: Out, job: Mutable<SettleJob>): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  const alt = e.alternate;
  if (alt === null || e.error || e.invalid) return finish(s, out, job.id);
  const clear = [...B.runsUnchecked(alt.blocks, 0, alt.blocks.size)].filter((r) => !r.set);
  if (clear.length === 0) return promote(s, out, job);
  if (copyingJobs(s) >= s.config.copyConcurrency) {
    job.phase = { kind: 'waiting' };
    if (!s.copyQueue.includes(job.id)) s.copyQueue = [...s.copyQueue, job.id];
    return;
  }
  const copies: number[] = [];
  for (const r of clear) {
    const copyId = newId(s);
    copies.push(copyId);
    s.copies.set(copyId, job.id);
    const to = { lun: alt.lun, start: alt.start + r.start };
    if (e.location !== null && !e.zero) out.push({ type: 'copyBlocks', copyId, from: { lun: e.location.lun, start: e.location.start + r.start }, to, length: r.length });
    else out.push({ type: 'writeZeros', copyId, to, length: r.length });
  }
  job.phase = { kind: 'copying', copies, failed: false };
};

/** Gives up settling after this many failed copy attempts; the segment stays correct, just unsettled. */
const MAX_COPY_ATTEMPTS = 5;

const onCopy = (s: S, out: Out, copyId: number, failed: boolean): void => {
  const id = s.copies.get(copyId);
  if (id === undefined) return;
  s.copies.delete(copyId);
  const job = s.jobs.get(id);
  if (job === undefined || job.phase.kind !== 'copying') return;
  job.phase = { ...job.phase, copies: job.phase.copies.filter((c) => c !== copyId), failed: job.phase.failed || failed };
  if (job.phase.copies.length > 0) return;
  if (job.kind === 'fault') return prepared(s, out, job);
  if (job.kind !== 'settle') return;
  if (job.phase.failed) {
    job.attempts += 1;
    if (job.attempts >= MAX_COPY_ATTEMPTS) {
      // A snapshot waiting for this segment cannot be taken consistently: give it up.
      const d = s.disks.get(job.disk)!;
      const snap = d.frozenBy === null ? undefined : s.jobs.get(d.frozenBy);
      if (snap !== undefined && snap.kind === 'snapshot') abandonSnapshot(s, out, snap, `copying segment ${job.segment} failed ${job.attempts} times`);
      finish(s, out, job.id);
    }
    // otherwise the next tick starts the copies again
  } else {
    promote(s, out, job);
  }
  const next = s.copyQueue[0];
  if (next !== undefined) s.copyQueue = s.copyQueue.slice(1);
  if (next !== undefined) {
    const waiting = s.jobs.get(next);
    if (waiting !== undefined && waiting.kind === 'settle') startCopies(s, out, waiting);
  }
};

/** Every block is at the alternate: it becomes the primary, and the old primary is released once agents agree. */
const promote = (s: S, out: Out, job: Mutable<SettleJob>): void => {
  const d = s.disks.get(job.disk)!;
  const e = entryAt(d.working, job.segment);
  if (e.alternate === null) return finish(s, out, job.id);
  if (e.location !== null) job.release = [...job.release, segmentExtent(d.working, e.location)];
  stage(s, out, job, [[job.segment, { location: { lun: e.alternate.lun, start: e.alternate.start }, invalid: false, noWrite: false, zero: false, error: false, alternate: null }]]);
};

// ---------------------------------------------------------------------------------------------
// Administrative operations


const validName = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

const admin = (s: S, out: Out, event: AdminEvent): void => {
  const fail = (error: string) => adminDone(out, event.requestId, { ok: false, error });
  switch (event.type) {
    case 'createDisk': {
      if (!validName(event.disk)) return fail(`disk must be a non-empty string, got ${JSON.stringify(event.disk)}`);
      if (s.disks.has(event.disk)) return fail(`disk ${event.disk} already exists`);
      const built = createTable({ segmentBlocks: event.segmentBlocks, segmentCount: event.segmentCount, entries: () => ({ zero: true }) });
      if (E.isLeft(built)) return fail(built.left.map((e: ValidationError) => e.message).join('; '));
      const d = newDiskState(built.right, []);
      s.disks.put(event.disk, thawDisk({ ...d, staged: { changes: new Map(), created: true }, persisting: null }));
      return adminJob(s, out, event.disk, event.requestId, {});
    }
    case 'attachAgent':
    case 'detachAgent': {
      const d = s.disks.get(event.disk);
      if (d === undefined) return fail(`unknown disk ${event.disk}`);
      if (!validName(event.agent)) return fail(`agent must be a non-empty string, got ${JSON.stringify(event.agent)}`);
      const attached = d.agents.includes(event.agent);
      if (event.type === 'attachAgent') {
        if (attached) return adminDone(out, event.requestId, { ok: true });
        d.agents = [...d.agents, event.agent];
        d.dropping = d.dropping.filter((a) => a !== event.agent);
        ensureCopy(s, event.agent, event.disk, false);
        d.attachmentsDirty = true;
        return adminJob(s, out, event.disk, event.requestId, { attach: event.agent });
      }
      if (!attached) return adminDone(out, event.requestId, { ok: true });
      d.agents = d.agents.filter((a) => a !== event.agent);
      d.attachmentsDirty = true;
      return adminJob(s, out, event.disk, event.requestId, { detach: event.agent });
    }
    case 'snapshot': {
      const d = s.disks.get(event.disk);
      if (d === undefined) return fail(`unknown disk ${event.disk}`);
      if (!validName(event.snapshot) || s.disks.has(event.snapshot)) return fail(`snapshot must be a new disk name, got ${JSON.stringify(event.snapshot)}`);
      if (d.frozenBy !== null) return fail(`disk ${event.disk} is already being snapshotted`);
      const id = newId(s);
      s.jobs.put(id, { id, kind: 'snapshot', disk: event.disk, snapshot: event.snapshot, requestId: event.requestId, phase: { kind: 'waiting' }, path: [], release: [] });
      // Alternates cannot be shared safely (writes to set bits ignore no-write): trySnapshot
      // settles them first, with new faults on the disk held meanwhile.
      d.frozenBy = id;
      return trySnapshot(s, out, id);
    }
    case 'migrate': {
      const d = s.disks.get(event.disk);
      if (d === undefined) return fail(`unknown disk ${event.disk}`);
      if (!(Number.isSafeInteger(event.lun) && event.lun >= 0)) return fail(`lun must be a non-negative safe integer, got ${JSON.stringify(event.lun)}`);
      const table = d.working;
      const segments = event.segments ?? Array.from({ length: table.segmentCount }, (_, i) => i).filter((i) => entryAt(table, i).location !== null);
      const bad = segments.find((x) => !(Number.isSafeInteger(x) && x >= 0 && x < table.segmentCount));
      if (bad !== undefined) return fail(`segments contains ${JSON.stringify(bad)}, not a segment of disk ${event.disk} (0..${table.segmentCount - 1})`);
      return spawnGroup(s, out, event.requestId, segments.map((segment) => (id: number, group: number): Job => ({ id, kind: 'migrate', disk: event.disk, segment, lun: event.lun, group, phase: { kind: 'queued' }, path: [], release: [] })));
    }
    case 'markFailed': {
      const { lun, start, length } = event;
      if (![lun, start, length].every((x) => Number.isSafeInteger(x) && x >= 0) || length === 0)
        return fail(`markFailed needs non-negative safe integers lun, start and a positive length, got ${JSON.stringify({ lun, start, length })}`);
      const makers: ((id: number, group: number) => Job)[] = [];
      for (const disk of s.disks.keys()) {
        const t = s.disks.peek(disk)!.working;
        for (let seg = 0; seg < t.segmentCount; seg++) {
          const e = entryAt(t, seg);
          const hit = [e.location, e.alternate].some((x) => x !== null && x.lun === lun && x.start < start + length && start < x.start + t.segmentBlocks);
          if (hit && !e.error) makers.push((id, group) => ({ id, kind: 'markError', disk, segment: seg, group, phase: { kind: 'queued' }, path: [], release: [] }));
        }
      }
      return spawnGroup(s, out, event.requestId, makers);
    }
    case 'resize': {
      const d = s.disks.get(event.disk);
      if (d === undefined) return fail(`unknown disk ${event.disk}`);
      if (d.busy.size > 0 || d.frozenBy !== null || d.staged?.created === true) return fail(`disk ${event.disk} is busy; try again when its faults are resolved`);
      const old = d.working as MappingTable;
      const generation = (d.persisting ?? d.committed.generation) + 1;
      const resized = resizeTable(old, event.segmentCount, { zero: true }, { generation });
      if (E.isLeft(resized)) return fail(resized.left.map((e) => e.message).join('; '));
      const release: Extent[] = [];
      for (let seg = event.segmentCount; seg < old.segmentCount; seg++) {
        const e = entryAt(old, seg);
        for (const x of [e.location, e.alternate]) if (x !== null) release.push(segmentExtent(old, x));
      }
      d.working = resized.right;
      const changes = new Map(d.staged?.changes ?? []);
      for (const seg of [...changes.keys()]) if (seg >= event.segmentCount) changes.delete(seg);
      d.staged = { ...(d.staged ?? { created: false }), changes, segmentCount: event.segmentCount };
      const id = newId(s);
      s.jobs.put(id, { id, kind: 'admin', disk: event.disk, requestId: event.requestId, phase: { kind: 'waiting' }, path: [], release });
      return waitForCommit(s, out, s.jobs.get(id)!);
    }
  }
};


const adminJob = (s: S, out: Out, disk: DiskId, requestId: number, extra: { attach?: AgentId; detach?: AgentId }): void => {
  const id = newId(s);
  s.jobs.put(id, { id, kind: 'admin', disk, requestId, phase: { kind: 'waiting' }, path: [], release: [], ...extra });
  waitForCommit(s, out, s.jobs.get(id)!);
};

/** After an admin change is durable: reach the agent it concerns. */
const adminCommitted = (s: S, out: Out, job: Mutable<Job & { kind: 'admin' }>): void => {
  if (job.attach !== undefined) {
    const v = view(s, job.attach);
    if (v !== undefined && v.epoch >= 0) catchUp(s, out, job.attach, job.disk, null);
  }
  if (job.detach !== undefined) {
    const v = view(s, job.detach);
    const c = copyOf(s, job.detach, job.disk);
    const d = s.disks.get(job.disk)!;
    if (v !== undefined && c !== undefined && c.mayHold && v.epoch >= 0) {
      if (!d.dropping.includes(job.detach)) d.dropping = [...d.dropping, job.detach];
      c.sentAt = s.now;
      send(out, job.detach, { type: 'dropTable', epoch: v.epoch, disk: job.disk });
    } else v?.copies.delete(job.disk);
  }
};

const spawnGroup = (s: S, out: Out, requestId: number, makers: ReadonlyArray<(id: number, group: number) => Job>): void => {
  if (makers.length === 0) return adminDone(out, requestId, { ok: true });
  const group = newId(s);
  s.groups.put(group, { requestId, remaining: makers.length, errors: [] });
  for (const make of makers) {
    const id = newId(s);
    s.jobs.put(id, make(id, group));
    acquire(s, out, id);
  }
};

/** Takes the snapshot once nothing on the disk is in flight and no segment has an alternate. */
const trySnapshot = (s: S, out: Out, id: number): void => {
  const job = s.jobs.get(id);
  if (job === undefined || job.kind !== 'snapshot' || job.phase.kind !== 'waiting') return;
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
  // Both disks share every primary from now on, so both become copy-on-write.
  const changes: [number, MappingEntry][] = [];
  const shared: Extent[] = [];
  for (let seg = 0; seg < table.segmentCount; seg++) {
    const e = entryAt(table, seg);
    if (e.alternate !== null) shared.push(segmentExtent(table, e.alternate)); // error segments keep theirs, shared
    if (e.location === null) continue;
    shared.push(segmentExtent(table, e.location));
    if (!e.noWrite) changes.push([seg, { ...e, noWrite: true }]);
  }
  s.refs = R.incrementAll(s.refs, shared);
  // The snapshot's table is the source's as it will be once frozen. Both are staged before the
  // flush, so they are made durable in one batch that the job waits for; the source's record
  // comes first (disks are flushed in creation order), so the snapshot is never durable while
  // the source could still write the primaries it shares.
  const frozen = unwrap(setEntries(table, changes.map(([segment, entry]) => ({ segment, entry })), { generation: 0 }), 'setEntries');
  s.disks.put(job.snapshot, thawDisk({ ...newDiskState(frozen, []), staged: { changes: new Map(), created: true } }));
  stage(s, out, job, changes);
};

const snapshotTaken = (s: S, out: Out, job: Mutable<Job & { kind: 'snapshot' }>): void => endSnapshot(s, out, job, { ok: true });

const abandonSnapshot = (s: S, out: Out, job: Mutable<Job & { kind: 'snapshot' }>, why: string): void =>
  endSnapshot(s, out, job, { ok: false, error: `snapshot of ${job.disk} abandoned: ${why}` });

/** Unfreezes the disk and lets the faults it held proceed. */
const endSnapshot = (s: S, out: Out, job: Mutable<Job & { kind: 'snapshot' }>, result: AdminResult): void => {
  const d = s.disks.get(job.disk)!;
  d.frozenBy = null;
  const held = [...d.held];
  d.held = [];
  adminDone(out, job.requestId, result);
  finish(s, out, job.id);
  for (const h of held) acquire(s, out, h);
};
