/**
 * The controller <-> agent protocol (docs/design.md#fault-resolution), as plain serializable data.
 *
 * Every message has a `type`. Agent messages carry the agent's `epoch`, which changes when the
 * agent restarts; the controller refuses anything from an epoch older than the newest it has
 * seen (fencing). Controller messages carry the epoch of the agent they are meant for, and an
 * agent ignores those meant for another of its lives. Table changes carry generations, so a
 * duplicated, late or reordered message is recognised and changes nothing.
 */
import * as E from 'fp-ts/lib/Either.js';
import { unreadableError, validationError, type ValidationError } from '../errors.js';
import type { EntryDocument, TableDocument } from '../table/codec.js';
import type { FaultReason, Op } from '../translate/translate.js';

/**
 * Names a virtual disk. Any string the administrator chooses; a snapshot is a disk with a name
 * of its own.
 *
 * @example
 * const disk: DiskId = 'vol';
 * const snapshot: DiskId = 'vol@2024-06-01';
 */
export type DiskId = string;
/**
 * Names a mapping agent. The runtimes also use it as the agent's peer id on the transport, so it
 * must be unique among the peers.
 *
 * @example
 * const agent: AgentId = 'a1';
 * const endpoint = network.transport<AgentMessage, ControllerMessage>(agent);
 */
export type AgentId = string;

/**
 * One segment's new entry, in its serialized form, so that messages and persistence records stay
 * plain JSON.
 *
 * @example
 * const change: EntryChange = { segment: 3, entry: encodeEntry(entry) };
 */
export interface EntryChange {
  readonly segment: number;
  readonly entry: EntryDocument;
}

// ---------------------------------------------------------------------------------------------
// Agent -> controller

/**
 * Step 1 of the flowchart: the agent could not finish an I/O through its copy of the table and
 * has parked it. One message per (segment, reason); `start`/`length` is the part of the request
 * inside `segment`. `generation` is the generation of the agent's copy, or -1 when it has none.
 *
 * @example
 * const m: IoFaultMessage = {
 *   type: 'ioFault', agent: 'a1', epoch: 1, faultId: 7, disk: 'vol',
 *   segment: 1, op: 'write', start: 12, length: 2, reason: 'no-write', generation: 4,
 * };
 */
export interface IoFaultMessage {
  readonly type: 'ioFault';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly faultId: number;
  readonly disk: DiskId;
  readonly segment: number;
  readonly op: Op;
  readonly start: number;
  readonly length: number;
  readonly reason: FaultReason;
  readonly generation: number;
}

/**
 * Distributed variant: the agent has written blocks `start .. start+length-1` (virtual) of a
 * `noWrite` segment at its alternate and holds the host write until the controller has made the
 * bits durable. The controller answers `confirmMark` (done) or `retry` (write again: a copy may
 * have overwritten the data).
 *
 * @example
 * const m: MarkBitsMessage = { type: 'markBits', agent: 'a1', epoch: 1, faultId: 8, disk: 'vol', segment: 1, start: 12, length: 2, generation: 4 };
 */
export interface MarkBitsMessage {
  readonly type: 'markBits';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly faultId: number;
  readonly disk: DiskId;
  readonly segment: number;
  readonly start: number;
  readonly length: number;
  readonly generation: number;
}

/**
 * The agent now holds `generation` of `disk`, and no I/O issued under an older entry of a changed
 * segment is still in flight. The controller waits for these before it retries a fault or moves
 * blocks, so no I/O can still use an old mapping.
 *
 * @example
 * const m: TableAckMessage = { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'vol', generation: 5 };
 */
export interface TableAckMessage {
  readonly type: 'tableAck';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly disk: DiskId;
  readonly generation: number;
}

/**
 * Asks for the changes since `generation` (-1: the whole table). Sent after `refreshTable` or on a gap.
 *
 * @example
 * const m: FetchTableMessage = { type: 'fetchTable', agent: 'a2', epoch: 3, disk: 'vol', generation: -1, dropMark: 8 }; // no copy
 */
export interface FetchTableMessage {
  readonly type: 'fetchTable';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly disk: DiskId;
  readonly generation: number;
  /**
   * With `generation` -1 only: the agent's drop mark of the disk (-1: none). This life holds no
   * copy, and refuses every table of the disk at or below the mark from now on; an agent without
   * a copy raises it to one below the generation of a `refreshTable` before it answers. A word
   * no later message can make false, so a late duplicate proves nothing wrong: after a controller
   * restart it exempts the agent from waiting as a possible holder (docs/design.md#ordering-rules).
   * Absent (older agents): the fetch is taken as a plain "no copy now".
   */
  readonly dropMark?: number;
}

/**
 * The agent dropped its copy of `disk` (answer to `dropTable`), so the controller can stop
 * counting it among the holders of that disk. Also the answer to a table message the agent
 * refuses because it was sent before the drop: `generation` is the drop's (see
 * {@link DropTableMessage}), and an agent still attached needs a table above it.
 *
 * @example
 * const m: DroppedMessage = { type: 'dropped', agent: 'a2', epoch: 3, disk: 'vol', generation: 7 };
 */
export interface DroppedMessage {
  readonly type: 'dropped';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly disk: DiskId;
  /** The generation of the drop (absent: the `dropTable` carried none). */
  readonly generation?: number;
}

// --- host discard and write-zeroes -----------------------------------------------------------

/**
 * A host discard or write-zeroes covers the whole of `segment`: the agent parks it (like a fault)
 * and asks the controller to make the segment `zero` and release its extents. The controller
 * answers `retry` once the agent's copy shows the segment zero (or changed since `generation`,
 * the generation of the agent's copy when it asked: the agent then looks again), or `failIo`.
 *
 * @example
 * const m: ZeroSegmentMessage = { type: 'zeroSegment', agent: 'a1', epoch: 1, faultId: 9, disk: 'vol', segment: 3, generation: 4 };
 */
export interface ZeroSegmentMessage {
  readonly type: 'zeroSegment';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly faultId: number;
  readonly disk: DiskId;
  readonly segment: number;
  readonly generation: number;
}

/**
 * Asks for (or renews) the agent's lease (docs/design.md#leases-and-liveness). `requestedAt` is
 * the agent's own clock when it asked: the lease it gets runs from then, so it never outlives
 * the controller's view of it.
 *
 * @example
 * const m: RenewLeaseMessage = { type: 'renewLease', agent: 'a1', epoch: 1, disk: '', requestedAt: 1200 };
 */
export interface RenewLeaseMessage {
  readonly type: 'renewLease';
  readonly agent: AgentId;
  readonly epoch: number;
  /** Unused (empty): leases are per agent, not per disk. */
  readonly disk: DiskId;
  readonly requestedAt: number;
  /**
   * After its lease lapsed: the copies the agent holds unconfirmed, each at its generation. The
   * controller grants the renewal only if it vouches for every one (the disk exists, the agent is
   * attached, and the generation is one this controller committed or restored, with the agent
   * counted as a holder since); the grant confirms them (docs/design.md#leases-and-liveness).
   * Absent: none.
   */
  readonly holds?: ReadonlyArray<{ readonly disk: DiskId; readonly generation: number }>;
}

/**
 * Every message an agent sends to the controller. Each carries the sender's `agent` and
 * `epoch`, which the controller uses to refuse messages from an earlier life of the agent.
 *
 * @example
 * const describe = (m: AgentMessage): string =>
 *   m.type === 'ioFault' ? `${m.agent} faults on ${m.disk} segment ${m.segment} (${m.reason})` : `${m.agent}: ${m.type}`;
 */
export type AgentMessage = IoFaultMessage | MarkBitsMessage | TableAckMessage | FetchTableMessage | DroppedMessage | ZeroSegmentMessage | RenewLeaseMessage;

// ---------------------------------------------------------------------------------------------
// Controller -> agent

/**
 * Steps 575 and 590 (and the answer to `fetchTable`): apply `changes` to the copy at
 * `fromGeneration` to get `generation`. `freeze`, when present, first makes every segment with
 * a location `noWrite` (a snapshot was taken since `fromGeneration`: `freezeTable`), so a
 * snapshot costs a few bytes rather than an entry per segment. `segmentCount`, when present,
 * then resizes the copy (new segments are `zero`). An agent at another generation does not apply it: if it is
 * behind, it fetches; if it is ahead, it acknowledges what it has.
 *
 * @example
 * const m: SetEntriesMessage = {
 *   type: 'setEntries', epoch: 1, disk: 'vol', fromGeneration: 4, generation: 5,
 *   changes: [{ segment: 1, entry: { location: { lun: 2, start: 0 }, noWrite: true, alternate: { lun: 3, start: 0, blocks: '2-3' } } }],
 * };
 */
export interface SetEntriesMessage {
  readonly type: 'setEntries';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly disk: DiskId;
  readonly fromGeneration: number;
  readonly generation: number;
  /** Freeze the copy before the resize and the changes. */
  readonly freeze?: true;
  readonly segmentCount?: number;
  readonly changes: ReadonlyArray<EntryChange>;
}

/**
 * Step 585: the whole table, replacing whatever copy the agent has. Sent to an agent known to
 * hold no copy, and in answer to `fetchTable` when no delta from the agent's generation exists.
 *
 * @example
 * const m: ReplaceTableMessage = { type: 'replaceTable', epoch: 2, disk: 'vol', table: encodeTable(table) };
 */
export interface ReplaceTableMessage {
  readonly type: 'replaceTable';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly disk: DiskId;
  readonly table: TableDocument;
}

/**
 * Step 580: bring your copy of `disk` to at least `generation` by fetching from the controller.
 * Used when the controller cannot tell which delta the agent needs.
 *
 * @example
 * const m: RefreshTableMessage = { type: 'refreshTable', epoch: 1, disk: 'vol', generation: 9 };
 */
export interface RefreshTableMessage {
  readonly type: 'refreshTable';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly disk: DiskId;
  readonly generation: number;
}

/**
 * Step 595: re-attempt the I/O parked behind fault `faultId`. By then the agent holds the table
 * that resolves the fault.
 *
 * @example
 * const m: RetryMessage = { type: 'retry', epoch: 1, faultId: 7 };
 */
export interface RetryMessage {
  readonly type: 'retry';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly faultId: number;
}

/**
 * The I/O parked behind `faultId` cannot succeed: fail it with `reason`.
 *
 * @example
 * const m: FailIoMessage = { type: 'failIo', epoch: 1, faultId: 7, reason: 'segment 1 of disk vol is invalid at the controller' };
 */
export interface FailIoMessage {
  readonly type: 'failIo';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly faultId: number;
  readonly reason: string;
}

/**
 * Distributed variant: the bits of `markBits` `faultId` are durable; complete the host write.
 *
 * @example
 * const m: ConfirmMarkMessage = { type: 'confirmMark', epoch: 1, faultId: 8 };
 */
export interface ConfirmMarkMessage {
  readonly type: 'confirmMark';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly faultId: number;
}

/**
 * The agent no longer maps `disk`: drop the copy and fail I/O parked on it. The agent answers
 * `dropped`.
 *
 * `generation` is the disk's committed generation when the controller sent it: every table
 * message of the disk sent before is at or below it. The agent refuses those from then on (one
 * arriving late or twice would bring back a copy the controller no longer tracks, which could
 * outlive the disk), until a table above it comes (docs/design.md#ordering-rules).
 *
 * @example
 * const m: DropTableMessage = { type: 'dropTable', epoch: 3, disk: 'vol', generation: 7 };
 */
export interface DropTableMessage {
  readonly type: 'dropTable';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
  readonly disk: DiskId;
  /** The disk's committed generation when sent (absent: the agent refuses nothing later). */
  readonly generation?: number;
}

/**
 * The controller epoch: a number that every new active controller of a high-availability group
 * takes higher than any before it (`ControllerConfig.controllerEpoch`) and stamps on every
 * message it sends. An agent keeps the highest one it has seen and refuses messages of a lower
 * one, so a deposed controller that still runs can no longer change what agents do. Absent
 * (older peers, single controllers) means 0.
 *
 * @example
 * const m: RetryMessage & ControllerEpoched = { type: 'retry', epoch: 1, faultId: 7, controllerEpoch: 3 };
 */
export interface ControllerEpoched {
  readonly controllerEpoch?: number;
}

/**
 * The controller has fault or mark `faultId` in hand: the agent stops re-sending it at its
 * backoff rate and only re-sends it, slowly, in case the controller restarts
 * (docs/design.md#leases-and-liveness).
 *
 * @example
 * const m: FaultAcceptedMessage = { type: 'faultAccepted', epoch: 1, faultId: 7 };
 */
export interface FaultAcceptedMessage {
  readonly type: 'faultAccepted';
  readonly epoch: number;
  readonly faultId: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
}

/**
 * The agent holds a lease for `duration` ms from its own `requestedAt` (the renewal it answers).
 *
 * @example
 * const m: LeaseGrantedMessage = { type: 'leaseGranted', epoch: 1, requestedAt: 1200, duration: 2000 };
 */
export interface LeaseGrantedMessage {
  readonly type: 'leaseGranted';
  readonly epoch: number;
  readonly requestedAt: number;
  readonly duration: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
}

/**
 * The controller evicted this life of the agent (its lease had certainly expired): the agent
 * starts a new life with a higher epoch, keeping its host I/O, and registers again.
 *
 * @example
 * const m: LeaseRevokedMessage = { type: 'leaseRevoked', epoch: 1 };
 */
export interface LeaseRevokedMessage {
  readonly type: 'leaseRevoked';
  readonly epoch: number;
  /** The controller epoch of the sender (see {@link ControllerEpoched}); absent means 0. */
  readonly controllerEpoch?: number;
}

/**
 * Every message the controller sends to an agent. Each carries the `epoch` of the agent life it
 * is meant for; an agent ignores messages meant for another of its lives. Each may also carry
 * the sender's `controllerEpoch` (see {@link ControllerEpoched}).
 *
 * @example
 * const forThisLife = (m: ControllerMessage, epoch: number): boolean => m.epoch === epoch;
 */
export type ControllerMessage =
  | SetEntriesMessage
  | ReplaceTableMessage
  | RefreshTableMessage
  | RetryMessage
  | FailIoMessage
  | ConfirmMarkMessage
  | DropTableMessage
  | FaultAcceptedMessage
  | LeaseGrantedMessage
  | LeaseRevokedMessage;

/**
 * Flowchart steps, for traces and summaries: 570 make a change durable, 575 send the changes
 * to every agent holding the disk, 580 ask an agent to refresh, 585 send a whole table, 590 send
 * the changes to the faulting agent only, 595 retry (or confirm), 597 the fault is resolved.
 *
 * @example
 * const sends = new Map<Step, number>();
 * if (command.type === 'send' && command.step !== undefined) sends.set(command.step, (sends.get(command.step) ?? 0) + 1);
 */
export type Step = 570 | 575 | 580 | 585 | 590 | 595 | 597;

// ---------------------------------------------------------------------------------------------
// Reading a controller message from outside

const CONTROLLER_MESSAGE_FIELDS: Readonly<Record<ControllerMessage['type'], ReadonlyArray<string>>> = {
  setEntries: ['epoch', 'disk', 'fromGeneration', 'generation', 'freeze', 'segmentCount', 'changes'],
  replaceTable: ['epoch', 'disk', 'table'],
  refreshTable: ['epoch', 'disk', 'generation'],
  retry: ['epoch', 'faultId'],
  failIo: ['epoch', 'faultId', 'reason'],
  confirmMark: ['epoch', 'faultId'],
  dropTable: ['epoch', 'disk', 'generation'],
  faultAccepted: ['epoch', 'faultId'],
  leaseGranted: ['epoch', 'requestedAt', 'duration'],
  leaseRevoked: ['epoch'],
};
const COMMON_CONTROLLER_FIELDS: ReadonlyArray<string> = ['controllerEpoch'];

const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/**
 * Reads a controller message received from outside (a transport, a test) into a plain message
 * whose fields were each read exactly once and have the right types, or the errors naming each
 * bad field and its value. Checks the envelope only: table and entry documents are decoded
 * later, by the agent, against the copy they change. Never throws, even for a proxy.
 *
 * @example
 * readControllerMessage({ type: 'retry', epoch: 1, faultId: 7 })   // Right({ type: 'retry', epoch: 1, faultId: 7 })
 * readControllerMessage({ type: 'retry', epoch: 1, faultId: '7' }) // Left([{ field: 'faultId', value: '7', ... }])
 */
export const readControllerMessage = (raw: unknown): E.Either<ValidationError[], ControllerMessage> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return E.left([validationError('message', raw, 'must be a controller message object')]);
  const m: Record<string, unknown> = {};
  try {
    const type = (raw as Record<string, unknown>).type;
    if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(CONTROLLER_MESSAGE_FIELDS, type))
      return E.left([validationError('type', type, `must be one of ${Object.keys(CONTROLLER_MESSAGE_FIELDS).join(', ')}`)]);
    m.type = type;
    for (const key of [...CONTROLLER_MESSAGE_FIELDS[type as ControllerMessage['type']], ...COMMON_CONTROLLER_FIELDS]) m[key] = (raw as Record<string, unknown>)[key];
  } catch (thrown) {
    return E.left([unreadableError('message', thrown)]);
  }
  const errors: ValidationError[] = [];
  const need = (field: string, ok: boolean, requirement: string): void => {
    if (!ok) errors.push(validationError(field, m[field], requirement));
  };
  // refreshTable may be addressed to "any life" (-1), after a controller restart.
  need('epoch', isInt(m.epoch, m.type === 'refreshTable' ? -1 : 0), 'must be a non-negative safe integer');
  if ('disk' in m) need('disk', typeof m.disk === 'string', 'must be a string');
  if ('faultId' in m) need('faultId', isInt(m.faultId, 0), 'must be a non-negative safe integer');
  if ('reason' in m) need('reason', typeof m.reason === 'string', 'must be a string');
  if (m.type === 'dropTable' && m.generation === undefined) delete m.generation;
  if ('generation' in m) need('generation', isInt(m.generation, -1), 'must be a safe integer from -1');
  if ('fromGeneration' in m) need('fromGeneration', isInt(m.fromGeneration, -1), 'must be a safe integer from -1');
  if ('segmentCount' in m) {
    if (m.segmentCount === undefined) delete m.segmentCount;
    else need('segmentCount', isInt(m.segmentCount, 0), 'must be a non-negative safe integer when present');
  }
  if ('freeze' in m) {
    if (m.freeze === undefined) delete m.freeze;
    else need('freeze', m.freeze === true, 'must be true when present');
  }
  if (m.controllerEpoch === undefined) delete m.controllerEpoch;
  else need('controllerEpoch', isInt(m.controllerEpoch, 0), 'must be a non-negative safe integer when present');
  if ('changes' in m) need('changes', Array.isArray(m.changes), 'must be an array of { segment, entry }');
  if ('table' in m) need('table', typeof m.table === 'object' && m.table !== null, 'must be a table document');
  if ('requestedAt' in m) need('requestedAt', typeof m.requestedAt === 'number' && Number.isFinite(m.requestedAt), 'must be a finite number');
  if ('duration' in m) need('duration', typeof m.duration === 'number' && Number.isFinite(m.duration) && m.duration >= 0, 'must be a non-negative finite number');
  return errors.length > 0 ? E.left(errors) : E.right(m as unknown as ControllerMessage);
};

// ---------------------------------------------------------------------------------------------
// Reading fields of agent messages

/**
 * The `dropMark` of a `fetchTable` (see {@link FetchTableMessage}): absent, or a safe integer from
 * -1 below `limit` sent with `generation` -1; otherwise the error naming the field and its value.
 *
 * @example
 * readDropMark({ generation: -1, dropMark: 7 }, 2 ** 48)  // Right(7)
 * readDropMark({ generation: -1 }, 2 ** 48)               // Right(undefined): an older agent
 * readDropMark({ generation: 4, dropMark: 7 }, 2 ** 48)   // Left({ field: 'dropMark', value: 7, ... })
 */
export const readDropMark = (m: { readonly generation: number; readonly dropMark?: unknown }, limit: number): E.Either<ValidationError, number | undefined> => {
  const mark = m.dropMark;
  if (mark === undefined) return E.right(undefined);
  if (m.generation !== -1) return E.left(validationError('dropMark', mark, `is sent only without a copy (generation -1, not ${m.generation})`));
  if (!isInt(mark, -1) || mark >= limit) return E.left(validationError('dropMark', mark, `must be a safe integer from -1 below ${limit} when present`));
  return E.right(mark);
};
