/**
 * Step 570: making decided changes durable. A job stages its changes to segment entries (fenced
 * first when the change moves blocks and several agents may hold the disk), and waits for the
 * persist batch they join. One persist command is in flight at a time; what is staged meanwhile
 * goes with the next one (group commit). When a batch is durable the committed tables advance,
 * the history used for deltas grows, and each job that waited for it goes on (its kind's
 * `committed` hook).
 */
import { segmentLengthAt } from '../table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import type { AgentId, DiskId, EntryChange } from '../protocol/messages.js';
import { PersistentMap } from '../protocol/persistent-map.js';
import { encodeEntry, encodeTable } from '../table/codec.js';
import { entriesEqual, type MappingEntry } from '../table/entry.js';
import { diffTables, entryAt, freezeTable, setEntries, type MappingTable } from '../table/table.js';
import { addStep, newId, servesAgent, unwrap } from './basics.js';
import { hooksFor } from './jobs/hooks.js';
import { movesBlocks } from './moves.js';
import { releaseOrQuarantine } from './leases.js';
import * as R from './refcounts.js';
import { catchUp, peekCopy, recheckDisk, required } from './sync.js';
import { setEntriesLater, workingEntry, workingGeneration, workingShape } from './pending-entries.js';
import type { ControllerCommand, PersistRecord } from './types.js';
import type { JobDraft, Working } from './working.js';

/**
 * Decides changes to segment entries; the job waits until they are durable.
 *
 * A change that moves blocks is fenced when more than one agent may hold the disk: agents that
 * already have the new entry write the moved blocks without faulting, while an agent that does
 * not yet have it would still read them from the old place. So the segment first becomes
 * `invalid` everywhere (every agent acknowledges), and only then gets its new entry (`deferred`,
 * staged by `synced` in `sync.ts`).
 */
export const stage = (s: Working, out: ControllerCommand[], job: JobDraft, changes: ReadonlyArray<readonly [number, MappingEntry]>, fenced = false): void => {
  const d = s.disks.get(job.disk)!;
  // Several attached agents: any of them may fetch a copy before this change commits.
  if (!fenced && (possibleHolders(s, d) > 1 || required(s, job).length > 1)) {
    // Read through the changes staged earlier in this step, without writing them (pending-entries.ts).
    const table = workingShape(d);
    const fences = changes.filter(([seg, entry]) => movesBlocks(workingEntry(d, seg), entry, segmentLengthAt(table, seg), table.grainBlocks)).map(([seg]): [number, MappingEntry] => [seg, { ...workingEntry(d, seg), invalid: true }]);
    if (fences.length > 0) {
      job.deferred = changes;
      return stage(s, out, job, fences, true);
    }
  }
  const generation = Math.max((d.persisting ?? d.committed.generation) + 1, workingGeneration(d)); // nextGeneration, pending changes included
  if (!fenced && unfencedMove(s, d, job, changes)) d.unfencedAt = generation;
  // Written to the working table with the other changes of this step, when something reads it.
  setEntriesLater(s, d, changes, generation);
  // A persistent map: a change joining a batch of thousands does not copy the batch.
  let staged = PersistentMap.from(d.staged?.changes ?? []);
  for (const [segment, entry] of changes) staged = staged.set(segment, entry);
  d.staged = { ...(d.staged ?? { created: false }), changes: staged };
  waitForCommit(s, out, job);
};

/**
 * True when `changes`, staged without a fence, move readable blocks while the one possible holder
 * is not the agent whose fault they serve. That agent parks its I/O on the segment behind the
 * fault, so it reads nothing through its older entry; any other holder does until it
 * acknowledges, and an agent given the new table meanwhile would write where it reads. Such a
 * change is remembered as the disk's `unfencedAt`: joins wait for it (`joinHeld`, sync.ts).
 */
const unfencedMove = (s: Working, d: Parameters<typeof possibleHolders>[1] & { readonly working: MappingTable }, job: JobDraft, changes: ReadonlyArray<readonly [number, MappingEntry]>): boolean => {
  const holders = holderSet(s, d);
  if (holders.size === 0 || (holders.size === 1 && servesAgent(job) && holders.has(job.agent))) return false;
  const table = workingShape(d);
  return changes.some(([seg, entry]) => movesBlocks(workingEntry(d, seg), entry, segmentLengthAt(table, seg), table.grainBlocks));
};

/**
 * How many agents may hold the disk, or be given it, before this change is acknowledged: those
 * attached or still dropping, and during a deletion also every agent attached when it began.
 * Ordering rule (docs/design.md#ordering-rules): an agent stops counting only once the record
 * that detaches it is durable. A deletion detaches in memory only (the store lists the agents
 * until `deleteTable`), so a controller restarting before then gives the stored table back to
 * every one of them, also to those that have dropped their copies since: a change that moves
 * blocks must then be fenced, or they would write where an agent holding an older table, still
 * within its lease, does not read.
 */
const possibleHolders = (s: Working, d: { readonly agents: ReadonlyArray<string>; readonly dropping: ReadonlyArray<string>; readonly frozenBy: number | null }): number => {
  const deletion = d.frozenBy === null ? undefined : s.jobs.peek(d.frozenBy);
  if (deletion?.kind !== 'delete') return d.agents.length + d.dropping.length;
  return holderSet(s, d).size;
};

/** The agents {@link possibleHolders} counts. */
const holderSet = (s: Working, d: { readonly agents: ReadonlyArray<string>; readonly dropping: ReadonlyArray<string>; readonly frozenBy: number | null }): Set<string> => {
  const deletion = d.frozenBy === null ? undefined : s.jobs.peek(d.frozenBy);
  return new Set([...d.agents, ...d.dropping, ...(deletion?.kind === 'delete' ? deletion.attached : [])]);
};

/**
 * Every change of a disk's working table goes through here: chunks shared with a snapshot that
 * the disk stops holding hand their references over to per-extent counts (refcounts.ts).
 */
export const setWorking = (s: Working, d: { working: MappingTable }, table: MappingTable): void => {
  s.refs = R.retireChunks(s.refs, d.working, table);
  d.working = table;
};

/**
 * The generation of the batch now staging for a disk: one above what is committed or persisting,
 * or higher when {@link raiseGeneration} raised it.
 */
export const nextGeneration = (d: { readonly persisting: number | null; readonly committed: MappingTable; readonly working: MappingTable }): number =>
  Math.max((d.persisting ?? d.committed.generation) + 1, d.working.generation);

/**
 * Generations an agent may name for a disk stay below this (2^48, written as a literal so that
 * bundlers can drop it): a disk never reaches it by commits, and a raise above a peer's claim must
 * leave room to count on.
 */
export const GENERATION_LIMIT = 281_474_976_710_656;

/**
 * Moves `disk` above `generation` without changing an entry, unless a commit above it is already
 * staged or on its way: an agent that dropped the disk at `generation` refuses tables at or below
 * it (docs/design.md#ordering-rules), so an agent attached again needs a newer one.
 */
export const raiseGeneration = (s: Working, out: ControllerCommand[], disk: DiskId, generation: number): void => {
  const d = s.disks.get(disk)!;
  if (d.working.generation > generation) return;
  setWorking(s, d, unwrap(setEntries(d.working, [], { generation: generation + 1 }), 'setEntries'));
  d.staged = { ...(d.staged ?? { created: false }), changes: new Map(d.staged?.changes ?? []) };
  flush(s, out);
};

/**
 * The disk's attachments (and the agents still dropping it) go to the store with the next batch,
 * now if none is in flight. A deleted disk's go with its `deleteTable`.
 */
export const persistAttachments = (s: Working, out: ControllerCommand[], disk: DiskId): void => {
  const d = s.disks.peek(disk);
  if (d === undefined || d.deleted === true) return;
  s.disks.get(disk)!.attachmentsDirty = true;
  flush(s, out);
};

/** The job waits for the batch now staging (what it changed, or an admin change) to be durable. */
export const waitForCommit = (s: Working, out: ControllerCommand[], job: JobDraft): void => {
  s.jobs.setPhase(job, { kind: 'committing', batch: s.stagingBatch });
  flush(s, out);
};

/**
 * Stages a freeze of the job's disk (a snapshot): every located segment becomes `noWrite`, as one
 * flag on the batch's record rather than a change per segment. A freeze moves no block, so it is
 * never fenced. The store applies it before the batch's changes, so changes staged earlier in
 * the batch are frozen too. Returns the frozen working table; the caller then waits for the
 * batch (`waitForCommit`), after staging whatever must join it.
 */
export const stageFreeze = (s: Working, job: JobDraft): MappingTable => {
  const d = s.disks.get(job.disk)!;
  // The snapshot is a new disk, and a new disk starts at or above the floor (its name may have
  // had an earlier life): the source's freeze, which it shares, jumps there.
  const generation = Math.max(nextGeneration(d), s.generationFloor);
  setWorking(s, d, unwrap(freezeTable(d.working, { generation }), 'freezeTable'));
  const staged = new Map(d.staged?.changes ?? []);
  for (const [segment, entry] of staged) if (entry.location !== null && !entry.noWrite) staged.set(segment, { ...entry, noWrite: true });
  d.staged = { ...(d.staged ?? { created: false }), changes: staged, freeze: true };
  return d.working;
};

/** Issues one persist command for everything staged, unless one is already in flight (group commit). */
const flush = (s: Working, out: ControllerCommand[]): void => {
  if (s.persist !== null) return;
  const records: PersistRecord[] = [];
  const commits: [DiskId, MappingTable][] = [];
  const deleted: DiskId[] = [];
  for (const disk of s.disks.keys()) {
    const peeked = s.disks.peek(disk)!;
    if (peeked.deleted === true) {
      // A deleted disk: its record goes with this batch, and the disk is forgotten (jobs/delete.ts).
      // The floor goes with it: a disk created under any name from now on starts above every
      // generation this one reached (agents may still hold it: docs/design.md#ordering-rules).
      s.generationFloor = Math.max(s.generationFloor, peeked.working.generation + 1);
      records.push({ type: 'deleteTable', disk, generationFloor: s.generationFloor });
      deleted.push(disk);
      s.refs = R.retireChunks(s.refs, peeked.working, null); // its job releases every extent it held
      continue;
    }
    if (peeked.staged === null && !peeked.attachmentsDirty) continue;
    const d = s.disks.get(disk)!;
    if (d.staged !== null) {
      const table = d.working as MappingTable;
      if (d.staged.created && isClone(s, d.staged.cloneOf, table)) records.push({ type: 'cloneTable', disk, source: d.staged.cloneOf! });
      else if (d.staged.created) records.push({ type: 'saveTable', disk, table: encodeTable(table) });
      else {
        const changes: EntryChange[] = [...d.staged.changes].map(([segment, entry]) => ({ segment, entry: encodeEntry(entry as MappingEntry) }));
        records.push({
          type: 'updateTable',
          disk,
          fromGeneration: d.committed.generation,
          generation: table.generation,
          ...(d.staged.freeze === true ? { freeze: true as const } : {}),
          ...(d.staged.segmentCount === undefined ? {} : { segmentCount: d.staged.segmentCount }),
          ...(d.staged.segments === undefined ? {} : { segments: d.staged.segments }),
          changes,
        });
      }
      d.persisting = table.generation;
      d.staged = null;
      commits.push([disk, table]);
    }
    if (d.attachmentsDirty) {
      records.push({ type: 'attachments', disk, agents: [...d.agents], ...(d.dropping.length > 0 ? { dropping: [...d.dropping] } : {}) });
      d.attachmentsDirty = false;
    }
  }
  for (const disk of deleted) s.disks.delete(disk);
  if (records.length === 0) return;
  const persistId = newId(s);
  s.persist = { persistId, batch: s.stagingBatch, records, commits, failedAt: null };
  s.stagingBatch += 1;
  out.push({ type: 'persist', persistId, records });
};

/**
 * True when a new disk's table is exactly its source's as this batch leaves it (a snapshot with
 * nothing staged on the source since), so the store can copy it: a `cloneTable` of a few bytes
 * instead of the whole table. The source comes first in the batch (disks flush in creation order).
 */
const isClone = (s: Working, source: DiskId | undefined, table: MappingTable): boolean => {
  if (source === undefined) return false;
  const src = s.disks.peek(source);
  return src !== undefined && src.deleted !== true && src.working === table;
};

/**
 * The segments a committed batch changed. A freeze changed every located segment: that is
 * recorded once, as the disk's `frozenAt`, and only the batch's other changes are listed.
 */
const committedChanges = (d: { frozenAt?: number }, previous: MappingTable, table: MappingTable, record: PersistRecord | undefined): Iterable<number> => {
  if (record?.type === 'updateTable' && record.freeze !== true && record.segments === undefined && record.segmentCount === undefined && previous.segmentBlocks === table.segmentBlocks) {
    // Entry changes only: the table is the committed one with the record's changes, so the
    // segments that differ are among those (a diff would look at every slot of every chunk
    // they touched). Ascending, as a diff lists them.
    const changed: number[] = [];
    for (const c of record.changes) if (!entriesEqual(entryAt(previous, c.segment), entryAt(table, c.segment))) changed.push(c.segment);
    return changed.sort((a, b) => a - b);
  }
  if (record?.type !== 'updateTable' || record.freeze !== true) return diffTables(previous, table);
  d.frozenAt = table.generation;
  const segments = record.changes.map((c) => c.segment);
  for (let seg = Math.min(previous.segmentCount, table.segmentCount); seg < Math.max(previous.segmentCount, table.segmentCount); seg++) segments.push(seg);
  return new Set(segments); // a change staged in the resized range is listed once
};

/** The persist command in flight is durable: commit its tables, and move the jobs that waited for it. */
export const onPersisted = (s: Working, out: ControllerCommand[], persistId: number): void => {
  const p = s.persist;
  if (p === null || p.persistId !== persistId) return; // late answer to an attempt we gave up on
  s.persist = null;
  s.durableBatch = p.batch;
  const updates = new Map<DiskId, PersistRecord>();
  for (const r of p.records) if (r.type === 'updateTable') updates.set(r.disk, r);
  for (const [disk, table] of p.commits) {
    const d = s.disks.get(disk);
    if (d === undefined) continue;
    const previous = d.committed as MappingTable;
    d.committed = table;
    d.persisting = null;
    let changedAt = PersistentMap.from(d.changedAt ?? []);
    if (previous !== table) {
      const segments = [...committedChanges(d, previous, table, updates.get(disk))];
      for (const seg of segments) d.lastChange.set(seg, table.generation);
      changedAt = changedAt.set(table.generation, segments);
    }
    const history = d.history[d.history.length - 1] !== table ? [...d.history, table] : d.history;
    const dropped = history.length > s.config.historyLimit ? history.length - s.config.historyLimit : 0;
    d.history = dropped > 0 ? history.slice(dropped) : history;
    // Only a delta from a table still in history reads it (`changedSegments`, sync.ts): the
    // oldest table is a base, never a change, so its entry goes with the tables before it.
    for (let i = 0; i <= dropped && i < history.length; i++) changedAt = changedAt.delete(history[i]!.generation);
    d.changedAt = changedAt;
  }
  const attached = durablyAttached(s, p.records);
  for (const id of s.jobs.candidates('committing')) {
    const scanned = s.jobs.scanned(id)!;
    if (scanned.phase.kind !== 'committing' || scanned.phase.batch > s.durableBatch) continue;
    const job = s.jobs.get(id)!;
    addStep(job, 570);
    hooksFor(s, job).committed(s, out, job);
  }
  answerAttached(s, out, attached);
  flush(s, out);
};

/**
 * The agents whose attaching record is now durable, by disk: they leave the disk's
 * `attachPending` (they may be given its table from now on; docs/design.md#ordering-rules).
 */
const durablyAttached = (s: Working, records: ReadonlyArray<PersistRecord>): Map<DiskId, AgentId[]> => {
  const attached = new Map<DiskId, AgentId[]>();
  for (const r of records) {
    if (r.type !== 'attachments') continue;
    const pending = s.disks.peek(r.disk)?.attachPending;
    if (pending === undefined) continue;
    const now = pending.filter((a) => r.agents.includes(a));
    if (now.length === 0) continue;
    const left = pending.filter((a) => !r.agents.includes(a));
    s.disks.get(r.disk)!.attachPending = left.length > 0 ? left : undefined;
    attached.set(r.disk, now);
  }
  return attached;
};

/**
 * What the newly durable agents asked for while their record was not durable: a fetch or a
 * no-table fault (a job syncing on the disk waits for them), or a copy they hold lagging behind.
 */
const answerAttached = (s: Working, out: ControllerCommand[], attached: ReadonlyMap<DiskId, ReadonlyArray<AgentId>>): void => {
  for (const [disk, agents] of attached) {
    const d = s.disks.peek(disk);
    if (d === undefined || d.deleted === true) continue;
    for (const a of agents) {
      const v = s.agents.peek(a);
      const c = peekCopy(s, a, disk);
      if (v === undefined || v.epoch < 0 || c === undefined || !d.agents.includes(a)) continue;
      if (!c.mayHold || c.acked < d.committed.generation) catchUp(s, out, a, disk, null);
    }
    recheckDisk(s, out, disk);
  }
};

/** The persist command in flight failed: the next tick after `retryInterval` tries again. */
export const onPersistFailed = (s: Working, persistId: number): void => {
  if (s.persist !== null && s.persist.persistId === persistId) s.persist = { ...s.persist, failedAt: s.now };
};

/** Re-issues a failed persist command under a new id, so that a late answer to the failed attempt is ignored. */
export const retryPersist = (s: Working, out: ControllerCommand[]): void => {
  if (s.persist === null || s.persist.failedAt === null || s.now - s.persist.failedAt < s.config.retryInterval) return;
  s.persist = { ...s.persist, persistId: newId(s), failedAt: null };
  out.push({ type: 'persist', persistId: s.persist.persistId, records: s.persist.records });
};

// Flushing copies before the record that depends on them lives in flushes.ts (grouped flushes).
export { flushCopiesFirst } from './flushes.js';

/**
 * Gives back the extents the job's change stopped using, once every agent has the change. Only
 * ever called after the record that dropped the references is durable (the `committed` hook
 * precedes it), so a reallocated extent is never still referenced by the persistent table.
 */
export const releaseExtents = (s: Working, out: ControllerCommand[], job: JobDraft): void => {
  for (const extent of job.release) {
    const dec = R.decrement(s.refs, extent);
    if (E.isLeft(dec)) continue;
    const [counts, zero] = dec.right;
    s.refs = counts;
    if (zero) releaseOrQuarantine(s, out, extent); // leases.ts: a late write may still land
  }
  job.release = [];
};
