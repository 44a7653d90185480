/**
 * Host I/O through the agent: translation, issuing, parking behind one fault per segment, the
 * discard and write-zeroes path, and storage completions (docs/design.md#fault-resolution, step 1).
 */
import { blocksOf, segmentAt, segmentLengthAt, segmentStartAt } from '../table/segments.js';
import type { Stepper } from './stepper.js';
import { isBlockNumber, show, validationError, type ValidationError } from '../errors.js';
import type { DiskId, IoFaultMessage, MarkBitsMessage, ZeroSegmentMessage } from '../protocol/messages.js';
import { entryAt, type MappingTable } from '../table/table.js';
import { markingVariant } from '../table/grain.js';
import { PieceBuffer, REASON_NAMES, STATUS_ERROR, STATUS_FAULT, STATUS_OK, piecesOf, translateInto, type FaultReason, type Piece } from '../translate/translate.js';
import { retryDelay } from './backoff.js';
import { holdsLease } from './lease.js';
import type { AgentEvent, HostRequest, MarkSpan, Outstanding } from './types.js';

/**
 * The key of a (disk, segment) pair in `AgentState.faultsBySegment`; segment -1 stands for the
 * whole disk while the agent has no table for it.
 *
 * @example
 * segmentKey('d', 2) // '2:d'
 */
export const segmentKey = (disk: DiskId, segment: number): string => `${segment}:${disk}`;

/** Reused by every translation: the agent's fast path allocates only the pieces it issues. */
export const scratch = /* @__PURE__ */ new PieceBuffer(64);


/** Why a host request is malformed, or `[]`. */
export const requestErrors = (e: { disk: unknown; op: unknown; start: unknown; length: unknown }): ValidationError[] => {
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
export const markSpans = (pieces: ReadonlyArray<Piece>, table: MappingTable): MarkSpan[] => {
  const spans: MarkSpan[] = [];
  for (const p of pieces) {
    if (p.marksAlternate !== true) continue;
    const end = p.virtualStart + p.length;
    let v = p.virtualStart;
    while (v < end) {
      const segment = segmentAt(table, v);
      const segmentEnd = Math.min(end, segmentStartAt(table, segment + 1));
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
export const lunsOf = (pieces: ReadonlyArray<Piece>): number[] => {
  const luns = new Set<number>();
  for (const p of pieces) if (p.lun !== undefined) luns.add(p.lun);
  return [...luns].sort((a, b) => a - b);
};


// --- faults and marks -------------------------------------------------------------------------

/** Records and sends a fault or mark with a fresh id. */
export function raise(s: Stepper, message: Omit<IoFaultMessage, 'faultId'> | Omit<MarkBitsMessage, 'faultId'> | Omit<ZeroSegmentMessage, 'faultId'>, origin: number): number {
  const faultId = s.nextFaultId++;
  const full = { ...message, faultId } as IoFaultMessage | MarkBitsMessage | ZeroSegmentMessage;
  s.outstanding.set(faultId, { message: full, origin, sentAt: s.now, dueAt: s.now + retryDelay(s.config, faultId, 0), attempts: 0, accepted: false, waiting: [] });
  const key = segmentKey(full.disk, full.segment);
  s.faultsBySegment.set(key, [...(s.faultsBySegment.get(key) ?? []), faultId]);
  if (full.type === 'ioFault' && full.op === 'write') s.unsent.set(faultId, s.commands.length);
  s.send(full);
  return faultId;
}


export function raiseFault(s: Stepper, req: HostRequest, segment: number, reason: FaultReason, start: number, length: number, generation: number): number {
  const { agent, epoch } = s.config;
  return s.raise(
    // The partly covered segments of a `zero` request are written (as zeros) through the write path.
    { type: 'ioFault', agent, epoch, disk: req.disk, segment, op: req.op === 'zero' ? 'write' : req.op, start, length, reason, generation },
    req.ioId,
  );
}


/** Forgets an outstanding fault or mark and returns it. */
export function clear(s: Stepper, faultId: number): Outstanding {
  const o = s.outstanding.get(faultId)!;
  s.outstanding.delete(faultId);
  const key = segmentKey(o.message.disk, o.message.segment);
  const rest = (s.faultsBySegment.get(key) ?? []).filter((id) => id !== faultId);
  if (rest.length > 0) s.faultsBySegment.set(key, rest);
  else s.faultsBySegment.delete(key);
  return o;
}


export function park(s: Stepper, req: HostRequest, behind: number): void {
  s.ios.set(req.ioId, { status: 'parked', request: req, behind });
  const o = s.outstanding.get(behind)!;
  s.outstanding.set(behind, { ...o, waiting: [...o.waiting, req.ioId] });
  s.widen(req, behind);
}


/**
 * Coalescing at the source (docs/design.md#leases-and-liveness): a write parked behind a write
 * fault raised in this same step (I/O re-attempted together after a retry) widens that fault
 * to cover its blocks of the segment, so one resolution serves them all.
 */
export function widen(s: Stepper, req: HostRequest, behind: number): void {
  const at = s.unsent.get(behind);
  const o = s.outstanding.get(behind)!;
  const m = o.message;
  if (at === undefined || req.op !== 'write' || m.type !== 'ioFault' || m.op !== 'write' || m.disk !== req.disk || m.segment < 0) return;
  const table = s.disks.get(req.disk)?.table;
  if (table === undefined || m.segment >= table.segmentCount) return;
  const first = segmentStartAt(table, m.segment);
  const from = Math.max(first, req.start);
  const to = Math.min(segmentStartAt(table, m.segment + 1), req.start + req.length);
  if (to <= from) return;
  const start = Math.min(m.start, from);
  const end = Math.max(m.start + m.length, to);
  if (start === m.start && end === m.start + m.length) return;
  const message: IoFaultMessage = { ...m, start, length: end - start };
  s.outstanding.set(behind, { ...s.outstanding.get(behind)!, message });
  s.commands[at] = { type: 'send', message };
}


/** The first outstanding fault or mark on (disk, segment), if any. */
export function blocking(s: Stepper, disk: DiskId, segment: number): number | undefined {
  return s.faultsBySegment.get(segmentKey(disk, segment))?.[0];
}


// --- step 1: translate, issue or park -----------------------------------------------------

/** Step 1 for a well-formed request: issue it, park it, or fail it. */
export function attempt(s: Stepper, req: HostRequest): void {
  if (!holdsLease(s.config, s.lease, s.now)) {
    s.noteLapse();
    return s.hold(req);
  }
  const copy = s.disks.get(req.disk);
  // After a lapse of the lease, a copy the controller has not confirmed is not used (lease.ts).
  if (copy?.unconfirmed !== undefined) return s.hold(req);
  if (copy === undefined) {
    // No table: one fault per disk, the rest of the disk's I/O waits behind it.
    const behind = s.blocking(req.disk, -1) ?? s.raiseFault(req, -1, 'invalid', req.start, req.length, -1);
    return s.park(req, behind);
  }
  const table = copy.table;
  const diskBlocks = blocksOf(table);
  if (req.start + req.length > diskBlocks)
    return s.fail(
      req.ioId,
      `out of range: start ${req.start} length ${req.length} ends past the ${diskBlocks} blocks of disk ${JSON.stringify(req.disk)}`,
    );
  // Segments by the table's geometry: a division, or a variable table's boundary directory.
  const first = req.start < diskBlocks ? segmentAt(table, req.start) : table.segmentCount;
  const last = req.length === 0 ? first - 1 : segmentAt(table, req.start + req.length - 1);
  if (s.faultsBySegment.size > 0)
    for (let seg = first; seg <= last; seg++) {
      const behind = s.blocking(req.disk, seg);
      if (behind !== undefined) return s.park(req, behind);
    }
  if (req.op === 'zero') return s.attemptZero(req, table, first, last);
  const status = translateInto(table, req.op, req.start, req.length, scratch, markingVariant(table, s.config.variant));
  if (status === STATUS_OK) {
    const pieces = piecesOf(scratch);
    // Only a distributed write can mark alternates.
    const marks = req.op === 'write' && s.config.variant === 'distributed' ? markSpans(pieces, table) : [];
    const luns = req.op === 'write' ? lunsOf(pieces) : undefined;
    s.ios.set(req.ioId, { status: 'inFlight', request: req, generation: table.generation, firstSegment: first, lastSegment: last, marks, ...(luns === undefined ? {} : { luns }) });
    s.commands.push({ type: 'issueIo', ioId: req.ioId, disk: req.disk, op: req.op, pieces });
    return;
  }
  if (status === STATUS_FAULT) {
    const faults: [number, FaultReason][] = [];
    for (let j = 0; j < scratch.failureCount; j++) faults.push([scratch.failureSegment[j]!, REASON_NAMES[scratch.failureReason[j]!]!]);
    let behind: number | undefined;
    for (const [seg, reason] of faults) {
      const from = Math.max(req.start, segmentStartAt(table, seg));
      const to = Math.min(req.start + req.length, segmentStartAt(table, seg + 1));
      const id = s.blocking(req.disk, seg) ?? s.raiseFault(req, seg, reason, from, to - from, table.generation);
      behind ??= id;
    }
    return s.park(req, behind!);
  }
  if (status === STATUS_ERROR) return s.fail(req.ioId, `error: segment ${scratch.failureSegment[0]!} is marked failed`);
  // Unreachable: the request was checked above.
  return s.fail(req.ioId, `invalid request: ${JSON.stringify(req)}`);
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
export function attemptZero(s: Stepper, req: HostRequest, table: MappingTable, first: number, last: number): void {
  const end = req.start + req.length;
  for (let seg = first; seg <= last; seg++) if (entryAt(table, seg).error) return s.fail(req.ioId, `error: segment ${seg} is marked failed`);
  const { agent, epoch } = s.config;
  let behind: number | undefined;
  const partial: [number, number][] = [];
  for (let seg = first; seg <= last; seg++) {
    const e = entryAt(table, seg);
    if (e.zero && e.alternate === null && !e.invalid) continue; // reads as zeros already
    const from = Math.max(req.start, segmentStartAt(table, seg));
    const to = Math.min(end, segmentStartAt(table, seg + 1));
    if (to - from === segmentLengthAt(table, seg)) behind ??= s.raise({ type: 'zeroSegment', agent, epoch, disk: req.disk, segment: seg, generation: table.generation }, req.ioId);
    else partial.push([from, to]);
  }
  const pieces: Piece[] = [];
  for (const [from, to] of partial) {
    const status = translateInto(table, 'write', from, to - from, scratch, markingVariant(table, s.config.variant));
    if (status === STATUS_OK) pieces.push(...piecesOf(scratch));
    else if (status === STATUS_FAULT)
      for (let j = 0; j < scratch.failureCount; j++) behind ??= s.raiseFault(req, scratch.failureSegment[j]!, REASON_NAMES[scratch.failureReason[j]!]!, from, to - from, table.generation);
    else return s.fail(req.ioId, `error: segment ${segmentAt(table, from)} is marked failed`);
  }
  if (behind !== undefined) return s.park(req, behind);
  if (pieces.length === 0) return s.complete(req.ioId);
  const marks = s.config.variant === 'distributed' ? markSpans(pieces, table) : [];
  // The zeros are written data like any other: a host flush covers them, and marks wait for their flush (D3, D6).
  s.ios.set(req.ioId, { status: 'inFlight', request: req, generation: table.generation, firstSegment: first, lastSegment: last, marks, luns: lunsOf(pieces) });
  s.commands.push({ type: 'issueIo', ioId: req.ioId, disk: req.disk, op: 'write', pieces });
}


// --- end of host discard and write-zeroes ---------------------------------------------------

/** Re-attempts the I/O that waited behind `cleared`, after `resent` (a marked write sent back to step 1). */
export function reattempt(s: Stepper, cleared: number, waiting: ReadonlyArray<number>, resent?: number): void {
  if (resent !== undefined) s.attempt(s.ios.get(resent)!.request);
  for (const id of waiting) {
    const io = s.ios.get(id);
    if (io?.status === 'parked' && io.behind === cleared) s.attempt(io.request);
  }
}


export function hostIo(s: Stepper, raw: Extract<AgentEvent, { type: 'hostIo' }>): void {
  const e = { ioId: raw.ioId, disk: raw.disk, op: raw.op, start: raw.start, length: raw.length }; // each field read once
  if (!isBlockNumber(e.ioId)) return s.refuse(raw, `hostIo: ioId must be a non-negative safe integer, got ${show(e.ioId)}`);
  if (s.ios.has(e.ioId)) return; // the runtime promised unique ids: a repeat is not a new request
  if (s.fenced !== undefined) return s.fail(e.ioId, s.fenced);
  const errors = requestErrors(e);
  if (errors.length > 0) return s.fail(e.ioId, `invalid request: ${errors.map((x) => x.message).join('; ')}`);
  s.attempt(raw.fua === true && e.op === 'write' ? { ...e, fua: true as const } : e);
}


// --- storage ---------------------------------------------------------------------------------

export function ioDone(s: Stepper, ioId: number): void {
  const io = s.ios.get(ioId);
  if (io?.status !== 'inFlight') return;
  if (s.fenced !== undefined) return s.fail(ioId, s.fenced); // its data may be another life's
  const req = io.request;
  s.drain(req.disk, ioId);
  s.noteDirty(req.disk, io.luns ?? []); // reads have no LUNs to flush
  if (io.marks.length === 0 && req.fua !== true) s.complete(ioId);
  else if (io.marks.length > 0 && !s.disks.has(req.disk)) s.fail(ioId, 'detached');
  else if (io.luns !== undefined && io.luns.length > 0) s.flushWrite(ioId, io.luns, io.marks, io.generation);
  else if (io.marks.length === 0) s.complete(ioId);
  else {
    const { agent, epoch } = s.config;
    const generation = io.generation;
    const pending = io.marks.map((m) =>
      s.raise({ type: 'markBits', agent, epoch, disk: req.disk, segment: m.segment, start: m.start, length: m.length, generation }, ioId),
    );
    s.ios.set(ioId, { status: 'marking', request: req, pending });
  }
  s.flushAcks(req.disk);
}


export function ioFailed(s: Stepper, ioId: number, error: string): void {
  const io = s.ios.get(ioId);
  if (io?.status !== 'inFlight') return;
  const disk = io.request.disk;
  s.drain(disk, ioId);
  // Every piece has settled, and a failed write may still have landed in part (a lost
  // acknowledgement, a torn write): the host may read it back, so its next flush must keep it.
  s.noteDirty(disk, io.luns ?? []);
  s.fail(ioId, typeof error === 'string' ? error : `storage failed: ${show(error)}`);
  s.flushAcks(disk);
}
