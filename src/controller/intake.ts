/**
 * Messages from agents: validation (agents are peers, not trusted code), epoch fencing (a
 * message from an older life of an agent is refused; a newer epoch means the agent restarted),
 * and one handler per message type.
 */
import * as E from 'fp-ts/lib/Either.js';
import { segmentLengthAt, segmentStartAt } from '../table/segments.js';
import { CowRecords } from '../protocol/copy-on-write.js';
import { readDropMark, type AgentId, type AgentMessage } from '../protocol/messages.js';
import type { MappingTable } from '../table/table.js';
import { newId, send, type DiskView } from './basics.js';
import { adoptLife, onRenewLease, refusedAsEvicted } from './leases.js';
import { GENERATION_LIMIT, persistAttachments, raiseGeneration } from './commit.js';
import { acquire, pokeJob, startJob } from './locks.js';
import { attachPending, deltaMessage, ensureAgent, ensureCopy, forgetDropping, joinHeld, noteNoCopy, onAck, recheckDisk, replaceMessage } from './sync.js';
import { describeValue } from './admin-validation.js';
import { rekeyStale, rekeyStaleZero } from './jobs/reshape.js';
import type { ControllerCommand, CopyView, Job } from './types.js';
import type { AgentDraft, Working } from './working.js';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isGeneration = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= -1;

const FIELDS: Readonly<Record<AgentMessage['type'], ReadonlyArray<string>>> = {
  ioFault: ['agent', 'epoch', 'disk', 'faultId', 'segment', 'op', 'start', 'length', 'reason', 'generation'],
  markBits: ['agent', 'epoch', 'disk', 'faultId', 'segment', 'start', 'length', 'generation'],
  tableAck: ['agent', 'epoch', 'disk', 'generation'],
  fetchTable: ['agent', 'epoch', 'disk', 'generation', 'dropMark'],
  dropped: ['agent', 'epoch', 'disk', 'generation'],
  zeroSegment: ['agent', 'epoch', 'faultId', 'disk', 'segment', 'generation'],
  renewLease: ['agent', 'epoch', 'disk', 'requestedAt', 'holds'],
};

/** Each field of an agent message read once into a plain object, or why it cannot be read. */
const readMessage = (raw: unknown): { readonly m: AgentMessage } | { readonly why: string; readonly copy: AgentMessage } => {
  const m: Record<string, unknown> = {};
  const copy = m as unknown as AgentMessage;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { why: `not a message object: ${describeValue(raw)}`, copy };
  try {
    const type = (raw as Record<string, unknown>).type;
    if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(FIELDS, type)) return { why: `unknown message type ${describeValue(type)}`, copy };
    m.type = type;
    for (const key of FIELDS[type as AgentMessage['type']]) m[key] = (raw as Record<string, unknown>)[key];
  } catch {
    return { why: 'a field could not be read', copy };
  }
  const bad = malformed(copy);
  return bad === null ? { m: copy } : { why: `malformed ${m.type as string}: ${bad}`, copy };
};

/** Why an agent message (a plain copy, its type known) cannot be acted on, or null. */
const malformed = (m: AgentMessage): string | null => {
  if (typeof m.agent !== 'string' || m.agent === '') return `agent must be a non-empty string, got ${describeValue(m.agent)}`;
  if (!isCount(m.epoch)) return `epoch must be a non-negative safe integer, got ${describeValue(m.epoch)}`;
  if (m.type === 'renewLease') return null; // leases.ts reads requestedAt defensively
  if (typeof m.disk !== 'string') return `disk must be a string, got ${describeValue(m.disk)}`;
  if (m.type === 'ioFault' || m.type === 'markBits') {
    if (!isCount(m.faultId)) return `faultId must be a non-negative safe integer, got ${describeValue(m.faultId)}`;
    if (!isGeneration(m.generation)) return `generation must be a safe integer of at least -1, got ${describeValue(m.generation)}`;
    if (!isCount(m.start) || !isCount(m.length) || m.length < 1) return `start and length must be safe integers with length >= 1, got ${describeValue(m.start)} and ${describeValue(m.length)}`;
    if (!(m.segment === -1 || isCount(m.segment))) return `segment must be -1 or a segment number, got ${describeValue(m.segment)}`;
    if (m.type === 'ioFault' && m.op !== 'read' && m.op !== 'write') return `op must be 'read' or 'write', got ${describeValue(m.op)}`;
    if (m.type === 'ioFault' && typeof m.reason !== 'string') return `reason must be a string, got ${describeValue(m.reason)}`;
    return null;
  }
  if (m.type === 'zeroSegment') {
    if (!isCount(m.faultId)) return `faultId must be a non-negative safe integer, got ${describeValue(m.faultId)}`;
    if (!isGeneration(m.generation)) return `generation must be a safe integer of at least -1, got ${describeValue(m.generation)}`;
    return isCount(m.segment) ? null : `segment must be a segment number, got ${describeValue(m.segment)}`;
  }
  if (m.type === 'dropped') {
    if (m.generation === undefined) delete (m as { generation?: number }).generation;
    return m.generation === undefined || isGeneration(m.generation) ? null : `generation must be a safe integer of at least -1 when present, got ${describeValue(m.generation)}`;
  }
  if (m.type === 'tableAck' || m.type === 'fetchTable') {
    if (!isGeneration(m.generation)) return `generation must be a safe integer of at least -1, got ${describeValue(m.generation)}`;
    if (m.type === 'tableAck') return null;
    if (m.dropMark === undefined) delete (m as { dropMark?: number }).dropMark; // an older agent
    const mark = readDropMark(m, GENERATION_LIMIT);
    return E.isLeft(mark) ? mark.left.message : null;
  }
  return null;
};

/** The part of a fault's range outside its segment (or the disk), if any. */
const outsideSegment = (d: DiskView, m: { segment: number; start: number; length: number }): string | null => {
  if (m.segment < 0) return null;
  const t = d.working as MappingTable;
  if (m.segment >= t.segmentCount) return `blocks ${m.start}+${m.length} are not inside segment ${m.segment} of a disk of ${t.segmentCount} segments`;
  const first = segmentStartAt(t, m.segment);
  const blocks = segmentLengthAt(t, m.segment);
  if (m.start < first || m.start + m.length > first + blocks)
    return `blocks ${m.start}+${m.length} are not inside segment ${m.segment} (blocks ${first}+${blocks}) of a disk of ${t.segmentCount} segments`;
  return null;
};

/** A message from an agent: checked, fenced by epoch, then handled by its type. */
export const onMessage = (s: Working, out: ControllerCommand[], raw: AgentMessage): void => {
  const read = readMessage(raw);
  // The refusal carries the plain copy of what could be read, never the hostile original.
  if ('why' in read) return void out.push({ type: 'refused', message: read.copy, why: read.why.startsWith('malformed') ? read.why : `malformed message: ${read.why}` });
  const m = read.m;
  const v = s.agents.get(m.agent);
  if (v === undefined) {
    // Attached to nothing this controller knows (a restarted one knows the agents its store
    // lists): a fault is failed, or the host I/O behind it would wait for ever on a disk it does
    // not map (a detach, then a restart: the attachment sweep of bench/sim-sweep.ts).
    if (m.type === 'ioFault' || m.type === 'markBits' || m.type === 'zeroSegment') send(out, m.agent, { type: 'failIo', epoch: m.epoch, faultId: m.faultId, reason: `agent ${m.agent} does not map disk ${m.disk}` });
    return void out.push({ type: 'refused', message: m, why: `unknown agent ${m.agent}` });
  }
  if (m.epoch < v.epoch) return void out.push({ type: 'refused', message: m, why: `stale epoch ${m.epoch} < ${v.epoch}` });
  adoptLife(s, m.agent, m.epoch); // leases.ts: a life heard from is evicted in time
  if (refusedAsEvicted(s, out, m)) return; // leases.ts
  if (m.epoch > v.epoch) newLife(s, out, m.agent, m.epoch);
  switch (m.type) {
    case 'renewLease':
      return onRenewLease(s, out, m);
    case 'ioFault':
    case 'markBits':
      return onFault(s, out, m);
    case 'tableAck':
      return onTableAck(s, out, m);
    case 'fetchTable':
      return onFetchTable(s, out, m);
    case 'dropped':
      return onDropped(s, out, m, v);
    case 'zeroSegment':
      return onZeroSegment(s, out, m);
  }
};

/** A whole-segment discard or write-zeroes: a zero job (`jobs/zero.ts`), queued like a fault. */
const onZeroSegment = (s: Working, out: ControllerCommand[], sent: Extract<AgentMessage, { type: 'zeroSegment' }>): void => {
  const key = `${sent.agent}/${sent.epoch}/${sent.faultId}`;
  if (s.faultIndex.has(key)) return; // a re-sent duplicate of a request already in hand
  const d = s.disks.peek(sent.disk);
  // From a copy older than a merge, past the end now: stale on the last segment (jobs/reshape.ts).
  const m = (d !== undefined && rekeyStaleZero(d, sent)) || sent;
  const why =
    d === undefined ? `unknown disk ${m.disk}`
    : !d.agents.includes(m.agent) ? `agent ${m.agent} does not map disk ${m.disk}`
    : m.segment >= d.working.segmentCount ? `segment ${m.segment} is not a segment of disk ${m.disk} (0..${d.working.segmentCount - 1})`
    : null;
  if (why !== null) {
    send(out, m.agent, { type: 'failIo', epoch: m.epoch, faultId: m.faultId, reason: why });
    out.push({ type: 'resolved', agent: m.agent, faultId: m.faultId, disk: m.disk, segment: m.segment, reason: 'zero-segment', outcome: 'failed', path: [], detail: why });
    return;
  }
  const id = newId(s);
  s.jobs.put(id, { id, kind: 'zero', disk: m.disk, phase: { kind: 'queued' }, path: [], release: [], agent: m.agent, epoch: m.epoch, faultId: m.faultId, segment: m.segment, generation: m.generation });
  s.faultIndex.set(key, id);
  if (d!.frozenBy !== null) {
    const edited = s.disks.get(m.disk)!;
    edited.held = [...edited.held, id];
    return;
  }
  acquire(s, out, id);
};

/** The phase and the decision every new fault or mark job starts with (records are never changed in place). */
const QUEUED = /* @__PURE__ */ Object.freeze({ kind: 'queued' as const });
const RETRY = /* @__PURE__ */ Object.freeze({ type: 'retry' as const });

/** An I/O fault or a mark: a job, queued behind its segment's lock (or held while the disk is frozen). */
const onFault = (s: Working, out: ControllerCommand[], sent: Extract<AgentMessage, { type: 'ioFault' | 'markBits' }>): void => {
  // From a copy older than a split or merge: filed by its first block under today's numbers.
  const peeked = s.disks.peek(sent.disk);
  const m = (peeked !== undefined && sent.segment >= 0 && rekeyStale(peeked, sent)) || sent;
  const reused = epochReused(s, m);
  if (reused !== null) {
    send(out, m.agent, { type: 'failIo', epoch: m.epoch, faultId: m.faultId, reason: reused });
    out.push({ type: 'refused', message: m, why: reused });
    return;
  }
  const key = `${m.agent}/${m.epoch}/${m.faultId}`;
  // Flow control (docs/design.md#leases-and-liveness): say it is in hand, so the agent stops re-sending.
  if (s.faultIndex.has(key)) return send(out, m.agent, { type: 'faultAccepted', epoch: m.epoch, faultId: m.faultId }); // a re-sent duplicate
  const d = s.disks.peek(m.disk);
  const attached = d !== undefined && d.agents.includes(m.agent);
  const outside = d === undefined ? null : outsideSegment(d, m);
  if (!attached || outside !== null) {
    const why = d === undefined ? `unknown disk ${m.disk}` : !attached ? `agent ${m.agent} does not map disk ${m.disk}` : outside!;
    send(out, m.agent, { type: 'failIo', epoch: m.epoch, faultId: m.faultId, reason: why });
    out.push({ type: 'resolved', agent: m.agent, faultId: m.faultId, disk: m.disk, segment: m.segment, reason: m.type === 'markBits' ? 'mark' : m.reason, outcome: 'failed', path: [], detail: why });
    return;
  }
  const id = newId(s);
  // Written out field by field (no spread of a shared part): one object per fault, of one shape per kind.
  const job: Job =
    m.type === 'ioFault'
      ? { id, disk: m.disk, phase: QUEUED, path: [], release: [], agent: m.agent, epoch: m.epoch, faultId: m.faultId, segment: m.segment, start: m.start, length: m.length, generation: m.generation, then: RETRY, kind: 'fault', op: m.op, reason: m.reason }
      : { id, disk: m.disk, phase: QUEUED, path: [], release: [], agent: m.agent, epoch: m.epoch, faultId: m.faultId, segment: m.segment, start: m.start, length: m.length, generation: m.generation, then: RETRY, kind: 'mark' };
  s.jobs.put(id, job);
  s.faultIndex.set(key, id);
  if (m.segment < 0) startJob(s, out, id); // no copy at all: nothing to lock
  else if (d!.frozenBy !== null) {
    const edited = s.disks.get(m.disk)!;
    edited.held = [...edited.held, id];
  } else acquire(s, out, id);
  // Still in hand after this step: say so, so the agent stops re-sending it at its backoff rate.
  if (s.jobs.peek(id) !== undefined) send(out, m.agent, { type: 'faultAccepted', epoch: m.epoch, faultId: m.faultId });
};

/**
 * Why a fault proves that two lives of the agent share its epoch, or null. Within one life a copy
 * of a disk, once held, stays until the agent drops it (and `dropped` forgets the record), and
 * fault ids only grow: so a fault without a copy whose id is above that of a fault that came
 * with one is from another life (an agent restarted with an epoch it had used). Also notes the
 * faults that come with a copy.
 */
const epochReused = (s: Working, m: Extract<AgentMessage, { type: 'ioFault' | 'markBits' }>): string | null => {
  const d = s.disks.peek(m.disk);
  if (d === undefined || !d.agents.includes(m.agent) || d.dropping.includes(m.agent)) return null;
  const v = s.agents.peek(m.agent);
  const held: CopyView | undefined = v === undefined ? undefined : v.copies instanceof CowRecords ? v.copies.peek(m.disk) : v.copies.get(m.disk);
  if (held === undefined) return null;
  const seen = held.faultWithCopy ?? -1;
  if (m.generation >= 0 && seen >= 0) return null;
  const c = s.agents.get(m.agent)!.copies.get(m.disk)!;
  if (m.generation >= 0) {
    // One witness per copy is enough (the first): later faults then need not touch the record.
    if (seen < 0) c.faultWithCopy = m.faultId;
    return null;
  }
  if (seen < 0 || m.faultId <= seen) return null;
  return `epoch ${m.epoch} of agent ${m.agent} is used by two lives: fault ${seen} came with a copy of disk ${m.disk}, fault ${m.faultId} without one; restart the agent with an epoch it has never used`;
};

const onTableAck = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'tableAck' }>): void => {
  const d = s.disks.peek(m.disk);
  const c = s.agents.get(m.agent)?.copies.get(m.disk);
  if (c === undefined || d === undefined) return;
  // Only what this disk committed can be acknowledged: anything above is another table (an
  // earlier life of the disk's name, or a bad peer), and counting it would release jobs and the
  // restart hold for a table the agent does not hold.
  if (m.generation > d.committed.generation)
    return void out.push({ type: 'refused', message: m, why: `generation ${m.generation} was never committed for disk ${m.disk} (committed: ${d.committed.generation})` });
  // Below the generation this controller first knew the disk at, an acknowledgement releases
  // nothing (every job here waits for a later one), and it may be of a table of an earlier life
  // of the name (the floor put every generation of this life above the earlier ones): not
  // counted, so the agent gets the whole current table rather than a delta. It does show that
  // the agent holds some table of the name: jobs wait for it until it acknowledges a current one.
  if (m.generation < (d.since ?? -1)) {
    out.push({ type: 'refused', message: m, why: `generation ${m.generation} is older than generation ${d.since!} this controller first knew disk ${m.disk} at` });
    if (!c.mayHold) {
      c.mayHold = true;
      recheckDisk(s, out, m.disk);
    }
    return;
  }
  const before = c.acked;
  c.acked = Math.max(c.acked, m.generation);
  c.mayHold = true;
  onAck(s, out, m.agent, m.disk, before, c.acked);
};

/** 580: the agent pulls what it lacks, as a delta from its generation when history reaches back that far. */
const onFetchTable = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'fetchTable' }>): void => {
  const d = s.disks.peek(m.disk);
  // Only attached agents: an agent told to drop its copy that fetches (it dropped, then got a
  // late change) would get a copy back that nobody tracks once its `dropped` arrives, and that
  // could outlive the disk (a deletion) or its attachment. It answers the re-sent dropTable instead.
  if (d === undefined || !d.agents.includes(m.agent)) return void out.push({ type: 'refused', message: m, why: `agent ${m.agent} does not map disk ${m.disk}` });
  // It holds no copy: its word may exempt it from the wait of others (noteNoCopy); it waits
  // while a holder lags behind an unfenced change (joinHeld, sync.ts), and is sent the table when
  // that lifts.
  if (m.generation < 0) noteNoCopy(s, out, m.agent, m.disk, m.dropMark);
  // Attached in memory only: answered once the record that attaches it is durable (`onPersisted`,
  // commit.ts). A copy it says it holds (attached again before dropping) is waited for meanwhile.
  if (attachPending(d, m.agent)) {
    const held = ensureCopy(s, m.agent, m.disk, m.generation >= 0);
    if (m.generation >= 0 && !held.mayHold) {
      held.mayHold = true;
      recheckDisk(s, out, m.disk);
    }
    return;
  }
  if (m.generation < 0 && joinHeld(s, m.disk, m.agent)) return void ensureCopy(s, m.agent, m.disk, false);
  const c = ensureCopy(s, m.agent, m.disk, true);
  c.mayHold = true;
  c.sentAt = s.now;
  c.sentGeneration = d.committed.generation;
  const delta = m.generation >= 0 ? deltaMessage(s, m.disk, m.generation, m.epoch) : null;
  send(out, m.agent, delta ?? replaceMessage(s, m.disk, m.epoch), 580);
};

/**
 * The agent dropped its copy of a disk it was detached from; or it is attached (again) and
 * refused a table sent before it dropped the disk at `generation`: it needs a newer one.
 */
const onDropped = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'dropped' }>, v: AgentDraft): void => {
  const d = s.disks.peek(m.disk);
  if (d !== undefined && d.agents.includes(m.agent) && !d.dropping.includes(m.agent)) {
    // What is known of its copy stays: a late `dropped` must not make it look empty while it
    // holds a table. It gets one above the drop (raised now if none is on its way), by the next
    // re-send or fault. Also while the disk is frozen: a snapshot or rollback waits for its
    // acknowledgement.
    if (m.generation !== undefined && m.generation >= GENERATION_LIMIT)
      return void out.push({ type: 'refused', message: m, why: `generation ${m.generation} is past any generation a disk can reach (${GENERATION_LIMIT})` });
    if (m.generation !== undefined && d.deleted !== true) raiseGeneration(s, out, m.disk, m.generation);
    return;
  }
  if (d !== undefined && d.dropping.includes(m.agent)) {
    s.disks.get(m.disk)!.dropping = d.dropping.filter((a) => a !== m.agent);
    // The store lists it as dropping (a plain detach); a deletion's list lives in memory only.
    if (!(d.frozenBy !== null && s.jobs.peek(d.frozenBy)?.kind === 'delete')) persistAttachments(s, out, m.disk);
  }
  v.copies.delete(m.disk);
  recheckDisk(s, out, m.disk);
  // A deletion waits for the last copy to be dropped.
  if (d !== undefined && d.frozenBy !== null) pokeJob(s, out, d.frozenBy);
};

/** An agent restarted: its old copies and its old faults are gone. */
const newLife = (s: Working, out: ControllerCommand[], agent: AgentId, epoch: number): void => {
  const v = ensureAgent(s, agent);
  const known = v.epoch >= 0;
  v.epoch = epoch;
  // After a controller restart (epoch -1) we cannot tell a new life from the old one.
  if (known) for (const disk of v.copies.keys()) Object.assign(v.copies.get(disk)!, { acked: -1, mayHold: false, sentAt: -Infinity, sentGeneration: -1, faultWithCopy: -1, noneBelow: undefined });
  if (known) forgetDropping(s, out, agent); // the new life holds no copy to drop
  for (const disk of v.copies.keys()) recheckDisk(s, out, disk);
};
