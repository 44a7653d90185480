/**
 * Small things every part of a controller step uses: ids, commands, the extent of a segment,
 * the generation that last changed a segment, and a new disk's record.
 */
import { segmentLengthAt } from '../table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import type { AgentId, ControllerMessage, Step } from '../protocol/messages.js';
import { entryAt, type MappingTable } from '../table/table.js';
import type { Extent } from './allocator.js';
import type { AdminResult, ControllerCommand, DiskState, FaultJob, Job, MarkJob, ZeroJob } from './types.js';
import type { DiskDraft, JobDraft, Working } from './working.js';

/** A disk read without copying it: as it was when the step began, or as edited so far. */
export type DiskView = DiskState | DiskDraft;

/** A fresh id for a job, a copy, a group or a persist command. */
export const newId = (s: Working): number => s.nextId++;

export const unwrap = <A>(e: E.Either<unknown, A>, what: string): A => {
  // Only reached with values the controller built itself; a Left here is a bug, not bad input.
  if (E.isLeft(e)) throw new Error(`vdisk-map controller: internal ${what} failed: ${JSON.stringify(e.left)}`);
  return e.right;
};

/** The whole extent segment `segment`'s primary or alternate occupies: as long as that segment (its own length in a variable table). */
export const segmentExtent = (table: MappingTable, x: { lun: number; start: number }, segment: number): Extent => ({ lun: x.lun, start: x.start, length: segmentLengthAt(table, segment) });

/**
 * The generation that last changed `segment`: what every agent must have before it touches it.
 * A freeze (a snapshot) changed every segment that had a location, without a `lastChange`
 * entry each: such a segment changed at `frozenAt` unless it changed again since.
 */
export const lastChangeOf = (d: DiskView, segment: number): number => {
  const g = d.lastChange.get(segment) ?? d.baseline;
  const f = d.frozenAt;
  const changed = f !== undefined && f > g && segment < d.committed.segmentCount && entryAt(d.committed, segment).location !== null ? f : g;
  // A split or merge renumbered every segment from `reshaped.from` on (jobs/reshape.ts).
  const r = d.reshaped;
  return r !== undefined && segment >= r.from && r.generation > changed ? r.generation : changed;
};

export const send = (out: ControllerCommand[], to: AgentId, message: ControllerMessage, step?: Step): void => {
  out.push(step === undefined ? { type: 'send', to, message } : { type: 'send', to, message, step });
};

export const adminDone = (out: ControllerCommand[], requestId: number, result: AdminResult): void => void out.push({ type: 'adminDone', requestId, result });

/** Records that a job went through `step` (once, in the order first reached). */
export const addStep = (job: JobDraft, step: Step): void => {
  if (!job.path.includes(step)) job.path = [...job.path, step];
};

/** A job that serves one agent's I/O (a fault, a distributed-variant mark, or a whole-segment discard). */
export const servesAgent = (job: Job | JobDraft): job is FaultJob | MarkJob | ZeroJob => job.kind === 'fault' || job.kind === 'mark' || job.kind === 'zero';

/** The faulting agent's epoch has moved on: its I/O is gone, so change nothing for it. */
export const agentRestarted = (s: Working, job: FaultJob | MarkJob | ZeroJob): boolean =>
  (s.agents.peek(job.agent)?.epoch ?? -1) !== job.epoch || s.leases.get(job.agent)?.evictedEpoch === job.epoch; // or evicted (leases.ts)

/** A disk with `table` committed and nothing in flight. */
export const newDiskState = (table: MappingTable, agents: AgentId[]): DiskState => ({
  committed: table,
  working: table,
  persisting: null,
  staged: null,
  history: [table],
  agents,
  lastChange: new Map(),
  baseline: table.generation,
  since: table.generation,
  busy: new Map(),
  queued: new Map(),
  frozenBy: null,
  held: [],
  dropping: [],
  attachmentsDirty: false,
});
