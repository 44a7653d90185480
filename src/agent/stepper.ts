/**
 * One agent step's working state and its primitives (commands, refusal, fencing, completing and
 * failing host I/O). The sections of the machine live in their own modules as functions of the
 * stepper; the methods at the end delegate to them.
 */
import * as hostIo from './host-io.js';
import * as faultReplies from './fault-replies.js';
import * as tableSync from './table-sync.js';
import * as durability from './durability.js';
import * as liveness from './liveness.js';
import { CowMap } from '../protocol/copy-on-write.js';
import type { AgentMessage, ConfirmMarkMessage, ControllerMessage, DiskId, FailIoMessage, IoFaultMessage, MarkBitsMessage, ZeroSegmentMessage, ReplaceTableMessage, RetryMessage, SetEntriesMessage } from '../protocol/messages.js';
import type { MappingTable } from '../table/table.js';
import type { Ranges } from './table-sync.js';
import type { FaultReason } from '../translate/translate.js';
import type { AgentLease } from './lease.js';
import type { AgentCommand, AgentConfig, AgentEvent, AgentState, DiskCopy, HostRequest, IoState, MarkSpan, Outstanding, PendingFlush } from './types.js';

const NONE_DROPPED: ReadonlyMap<DiskId, number> = new Map();

/**
 * One step's working view of the state and the commands it has produced so far. Records are
 * never changed in place: each write puts a new record into a copy-on-write map, so the state
 * the step was given stays as it was.
 */
export class Stepper {
  readonly commands: AgentCommand[] = [];
  /** @internal */ config: AgentConfig;
  /** @internal */ lease: AgentLease | null;
  /** @internal */ now: number;
  /** @internal */ nextFaultId: number;
  /** @internal */ readonly disks: CowMap<DiskId, DiskCopy>;
  /** @internal */ readonly ios: CowMap<number, IoState>;
  /** @internal */ readonly outstanding: CowMap<number, Outstanding>;
  /** @internal */ readonly faultsBySegment: CowMap<string, ReadonlyArray<number>>;
  /** @internal */ fenced: string | undefined;
  /** @internal */ controllerEpoch: number;
  /** @internal */ readonly dirty: CowMap<DiskId, ReadonlyArray<number>>;
  /** @internal */ readonly flushes: CowMap<number, PendingFlush>;
  /** @internal */ readonly lost: CowMap<DiskId, true>;
  /** @internal */ readonly dropped: CowMap<DiskId, number>;
  /** @internal */ lapsed: boolean;

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
    this.dropped = new CowMap(base.dropped ?? NONE_DROPPED);
    this.lapsed = base.lapsed === true;
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
      this.lapsed === (b.lapsed === true) &&
      !this.disks.changed &&
      !this.ios.changed &&
      !this.outstanding.changed &&
      !this.faultsBySegment.changed &&
      !this.dirty.changed &&
      !this.flushes.changed &&
      !this.lost.changed &&
      !this.dropped.changed
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
    const dropMarked = this.dropped.size === 0 ? next : { ...next, dropped: this.dropped.result() };
    const marked = this.lapsed ? { ...dropMarked, lapsed: true as const } : dropMarked;
    const epoched = this.controllerEpoch === 0 ? marked : { ...marked, controllerEpoch: this.controllerEpoch };
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
  /** @internal */ fence(event: unknown, why: string): void {
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

  /** @internal */ send(message: AgentMessage): void {
    this.commands.push({ type: 'send', message });
  }

  /** @internal */ complete(ioId: number): void {
    this.ios.delete(ioId);
    this.commands.push({ type: 'completeIo', ioId });
  }

  /** @internal */ fail(ioId: number, reason: string): void {
    const io = this.ios.get(ioId);
    if (io?.status === 'parked') {
      const o = this.outstanding.get(io.behind);
      if (o !== undefined) this.outstanding.set(io.behind, { ...o, waiting: o.waiting.filter((id) => id !== ioId) });
    }
    this.ios.delete(ioId);
    this.commands.push({ type: 'failIo', ioId, reason });
  }

  /** Write faults raised in this step, not yet sent out: their index in `commands`. */
  /** @internal */ readonly unsent = new Map<number, number>();

  // --- sections (each in its own module; these delegate) ---------------------------------------

  raise(message: Omit<IoFaultMessage, 'faultId'> | Omit<MarkBitsMessage, 'faultId'> | Omit<ZeroSegmentMessage, 'faultId'>, origin: number): number {
    return hostIo.raise(this, message, origin);
  }

  raiseFault(req: HostRequest, segment: number, reason: FaultReason, start: number, length: number, generation: number): number {
    return hostIo.raiseFault(this, req, segment, reason, start, length, generation);
  }

  clear(faultId: number): Outstanding {
    return hostIo.clear(this, faultId);
  }

  park(req: HostRequest, behind: number): void {
    return hostIo.park(this, req, behind);
  }

  widen(req: HostRequest, behind: number): void {
    return hostIo.widen(this, req, behind);
  }

  blocking(disk: DiskId, segment: number): number | undefined {
    return hostIo.blocking(this, disk, segment);
  }

  attempt(req: HostRequest): void {
    return hostIo.attempt(this, req);
  }

  attemptZero(req: HostRequest, table: MappingTable, first: number, last: number): void {
    return hostIo.attemptZero(this, req, table, first, last);
  }

  reattempt(cleared: number, waiting: ReadonlyArray<number>, resent?: number): void {
    return hostIo.reattempt(this, cleared, waiting, resent);
  }

  hostIo(raw: Extract<AgentEvent, { type: 'hostIo' }>): void {
    return hostIo.hostIo(this, raw);
  }

  ioDone(ioId: number): void {
    return hostIo.ioDone(this, ioId);
  }

  ioFailed(ioId: number, error: string): void {
    return hostIo.ioFailed(this, ioId, error);
  }

  current(m: RetryMessage | FailIoMessage | ConfirmMarkMessage): Outstanding | undefined {
    return faultReplies.current(this, m);
  }

  retry(m: RetryMessage): void {
    return faultReplies.retry(this, m);
  }

  failIo(m: FailIoMessage): void {
    return faultReplies.failIo(this, m);
  }

  confirmMark(m: ConfirmMarkMessage): void {
    return faultReplies.confirmMark(this, m);
  }

  ack(disk: DiskId, generation: number): void {
    return tableSync.ack(this, disk, generation);
  }

  fetch(disk: DiskId, generation: number): void {
    return tableSync.fetch(this, disk, generation);
  }

  reAck(disk: DiskId): void {
    return tableSync.reAck(this, disk);
  }

  drain(disk: DiskId, ioId: number): void {
    return tableSync.drain(this, disk, ioId);
  }

  flushAcks(disk: DiskId): void {
    return tableSync.flushAcks(this, disk);
  }

  install(disk: DiskId, table: MappingTable, touched: Ranges | 'all'): void {
    return tableSync.install(this, disk, table, touched);
  }

  setEntries(m: SetEntriesMessage): void {
    return tableSync.setEntries(this, m);
  }

  replaceTable(m: ReplaceTableMessage): void {
    return tableSync.replaceTable(this, m);
  }

  /** @internal */ stillDropped(m: SetEntriesMessage | ReplaceTableMessage): void {
    return tableSync.stillDropped(this, m);
  }

  oversizedDocument(doc: unknown): string | undefined {
    return tableSync.oversizedDocument(this, doc);
  }

  refreshTable(disk: DiskId, generation: number): void {
    return tableSync.refreshTable(this, disk, generation);
  }

  dropTable(disk: DiskId, generation?: number): void {
    return tableSync.dropTable(this, disk, generation);
  }

  resend(due: (o: Outstanding) => boolean): void {
    return faultReplies.resend(this, due);
  }

  noteDirty(disk: DiskId, luns: ReadonlyArray<number>): void {
    return durability.noteDirty(this, disk, luns);
  }

  issueFlush(f: PendingFlush): void {
    return durability.issueFlush(this, f);
  }

  flushWrite(ioId: number, luns: ReadonlyArray<number>, marks: ReadonlyArray<MarkSpan>, generation: number): void {
    return durability.flushWrite(this, ioId, luns, marks, generation);
  }

  hostFlush(e: Extract<AgentEvent, { type: 'hostFlush' }>): void {
    return durability.hostFlush(this, e);
  }

  flushDone(flushId: number): void {
    return durability.flushDone(this, flushId);
  }

  flushFailed(flushId: number, error: string): void {
    return durability.flushFailed(this, flushId, error);
  }

  hold(req: HostRequest): void {
    return liveness.hold(this, req);
  }

  renewLease(force: boolean): void {
    return liveness.renewLease(this, force);
  }

  noteLapse(): void {
    return liveness.noteLapse(this);
  }

  leaseGranted(m: Extract<ControllerMessage, { type: 'leaseGranted' }>): void {
    return liveness.leaseGranted(this, m);
  }

  releaseHeld(): void {
    return liveness.releaseHeld(this);
  }

  leaseRevoked(m: Extract<ControllerMessage, { type: 'leaseRevoked' }>): void {
    return liveness.leaseRevoked(this, m);
  }

  tick(now: number): void {
    return liveness.tick(this, now);
  }

  faultAccepted(epoch: number, faultId: number): void {
    return faultReplies.faultAccepted(this, epoch, faultId);
  }
}
