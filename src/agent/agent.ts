/**
 * The mapping agent as a pure state machine: `agentStep(state, event) -> [state, commands]`.
 *
 * The agent translates host I/O through its volatile copies of the tables and never blocks: what
 * it cannot finish it parks behind one outstanding fault per segment and leaves to the
 * controller (docs/design.md#fault-resolution), which answers with table changes and then
 * `retry`, `failIo` or (distributed variant) `confirmMark`. Its copy of a table only ever
 * changes by the controller's messages, so it always equals some controller generation.
 *
 * Restart: the machine has no restart event. The runtime throws the state away and starts a new
 * life with `initialAgentState({ ...config, epoch: newEpoch })`, a higher epoch than any before.
 * The new life holds no tables, so its first I/O faults and fetches them; the controller fences
 * messages of the old epoch, and the agent ignores controller messages meant for another life.
 */
import * as E from 'fp-ts/lib/Either.js';
import { isBlockNumber, show, thrownReason, validationError, type ValidationError } from '../errors.js';
import { configErrors, DEFAULT_AGENT_LIMITS, limitsOf } from './config.js';
import { CowMap } from '../protocol/copy-on-write.js';
import { decodeSharedEntry, decodeSharedTable } from '../protocol/shared-documents.js';
import type {
  AgentMessage,
  ConfirmMarkMessage,
  ControllerMessage,
  DiskId,
  FailIoMessage,
  IoFaultMessage,
  MarkBitsMessage,
  ZeroSegmentMessage,
  ReplaceTableMessage,
  RetryMessage,
  SetEntriesMessage,
} from '../protocol/messages.js';
import { readControllerMessage } from '../protocol/messages.js';
import type { MappingEntry } from '../table/entry.js';
import { diffTables, entryAt, resizeTable, setEntries, type MappingTable } from '../table/table.js';
import {
  PieceBuffer,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_OK,
  piecesOf,
  translateInto,
  type FaultReason,
  type Piece,
} from '../translate/translate.js';
import { acceptedRecheck, retryDelay } from './backoff.js';
import { granted, holdsLease, initialLease, renewalDue, type AgentLease } from './lease.js';
import type { AgentCommand, AgentConfig, AgentEvent, AgentState, DiskCopy, HostRequest, IoState, MarkSpan, Outstanding, PendingFlush } from './types.js';

export { DEFAULT_AGENT_LIMITS } from './config.js';
export type {
  AgentCommand,
  AgentConfig,
  AgentEvent,
  AgentLimits,
  AgentState,
  DiskCopy,
  HostOp,
  HostRequest,
  IoState,
  MarkSpan,
  Outstanding,
  PendingAck,
  PendingFlush,
} from './types.js';


/** Reused by every translation: the agent's fast path allocates only the pieces it issues. */
const scratch = /* @__PURE__ */ new PieceBuffer(64);

const REASONS: Record<number, FaultReason> = { [REASON_INVALID]: 'invalid', [REASON_NO_WRITE]: 'no-write', [REASON_ZERO]: 'zero' };

/** Segments as half-open ranges `[from, to)`. */
type Ranges = ReadonlyArray<readonly [number, number]>;

/**
 * The key of a (disk, segment) pair in `AgentState.faultsBySegment`; segment -1 stands for the
 * whole disk while the agent has no table for it.
 *
 * @example
 * segmentKey('d', 2) // '2:d'
 */
export const segmentKey = (disk: DiskId, segment: number): string => `${segment}:${disk}`;

/**
 * A new life of an agent from a config that comes from outside: validates every field (the
 * variant, the epoch, the timeout, the limits) and answers the state of
 * {@link initialAgentState}, or the errors naming each bad field and its value. Never throws.
 *
 * @example
 * createAgentState({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100 }) // Right(state)
 * createAgentState({ agent: 'a1', epoch: 1, variant: 'bogus', faultTimeout: 100 } as never) // Left([{ field: 'variant', ... }])
 */
export const createAgentState = (config: AgentConfig): E.Either<ValidationError[], AgentState> => {
  try {
    const read = configErrors(config);
    return read.config === undefined ? E.left(read.errors) : E.right(initialAgentState(read.config));
  } catch (thrown) {
    return E.left([{ field: 'config', value: undefined, message: `config could not be read (${thrownReason(thrown)})` }]);
  }
};

/**
 * A new life of an agent: no tables, so every I/O faults until the controller answers. Takes the
 * config as given (a program's own constant); use {@link createAgentState} for one that comes
 * from outside.
 *
 * @example
 * const state = initialAgentState({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100 });
 */
export const initialAgentState = (config: AgentConfig): AgentState => ({
  config,
  now: 0,
  nextFaultId: 1,
  disks: new Map(),
  ios: new Map(),
  outstanding: new Map(),
  faultsBySegment: new Map(),
  lease: initialLease(config),
  dirty: new Map(),
  flushes: new Map(),
  lost: new Map(),
});

/**
 * The epoch the agent lives in now: its configuration's, or higher after evictions.
 *
 * @example
 * agentEpoch(initialAgentState(config)) // config.epoch
 */
export const agentEpoch = (state: AgentState): number => state.config.epoch;

/**
 * The agent's copy of `disk`'s table, if it holds one.
 *
 * @example
 * agentTable(state, 'd')?.generation // 4
 */
export const agentTable = (state: AgentState, disk: DiskId): MappingTable | undefined => state.disks.get(disk)?.table;

/**
 * How many host I/Os are parked behind a fault or mark.
 *
 * @example
 * agentParkedCount(initialAgentState(config)) // 0
 */
export const agentParkedCount = (state: AgentState): number => {
  let n = 0;
  for (const io of state.ios.values()) if (io.status === 'parked') n++;
  return n;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Why a host request is malformed, or `[]`. */
const requestErrors = (e: { disk: unknown; op: unknown; start: unknown; length: unknown }): ValidationError[] => {
  const errors: ValidationError[] = [];
  if (typeof e.disk !== 'string') errors.push(validationError('disk', e.disk, 'must be a string'));
  if (e.op !== 'read' && e.op !== 'write' && e.op !== 'zero') errors.push(validationError('op', e.op, "must be 'read', 'write' or 'zero'"));
  else if (e.op === 'zero' && e.length === 0) errors.push(validationError('length', e.length, 'must be at least 1 for a discard or write-zeroes'));
  if (!(Number.isSafeInteger(e.start) && (e.start as number) >= 0)) errors.push(validationError('start', e.start, 'must be a non-negative safe integer'));
  if (!(Number.isSafeInteger(e.length) && (e.length as number) >= 0))
    errors.push(validationError('length', e.length, 'must be a non-negative safe integer'));
  return errors;
};

/** The marked virtual blocks of each segment: from the first marked block to the end of the last. */
const markSpans = (pieces: ReadonlyArray<Piece>, segmentBlocks: number): MarkSpan[] => {
  const spans: MarkSpan[] = [];
  for (const p of pieces) {
    if (p.marksAlternate !== true) continue;
    const end = p.virtualStart + p.length;
    let v = p.virtualStart;
    while (v < end) {
      const segment = Math.floor(v / segmentBlocks);
      const segmentEnd = Math.min(end, (segment + 1) * segmentBlocks);
      const last = spans[spans.length - 1];
      // Pieces ascend, so a segment's marks are adjacent in this list; unmarked blocks between
      // two marked runs of a segment are already at the alternate, so the span marks nothing extra.
      if (last !== undefined && last.segment === segment) spans[spans.length - 1] = { segment, start: last.start, length: segmentEnd - last.start };
      else spans.push({ segment, start: v, length: segmentEnd - v });
      v = segmentEnd;
    }
  }
  return spans;
};

/** The LUNs a write's pieces go to, ascending (docs/design.md#ordering-rules: what its flush covers). */
const lunsOf = (pieces: ReadonlyArray<Piece>): number[] => {
  const luns = new Set<number>();
  for (const p of pieces) if (p.lun !== undefined) luns.add(p.lun);
  return [...luns].sort((a, b) => a - b);
};

/** Ascending segments as ranges, merging neighbours. */
const toRanges = (segments: ReadonlyArray<number>): Ranges => {
  const out: [number, number][] = [];
  for (const s of segments) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === s) last[1] = s + 1;
    else out.push([s, s + 1]);
  }
  return out;
};

/**
 * One step's working view of the state and the commands it has produced so far. Records are
 * never changed in place: each write puts a new record into a copy-on-write map, so the state
 * the step was given stays as it was.
 */
class Stepper {
  readonly commands: AgentCommand[] = [];
  private config: AgentConfig;
  private lease: AgentLease | null;
  private now: number;
  private nextFaultId: number;
  private readonly disks: CowMap<DiskId, DiskCopy>;
  private readonly ios: CowMap<number, IoState>;
  private readonly outstanding: CowMap<number, Outstanding>;
  private readonly faultsBySegment: CowMap<string, ReadonlyArray<number>>;
  private fenced: string | undefined;
  private controllerEpoch: number;
  private readonly dirty: CowMap<DiskId, ReadonlyArray<number>>;
  private readonly flushes: CowMap<number, PendingFlush>;
  private readonly lost: CowMap<DiskId, true>;

  constructor(private readonly base: AgentState) {
    this.config = base.config;
    this.lease = base.lease;
    this.fenced = base.fenced;
    this.controllerEpoch = base.controllerEpoch ?? 0;
    this.now = base.now;
    this.nextFaultId = base.nextFaultId;
    this.disks = new CowMap(base.disks);
    this.ios = new CowMap(base.ios);
    this.outstanding = new CowMap(base.outstanding);
    this.faultsBySegment = new CowMap(base.faultsBySegment);
    this.dirty = new CowMap(base.dirty);
    this.flushes = new CowMap(base.flushes);
    this.lost = new CowMap(base.lost);
  }

  /** The next state: the given one itself when the step changed nothing. */
  result(): AgentState {
    const b = this.base;
    if (
      this.now === b.now &&
      this.nextFaultId === b.nextFaultId &&
      this.fenced === b.fenced &&
      this.controllerEpoch === (b.controllerEpoch ?? 0) &&
      this.lease === b.lease &&
      this.config === b.config &&
      !this.disks.changed &&
      !this.ios.changed &&
      !this.outstanding.changed &&
      !this.faultsBySegment.changed &&
      !this.dirty.changed &&
      !this.flushes.changed &&
      !this.lost.changed
    )
      return b;
    const next: AgentState = {
      config: this.config,
      lease: this.lease,
      now: this.now,
      nextFaultId: this.nextFaultId,
      disks: this.disks.result(),
      ios: this.ios.result(),
      outstanding: this.outstanding.result(),
      faultsBySegment: this.faultsBySegment.result(),
      dirty: this.dirty.result(),
      flushes: this.flushes.result(),
      lost: this.lost.result(),
    };
    const epoched = this.controllerEpoch === 0 ? next : { ...next, controllerEpoch: this.controllerEpoch };
    return this.fenced === undefined ? epoched : { ...epoched, fenced: this.fenced };
  }

  /** Records that `event` was refused and changed nothing. */
  refuse(event: unknown, why: string): void {
    this.commands.push({ type: 'refused', event, why });
  }

  /**
   * This life must stop serving I/O (see `AgentState.fenced`): every host I/O not at storage
   * fails now, those at storage fail when they come back, and the tables and outstanding faults
   * are dropped, so that nothing more is translated through a copy another life may have changed.
   */
  private fence(event: unknown, why: string): void {
    if (this.fenced !== undefined) return;
    this.fenced = why;
    this.refuse(event, why);
    const open: number[] = [];
    for (const [id, io] of this.ios.current) if (io.status !== 'inFlight') open.push(id);
    for (const id of open) this.fail(id, why);
    for (const id of [...this.outstanding.current.keys()]) this.outstanding.delete(id);
    for (const key of [...this.faultsBySegment.current.keys()]) this.faultsBySegment.delete(key);
    for (const disk of [...this.disks.current.keys()]) this.disks.delete(disk);
  }

  // --- commands -------------------------------------------------------------------------------

  private send(message: AgentMessage): void {
    this.commands.push({ type: 'send', message });
  }

  private complete(ioId: number): void {
    this.ios.delete(ioId);
    this.commands.push({ type: 'completeIo', ioId });
  }

  private fail(ioId: number, reason: string): void {
    const io = this.ios.get(ioId);
    if (io?.status === 'parked') {
      const o = this.outstanding.get(io.behind);
      if (o !== undefined) this.outstanding.set(io.behind, { ...o, waiting: o.waiting.filter((id) => id !== ioId) });
    }
    this.ios.delete(ioId);
    this.commands.push({ type: 'failIo', ioId, reason });
  }

  // --- faults and marks -------------------------------------------------------------------------

  /** Records and sends a fault or mark with a fresh id. */
  private raise(message: Omit<IoFaultMessage, 'faultId'> | Omit<MarkBitsMessage, 'faultId'> | Omit<ZeroSegmentMessage, 'faultId'>, origin: number): number {
    const faultId = this.nextFaultId++;
    const full = { ...message, faultId } as IoFaultMessage | MarkBitsMessage | ZeroSegmentMessage;
    this.outstanding.set(faultId, { message: full, origin, sentAt: this.now, dueAt: this.now + retryDelay(this.config, faultId, 0), attempts: 0, accepted: false, waiting: [] });
    const key = segmentKey(full.disk, full.segment);
    this.faultsBySegment.set(key, [...(this.faultsBySegment.get(key) ?? []), faultId]);
    if (full.type === 'ioFault' && full.op === 'write') this.unsent.set(faultId, this.commands.length);
    this.send(full);
    return faultId;
  }

  private raiseFault(req: HostRequest, segment: number, reason: FaultReason, start: number, length: number, generation: number): number {
    const { agent, epoch } = this.config;
    return this.raise(
      // The partly covered segments of a `zero` request are written (as zeros) through the write path.
      { type: 'ioFault', agent, epoch, disk: req.disk, segment, op: req.op === 'zero' ? 'write' : req.op, start, length, reason, generation },
      req.ioId,
    );
  }

  /** Forgets an outstanding fault or mark and returns it. */
  private clear(faultId: number): Outstanding {
    const o = this.outstanding.get(faultId)!;
    this.outstanding.delete(faultId);
    const key = segmentKey(o.message.disk, o.message.segment);
    const rest = (this.faultsBySegment.get(key) ?? []).filter((id) => id !== faultId);
    if (rest.length > 0) this.faultsBySegment.set(key, rest);
    else this.faultsBySegment.delete(key);
    return o;
  }

  private park(req: HostRequest, behind: number): void {
    this.ios.set(req.ioId, { status: 'parked', request: req, behind });
    const o = this.outstanding.get(behind)!;
    this.outstanding.set(behind, { ...o, waiting: [...o.waiting, req.ioId] });
    this.widen(req, behind);
  }

  /** Write faults raised in this step, not yet sent out: their index in `commands`. */
  private readonly unsent = new Map<number, number>();

  /**
   * Coalescing at the source (docs/design.md#leases-and-liveness): a write parked behind a write
   * fault raised in this same step (I/O re-attempted together after a retry) widens that fault
   * to cover its blocks of the segment, so one resolution serves them all.
   */
  private widen(req: HostRequest, behind: number): void {
    const at = this.unsent.get(behind);
    const o = this.outstanding.get(behind)!;
    const m = o.message;
    if (at === undefined || req.op !== 'write' || m.type !== 'ioFault' || m.op !== 'write' || m.disk !== req.disk || m.segment < 0) return;
    const sb = this.disks.get(req.disk)?.table.segmentBlocks;
    if (sb === undefined) return;
    const first = m.segment * sb;
    const from = Math.max(first, req.start);
    const to = Math.min(first + sb, req.start + req.length);
    if (to <= from) return;
    const start = Math.min(m.start, from);
    const end = Math.max(m.start + m.length, to);
    if (start === m.start && end === m.start + m.length) return;
    const message: IoFaultMessage = { ...m, start, length: end - start };
    this.outstanding.set(behind, { ...this.outstanding.get(behind)!, message });
    this.commands[at] = { type: 'send', message };
  }

  /** The first outstanding fault or mark on (disk, segment), if any. */
  private blocking(disk: DiskId, segment: number): number | undefined {
    return this.faultsBySegment.get(segmentKey(disk, segment))?.[0];
  }

  // --- step 1: translate, issue or park -----------------------------------------------------

  /** Step 1 for a well-formed request: issue it, park it, or fail it. */
  private attempt(req: HostRequest): void {
    if (!holdsLease(this.config, this.lease, this.now)) return this.hold(req);
    const copy = this.disks.get(req.disk);
    if (copy === undefined) {
      // No table: one fault per disk, the rest of the disk's I/O waits behind it.
      const behind = this.blocking(req.disk, -1) ?? this.raiseFault(req, -1, 'invalid', req.start, req.length, -1);
      return this.park(req, behind);
    }
    const table = copy.table;
    const sb = table.segmentBlocks;
    const diskBlocks = table.segmentCount * sb;
    if (req.start + req.length > diskBlocks)
      return this.fail(
        req.ioId,
        `out of range: start ${req.start} length ${req.length} ends past the ${diskBlocks} blocks of disk ${JSON.stringify(req.disk)}`,
      );
    const first = Math.floor(req.start / sb);
    const last = req.length === 0 ? first - 1 : Math.floor((req.start + req.length - 1) / sb);
    if (this.faultsBySegment.size > 0)
      for (let seg = first; seg <= last; seg++) {
        const behind = this.blocking(req.disk, seg);
        if (behind !== undefined) return this.park(req, behind);
      }
    if (req.op === 'zero') return this.attemptZero(req, table, first, last);
    const status = translateInto(table, req.op, req.start, req.length, scratch, this.config.variant);
    if (status === STATUS_OK) {
      const pieces = piecesOf(scratch);
      // Only a distributed write can mark alternates.
      const marks = req.op === 'write' && this.config.variant === 'distributed' ? markSpans(pieces, sb) : [];
      const luns = req.op === 'write' ? lunsOf(pieces) : undefined;
      this.ios.set(req.ioId, { status: 'inFlight', request: req, generation: table.generation, firstSegment: first, lastSegment: last, marks, ...(luns === undefined ? {} : { luns }) });
      this.commands.push({ type: 'issueIo', ioId: req.ioId, disk: req.disk, op: req.op, pieces });
      return;
    }
    if (status === STATUS_FAULT) {
      const faults: [number, FaultReason][] = [];
      for (let j = 0; j < scratch.failureCount; j++) faults.push([scratch.failureSegment[j]!, REASONS[scratch.failureReason[j]!]!]);
      let behind: number | undefined;
      for (const [seg, reason] of faults) {
        const from = Math.max(req.start, seg * sb);
        const to = Math.min(req.start + req.length, (seg + 1) * sb);
        const id = this.blocking(req.disk, seg) ?? this.raiseFault(req, seg, reason, from, to - from, table.generation);
        behind ??= id;
      }
      return this.park(req, behind!);
    }
    if (status === STATUS_ERROR) return this.fail(req.ioId, `error: segment ${scratch.failureSegment[0]!} is marked failed`);
    // Unreachable: the request was checked above.
    return this.fail(req.ioId, `invalid request: ${JSON.stringify(req)}`);
  }

  // --- host discard and write-zeroes ----------------------------------------------------------

  /**
   * Step 1 of a `zero` request, with no fault outstanding on its segments: segments that already
   * read as zeros are skipped; each whole segment left is asked of the controller
   * (`zeroSegment`, parked like a fault); the blocks of partly covered segments are written
   * through the write path (faulting as a write would: copy-on-write where the segment is
   * no-write). Every retry looks again from the start, so the request completes once every
   * segment reads as zeros or has had its zeros written.
   */
  private attemptZero(req: HostRequest, table: MappingTable, first: number, last: number): void {
    const sb = table.segmentBlocks;
    const end = req.start + req.length;
    for (let seg = first; seg <= last; seg++) if (entryAt(table, seg).error) return this.fail(req.ioId, `error: segment ${seg} is marked failed`);
    const { agent, epoch } = this.config;
    let behind: number | undefined;
    const partial: [number, number][] = [];
    for (let seg = first; seg <= last; seg++) {
      const e = entryAt(table, seg);
      if (e.zero && e.alternate === null && !e.invalid) continue; // reads as zeros already
      const from = Math.max(req.start, seg * sb);
      const to = Math.min(end, (seg + 1) * sb);
      if (to - from === sb) behind ??= this.raise({ type: 'zeroSegment', agent, epoch, disk: req.disk, segment: seg, generation: table.generation }, req.ioId);
      else partial.push([from, to]);
    }
    const pieces: Piece[] = [];
    for (const [from, to] of partial) {
      const status = translateInto(table, 'write', from, to - from, scratch, this.config.variant);
      if (status === STATUS_OK) pieces.push(...piecesOf(scratch));
      else if (status === STATUS_FAULT)
        for (let j = 0; j < scratch.failureCount; j++) behind ??= this.raiseFault(req, scratch.failureSegment[j]!, REASONS[scratch.failureReason[j]!]!, from, to - from, table.generation);
      else return this.fail(req.ioId, `error: segment ${Math.floor(from / sb)} is marked failed`);
    }
    if (behind !== undefined) return this.park(req, behind);
    if (pieces.length === 0) return this.complete(req.ioId);
    const marks = this.config.variant === 'distributed' ? markSpans(pieces, sb) : [];
    this.ios.set(req.ioId, { status: 'inFlight', request: req, generation: table.generation, firstSegment: first, lastSegment: last, marks });
    this.commands.push({ type: 'issueIo', ioId: req.ioId, disk: req.disk, op: 'write', pieces });
  }

  // --- end of host discard and write-zeroes ---------------------------------------------------

  /** Re-attempts the I/O that waited behind `cleared`, after `resent` (a marked write sent back to step 1). */
  private reattempt(cleared: number, waiting: ReadonlyArray<number>, resent?: number): void {
    if (resent !== undefined) this.attempt(this.ios.get(resent)!.request);
    for (const id of waiting) {
      const io = this.ios.get(id);
      if (io?.status === 'parked' && io.behind === cleared) this.attempt(io.request);
    }
  }

  hostIo(raw: Extract<AgentEvent, { type: 'hostIo' }>): void {
    const e = { ioId: raw.ioId, disk: raw.disk, op: raw.op, start: raw.start, length: raw.length }; // each field read once
    if (!isBlockNumber(e.ioId)) return this.refuse(raw, `hostIo: ioId must be a non-negative safe integer, got ${show(e.ioId)}`);
    if (this.ios.has(e.ioId)) return; // the runtime promised unique ids: a repeat is not a new request
    if (this.fenced !== undefined) return this.fail(e.ioId, this.fenced);
    const errors = requestErrors(e);
    if (errors.length > 0) return this.fail(e.ioId, `invalid request: ${errors.map((x) => x.message).join('; ')}`);
    this.attempt(raw.fua === true && e.op === 'write' ? { ...e, fua: true as const } : e);
  }

  // --- storage ---------------------------------------------------------------------------------

  ioDone(ioId: number): void {
    const io = this.ios.get(ioId);
    if (io?.status !== 'inFlight') return;
    if (this.fenced !== undefined) return this.fail(ioId, this.fenced); // its data may be another life's
    const req = io.request;
    this.drain(req.disk, ioId);
    if (req.op === 'write') this.noteDirty(req.disk, io.luns ?? []);
    if (io.marks.length === 0 && req.fua !== true) this.complete(ioId);
    else if (io.marks.length > 0 && !this.disks.has(req.disk)) this.fail(ioId, 'detached');
    else if (io.luns !== undefined && io.luns.length > 0) this.flushWrite(ioId, io.luns, io.marks, io.generation);
    else if (io.marks.length === 0) this.complete(ioId);
    else {
      const { agent, epoch } = this.config;
      const generation = io.generation;
      const pending = io.marks.map((m) =>
        this.raise({ type: 'markBits', agent, epoch, disk: req.disk, segment: m.segment, start: m.start, length: m.length, generation }, ioId),
      );
      this.ios.set(ioId, { status: 'marking', request: req, pending });
    }
    this.flushAcks(req.disk);
  }

  ioFailed(ioId: number, error: string): void {
    const io = this.ios.get(ioId);
    if (io?.status !== 'inFlight') return;
    const disk = io.request.disk;
    this.drain(disk, ioId);
    this.fail(ioId, typeof error === 'string' ? error : `storage failed: ${show(error)}`);
    this.flushAcks(disk);
  }

  // --- controller answers to faults and marks -----------------------------------------------

  private current(m: RetryMessage | FailIoMessage | ConfirmMarkMessage): Outstanding | undefined {
    if (m.epoch !== this.config.epoch) return undefined;
    if (m.faultId >= this.nextFaultId) {
      // Only a life that raised this id could be answered about it: another life used this epoch.
      this.fence(m, `epoch ${this.config.epoch} of agent ${this.config.agent} is also used by another life: the controller answered fault ${m.faultId}, which this life never raised; restart with a higher epoch`);
      return undefined;
    }
    return this.outstanding.get(m.faultId);
  }

  retry(m: RetryMessage): void {
    const found = this.current(m);
    if (found === undefined) return;
    const f = found.message;
    if (f.type === 'ioFault' && f.segment === -1 && !this.disks.has(f.disk)) {
      // The controller retries only once it has this agent's acknowledgement of a table that
      // resolves the fault. This life has no table of the disk, so never sent one: the controller
      // holds the state of an earlier life that used the same epoch. Retrying would fault again,
      // for ever.
      return this.fence(
        m,
        `epoch ${this.config.epoch} of agent ${this.config.agent} is also used by another life: the controller retried the no-table fault ${m.faultId} of disk ${JSON.stringify(f.disk)} although this life never acknowledged a table of it; restart with a higher epoch`,
      );
    }
    const o = this.clear(m.faultId);
    const origin = this.ios.get(o.origin);
    // A marked write sent back: a copy may have overwritten its data, so it starts again.
    this.reattempt(m.faultId, o.waiting, origin?.status === 'marking' && origin.pending.includes(m.faultId) ? o.origin : undefined);
  }

  failIo(m: FailIoMessage): void {
    if (this.current(m) === undefined) return;
    const o = this.clear(m.faultId);
    const origin = this.ios.get(o.origin);
    // An origin already back at storage (its table changed shape) is no longer this fault's to fail.
    if (origin !== undefined && origin.status !== 'inFlight' && (origin.status !== 'marking' || origin.pending.includes(m.faultId)))
      this.fail(o.origin, String(m.reason));
    this.reattempt(m.faultId, o.waiting);
  }

  confirmMark(m: ConfirmMarkMessage): void {
    const found = this.current(m);
    if (found === undefined || found.message.type !== 'markBits') return;
    const o = this.clear(m.faultId);
    const origin = this.ios.get(o.origin);
    if (origin?.status === 'marking' && origin.pending.includes(m.faultId)) {
      const pending = origin.pending.filter((id) => id !== m.faultId);
      this.ios.set(o.origin, { ...origin, pending });
      if (pending.length === 0) this.complete(o.origin);
    }
    this.reattempt(m.faultId, o.waiting);
  }

  // --- tables and acknowledgements ------------------------------------------------------------

  private ack(disk: DiskId, generation: number): void {
    const { agent, epoch } = this.config;
    this.send({ type: 'tableAck', agent, epoch, disk, generation });
  }

  private fetch(disk: DiskId, generation: number): void {
    const { agent, epoch } = this.config;
    this.send({ type: 'fetchTable', agent, epoch, disk, generation });
  }

  /** Answer to a change the agent already has: acknowledge it, unless an acknowledgement is still draining. */
  private reAck(disk: DiskId): void {
    const copy = this.disks.get(disk)!;
    if (copy.pendingAcks.length > 0) return; // the drained acknowledgement follows on its own
    if (copy.acked !== copy.table.generation) this.disks.set(disk, { ...copy, acked: copy.table.generation });
    this.ack(disk, copy.table.generation);
  }

  /** `ioId` left storage: no acknowledgement waits for it any more. */
  private drain(disk: DiskId, ioId: number): void {
    const copy = this.disks.get(disk);
    if (copy === undefined || !copy.pendingAcks.some((p) => p.draining.includes(ioId))) return;
    const pendingAcks = copy.pendingAcks.map((p) => (p.draining.includes(ioId) ? { ...p, draining: p.draining.filter((id) => id !== ioId) } : p));
    this.disks.set(disk, { ...copy, pendingAcks });
  }

  /** Sends the highest generation whose drain, and every earlier one's, is complete. */
  private flushAcks(disk: DiskId): void {
    const copy = this.disks.get(disk);
    if (copy === undefined) return;
    let n = 0;
    while (n < copy.pendingAcks.length && copy.pendingAcks[n]!.draining.length === 0) n++;
    if (n === 0) return;
    const acked = copy.pendingAcks[n - 1]!.generation;
    this.disks.set(disk, { ...copy, acked, pendingAcks: copy.pendingAcks.slice(n) });
    this.ack(disk, acked);
  }

  /**
   * Adopts `table` for `disk` and acknowledges it once the I/O issued under the old entries of
   * the `touched` segments has left storage (`all`: every I/O of the disk, when there was no
   * copy to compare with, e.g. after a drop).
   */
  private install(disk: DiskId, table: MappingTable, touched: Ranges | 'all'): void {
    const draining: number[] = [];
    for (const [id, io] of this.ios.current) {
      if (io.status !== 'inFlight' || io.request.disk !== disk) continue;
      if (touched === 'all' || touched.some(([from, to]) => from <= io.lastSegment && io.firstSegment < to)) draining.push(id);
    }
    const old = this.disks.get(disk);
    this.disks.set(disk, {
      table,
      acked: old?.acked ?? -1,
      pendingAcks: [...(old?.pendingAcks ?? []), { generation: table.generation, draining }],
    });
    this.flushAcks(disk);
  }

  setEntries(m: SetEntriesMessage): void {
    // Limits first, before anything is read or allocated for the message.
    const { maxSegments, maxChanges } = limitsOf(this.config);
    if (m.changes.length > maxChanges) {
      // Too many changes to take as a delta (a snapshot of a big disk can send one per segment):
      // the whole table, which `maxSegments` bounds, is asked for instead, so the copy converges.
      this.refuse(m, `setEntries: changes must hold at most ${maxChanges} changes (limits.maxChanges), got ${m.changes.length}`);
      return this.fetch(m.disk, this.disks.get(m.disk)?.table.generation ?? -1);
    }
    if (m.segmentCount !== undefined && m.segmentCount > maxSegments)
      return this.refuse(m, `setEntries: segmentCount must be at most ${maxSegments} (limits.maxSegments), got ${m.segmentCount}`);
    const copy = this.disks.get(m.disk);
    if (copy === undefined) return this.fetch(m.disk, -1);
    const held = copy.table;
    if (held.generation >= m.generation) return this.reAck(m.disk);
    if (held.generation !== m.fromGeneration) return this.fetch(m.disk, held.generation); // a gap, or a delta from elsewhere
    let table = held;
    const touched: [number, number][] = [];
    if (m.segmentCount !== undefined) {
      const resized = resizeTable(table, m.segmentCount, { zero: true }, { generation: m.generation });
      if (E.isLeft(resized)) return this.refuse(m, `setEntries: ${resized.left[0]!.message}`);
      table = resized.right;
      touched.push([Math.min(held.segmentCount, table.segmentCount), Math.max(held.segmentCount, table.segmentCount)]);
    }
    const updates: { segment: number; entry: MappingEntry }[] = [];
    for (let n = 0; n < m.changes.length; n++) {
      const c: unknown = m.changes[n];
      if (!isRecord(c)) return this.refuse(m, `setEntries: changes[${n}] must be { segment, entry }, got ${show(c)}`);
      const { segment, entry } = c; // each read once
      if (!isBlockNumber(segment)) return this.refuse(m, `setEntries: changes[${n}].segment must be a non-negative safe integer, got ${show(segment)}`);
      const decoded = decodeSharedEntry(entry, table.segmentBlocks, segment);
      // All or nothing: a half-applied change matches no generation.
      if (E.isLeft(decoded)) return this.refuse(m, `setEntries: changes[${n}]: ${decoded.left[0]!.message}`);
      updates.push({ segment, entry: decoded.right });
      touched.push([segment, segment + 1]);
    }
    const updated = setEntries(table, updates, { generation: m.generation });
    if (E.isLeft(updated)) return this.refuse(m, `setEntries: ${updated.left[0]!.message.replace(/^updates\[/, 'changes[')}`);
    this.install(m.disk, updated.right, touched);
  }

  replaceTable(m: ReplaceTableMessage): void {
    const oversized = this.oversizedDocument(m.table);
    if (oversized !== undefined) return this.refuse(m, oversized);
    const decoded = decodeSharedTable(m.table);
    if (E.isLeft(decoded)) return this.refuse(m, `replaceTable: the table is undecodable: ${decoded.left[0]?.message ?? 'no detail'}`);
    const table = decoded.right;
    const copy = this.disks.get(m.disk);
    if (copy !== undefined && copy.table.generation >= table.generation) return this.reAck(m.disk);
    this.install(m.disk, table, copy === undefined ? 'all' : toRanges(diffTables(copy.table, table)));
  }

  /** Why a table document is past `limits.maxSegments`, read from its header before it is decoded. */
  private oversizedDocument(doc: unknown): string | undefined {
    const { maxSegments } = limitsOf(this.config);
    let count: unknown;
    let entries: unknown;
    try {
      ({ segmentCount: count, entries } = doc as { segmentCount?: unknown; entries?: unknown });
      if (Array.isArray(entries) && entries.length > maxSegments)
        return `replaceTable: table.entries must hold at most ${maxSegments} entries (limits.maxSegments), got ${entries.length}`;
    } catch (thrown) {
      return `replaceTable: table could not be read (${thrownReason(thrown)})`;
    }
    if (typeof count === 'number' && count > maxSegments)
      return `replaceTable: table.segmentCount must be at most ${maxSegments} (limits.maxSegments), got ${count}`;
    return undefined;
  }

  refreshTable(disk: DiskId, generation: number): void {
    const copy = this.disks.get(disk);
    if (copy !== undefined && copy.table.generation >= generation) return this.reAck(disk);
    this.fetch(disk, copy?.table.generation ?? -1);
  }

  dropTable(disk: DiskId): void {
    const victims: number[] = [];
    for (const [id, io] of this.ios.current) if (io.request.disk === disk && io.status !== 'inFlight') victims.push(id);
    // Its faults and marks die with the copy: nothing is left to re-send them for.
    const dead: number[] = [];
    for (const [id, o] of this.outstanding.current) if (o.message.disk === disk) dead.push(id);
    for (const id of dead) this.clear(id);
    for (const id of victims) this.fail(id, 'detached');
    this.disks.delete(disk);
    const { agent, epoch } = this.config;
    this.send({ type: 'dropped', agent, epoch, disk });
  }

  message(raw: ControllerMessage): void {
    const read = readControllerMessage(raw);
    if (E.isLeft(read)) return this.refuse(raw, `malformed controller message: ${read.left.map((e) => e.message).join('; ')}`);
    const m = read.right;
    if (!this.acceptControllerEpoch(m)) return;
    const epoch = this.config.epoch;
    if (m.epoch > epoch) {
      // The controller knows a later life of this agent: this one must stop serving I/O.
      return this.fence(m, `agent ${this.config.agent} epoch ${epoch} is superseded: the controller sent a ${m.type} for epoch ${m.epoch}`);
    }
    if (this.fenced !== undefined) return;
    // A table message meant for an earlier life: the controller does not know this life yet and
    // may be waiting for the old one. Introduce this life by asking for the table it lacks. This
    // changes nothing here (the message itself is not applied), and without it the controller
    // could wait for the old life's acknowledgements for ever.
    if ((m.type === 'setEntries' || m.type === 'replaceTable' || m.type === 'refreshTable') && m.epoch >= 0 && m.epoch < epoch) {
      this.fetch(m.disk, this.disks.get(m.disk)?.table.generation ?? -1);
      return;
    }
    switch (m.type) {
      case 'retry':
        return this.retry(m);
      case 'failIo':
        return this.failIo(m);
      case 'confirmMark':
        return this.confirmMark(m);
      case 'setEntries':
        return m.epoch === epoch ? this.setEntries(m) : undefined;
      case 'replaceTable':
        return m.epoch === epoch ? this.replaceTable(m) : undefined;
      case 'refreshTable':
        return m.epoch === epoch || m.epoch === -1 ? this.refreshTable(m.disk, m.generation) : undefined;
      case 'dropTable':
        // Meant for an earlier life: this life must not map the disk either, and its `dropped`
        // tells the controller that the earlier life is gone (a deletion waits for it).
        return m.epoch === epoch || (typeof m.epoch === 'number' && m.epoch < epoch && typeof m.disk === 'string') ? this.dropTable(m.disk) : undefined;
      case 'faultAccepted':
        return this.faultAccepted(m.epoch, m.faultId);
      case 'leaseGranted':
        return this.leaseGranted(m);
      case 'leaseRevoked':
        return this.leaseRevoked(m);
    }
  }

  // --- controller epoch (docs/design.md#fault-resolution: failover) --------------------------

  /**
   * Refuses a message of an older controller epoch (a deposed controller). On a newer one,
   * adopts it and re-sends at once every fault and mark still waiting: the new controller
   * restored from the store and knows none of them, and the host I/O behind them is held.
   */
  private acceptControllerEpoch(m: ControllerMessage): boolean {
    const seen = m.controllerEpoch ?? 0;
    if (seen < this.controllerEpoch) {
      this.refuse(m, `${m.type}: controllerEpoch ${seen} is older than controller epoch ${this.controllerEpoch} already seen: the message comes from a deposed controller`);
      return false;
    }
    if (seen > this.controllerEpoch) {
      this.controllerEpoch = seen;
      if (this.fenced === undefined) this.resend(() => true);
    }
    return true;
  }

  /**
   * Sends again every outstanding fault and mark that `due` selects, as if for the first time:
   * a new controller has accepted none of them, so the backoff starts over.
   */
  private resend(due: (o: Outstanding) => boolean): void {
    const picked: Array<readonly [number, Outstanding]> = [];
    for (const entry of this.outstanding.current) if (due(entry[1])) picked.push(entry);
    for (const [id, o] of picked) {
      this.outstanding.set(id, { ...o, sentAt: this.now, dueAt: this.now + retryDelay(this.config, id, 0), attempts: 0, accepted: false });
      this.send({ ...o.message });
    }
  }

  // --- durability (docs/design.md#ordering-rules) --------------------------------------------

  /** Remembers that a write to `disk` reached these LUNs: the next host flush of the disk covers them. */
  private noteDirty(disk: DiskId, luns: ReadonlyArray<number>): void {
    if (luns.length === 0) return;
    const old = this.dirty.get(disk) ?? [];
    if (luns.every((l) => old.includes(l))) return;
    this.dirty.set(disk, [...new Set([...old, ...luns])].sort((a, b) => a - b));
  }

  private issueFlush(f: PendingFlush): void {
    this.flushes.set(f.ioId, f);
    this.commands.push({ type: 'flush', flushId: f.ioId, luns: f.luns });
  }

  /**
   * A write is at storage but must be durable before it goes on: a FUA write before it
   * completes, a distributed write before its marks are sent (the controller would otherwise
   * persist bits that point at data a power loss can still take away). It waits as `marking`
   * with nothing pending.
   */
  private flushWrite(ioId: number, luns: ReadonlyArray<number>, marks: ReadonlyArray<MarkSpan>, generation: number): void {
    const io = this.ios.get(ioId)!;
    this.ios.set(ioId, { status: 'marking', request: io.request, pending: [] });
    const disk = io.request.disk;
    this.issueFlush(marks.length > 0 ? { kind: 'marks', ioId, disk, luns, marks, generation } : { kind: 'write', ioId, disk, luns });
  }

  /**
   * A host flush of `disk`: flushes every LUN written for it since the last host flush, and those
   * of flushes still in flight (a flush that has not finished guarantees nothing yet).
   */
  hostFlush(e: Extract<AgentEvent, { type: 'hostFlush' }>): void {
    if (!isBlockNumber(e.ioId)) return this.refuse(e, `hostFlush: ioId must be a non-negative safe integer, got ${show(e.ioId)}`);
    if (this.ios.has(e.ioId) || this.flushes.has(e.ioId)) return;
    if (this.fenced !== undefined) return void this.commands.push({ type: 'failIo', ioId: e.ioId, reason: this.fenced });
    if (typeof e.disk !== 'string') return void this.commands.push({ type: 'failIo', ioId: e.ioId, reason: `invalid request: disk must be a string, got ${JSON.stringify(e.disk)}` });
    if (this.lost.has(e.disk)) {
      // A flush failed since: writes completed before it may be gone, and this flush cannot vouch for them.
      this.lost.delete(e.disk);
      return void this.commands.push({ type: 'failIo', ioId: e.ioId, reason: 'flush failed: storage lost writes to this disk that had not been flushed' });
    }
    const luns = new Set(this.dirty.get(e.disk) ?? []);
    for (const f of this.flushes.current.values()) if (f.disk === e.disk) for (const l of f.luns) luns.add(l);
    this.dirty.delete(e.disk);
    if (luns.size === 0) return void this.commands.push({ type: 'completeIo', ioId: e.ioId });
    this.issueFlush({ kind: 'host', ioId: e.ioId, disk: e.disk, luns: [...luns].sort((a, b) => a - b) });
  }

  flushDone(flushId: number): void {
    const f = this.flushes.get(flushId);
    if (f === undefined) return;
    if (f.poisoned === true) return this.flushFailed(flushId, 'another flush of the same LUNs failed while this one was in flight');
    this.flushes.delete(flushId);
    if (f.kind === 'host') return void this.commands.push({ type: 'completeIo', ioId: f.ioId });
    const io = this.ios.get(f.ioId);
    if (io?.status !== 'marking' || io.pending.length > 0) return; // failed or dropped meanwhile
    if (f.kind === 'write') return this.complete(f.ioId);
    if (!this.disks.has(f.disk)) return this.fail(f.ioId, 'detached');
    const { agent, epoch } = this.config;
    const generation = f.generation!;
    const pending = f.marks!.map((m) =>
      this.raise({ type: 'markBits', agent, epoch, disk: f.disk, segment: m.segment, start: m.start, length: m.length, generation }, f.ioId),
    );
    this.ios.set(f.ioId, { status: 'marking', request: io.request, pending });
  }

  flushFailed(flushId: number, error: string): void {
    const f = this.flushes.get(flushId);
    if (f === undefined) return;
    this.flushes.delete(flushId);
    this.noteDirty(f.disk, f.luns); // nothing was vouched for: the next flush covers them again
    // Storage reports a lost cache to one flush only: no flush of these LUNs in flight can be
    // trusted, and the next host flush of every other disk written there must fail too.
    for (const [id, g] of [...this.flushes.current]) if (g.poisoned !== true && g.luns.some((l) => f.luns.includes(l))) this.flushes.set(id, { ...g, poisoned: true });
    for (const [disk, luns] of [...this.dirty.current]) if (disk !== f.disk || f.kind !== 'host') if (luns.some((l) => f.luns.includes(l))) this.lost.set(disk, true);
    const reason = `flush failed: ${String(error)}`;
    if (f.kind === 'host') return void this.commands.push({ type: 'failIo', ioId: f.ioId, reason });
    const io = this.ios.get(f.ioId);
    if (io?.status === 'marking' && io.pending.length === 0) this.fail(f.ioId, reason);
  }

  // --- time -----------------------------------------------------------------------------------

  // --- leases (lease.ts) ------------------------------------------------------------------------

  /** No lease: the I/O waits, parked behind no fault, for the next grant. */
  private hold(req: HostRequest): void {
    this.ios.set(req.ioId, { status: 'parked', request: req, behind: -1 });
    this.renewLease(false);
  }

  private renewLease(force: boolean): void {
    const l = this.lease;
    if (l === null || (!force && !renewalDue(this.config, l, this.now))) return;
    this.lease = { ...l, lastRequest: this.now };
    const { agent, epoch } = this.config;
    this.send({ type: 'renewLease', agent, epoch, disk: '', requestedAt: this.now });
  }

  leaseGranted(m: Extract<ControllerMessage, { type: 'leaseGranted' }>): void {
    if (this.lease === null || m.epoch !== this.config.epoch || typeof m.requestedAt !== 'number' || typeof m.duration !== 'number') return;
    const held = holdsLease(this.config, this.lease, this.now);
    this.lease = granted(this.lease, m.requestedAt, m.duration);
    if (!held && holdsLease(this.config, this.lease, this.now)) this.releaseHeld();
  }

  /** Host I/O held for want of a lease goes through step 1 again. */
  private releaseHeld(): void {
    const held: HostRequest[] = [];
    for (const io of this.ios.current.values()) if (io.status === 'parked' && io.behind === -1) held.push(io.request);
    for (const req of held) this.attempt(req);
  }

  /**
   * This life was evicted: start a new one (epoch + 1) with no tables and no faults, keeping the
   * host I/O, which waits for the new life's lease. I/O still at storage finishes as before.
   */
  leaseRevoked(m: Extract<ControllerMessage, { type: 'leaseRevoked' }>): void {
    if (this.lease === null || m.epoch !== this.config.epoch) return;
    this.config = { ...this.config, epoch: this.config.epoch + 1 };
    this.lease = initialLease(this.config);
    for (const id of [...this.outstanding.current.keys()]) this.clear(id);
    for (const disk of [...this.disks.current.keys()]) this.disks.delete(disk);
    const victims: number[] = [];
    for (const [id, io] of this.ios.current) {
      if (io.status === 'marking') victims.push(id);
      else if (io.status === 'parked') this.ios.set(id, { ...io, behind: -1 });
    }
    // A marked write's bits may never have been made durable: the host is told it failed.
    for (const id of victims) this.fail(id, 'evicted before the write was confirmed');
    this.renewLease(true);
  }

  tick(now: number): void {
    if (!(typeof now === 'number' && Number.isFinite(now))) return this.refuse({ type: 'tick', now }, `tick: now must be a finite number, got ${show(now)}`);
    this.now = now;
    if (this.lease !== null) this.renewLease(false);
    const due: Array<readonly [number, Outstanding]> = [];
    for (const entry of this.outstanding.current) if (now >= entry[1].dueAt) due.push(entry);
    for (const [id, o] of due) {
      // Backoff with jitter while unacknowledged; a slow re-check once the controller has it in hand.
      const attempts = o.attempts + 1;
      const dueAt = now + (o.accepted ? acceptedRecheck(this.config) : retryDelay(this.config, id, attempts));
      this.outstanding.set(id, { ...o, sentAt: now, dueAt, attempts });
      this.send({ ...o.message });
    }
  }

  /** The controller has the fault in hand: stop the backoff, keep a slow re-check. */
  faultAccepted(epoch: number, faultId: number): void {
    if (epoch !== this.config.epoch) return;
    const o = this.outstanding.get(faultId);
    if (o === undefined || o.accepted) return;
    this.outstanding.set(faultId, { ...o, accepted: true, dueAt: this.now + acceptedRecheck(this.config) });
  }
}

/**
 * One step of the agent: the new state and the commands for the runtime, in order. Never
 * throws. Events that make no sense in the current state (unknown ids, answers meant for another
 * life, duplicates) change nothing and produce no commands; malformed, oversized or undecodable
 * input changes nothing and produces one `refused` command naming the field and the value.
 * A controller message whose `controllerEpoch` (absent: 0) is lower than the highest seen comes
 * from a deposed controller: it is refused. A higher one is adopted, and every fault and mark
 * still waiting is sent again at once, before the message itself is handled.
 * Two cases do produce commands:
 * - a table message (`setEntries`, `replaceTable`, `refreshTable`) meant for an EARLIER life is
 *   not applied, but answered by one `fetchTable` at this life's epoch. Adopting nothing keeps
 *   it safe; the fetch is what tells a controller still waiting for the old life that a new one
 *   exists (it fences the old epoch and sends this life the table), so it keeps the protocol live;
 * - any controller message for a LATER epoch, or an answer at this epoch to a fault this life
 *   never raised, proves that another life holds this agent's name: the life is fenced (see
 *   `AgentState.fenced`), every open host I/O fails with the reason, and so does every later one.
 *
 * @example
 * const [s1, c1] = agentStep(initialAgentState(config), { type: 'hostIo', ioId: 1, disk: 'd', op: 'read', start: 0, length: 5 });
 * // c1: [{ type: 'send', message: { type: 'ioFault', faultId: 1, segment: -1, reason: 'invalid', generation: -1, ... } }]
 * const [s2, c2] = agentStep(s1, { type: 'message', message: { type: 'replaceTable', epoch: 1, disk: 'd', table: doc } });
 * // c2: [{ type: 'send', message: { type: 'tableAck', disk: 'd', generation: doc.generation, ... } }]
 * const [s3, c3] = agentStep(s2, { type: 'message', message: { type: 'retry', epoch: 1, faultId: 1 } });
 * // c3: [{ type: 'issueIo', ioId: 1, disk: 'd', op: 'read', pieces: [...] }]
 */
export const agentStep = (state: AgentState, event: AgentEvent): readonly [AgentState, ReadonlyArray<AgentCommand>] => {
  try {
    return stepUnguarded(state, event);
  } catch (thrown) {
    // Only an event whose getters or proxy traps throw gets here; the state given is untouched.
    return [state, [{ type: 'refused', event: undefined, why: `the event could not be read (${thrownReason(thrown)})` }]];
  }
};

const stepUnguarded = (state: AgentState, event: AgentEvent): readonly [AgentState, ReadonlyArray<AgentCommand>] => {
  const step = new Stepper(state);
  if (typeof event !== 'object' || event === null) {
    step.refuse(event, `the event must be an object with a type, got ${show(event)}`);
    return [state, step.commands];
  }
  switch (event.type) {
    case 'hostIo':
      step.hostIo(event);
      break;
    case 'ioDone':
      step.ioDone(event.ioId);
      break;
    case 'ioFailed':
      step.ioFailed(event.ioId, event.error);
      break;
    case 'message':
      step.message(event.message);
      break;
    case 'tick':
      step.tick(event.now);
      break;
    // durability (docs/design.md#ordering-rules)
    case 'hostFlush':
      step.hostFlush(event);
      break;
    case 'flushDone':
      step.flushDone(event.flushId);
      break;
    case 'flushFailed':
      step.flushFailed(event.flushId, event.error);
      break;
    default:
      step.refuse(event, `the event type must be hostIo, ioDone, ioFailed, message, tick, hostFlush, flushDone or flushFailed, got ${show((event as { type?: unknown }).type)}`);
  }
  return [step.result(), step.commands];
};
