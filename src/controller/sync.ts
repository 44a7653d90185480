/**
 * Steps 575-590: bringing agents in line with the committed tables, and waiting for their
 * acknowledgements (`docs/design.md#fault-resolution`).
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
 * A job that syncs waits until every agent that may hold a copy has acknowledged the generation
 * it needs; acknowledgements mean "no I/O under the old entry is still in flight". Deltas are
 * computed once per step whatever the number of agents they go to (the step's `deltas`).
 */
import type { AgentId, ControllerMessage, DiskId, Step } from '../protocol/messages.js';
import { CowMap, CowRecords } from '../protocol/copy-on-write.js';
import { freezeEntryDocument, freezeTableDocument } from '../protocol/shared-documents.js';
import { encodeEntry, encodeTable, type TableDocument } from '../table/codec.js';
import { entriesEqual, type MappingEntry } from '../table/entry.js';
import { frozenTable } from '../table/freeze.js';
import { diffTables, entryAt, type MappingTable } from '../table/table.js';
import { addStep, agentRestarted, lastChangeOf, segmentExtent, send, servesAgent, type DiskView } from './basics.js';
import { persistAttachments, releaseExtents, stage } from './commit.js';
import { hooksFor } from './jobs/hooks.js';
import { isEvicted } from './leases.js';
import type { ControllerCommand, CopyView } from './types.js';
import { syncingClass } from './job-index.js';
import { thawAgent, type AgentDraft, type JobDraft, type Mutable, type Working } from './working.js';

// ---------------------------------------------------------------------------------------------
// What the controller knows of agents' copies

export const ensureAgent = (s: Working, agent: AgentId): AgentDraft =>
  s.agents.get(agent) ?? s.agents.put(agent, thawAgent({ epoch: -1, copies: new Map() }));

export const ensureCopy = (s: Working, agent: AgentId, disk: DiskId, mayHold: boolean): Mutable<CopyView> => {
  const v = ensureAgent(s, agent);
  return v.copies.get(disk) ?? v.copies.put(disk, { acked: -1, mayHold, sentAt: -Infinity, sentGeneration: -1 });
};

/** Reads an agent's view of its copy of `disk` without copying anything. */
export const peekCopy = (s: Working, agent: AgentId, disk: DiskId): CopyView | undefined => {
  const v = s.agents.peek(agent);
  if (v === undefined) return undefined;
  return v.copies instanceof CowRecords ? v.copies.peek(disk) : v.copies.get(disk);
};

// ---------------------------------------------------------------------------------------------
// Waiting for acknowledgements

/** The job waits until every agent that may hold the disk has acknowledged `generation`. */
export const toSync = (s: Working, out: ControllerCommand[], job: JobDraft, generation: number): void => {
  s.jobs.setPhase(job, { kind: 'syncing', generation, waiting: [] });
  checkSync(s, out, job);
};

/** After a commit: wait for the generation that last changed the job's segment (or the disk's, for whole-disk jobs). */
export const syncWithCommitted = (s: Working, out: ControllerCommand[], job: JobDraft): void => {
  const d = s.disks.peek(job.disk)!;
  toSync(s, out, job, 'segment' in job && job.segment >= 0 ? lastChangeOf(d, job.segment) : d.committed.generation);
};

/** Agents whose acknowledgement a job needs before it can go on. */
export const required = (s: Working, job: JobDraft): AgentId[] => {
  const out: AgentId[] = [];
  forEachRequired(s, job, (a) => void out.push(a));
  return out;
};

/** Calls `f` with each agent of {@link required}, in order, and its copy as the controller knows it. */
const forEachRequired = (s: Working, job: JobDraft, f: (agent: AgentId, copy: CopyView | undefined) => void): void => {
  const d = s.disks.peek(job.disk)!;
  const faulting = servesAgent(job) && !agentRestarted(s, job) ? job.agent : null;
  if (faulting !== null && job.kind === 'fault' && job.segment < 0) {
    if (d.agents.includes(faulting)) f(faulting, peekCopy(s, faulting, job.disk));
    return;
  }
  // A faulting agent detached since (a forced deletion) is not waited for: it no longer maps the
  // disk, its retry is refused, and waiting for it would hold the segment for ever.
  for (const a of d.agents) {
    const c = peekCopy(s, a, job.disk);
    if (a === faulting || c?.mayHold === true) f(a, c);
  }
  // Attached agents first, then those dropping (an agent attached again is in both: once).
  for (let i = 0; i < d.dropping.length; i++) {
    const a = d.dropping[i]!;
    if (d.agents.includes(a) || d.dropping.indexOf(a) !== i) continue;
    const c = peekCopy(s, a, job.disk);
    if (a === faulting || c?.mayHold === true) f(a, c);
  }
};

/** Brings every agent the job needs in line, and goes on when none is missing. */
export const checkSync = (s: Working, out: ControllerCommand[], job: JobDraft): void => {
  if (job.phase.kind !== 'syncing') return;
  if (servesAgent(job) && agentRestarted(s, job)) {
    if (!job.deferred) return hooksFor(s, job).abandoned(s, out, job);
    // The write behind this fence will never come: lift the fence instead of making the change.
    liftFence(s, job);
  }
  const need = job.phase.generation;
  const waiting: AgentId[] = [];
  // Bringing one agent in line changes what the controller knows of that agent's copy only, so
  // the agents are found and checked in one pass (as `required` lists them).
  forEachRequired(s, job, (a, c) => {
    if (c !== undefined && c.acked >= need) return;
    waiting.push(a);
    const step = catchUp(s, out, a, job.disk, job);
    // The path records how the agents were first brought in line, not every re-send.
    if (step !== null && !job.path.some((x) => x === 575 || x === 580 || x === 585 || x === 590)) addStep(job, step);
  });
  s.jobs.setPhase(job, { ...job.phase, waiting: s.sameWaiting(waiting) });
  if (waiting.length === 0) synced(s, out, job);
};

/** Beyond this many newly acknowledged generations, an ack looks at every job syncing on the disk instead of class by class. */
const GENERATION_SCAN_LIMIT = 64;

/**
 * An acknowledgement arrived, raising what `agent` acknowledged of `disk` from `before` to
 * `generation`. A syncing job's `waiting` is the list its last `checkSync` made; an agent in it
 * stops being waited for once it has acknowledged the job's generation. So only the jobs whose
 * generation lies in (`before`, `generation`] can be released by this ack, and they are found by
 * their generation (`syncingClass`), never by a scan of every syncing job (an ack per agent per
 * batch would cost jobs x agents). A job is released when `agent` was in its list and every other
 * agent in it has acknowledged too; it is then checked against the full set before it goes on.
 */
export const onAck = (s: Working, out: ControllerCommand[], agent: AgentId, disk: DiskId, before: number, generation: number): void => {
  if (generation <= before) return;
  const at = s.disks.peek(disk)?.unfencedAt;
  if (at !== undefined && before < at && generation >= at) liftJoinHold(s, out, disk);
  const classes: string[] = [];
  if (generation - before > GENERATION_SCAN_LIMIT) classes.push(`syncing:${disk}`);
  else for (let g = Math.max(before + 1, 0); g <= generation; g++) classes.push(syncingClass(disk, g));
  // Whether every agent of a list other than this one has acknowledged `need`. Nothing an ack
  // step does before its jobs are released changes what agents acknowledged, so the answer for a
  // list is the same for every job that holds it: jobs that checked their agents in one step share
  // one list (`Working.sameWaiting`), and a batch of thousands of jobs costs one look per list.
  const decided = new Map<ReadonlyArray<AgentId>, { need: number; all: boolean }>();
  const othersCaughtUp = (waiting: ReadonlyArray<AgentId>, need: number): boolean => {
    const known = decided.get(waiting);
    if (known !== undefined && known.need === need) return known.all;
    const all = waiting.every((a) => a === agent || (peekCopy(s, a, disk)?.acked ?? -1) >= need);
    decided.set(waiting, { need, all });
    return all;
  };
  const releases = (id: number): boolean => {
    const scanned = s.jobs.scanned(id)!;
    if (scanned.disk !== disk || scanned.phase.kind !== 'syncing') return false;
    const need = scanned.phase.generation;
    if (need <= before || need > generation || !scanned.phase.waiting.includes(agent)) return false;
    const job = s.jobs.peek(id);
    if (job === undefined || job.phase.kind !== 'syncing') return false;
    return othersCaughtUp(job.phase.waiting, job.phase.generation);
  };
  // A job some other agent still holds back now cannot be released later in this step (only this
  // agent's acknowledgement rises in it), so the jobs are narrowed before they are sorted, and
  // each one kept is decided again when its turn comes (an earlier one may have moved it).
  for (const id of s.jobs.candidatesWhere(classes, releases)) {
    if (!releases(id)) continue;
    checkSync(s, out, s.jobs.get(id)!); // confirm against the full set before going on
  }
};

/**
 * Ordering rule (docs/design.md#ordering-rules): an agent that holds no copy of `disk` (attached,
 * restarted, or asking with none) is given one only once every other agent that may hold the disk
 * has acknowledged the newest change committed without a fence (`DiskState.unfencedAt`). Such a
 * change was left unfenced because one agent held the disk; that agent reads through its older
 * entry until it acknowledges, and an agent given the new entry first would write where it reads.
 * Narrow on purpose: with no unfenced change outstanding, a join is not delayed. The attach (or
 * the no-table fault, or the fetch) simply finds nothing sent; {@link liftJoinHold} sends it.
 */
export const joinHeld = (s: Working, disk: DiskId, agent: AgentId | null): boolean => {
  const d = s.disks.peek(disk);
  const at = d?.unfencedAt;
  if (d === undefined || at === undefined) return false;
  for (const a of d.agents) if (a !== agent && lagsBehind(s, a, disk, at)) return true;
  for (const a of d.dropping) if (a !== agent && lagsBehind(s, a, disk, at)) return true;
  return false;
};

const lagsBehind = (s: Working, agent: AgentId, disk: DiskId, generation: number): boolean => {
  const c = peekCopy(s, agent, disk);
  return c !== undefined && c.mayHold && c.acked < generation && (c.noneBelow ?? -1) < generation;
};

/**
 * `agent` says it holds no copy of `disk` (a `fetchTable` from generation -1). With a drop mark
 * (`FetchTableMessage.dropMark`) the word holds for the rest of its life below mark + 1: it
 * refuses such tables from then on, so neither a late duplicate of the fetch nor a late table of
 * an earlier controller makes it false. Without one (an older agent) the word says only "none
 * now": taken for the restored generation alone (`since`), never for a change this controller
 * made, and it leaves out a message from before the restart arriving after it (see
 * docs/design.md#ordering-rules). An agent no longer lagging may lift the join hold.
 */
export const noteNoCopy = (s: Working, out: ControllerCommand[], agent: AgentId, disk: DiskId, dropMark: number | undefined): void => {
  const d = s.disks.peek(disk);
  const c = peekCopy(s, agent, disk);
  if (d === undefined || c === undefined || !c.mayHold) return;
  const noneBelow = dropMark !== undefined ? dropMark + 1 : c.acked < 0 ? (d.since ?? -1) : -1;
  if (noneBelow <= (c.noneBelow ?? -1)) return;
  ensureCopy(s, agent, disk, true).noneBelow = noneBelow;
  if (d.unfencedAt !== undefined && noneBelow >= d.unfencedAt) liftJoinHold(s, out, disk);
};

/**
 * A holder acknowledged the disk's unfenced change: once none lags any more, the joins that waited
 * get their tables (the attached agents that hold none), and the no-table faults look again.
 */
export const liftJoinHold = (s: Working, out: ControllerCommand[], disk: DiskId): void => {
  if (joinHeld(s, disk, null)) return;
  const d = s.disks.get(disk)!;
  d.unfencedAt = undefined;
  for (const a of d.agents) {
    const c = peekCopy(s, a, disk);
    if (c !== undefined && !c.mayHold) catchUp(s, out, a, disk, null);
  }
  recheckDisk(s, out, disk);
};

/** Something about the agents of `disk` changed (one restarted, or dropped its copy): every job syncing on it looks again. */
export const recheckDisk = (s: Working, out: ControllerCommand[], disk: DiskId): void => {
  for (const id of s.jobs.candidates(`syncing:${disk}`)) {
    const scanned = s.jobs.scanned(id)!;
    if (scanned.disk !== disk || scanned.phase.kind !== 'syncing') continue;
    const job = s.jobs.get(id);
    if (job !== undefined) checkSync(s, out, job);
  }
};

/**
 * A life of `agent` is over (it restarted, or was evicted): it holds no copy any more, so it is no
 * longer waited for or told to drop one. A plain detach's list is persisted again; a deletion's
 * lives in memory only.
 */
export const forgetDropping = (s: Working, out: ControllerCommand[], agent: AgentId): void => {
  for (const disk of s.disks.keys()) {
    const d = s.disks.peek(disk)!;
    if (!d.dropping.includes(agent)) continue;
    s.disks.get(disk)!.dropping = d.dropping.filter((a) => a !== agent);
    if (!(d.frozenBy !== null && s.jobs.peek(d.frozenBy)?.kind === 'delete')) persistAttachments(s, out, disk);
  }
};

/**
 * Turns a fenced change that will never be needed into lifting the fence: the segment gets its
 * old entry back, space allocated for the change is released, and space the change would have
 * freed is kept.
 */
const liftFence = (s: Working, job: JobDraft): void => {
  const table = s.disks.get(job.disk)!.working as MappingTable;
  const planned = job.deferred ?? [];
  const same = (a: { lun: number; start: number } | null, b: { lun: number; start: number } | null) => a !== null && b !== null && a.lun === b.lun && a.start === b.start;
  const kept = planned.map(([seg]) => entryAt(table, seg));
  const inUse = (x: { lun: number; start: number }) => kept.some((e) => same(e.location, x) || same(e.alternate, x));
  const release = job.release.filter((x) => !inUse(x));
  for (const [seg, entry] of planned) for (const x of [entry.location, entry.alternate]) if (x !== null && !inUse(x) && !release.some((r) => same(r, x))) release.push(segmentExtent(table, x, seg));
  job.release = release;
  job.deferred = planned.map(([seg], i): [number, MappingEntry] => [seg, { ...kept[i]!, invalid: false }]);
};

/** Every agent that needs it has the change: stage what a fence held back, or carry on with the job. */
const synced = (s: Working, out: ControllerCommand[], job: JobDraft): void => {
  if (job.deferred) {
    // The fence is in place at every agent: now the real change.
    const changes = job.deferred;
    job.deferred = null;
    return stage(s, out, job, changes, true);
  }
  releaseExtents(s, out, job);
  hooksFor(s, job).synced(s, out, job);
};

// ---------------------------------------------------------------------------------------------
// Bringing one agent in line

/**
 * Sends `agent` what it needs to reach the committed generation of `disk`, choosing the
 * cheapest correct message (see the module comment). Sends nothing if something was sent less
 * than `retryInterval` ago. Returns the step that brings the agent in line.
 */
export const catchUp = (s: Working, out: ControllerCommand[], agent: AgentId, disk: DiskId, job: JobDraft | null): Step | null => {
  const v = ensureAgent(s, agent);
  if (isEvicted(s, agent, v.epoch)) return null; // leases.ts: that life gets nothing until it starts anew
  const d = s.disks.peek(disk)!;
  // Tables go to attached agents only: one sent to an agent told to drop its copy may reach it
  // after the drop, a copy nobody tracks (docs/design.md#ordering-rules). It is waited for
  // until its `dropped` comes (convergeCopies re-sends the dropTable).
  if (!d.agents.includes(agent)) return null;
  // Nor before the record that attaches it is durable: a controller restarting before then would
  // not list it, nor track its copy. `onPersisted` (commit.ts) catches it up once it is.
  if (attachPending(d, agent)) return null;
  const c = ensureCopy(s, agent, disk, false);
  // A delta sent less than a retry interval ago is most likely on its way, and messages mostly
  // arrive in order: the next delta starts where that one ends, rather than at the acknowledged
  // generation (which the agent will have left by then, and would have to fetch the rest). An
  // agent that does not hold the base finds a gap and fetches, as for any delta.
  const inFlight = c.sentGeneration > c.acked && s.now - c.sentAt < s.config.retryInterval;
  const from = inFlight ? c.sentGeneration : c.acked;
  // An agent without a copy waits while a holder lags behind an unfenced change (joinHeld).
  if (v.epoch >= 0 && !c.mayHold && joinHeld(s, disk, agent)) return null;
  let chosen: Step;
  if (v.epoch < 0) chosen = 580; // we do not know its life yet: ask it to pull, whichever life it is
  else if (!c.mayHold) chosen = 585;
  else if (from >= 0 && inHistory(d, from)) chosen = d.agents.length + d.dropping.length <= 1 && job !== null && 'agent' in job && job.agent === agent ? 590 : 575;
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

/** True when `agent` is attached to `d` in memory only: its `attachments` record is not durable yet. */
export const attachPending = (d: { readonly attachPending?: ReadonlyArray<AgentId> }, agent: AgentId): boolean => d.attachPending !== undefined && d.attachPending.includes(agent);

/** True when the table of `generation` is still in history, with the committed table's segment bounds (a delta from it is possible). */
const inHistory = (d: DiskView, generation: number): boolean => {
  // Ascending by generation, and the generation asked for is mostly a recent one: from the end.
  const history = d.history;
  for (let i = history.length - 1; i >= 0; i--) {
    const t = history[i]!;
    if (t.generation < generation) return false;
    if (t.generation === generation && keepsBounds(t, d.committed)) return true;
  }
  return false;
};

/**
 * Encoded committed tables, frozen so that agents in the same process may share their decoding.
 * Not state: a memo of a pure function of an immutable table, whose (frozen) value is the same
 * whichever controller asks, so no step's result depends on what is in it.
 */
const tableDocuments = new WeakMap<MappingTable, TableDocument>();

/** 585/580: the whole committed table of `disk`. */
export const replaceMessage = (s: Working, disk: DiskId, epoch: number): ControllerMessage => {
  const table = s.disks.peek(disk)!.committed;
  let doc = tableDocuments.get(table);
  if (doc === undefined) tableDocuments.set(table, (doc = freezeTableDocument(encodeTable(table))));
  return { type: 'replaceTable', epoch, disk, table: doc };
};

/**
 * True when a delta from `base` to `to` can be written as entry changes and a `segmentCount`:
 * no split, merge or variable resize since (those rebuild the boundary index; setting entries,
 * freezing and a uniform resize keep it, or keep it null). Otherwise the agent gets the whole
 * table (it fetches, and the answer is a `replaceTable`).
 */
const keepsBounds = (base: MappingTable, to: MappingTable): boolean => base.segmentStarts === to.segmentStarts;

/**
 * The changes from the agent's generation to the committed one, if that generation is still in
 * history and the segment bounds are the same. When a freeze (a snapshot) was committed since, the message says `freeze` and lists
 * only the segments changed otherwise: a snapshot costs every agent a few bytes.
 */
export const deltaMessage = (s: Working, disk: DiskId, from: number, epoch: number): ControllerMessage | null => {
  const d = s.disks.peek(disk)!;
  const history = d.history;
  const base = history.find((t) => t.generation === from);
  const to = d.committed as MappingTable;
  if (base === undefined || !keepsBounds(base, to)) return null;
  const freeze = frozenSince(d, base);
  const key = `${disk}\u0000${from}\u0000${to.generation}`;
  let cached = s.deltas.get(key);
  if (cached === undefined || cached.base !== base || cached.to !== to) {
    const segments = changedSegments(d, base, to, freeze);
    // Frozen, list and entries alike: every agent's message of this step carries the same list.
    const changes = Object.freeze(segments.map((segment) => ({ segment, entry: freezeEntryDocument(encodeEntry(entryAt(to, segment))) })));
    cached = { base, to, changes };
    s.deltas.set(key, cached);
  }
  return {
    type: 'setEntries',
    epoch,
    disk,
    fromGeneration: from,
    generation: to.generation,
    ...(freeze ? { freeze: true as const } : {}),
    ...(base.segmentCount === to.segmentCount ? {} : { segmentCount: to.segmentCount }),
    changes: cached.changes,
  };
};

/**
 * The segments whose entries differ between `base` and the committed table `to`, ascending:
 * those that the tables committed after `base` changed (`changedAt`, by generation), so a delta
 * costs the changes it carries. A full diff (which looks at every slot of every chunk either
 * table changed) only when that record does not reach back to `base`, or segments were
 * renumbered since (`reshaped`).
 */
export const changedSegments = (d: DiskView, base: MappingTable, to: MappingTable, freeze: boolean): number[] => {
  const spanned = base.segmentBlocks === to.segmentBlocks && base.segmentStarts === to.segmentStarts && !(d.reshaped !== undefined && base.generation < d.reshaped.generation) ? changesSince(d, base, to) : null;
  if (spanned === null) return diffTables(freeze ? frozenTable(base, base.generation) : base, to).filter((seg) => seg < to.segmentCount);
  const out: number[] = [];
  for (const seg of spanned) {
    if (seg >= to.segmentCount) continue;
    // A segment changed and changed back since `base` (the freeze included) is not part of the delta.
    if (seg >= base.segmentCount || !entriesEqual(frozenIf(freeze, entryAt(base, seg)), entryAt(to, seg))) out.push(seg);
  }
  return out.sort((a, b) => a - b);
};

/**
 * Every segment the tables of history after `base`, up to `to`, changed (without repeats), or
 * null when one of them has no record (`to` or `base` not in history, or a table committed
 * before `changedAt` was kept).
 */
const changesSince = (d: DiskView, base: MappingTable, to: MappingTable): Iterable<number> | null => {
  const history = d.history;
  const changedAt = d.changedAt;
  if (changedAt === undefined || history[history.length - 1] !== to) return null;
  let i = history.length - 1;
  while (i >= 0 && history[i] !== base) i--;
  if (i < 0) return null;
  if (i === history.length - 2) return changedAt.get(to.generation) ?? null; // one table: its own list has no repeats
  const union = new Set<number>();
  for (let k = i + 1; k < history.length; k++) {
    const segments = changedAt.get(history[k]!.generation);
    if (segments === undefined) return null;
    for (const seg of segments) union.add(seg);
  }
  return union;
};

/** True when a freeze (a snapshot) was committed after `base`: a delta from it starts with one. */
const frozenSince = (d: DiskView, base: MappingTable): boolean => d.frozenAt !== undefined && base.generation < d.frozenAt;

/** The entry as a freeze leaves it. */
const frozenIf = (freeze: boolean, e: MappingEntry): MappingEntry => (freeze && e.location !== null && !e.noWrite ? { ...e, noWrite: true } : e);

/**
 * Forgets per-segment change generations that every agent holding the disk has acknowledged, by
 * raising the baseline instead: a fault older than the baseline is stale either way, and the map
 * stays as small as the changes still in flight.
 */
export const pruneLastChange = (s: Working): void => {
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

/** Anti-entropy, once per retry interval: every copy converges, even with no fault to drive it. */
export const convergeCopies = (s: Working, out: ControllerCommand[]): void => {
  // Candidates are read from the state as the step began, without copying; catchUp re-reads
  // (and rate-limits) what it acts on.
  const interval = s.config.retryInterval;
  for (const [agent, v] of s.base.agents) {
    for (const [disk, c] of v.copies) {
      const d = s.base.disks.get(disk);
      if (d === undefined || s.now - c.sentAt < interval) continue;
      if (d.dropping.includes(agent)) {
        s.agents.get(agent)!.copies.get(disk)!.sentAt = s.now;
        // Not heard from since a restart (epoch -1): a dropTable for epoch 0 reaches whichever life holds it.
        send(out, agent, { type: 'dropTable', epoch: Math.max(v.epoch, 0), disk, generation: d.committed.generation });
      } else if (c.mayHold && c.acked < d.committed.generation) catchUp(s, out, agent, disk, null);
    }
  }
};
