/**
 * Messages from agents: validation (agents are peers, not trusted code), epoch fencing (a
 * message from an older life of an agent is refused; a newer epoch means the agent restarted),
 * and one handler per message type.
 */
import type { AgentId, AgentMessage, Step } from '../protocol/messages.js';
import type { MappingTable } from '../table/table.js';
import type { Extent } from './allocator.js';
import { newId, send, type DiskView } from './basics.js';
import { onRenewLease, refusedAsEvicted } from './leases.js';
import { acquire, pokeJob, startJob } from './locks.js';
import { deltaMessage, ensureAgent, ensureCopy, onAck, recheckDisk, replaceMessage } from './sync.js';
import type { ControllerCommand, Job } from './types.js';
import type { AgentDraft, Working } from './working.js';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isGeneration = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= -1;

/** Why an agent message cannot be acted on, or null. */
const malformed = (m: AgentMessage): string | null => {
  if (typeof m !== 'object' || m === null) return 'not an object';
  if (typeof m.agent !== 'string' || m.agent === '') return `agent must be a non-empty string, got ${JSON.stringify(m.agent)}`;
  if (!isCount(m.epoch)) return `epoch must be a non-negative safe integer, got ${JSON.stringify(m.epoch)}`;
  if (m.type === 'renewLease') return null; // leases.ts reads requestedAt defensively
  if (typeof m.disk !== 'string') return `disk must be a string, got ${JSON.stringify(m.disk)}`;
  if (m.type === 'ioFault' || m.type === 'markBits') {
    if (!isCount(m.faultId)) return `faultId must be a non-negative safe integer, got ${JSON.stringify(m.faultId)}`;
    if (!isGeneration(m.generation)) return `generation must be a safe integer of at least -1, got ${JSON.stringify(m.generation)}`;
    if (!isCount(m.start) || !isCount(m.length) || m.length < 1) return `start and length must be safe integers with length >= 1, got ${JSON.stringify([m.start, m.length])}`;
    if (!(m.segment === -1 || isCount(m.segment))) return `segment must be -1 or a segment number, got ${JSON.stringify(m.segment)}`;
    if (m.type === 'ioFault' && m.op !== 'read' && m.op !== 'write') return `op must be 'read' or 'write', got ${JSON.stringify(m.op)}`;
    return null;
  }
  if (m.type === 'zeroSegment') {
    if (!isCount(m.faultId)) return `faultId must be a non-negative safe integer, got ${JSON.stringify(m.faultId)}`;
    if (!isGeneration(m.generation)) return `generation must be a safe integer of at least -1, got ${JSON.stringify(m.generation)}`;
    return isCount(m.segment) ? null : `segment must be a segment number, got ${JSON.stringify(m.segment)}`;
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

/** A message from an agent: checked, fenced by epoch, then handled by its type. */
export const onMessage = (s: Working, out: ControllerCommand[], m: AgentMessage): void => {
  const bad = malformed(m);
  if (bad !== null) return void out.push({ type: 'refused', message: m, why: `malformed ${(m as { type?: unknown } | null)?.type ?? 'message'}: ${bad}` });
  const v = s.agents.get(m.agent);
  if (v === undefined) return void out.push({ type: 'refused', message: m, why: `unknown agent ${m.agent}` });
  if (m.epoch < v.epoch) return void out.push({ type: 'refused', message: m, why: `stale epoch ${m.epoch} < ${v.epoch}` });
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
const onZeroSegment = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'zeroSegment' }>): void => {
  const key = `${m.agent}/${m.epoch}/${m.faultId}`;
  if (s.faultIndex.has(key)) return; // a re-sent duplicate of a request already in hand
  const d = s.disks.peek(m.disk);
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

/** An I/O fault or a mark: a job, queued behind its segment's lock (or held while the disk is frozen). */
const onFault = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'ioFault' | 'markBits' }>): void => {
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
  const base = { id, disk: m.disk, phase: { kind: 'queued' as const }, path: [] as Step[], release: [] as Extent[], agent: m.agent, epoch: m.epoch, faultId: m.faultId, segment: m.segment, start: m.start, length: m.length, generation: m.generation, then: { type: 'retry' as const } };
  const job: Job = m.type === 'ioFault' ? { ...base, kind: 'fault', op: m.op, reason: m.reason } : { ...base, kind: 'mark' };
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

const onTableAck = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'tableAck' }>): void => {
  const c = s.agents.get(m.agent)?.copies.get(m.disk);
  if (c === undefined || s.disks.peek(m.disk) === undefined) return;
  c.acked = Math.max(c.acked, m.generation);
  c.mayHold = true;
  onAck(s, out, m.agent, m.disk, c.acked);
};

/** 580: the agent pulls what it lacks, as a delta from its generation when history reaches back that far. */
const onFetchTable = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'fetchTable' }>): void => {
  const d = s.disks.peek(m.disk);
  // Only attached agents: an agent told to drop its copy that fetches (it dropped, then got a
  // late change) would get a copy back that nobody tracks once its `dropped` arrives, and that
  // could outlive the disk (a deletion) or its attachment. It answers the re-sent dropTable instead.
  if (d === undefined || !d.agents.includes(m.agent)) return void out.push({ type: 'refused', message: m, why: `agent ${m.agent} does not map disk ${m.disk}` });
  const c = ensureCopy(s, m.agent, m.disk, true);
  c.mayHold = true;
  c.sentAt = s.now;
  c.sentGeneration = d.committed.generation;
  const delta = m.generation >= 0 ? deltaMessage(s, m.disk, m.generation, m.epoch) : null;
  send(out, m.agent, delta ?? replaceMessage(s, m.disk, m.epoch), 580);
};

/** The agent dropped its copy of a disk it was detached from. */
const onDropped = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'dropped' }>, v: AgentDraft): void => {
  const d = s.disks.peek(m.disk);
  if (d !== undefined) s.disks.get(m.disk)!.dropping = d.dropping.filter((a) => a !== m.agent);
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
  if (known) for (const disk of v.copies.keys()) Object.assign(v.copies.get(disk)!, { acked: -1, mayHold: false, sentAt: -Infinity, sentGeneration: -1 });
  for (const disk of v.copies.keys()) recheckDisk(s, out, disk);
};
