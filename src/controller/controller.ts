/**
 * The controller state machine: `controllerStep(state, event) -> [state, commands]`.
 *
 * It owns the persistent tables and resolves every fault by the flowchart of
 * `docs/design.md#fault-resolution`: decide, make the change durable (570) and wait for the
 * persistence adapter, bring agents in line (575/580/585/590), wait for the acknowledgements
 * correctness needs, then tell the faulting agent to re-attempt (595). It performs no I/O: every
 * effect is a command for the caller's runtime.
 *
 * Where everything lives (`docs/design.md#code-layout`):
 * - `controller.ts` (this file): the state at start, `controllerStep`, dispatch of events,
 *   restart (`restored`) and time (`tick`: retries and anti-entropy sweeps);
 * - `intake.ts`: agent messages: validation, epoch fencing, a new life of an agent, one handler
 *   per message type;
 * - `locks.ts`: segment locks and their queues, starting and closing jobs, admin job groups;
 * - `commit.ts`: 570: staging changes, fences, group commit, committed history;
 * - `flushes.ts`: grouped flushes (copies durable before the record that depends on them);
 *   `moves.ts`: whether a change moves readable blocks (it then needs a fence);
 * - `sync.ts`: 575-590: acknowledgements, choosing how to bring an agent in line, deltas and
 *   replacement documents, anti-entropy;
 * - `jobs/hooks.ts`: the job state machine: the points of a job's life and the hooks each kind
 *   provides there; `jobs/index.ts`: the table of hooks by kind;
 * - `jobs/fault.ts` (fault, mark), `jobs/settle.ts` (settle, migrate), `jobs/snapshot.ts`,
 *   `jobs/flags.ts` (markError, unfence), `jobs/admin.ts` (one handler per admin request, and
 *   the admin job): one module per kind of job;
 * - `working.ts`: the step's working state and context (copy-on-write records, per-step caches);
 *   `job-index.ts`: the jobs by segment, by kind and by phase, with counts instead of scans;
 * - `basics.ts`: small helpers; `types.ts`: events, commands, state; `allocator.ts`,
 *   `refcounts.ts`: free space and shared extents; `reuse-hold.ts`: after a restart, no
 *   allocation until the agents that may hold older tables are in line.
 *
 * Correctness rules, all enforced here:
 * - segment lock: one job at a time per segment, so a host write and the background copy of the
 *   same block never race (the host write waits and wins);
 * - a fault or mark older than the segment's last change is answered by bringing the agent up
 *   to date and telling it to retry, never by changing the table (late duplicates are harmless);
 * - before a retry (595) or a copy, every agent that may hold a copy has acknowledged the
 *   segment's last change, and acks mean "no I/O under the old entry is still in flight".
 *
 * No module keeps state of its own: what one step needs lives in its `Working`, so controllers
 * stepped in the same process never see each other.
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeTable } from '../table/codec.js';
import { entryAt } from '../table/table.js';
import type { Allocator, Extent } from './allocator.js';
import { adminDone, newDiskState, newId, segmentExtent } from './basics.js';
import { onPersisted, onPersistFailed, retryPersist } from './commit.js';
import { onFlushAnswered } from './flushes.js';
import { onMessage } from './intake.js';
import { emptyJobIndex } from './job-index.js';
import { hooksFor } from './jobs/hooks.js';
import { overLimits, readAdminEvent, readBatchEvents, readEvent, readPersistedState } from './admin-validation.js';
import { adminTypes, drainCopyQueue, enqueueSettle, jobHooks, onAdmin } from './jobs/index.js';
import { drainQuarantine, evictExpired, leaseOnRestore } from './leases.js';
import { duplicateAnswer, identifyAdmin, noteAdmin, type RecentAdmin } from './admin-dedupe.js';
import { acquire } from './locks.js';
import * as R from './refcounts.js';
import { checkReuseHold, holdAfterRestore } from './reuse-hold.js';
import { lowSpaceCrossings } from './space.js';
import { checkSync, convergeCopies, ensureCopy, pruneLastChange } from './sync.js';
import {
  defaultControllerConfig,
  defaultControllerLimits,
  type AdminEvent,
  type ControllerCommand,
  type ControllerEvent,
  type ControllerLimits,
  type ControllerOptions,
  type ControllerState,
  type PersistedState,
} from './types.js';
import { thawDisk, Working } from './working.js';

/**
 * A controller with no disks, waiting for its `restored` event. `allocator` describes the free
 * space of every LUN before any table is taken into account.
 *
 * @example
 * const state = initialControllerState(E.getOrElseW(() => { throw 0; })(createAllocator({ 1: 1000 })));
 */
export const initialControllerState = (allocator: Allocator, config: ControllerOptions = {}): ControllerState => ({
  config: { ...defaultControllerConfig, ...config, limits: { ...defaultControllerLimits, ...config.limits } },
  now: 0,
  ready: false,
  disks: new Map(),
  agents: new Map(),
  allocator,
  refs: R.emptyRefCounts,
  jobs: new Map(),
  jobIndex: emptyJobIndex,
  groups: new Map(),
  faultIndex: new Map(),
  persist: null,
  copies: new Map(),
  leases: new Map(),
  quarantine: [],
  reuseHold: null,
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
 * A `batch` event feeds its events in order and gives exactly the state and the commands (in
 * order) of feeding them one at a time; consecutive agent messages and answers to commands share
 * one working state, so the fixed cost of a step is paid once for them (see `stepBatch`).
 *
 * @example
 * const [next, commands] = controllerStep(state, { type: 'tick', now: 100 });
 * const [after, all] = controllerStep(next, { type: 'batch', events: [copyDone, flushed, ack] });
 */
export const controllerStep = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const batch = readBatch(event);
  if (batch !== null) return batch.ok ? stepBatch(state, batch.value) : [state, [{ type: 'eventRefused', why: batch.error }]];
  return stepOne(state, event);
};

/** One event, in a working state of its own. */
const stepOne = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  // A copy of a recent admin request is answered as the first was, never done twice (admin-dedupe.ts).
  const admin = identifyAdmin(event, adminTypes, state.config.limits ?? defaultControllerLimits);
  const duplicate = duplicateAnswer(state.recentAdmin, admin);
  if (duplicate !== null) return [state, duplicate];
  const out: ControllerCommand[] = [];
  const s = new Working(state, jobHooks);
  handle(s, out, readEvent(event), event);
  const before = state.recentAdmin ?? [];
  const recentAdmin = noteAdmin(before, admin, out);
  const next = s.result();
  return [recentAdmin === before ? next : { ...next, recentAdmin }, stampControllerEpoch(state.config.controllerEpoch, out)];
};

/**
 * What one event does to a working state, and what every step does after it: the restart's
 * allocation hold, the copy slots freed in it, and the LUNs whose free space fell below the
 * low-water mark in it. `read` is
 * what `readEvent` made of `raw`.
 */
const handle = (s: Working, out: ControllerCommand[], read: ReturnType<typeof readEvent>, raw: ControllerEvent): void => {
  const allocator = s.allocator;
  dispatch(s, out, read, raw);
  if (s.reuseHold !== null) checkReuseHold(s, out); // reuse-hold.ts: lifts once the agents are in line
  drainCopyQueue(s, out); // jobs/settle.ts: a copy slot freed on any path goes to the next queued job
  out.push(...lowSpaceCrossings(allocator, s.allocator, s.config.lowWaterMark));
};

/**
 * Events that may share a working state with the events before them in a batch: agent messages
 * and the answers to commands. Not `tick` (its sweeps read `Working.base`, the state as the step
 * began), not `restored`, not admin requests (their duplicates are answered before any working
 * state). Records keep their place when one is deleted and put again in one working state, not
 * across steps: among these events only a disk or an agent's copy is ever deleted, and neither
 * comes back without an admin request (an attach, a createDisk, a snapshot), which closes the run.
 */
const SHARES_STEP: ReadonlySet<string> = /* @__PURE__ */ (() => new Set(['message', 'persisted', 'persistFailed', 'copyDone', 'copyFailed', 'flushed', 'flushFailed']))();

/**
 * The events of a batch, in order. A run of events that may share a working state is handled
 * in one `Working` (one construction, one `result()`), each event exactly as its own step would
 * handle it, against the state the events before it left (the job index is brought up to date
 * between events: `Working.nextEvent`); any other event closes the run and is stepped on its
 * own. The commands are those of the events, in order. `test/controller/batch.test.ts` checks
 * it against recorded simulator runs cut into batches anywhere.
 */
const stepBatch = (state: ControllerState, events: ReadonlyArray<unknown>): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const out: ControllerCommand[] = [];
  let current = state;
  let runOut: ControllerCommand[] = [];
  let s: Working | null = null;
  let recent: ReadonlyArray<RecentAdmin> = [];
  let recentAtOpen = recent;
  let inRun = 0;
  const close = (w: Working): void => {
    const next = w.result();
    current = recent === recentAtOpen ? next : { ...next, recentAdmin: recent };
    for (const c of stampControllerEpoch(state.config.controllerEpoch, runOut)) out.push(c);
    runOut = [];
  };
  for (const raw of events) {
    const read = readEvent(raw);
    // An unreadable event is refused in the run (as in a step of its own, which is never an admin request's).
    if (!read.ok || (!('admin' in read) && SHARES_STEP.has(read.value.type))) {
      if (s === null) {
        s = new Working(current, jobHooks);
        inRun = 0;
        recent = recentAtOpen = current.recentAdmin ?? [];
      }
      if (inRun++ > 0) s.nextEvent();
      const from = runOut.length;
      handle(s, runOut, read, raw as ControllerEvent);
      // An answer to an admin request (a job group ending) is noted as its own step would note it.
      for (let i = from; i < runOut.length; i++)
        if (runOut[i]!.type === 'adminDone') {
          recent = noteAdmin(recent, null, runOut.slice(from));
          break;
        }
      continue;
    }
    if (s !== null) close(s);
    s = null;
    const [next, commands] = controllerStep(current, raw as ControllerEvent);
    current = next;
    for (const c of commands) out.push(c);
  }
  if (s !== null) close(s);
  return [current, out];
};

/** A batch event's events, read once into a plain array; null for any other event. */
const readBatch = (event: ControllerEvent): { readonly ok: true; readonly value: ReadonlyArray<unknown> } | { readonly ok: false; readonly error: string } | null => {
  let type: unknown;
  try {
    type = (event as { readonly type?: unknown }).type;
  } catch {
    return null; // the normal path reads it field by field and refuses it
  }
  return type === 'batch' ? readBatchEvents(event) : null;
};

/** Every message leaves with the controller epoch (the one place it is stamped); 0 stamps nothing. */
const stampControllerEpoch = (controllerEpoch: number, out: ControllerCommand[]): ControllerCommand[] => {
  if (!(controllerEpoch > 0)) return out;
  return out.map((c) => (c.type === 'send' ? { ...c, message: { ...c.message, controllerEpoch } } : c));
};

/** The limits in force (a state built before limits existed has the defaults). */
const limitsOf = (s: Working): ControllerLimits => s.config.limits ?? defaultControllerLimits;

/**
 * Every event is read (each field once, checked) before it is acted on: a malformed one is
 * answered, never thrown on. Admin requests with a usable `requestId` get a refusing `adminDone`;
 * anything else gets an `eventRefused` command naming what was wrong.
 */
const dispatch = (s: Working, out: ControllerCommand[], read: ReturnType<typeof readEvent>, raw: ControllerEvent): void => {
  if (!read.ok) return void out.push({ type: 'eventRefused', why: read.error });
  if ('admin' in read) return dispatchAdmin(s, out, raw);
  dispatchRead(s, out, read.value);
};

/** An event other than an admin request, as `readEvent` copied it. */
const dispatchRead = (s: Working, out: ControllerCommand[], event: ControllerEvent): void => {
  if (event.type === 'restored') {
    const persisted = readPersistedState(event.state, limitsOf(s));
    if (!persisted.ok) return void out.push({ type: 'eventRefused', why: persisted.error });
    return restore(s, out, persisted.value, event.now);
  }
  if (!s.ready) {
    if (event.type === 'message') out.push({ type: 'refused', message: event.message, why: 'controller not started' });
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
      return onPersistFailed(s, event.persistId);
    case 'copyDone':
    case 'copyFailed':
      return onCopyAnswered(s, out, event.copyId, event.type === 'copyFailed');
    case 'flushed':
    case 'flushFailed':
      // A flush is answered like the copies it makes durable, for every job of its group (flushes.ts).
      return onFlushAnswered(s, out, event.flushId, event.type === 'flushFailed');
  }
};

/** An admin request: read, checked against the limits, then handled. */
const dispatchAdmin = (s: Working, out: ControllerCommand[], raw: unknown): void => {
  const read = readAdminEvent(raw, adminTypes, limitsOf(s));
  if (!read.ok) return read.requestId === null ? void out.push({ type: 'eventRefused', why: read.error }) : adminDone(out, read.requestId, { ok: false, error: read.error });
  const event: AdminEvent = read.value;
  if (!s.ready) return adminDone(out, event.requestId, { ok: false, error: 'controller not started' });
  const sizes = new Map<string, number>();
  for (const disk of s.disks.keys()) sizes.set(disk, s.disks.peek(disk)!.working.segmentCount);
  const over = overLimits(event, sizes, limitsOf(s));
  if (over !== null) return adminDone(out, event.requestId, { ok: false, error: `${event.type} refused: ${over}` });
  onAdmin(s, out, event);
};

// ---------------------------------------------------------------------------------------------
// Start and restart

const restore = (s: Working, out: ControllerCommand[], persisted: PersistedState, now: number): void => {
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
        const extent = segmentExtent(table, x, seg);
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
  for (const { disk, agents, dropping } of persisted.attachments) {
    const d = s.disks.get(disk);
    if (d === undefined) continue;
    d.agents = [...agents];
    // Detached agents that had not confirmed the drop: waited for, and told again (sync.ts convergeCopies).
    d.dropping = (dropping ?? []).filter((a) => !agents.includes(a));
    for (const a of [...agents, ...d.dropping]) {
      ensureCopy(s, a, disk, true); // unknown: they may hold a copy
      leaseOnRestore(s, a); // leases.ts: an agent never heard from again is evicted in time
    }
    // A change committed without a fence may have been outstanding (`unfencedAt` lived in memory):
    // an agent without a copy joins once each listed one has acknowledged the restored generation
    // or said it holds no table below it (joinHeld and noteNoCopy, sync.ts).
    if (d.agents.length + d.dropping.length > 0) d.unfencedAt = d.committed.generation;
  }
  // Every generation a deleted disk reached stays below the disks created from now on.
  s.generationFloor = Math.max(s.generationFloor, persisted.generationFloor ?? 0);
  s.allocator = alloc;
  s.refs = R.incrementAll(R.emptyRefCounts, referenced);
  // What a durable change stopped using before the restart is free in `alloc`, but an agent may
  // still hold the older table: nothing is allocated until the agents are in line (reuse-hold.ts).
  holdAfterRestore(s);
  s.ready = true;
  for (const id of s.jobs.keys()) if (s.jobs.peek(id)?.phase.kind === 'queued') acquire(s, out, id);
};

// ---------------------------------------------------------------------------------------------
// Time

const tick = (s: Working, out: ControllerCommand[], now: number): void => {
  s.now = Math.max(s.now, now);
  retryPersist(s, out);
  drainQuarantine(s, out); // leases.ts
  // Full sweeps (re-sends, copy retries, waiting snapshots) once per retry interval, not per tick.
  if (s.now - s.lastSweep < s.config.retryInterval) return;
  s.lastSweep = s.now;
  evictExpired(s, out); // leases.ts: before the sweep, so jobs stop waiting for the evicted at once
  sweepJobs(s, out);
  pruneLastChange(s);
  convergeCopies(s, out);
};

/** Every job syncing looks again at its agents; failed copies and waiting snapshots are retried. */
const sweepJobs = (s: Working, out: ControllerCommand[]): void => {
  for (const id of s.jobs.candidates('syncing', 'copyRetry', 'kind:snapshot', 'kind:delete', 'kind:rollback')) {
    const scanned = s.jobs.scanned(id)!;
    const retryCopy = scanned.kind === 'settle' && scanned.phase.kind === 'copying' && scanned.phase.failed && scanned.phase.copies.length === 0;
    const waitsForDisk = scanned.kind === 'snapshot' || scanned.kind === 'delete' || scanned.kind === 'rollback';
    if (!retryCopy && scanned.phase.kind !== 'syncing' && !waitsForDisk) continue;
    const job = s.jobs.get(id);
    if (job === undefined) continue;
    if (job.phase.kind === 'syncing') checkSync(s, out, job);
    else hooksFor(s, job).poke(s, out, job);
  }
};

// ---------------------------------------------------------------------------------------------
// Copies

/** A copy command was answered: when it was the job's last, the job's kind goes on. */
const onCopyAnswered = (s: Working, out: ControllerCommand[], copyId: number, failed: boolean): void => {
  const id = s.copies.get(copyId);
  if (id === undefined) return;
  s.copies.delete(copyId);
  const job = s.jobs.get(id);
  if (job === undefined || job.phase.kind !== 'copying') return;
  s.jobs.setPhase(job, { ...job.phase, copies: job.phase.copies.filter((c) => c !== copyId), failed: job.phase.failed || failed });
  if (job.phase.kind === 'copying' && job.phase.copies.length > 0) return;
  hooksFor(s, job).copied(s, out, job);
};
