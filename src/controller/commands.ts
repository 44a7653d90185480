/**
 * What the controller asks its runtime to do, and the records it makes durable (step 570).
 */
import type { FaultReason } from '../translate/translate.js';
import type { AgentId, AgentMessage, ControllerMessage, DiskId, EntryChange, Step } from '../protocol/messages.js';
import type { Extent } from './allocator.js';
import type { TableDocument } from '../table/codec.js';
import type { AdminResult, ControllerEvent } from './events.js';
import type { SegmentChange } from './segment-changes.js';

/**
 * One durable change of the controller's state (step 570):
 *
 * - `saveTable`: the whole table of `disk` (created, or rewritten);
 * - `updateTable`: the table at `fromGeneration` becomes `generation` by freezing it when
 *   `freeze` is set (every segment with a location becomes `noWrite`: `freezeTable`), resizing
 *   it to `segmentCount` when present (new segments are `zero`, as in `setEntries` messages),
 *   changing segment bounds as `segments` lists, in order, when present (a split, a merge, a
 *   variable disk's resize: {@link SegmentChange}, `segment-changes.ts`), and then applying
 *   `changes` (numbered as the table stands after `segments`); a store must refuse it when its
 *   copy is not at `fromGeneration`;
 * - `cloneTable`: `disk` gets a copy of `source`'s table as it stands after the records before
 *   it (a snapshot: the same entries and generation, so a few bytes instead of a whole table);
 * - `deleteTable`: `disk` and its attachments are gone; when `generationFloor` is present the
 *   store keeps the highest floor it was ever given (`PersistedState.generationFloor`): every
 *   generation the deleted table reached is below it, and a disk created later starts at or
 *   above it, so no table of an earlier life of a name is ever taken for a later one
 *   (docs/design.md#ordering-rules);
 * - `attachments`: the agents that map `disk` are now exactly `agents`; `dropping` (absent:
 *   none) lists agents detached from it that have not yet confirmed dropping their copy.
 *
 * @example
 * const record: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: 3, generation: 4, changes: [{ segment: 0, entry: { zero: true } }] };
 */
export type PersistRecord =
  | { readonly type: 'saveTable'; readonly disk: DiskId; readonly table: TableDocument }
  | {
      readonly type: 'updateTable';
      readonly disk: DiskId;
      readonly fromGeneration: number;
      readonly generation: number;
      /** Freeze the table before the resize and the changes (a snapshot of this disk). */
      readonly freeze?: true;
      readonly segmentCount?: number;
      /** Changes of segment bounds, after the freeze and `segmentCount`, before `changes`. */
      readonly segments?: ReadonlyArray<SegmentChange>;
      readonly changes: ReadonlyArray<EntryChange>;
    }
  | { readonly type: 'cloneTable'; readonly disk: DiskId; readonly source: DiskId }
  | { readonly type: 'deleteTable'; readonly disk: DiskId; readonly generationFloor?: number }
  | { readonly type: 'attachments'; readonly disk: DiskId; readonly agents: ReadonlyArray<AgentId>; readonly dropping?: ReadonlyArray<AgentId> };

/**
 * Everything a controller needs to restart: every table, the agents attached to each disk and
 * those still dropping a copy of it (disks with neither may be absent from `attachments`; a
 * missing `dropping` means none), and the generation floor (absent: 0, no deletion recorded).
 * Lists are sorted by disk.
 *
 * @example
 * const state: PersistedState = { tables: [{ disk: 'vol', table: doc }], attachments: [{ disk: 'vol', agents: ['a1', 'a2'] }] };
 */
export interface PersistedState {
  readonly tables: ReadonlyArray<{ readonly disk: DiskId; readonly table: TableDocument }>;
  readonly attachments: ReadonlyArray<{ readonly disk: DiskId; readonly agents: ReadonlyArray<AgentId>; readonly dropping?: ReadonlyArray<AgentId> }>;
  /** Every generation a deleted table ever reached is below this; new disks start at or above it. */
  readonly generationFloor?: number;
}


/**
 * What a resolution ended with, for traces and summaries (step 597): the agent was told to
 * `retry`, the I/O `failed`, a mark was `confirmed`, or the job was `abandoned` because the
 * agent restarted and nobody is waiting for the answer.
 *
 * @example
 * if (command.type === 'resolved' && command.outcome === 'failed') console.warn(command.disk, command.segment, command.detail);
 */
export type Outcome = 'retry' | 'failed' | 'confirmed' | 'abandoned';

/**
 * What the controller asks its runtime to do: make records durable, send messages, copy or zero
 * blocks, flush them. `persist`, `copyBlocks`, `writeZeros` and `flush` must be answered with an event; the other
 * commands are carried out or only observed (logs, metrics, a waiting admin caller).
 *
 * @example
 * for (const c of commands) if (c.type === 'send') transport.send(c.to, c.message);
 */
export type ControllerCommand =
  /** Step 570: make these records durable, then answer `persisted` (or `persistFailed`). */
  | { readonly type: 'persist'; readonly persistId: number; readonly records: ReadonlyArray<PersistRecord> }
  /**
   * Send a message to an agent; `step` names the flowchart step it carries out, if any. The
   * table and entry documents in it are frozen and shared (one list of changes for every agent a
   * step sends it to, one document per committed table): serialize or copy, never modify.
   */
  | { readonly type: 'send'; readonly to: AgentId; readonly message: ControllerMessage; readonly step?: Step }
  /** Background copy of `length` blocks, then answer `copyDone` (or `copyFailed`). */
  | { readonly type: 'copyBlocks'; readonly copyId: number; readonly from: { readonly lun: number; readonly start: number }; readonly to: { readonly lun: number; readonly start: number }; readonly length: number }
  /** Fill `length` blocks with zeros (settling a zero segment), then answer `copyDone` (or `copyFailed`). */
  | { readonly type: 'writeZeros'; readonly copyId: number; readonly to: { readonly lun: number; readonly start: number }; readonly length: number }
  /** Space that no table references any more went back to the allocator. */
  | { readonly type: 'released'; readonly extent: Extent }
  /** Step 597: a fault or mark is finished. `path` lists the steps it went through. */
  | {
      readonly type: 'resolved';
      readonly agent: AgentId;
      readonly faultId: number;
      readonly disk: DiskId;
      readonly segment: number;
      readonly reason: FaultReason | 'mark' | 'no-table' | 'zero-segment';
      readonly outcome: Outcome;
      readonly path: ReadonlyArray<Step>;
      readonly detail?: string;
    }
  /** A message was refused (stale epoch, unknown agent or disk). */
  | { readonly type: 'refused'; readonly message: AgentMessage; readonly why: string }
  /** An event that is not a usable `ControllerEvent` (and carries no `requestId` to answer) was ignored; `why` says what was wrong. */
  | { readonly type: 'eventRefused'; readonly why: string }
  /**
   * The agent's lease has certainly expired and it was evicted: table changes stop waiting for
   * it. A product that cannot trust the lease alone cuts the agent's storage path here (the
   * optional `fence` adapter hook: SCSI persistent reservations, a blocklist). Epoch -1: a
   * restarted controller gave up on an agent it never heard from (`reuse-hold.ts`): every life.
   */
  | { readonly type: 'fence'; readonly agent: AgentId; readonly epoch: number }
  | { readonly type: 'adminDone'; readonly requestId: number; readonly result: AdminResult }
  /**
   * Durability (docs/design.md#ordering-rules): make every copy and zero-fill to these LUNs that
   * was answered `copyDone` before now durable (`BlockStorage.flush` of each), then answer
   * `flushed` (or `flushFailed`). The record that makes a table depend on those blocks waits
   * for it.
   */
  | { readonly type: 'flush'; readonly flushId: number; readonly luns: ReadonlyArray<number> }
  /** LUN `lun`'s free space just dropped below `config.lowWaterMark` blocks: time to grow the pool. */
  | { readonly type: 'lowSpace'; readonly lun: number; readonly free: number; readonly size: number; readonly lowWaterMark: number };
