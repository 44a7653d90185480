/**
 * The controller <-> agent protocol (DESIGN.md section 3), as plain serializable data.
 *
 * Every message has a `type`. Agent messages carry the agent's `epoch`, which changes when the
 * agent restarts; the controller refuses anything from an epoch older than the newest it has
 * seen (fencing). Controller messages carry the epoch of the agent they are meant for, and an
 * agent ignores those meant for another of its lives. Table changes carry generations, so a
 * duplicated, late or reordered message is recognised and changes nothing.
 */
import type { EntryDocument, TableDocument } from '../table/codec.js';
import type { FaultReason, Op } from '../translate/translate.js';

/** Names a virtual disk. */
export type DiskId = string;
/** Names a mapping agent. */
export type AgentId = string;

/** One segment's new entry, in its serialized form. */
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

/** The agent now holds `generation` of `disk`, and no I/O issued under an older entry of a changed segment is still in flight. */
export interface TableAckMessage {
  readonly type: 'tableAck';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly disk: DiskId;
  readonly generation: number;
}

/** Asks for the changes since `generation` (-1: the whole table). Sent after `refreshTable` or on a gap. */
export interface FetchTableMessage {
  readonly type: 'fetchTable';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly disk: DiskId;
  readonly generation: number;
}

/** The agent dropped its copy of `disk` (answer to `dropTable`). */
export interface DroppedMessage {
  readonly type: 'dropped';
  readonly agent: AgentId;
  readonly epoch: number;
  readonly disk: DiskId;
}

export type AgentMessage = IoFaultMessage | MarkBitsMessage | TableAckMessage | FetchTableMessage | DroppedMessage;

// ---------------------------------------------------------------------------------------------
// Controller -> agent

/**
 * Steps 575 and 590 (and the answer to `fetchTable`): apply `changes` to the copy at
 * `fromGeneration` to get `generation`. `segmentCount`, when present, resizes the copy first
 * (new segments are `zero`). An agent at another generation does not apply it: if it is
 * behind, it fetches; if it is ahead, it acknowledges what it has.
 */
export interface SetEntriesMessage {
  readonly type: 'setEntries';
  readonly epoch: number;
  readonly disk: DiskId;
  readonly fromGeneration: number;
  readonly generation: number;
  readonly segmentCount?: number;
  readonly changes: ReadonlyArray<EntryChange>;
}

/** Step 585: the whole table, replacing whatever copy the agent has. */
export interface ReplaceTableMessage {
  readonly type: 'replaceTable';
  readonly epoch: number;
  readonly disk: DiskId;
  readonly table: TableDocument;
}

/** Step 580: bring your copy of `disk` to at least `generation` by fetching from the controller. */
export interface RefreshTableMessage {
  readonly type: 'refreshTable';
  readonly epoch: number;
  readonly disk: DiskId;
  readonly generation: number;
}

/** Step 595: re-attempt the I/O parked behind fault `faultId`. */
export interface RetryMessage {
  readonly type: 'retry';
  readonly epoch: number;
  readonly faultId: number;
}

/** The I/O parked behind `faultId` cannot succeed: fail it with `reason`. */
export interface FailIoMessage {
  readonly type: 'failIo';
  readonly epoch: number;
  readonly faultId: number;
  readonly reason: string;
}

/** Distributed variant: the bits of `markBits` `faultId` are durable; complete the host write. */
export interface ConfirmMarkMessage {
  readonly type: 'confirmMark';
  readonly epoch: number;
  readonly faultId: number;
}

/** The agent no longer maps `disk`: drop the copy and fail I/O parked on it. */
export interface DropTableMessage {
  readonly type: 'dropTable';
  readonly epoch: number;
  readonly disk: DiskId;
}

export type ControllerMessage =
  | SetEntriesMessage
  | ReplaceTableMessage
  | RefreshTableMessage
  | RetryMessage
  | FailIoMessage
  | ConfirmMarkMessage
  | DropTableMessage;

/** Flowchart steps, for traces and summaries. */
export type Step = 570 | 575 | 580 | 585 | 590 | 595 | 597;
