/**
 * The mapping agent's configuration, events, commands and state: plain data in, plain data out.
 */
import type { AgentId, ControllerMessage, DiskId, AgentMessage, IoFaultMessage, MarkBitsMessage, ZeroSegmentMessage } from '../protocol/messages.js';
import type { MappingTable } from '../table/table.js';
import type { Op, Piece, Variant } from '../translate/translate.js';
import type { AgentLease } from './lease.js';

// ---------------------------------------------------------------------------------------------
// Configuration

/**
 * How much an agent accepts from the controller in one message. A message past a limit is
 * refused whole (a `refused` command) before anything is allocated for it, so a corrupt or
 * hostile controller message cannot make the agent build a table it cannot hold. Defaults:
 * `DEFAULT_AGENT_LIMITS`.
 *
 * @example
 * const limits: AgentLimits = { maxSegments: 1 << 20, maxChanges: 4096 };
 */
export interface AgentLimits {
  /**
   * Most segments of a table the agent holds: a `replaceTable` document with more entries (or a
   * larger `segmentCount`), or a `setEntries` resizing past it, is refused. At most
   * `MAX_SEGMENT_COUNT`.
   */
  readonly maxSegments: number;
  /** Most changes in one `setEntries` message. */
  readonly maxChanges: number;
}

/**
 * One life of an agent. A restart is a new life: the runtime builds a fresh state with a new
 * `epoch` (higher than any before), so that the controller fences messages of the old life.
 * Validate a config that comes from outside with `createAgentState`.
 *
 * @example
 * const config: AgentConfig = { agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100 };
 */
export interface AgentConfig {
  readonly agent: AgentId;
  readonly epoch: number;
  readonly variant: Variant;
  /** ms before an unanswered fault or mark is sent again */
  readonly faultTimeout: number;
  // --- liveness (docs/design.md#leases-and-liveness; src/agent/backoff.ts, src/agent/lease.ts) ---
  /** Longest wait between re-sends of an unacknowledged fault (ms); default 8 x `faultTimeout`. */
  readonly backoffCap?: number;
  /** Seed of the re-send jitter; default the epoch. */
  readonly seed?: number;
  /**
   * Lease the agent asks the controller for (ms); absent: no leases. With leases, the agent
   * issues I/O to storage only while it holds one, and an evicted life starts a new one with a
   * higher epoch (`epoch + 1`: a runtime restarting it must pick an epoch above `agentEpoch`).
   */
  readonly leaseDuration?: number;
  /** Message limits; each one omitted takes its value from `DEFAULT_AGENT_LIMITS`. */
  readonly limits?: Partial<AgentLimits>;
}

// ---------------------------------------------------------------------------------------------
// Events and commands

/**
 * What a host request does: `read`, `write`, or `zero` (a discard or write-zeroes: afterwards
 * the blocks read as zeros). Whole segments of a `zero` request become zero at the controller
 * (`zeroSegment`); the blocks of a partly covered segment are written as zeros through the
 * normal write path (the runtime zeroes the issued write pieces at storage).
 *
 * @example
 * const e: AgentEvent = { type: 'hostIo', ioId: 8, disk: 'd', op: 'zero', start: 0, length: 64 };
 */
export type HostOp = Op | 'zero';

/**
 * What happens to an agent.
 *
 * @example
 * const e: AgentEvent = { type: 'hostIo', ioId: 7, disk: 'd', op: 'read', start: 0, length: 10 };
 */
export type AgentEvent =
  /** A host request; `ioId` is unique, chosen by the runtime. `fua`: a write that completes only once durable. */
  | { readonly type: 'hostIo'; readonly ioId: number; readonly disk: DiskId; readonly op: HostOp; readonly start: number; readonly length: number; readonly fua?: boolean }
  /** Storage finished every piece of an issued I/O. */
  | { readonly type: 'ioDone'; readonly ioId: number }
  /** Storage failed an issued I/O. */
  | { readonly type: 'ioFailed'; readonly ioId: number; readonly error: string }
  | { readonly type: 'message'; readonly message: ControllerMessage }
  /** Time passes: drives re-sends of unanswered faults and marks. */
  | { readonly type: 'tick'; readonly now: number }
  // --- durability (docs/design.md#ordering-rules) ---------------------------------------------
  /** A host flush of `disk`: every write to it completed before now becomes durable. */
  | { readonly type: 'hostFlush'; readonly ioId: number; readonly disk: DiskId }
  /** Storage made the LUNs of `flush` command `flushId` durable. */
  | { readonly type: 'flushDone'; readonly flushId: number }
  | { readonly type: 'flushFailed'; readonly flushId: number; readonly error: string };

/**
 * What the runtime must do.
 *
 * @example
 * const c: AgentCommand = { type: 'completeIo', ioId: 7 };
 */
export type AgentCommand =
  /**
   * Perform the pieces (zero pieces read as zeros), then feed `ioDone` or `ioFailed`. The write
   * pieces of a `zero` host request write zeros.
   */
  | { readonly type: 'issueIo'; readonly ioId: number; readonly disk: DiskId; readonly op: Op; readonly pieces: ReadonlyArray<Piece> }
  | { readonly type: 'send'; readonly message: AgentMessage }
  /** The host I/O is done; for a read, return the data read under its last `issueIo`. */
  | { readonly type: 'completeIo'; readonly ioId: number }
  | { readonly type: 'failIo'; readonly ioId: number; readonly reason: string }
  /**
   * Nothing to perform: the event was refused (a malformed or oversized message, an undecodable
   * table, a malformed event) and changed nothing. `why` names the field and the value. For the
   * runtime's log; the protocol recovers by itself (the controller re-sends or the agent fetches).
   */
  | { readonly type: 'refused'; readonly event: unknown; readonly why: string }
  /** Durability: `BlockStorage.flush` each LUN, then feed `flushDone` or `flushFailed`. */
  | { readonly type: 'flush'; readonly flushId: number; readonly luns: ReadonlyArray<number> };

// ---------------------------------------------------------------------------------------------
// State

/**
 * A host request as the agent received it.
 *
 * @example
 * const r: HostRequest = { ioId: 7, disk: 'd', op: 'write', start: 12, length: 3 };
 */
export interface HostRequest {
  readonly ioId: number;
  readonly disk: DiskId;
  readonly op: HostOp;
  readonly start: number;
  readonly length: number;
  /** A forced-unit-access write: completes only once its data is durable. */
  readonly fua?: true;
}

/**
 * Virtual blocks `start .. start+length-1` of `segment` that an issued write marks at the
 * alternate (distributed variant).
 *
 * @example
 * const m: MarkSpan = { segment: 1, start: 10, length: 3 };
 */
export interface MarkSpan {
  readonly segment: number;
  readonly start: number;
  readonly length: number;
}

/**
 * Where a host I/O is: waiting behind fault or mark `behind` (-1: held while the agent has no lease), at storage, or written to the
 * alternate and waiting for the controller to confirm the marks in `pending`.
 *
 * @example
 * const io: IoState = { status: 'parked', request, behind: 3 };
 */
export type IoState =
  | { readonly status: 'parked'; readonly request: HostRequest; readonly behind: number }
  | {
      readonly status: 'inFlight';
      readonly request: HostRequest;
      /** Generation of the table it was translated with. */
      readonly generation: number;
      /** Segments it touches: `firstSegment .. lastSegment` (empty when `lastSegment < firstSegment`). */
      readonly firstSegment: number;
      readonly lastSegment: number;
      /** Alternate blocks it marks, per segment; empty unless distributed. */
      readonly marks: ReadonlyArray<MarkSpan>;
      /** A write: the LUNs its pieces go to (what a flush for it must cover). */
      readonly luns?: ReadonlyArray<number>;
    }
  | { readonly status: 'marking'; readonly request: HostRequest; readonly pending: ReadonlyArray<number> };

/**
 * An unanswered `ioFault` or `markBits`, by fault id. `origin` is the I/O that raised it,
 * `waiting` the I/O parked behind it, in arrival order.
 *
 * @example
 * const o: Outstanding = { message: faultMessage, origin: 7, sentAt: 0, dueAt: 100, attempts: 0, accepted: false, waiting: [7, 9] };
 */
export interface Outstanding {
  readonly message: IoFaultMessage | MarkBitsMessage | ZeroSegmentMessage;
  readonly origin: number;
  readonly sentAt: number;
  /** When it is sent again if still unanswered (see `backoff.ts`). */
  readonly dueAt: number;
  /** Sends so far after the first. */
  readonly attempts: number;
  /** The controller said it has it in hand (`faultAccepted`). */
  readonly accepted: boolean;
  readonly waiting: ReadonlyArray<number>;
}

/**
 * An acknowledgement that waits for the I/O in `draining` (issued under older entries of the
 * segments the change touched) to leave storage.
 *
 * @example
 * const p: PendingAck = { generation: 4, draining: [7] };
 */
export interface PendingAck {
  readonly generation: number;
  readonly draining: ReadonlyArray<number>;
}

/**
 * The agent's copy of one disk's table. `acked` is the highest generation acknowledged (-1:
 * none); `pendingAcks` ascend by generation.
 *
 * @example
 * const c: DiskCopy = { table, acked: 3, pendingAcks: [] };
 */
export interface DiskCopy {
  readonly table: MappingTable;
  readonly acked: number;
  readonly pendingAcks: ReadonlyArray<PendingAck>;
  /**
   * Present while the copy waits to be confirmed after a lapse of the lease (see `lease.ts`): no
   * I/O goes through it meanwhile. `listedAt` is the time of the first renewal that listed the
   * copy at its current generation (absent: none yet); a grant of a renewal at or after it
   * confirms the copy.
   */
  readonly unconfirmed?: { readonly listedAt?: number };
}

/**
 * The whole state of one agent life. Immutable: {@link agentStep} returns a new one.
 * `faultsBySegment` indexes `outstanding` by `segmentKey(disk, segment)` (segment -1: the
 * whole disk, when the agent has no table for it).
 *
 * @example
 * const s: AgentState = initialAgentState(config);
 */
export interface AgentState {
  readonly config: AgentConfig;
  /** Time of the last tick. */
  readonly now: number;
  readonly nextFaultId: number;
  readonly disks: ReadonlyMap<DiskId, DiskCopy>;
  /** Every host I/O not yet completed or failed. */
  readonly ios: ReadonlyMap<number, IoState>;
  readonly outstanding: ReadonlyMap<number, Outstanding>;
  readonly faultsBySegment: ReadonlyMap<string, ReadonlyArray<number>>;
  /** The lease it holds (see `lease.ts`); null when leases are off. */
  readonly lease: AgentLease | null;
  /**
   * Set once this life has seen proof that it must not serve I/O any more: a controller message
   * for a later epoch of this agent (a newer life exists), or an answer at this epoch to a fault
   * this life never raised (another life used the same epoch). Says which. From then on every
   * host I/O fails with this reason and the agent holds no tables.
   */
  readonly fenced?: string;
  /**
   * The highest controller epoch seen on a controller message (absent: 0). Messages with a lower
   * one come from a deposed controller and are refused.
   */
  readonly controllerEpoch?: number;
  /**
   * Disks this life dropped, each with the generation its `dropTable` carried: a table message of
   * the disk at or below it was sent before the drop (a late or duplicated one) and is refused,
   * so that no copy comes back that the controller no longer tracks (docs/design.md#ordering-rules).
   * A table above it (the disk attached again, or created again) lifts the mark. Absent: none.
   */
  readonly dropped?: ReadonlyMap<DiskId, number>;
  /**
   * Set once this life's lease has lapsed (it held one, then it ran out): from then on a copy of a
   * disk it held none of starts unconfirmed, since a table an earlier controller sent before it
   * stopped counting this life may still arrive (docs/design.md#leases-and-liveness). Absent: never.
   */
  readonly lapsed?: true;
  // --- durability (docs/design.md#ordering-rules) ---------------------------------------------
  /** LUNs written for each disk since its last host flush was issued: what the next one covers. */
  readonly dirty: ReadonlyMap<DiskId, ReadonlyArray<number>>;
  /** Flush commands in flight, by flush id (the id of the host request they serve). */
  readonly flushes: ReadonlyMap<number, PendingFlush>;
  /**
   * Disks with writes that a failed flush may have lost (storage reports a lost cache once, to
   * whichever flush comes first): the next host flush of each fails, then they are cleared.
   */
  readonly lost: ReadonlyMap<DiskId, true>;
}

/**
 * A flush command in flight: for a host flush (`host`), a FUA write (`write`, completed when
 * it is done), or a distributed write whose data must be durable before its marks are sent
 * (`marks`).
 *
 * @example
 * const f: PendingFlush = { kind: 'host', ioId: 9, disk: 'd', luns: [1, 2] };
 */
export interface PendingFlush {
  readonly kind: 'host' | 'write' | 'marks';
  readonly ioId: number;
  readonly disk: DiskId;
  readonly luns: ReadonlyArray<number>;
  /** `marks`: what to send once the data is durable, and the generation it was written under. */
  readonly marks?: ReadonlyArray<MarkSpan>;
  readonly generation?: number;
  /**
   * Another flush of one of these LUNs failed while this one was in flight: storage reports a
   * lost cache once, so this one's success cannot be trusted and counts as a failure.
   */
  readonly poisoned?: true;
}
