/**
 * Everything that can happen to the controller, and how admin requests end.
 */
import type { AgentId, AgentMessage, DiskId } from '../protocol/messages.js';
import type { PersistedState } from './commands.js';

/**
 * Administrative requests. Each carries a `requestId` echoed by its `adminDone` command.
 *
 * - `attachAgent`: the agent may map the disk from now on (it gets the table on its first I/O).
 *   A snapshot is a disk of its own: to read it, attach an agent to the snapshot's name.
 * - `snapshot`: `snapshot` becomes a new, frozen-in-time disk sharing every block with `disk`;
 *   nothing maps it until an `attachAgent` on it.
 * - A malformed request (a field of the wrong type, a limit of `ControllerConfig.limits`
 *   exceeded) is answered `{ ok: false, error }` naming the field and the value; one without a
 *   usable `requestId` gets an `eventRefused` command instead.
 *
 * @example
 * const [next, commands] = controllerStep(state, { type: 'snapshot', requestId: 12, disk: 'vol', snapshot: 'vol@1' });
 * controllerStep(next, { type: 'splitSegment', requestId: 13, disk: 'vol', segment: 4, at: 16 }); // segment 4 cut after its 16th block
 */
export type AdminEvent =
  | {
      readonly type: 'createDisk';
      readonly requestId: number;
      readonly disk: DiskId;
      /** Blocks per segment; 0 for a variable disk, whose `segmentLengths` give each segment's. */
      readonly segmentBlocks: number;
      readonly segmentCount: number;
      /** A variable disk: `segmentCount` segment lengths (with `segmentBlocks` 0). */
      readonly segmentLengths?: ReadonlyArray<number>;
      /** Blocks per alternate bit, a divisor of `segmentBlocks` (docs/design.md#mapping-entries); 1 when absent. */
      readonly grainBlocks?: number;
    }
  | { readonly type: 'attachAgent'; readonly requestId: number; readonly disk: DiskId; readonly agent: AgentId }
  | { readonly type: 'detachAgent'; readonly requestId: number; readonly disk: DiskId; readonly agent: AgentId }
  | { readonly type: 'snapshot'; readonly requestId: number; readonly disk: DiskId; readonly snapshot: DiskId }
  | {
      readonly type: 'migrate';
      readonly requestId: number;
      readonly disk: DiskId;
      /** Segments to move; all located segments when absent. */
      readonly segments?: ReadonlyArray<number>;
      readonly lun: number;
    }
  | { readonly type: 'markFailed'; readonly requestId: number; readonly lun: number; readonly start: number; readonly length: number }
  /**
   * The disk has `segmentCount` segments: the last ones are dropped, or new ones reading as zeros
   * added. New segments of a variable disk are `segmentLength` blocks each (required when a
   * variable disk grows; on a uniform disk absent or its `segmentBlocks`), as `resizeTable`'s
   * `fill.length`. Refused while the disk has jobs (docs/design.md#jobs).
   */
  | { readonly type: 'resize'; readonly requestId: number; readonly disk: DiskId; readonly segmentCount: number; readonly segmentLength?: number }
  /**
   * Segment `segment` becomes two at block `at` of it (1 .. its length - 1), with the same
   * entry cut in two (`splitSegment`); later segments' numbers grow by one, and a uniform disk
   * becomes variable. Refused on a grained disk and while the disk has jobs.
   */
  | { readonly type: 'splitSegment'; readonly requestId: number; readonly disk: DiskId; readonly segment: number; readonly at: number }
  /**
   * Segment `segment` and the next become one (`mergeSegments`): refused, naming the field and
   * the value, unless their flags match and their extents continue each other; on a grained
   * disk; and while the disk has jobs. Later segments' numbers drop by one.
   */
  | { readonly type: 'mergeSegments'; readonly requestId: number; readonly disk: DiskId; readonly segment: number }
  // --- deletion and rollback (docs/design.md#jobs) ---
  /**
   * Deletes a disk or a snapshot: refused while agents are attached, unless `force` (they are
   * detached first, and the deletion waits until each has dropped its copy). Extents no other
   * table references go back to the allocator.
   */
  | { readonly type: 'deleteDisk'; readonly requestId: number; readonly disk: DiskId; readonly force?: boolean }
  /** The content of `disk` becomes that of `snapshot` again: entries shared, nothing copied. */
  | { readonly type: 'rollback'; readonly requestId: number; readonly disk: DiskId; readonly snapshot: DiskId };

/**
 * Everything that can happen to the controller: its persisted state at start, agent messages,
 * the results of its commands, the passing of time and admin requests. A runtime feeds them
 * to `controllerStep` one at a time, or several queued together as a `batch`.
 *
 * @example
 * const event: ControllerEvent = { type: 'message', message: { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'vol', generation: 5 } };
 * const [next, commands] = controllerStep(state, event);
 */
export type ControllerEvent =
  /** The persisted state, loaded at start: must be the first event. */
  | { readonly type: 'restored'; readonly state: PersistedState; readonly now: number }
  | { readonly type: 'message'; readonly message: AgentMessage }
  | { readonly type: 'persisted'; readonly persistId: number }
  | { readonly type: 'persistFailed'; readonly persistId: number; readonly error: string }
  | { readonly type: 'copyDone'; readonly copyId: number }
  | { readonly type: 'copyFailed'; readonly copyId: number; readonly error: string }
  /** Time passes: drives re-sends and retries. */
  | { readonly type: 'tick'; readonly now: number }
  | AdminEvent
  // Durability (docs/design.md#ordering-rules): the answer to a `flush` command.
  | { readonly type: 'flushed'; readonly flushId: number }
  | { readonly type: 'flushFailed'; readonly flushId: number; readonly error: string }
  /**
   * Several events at once, handled in order: the same next state and the same commands, in
   * order, as feeding them one at a time, for less (docs/design.md#fault-resolution). A runtime
   * feeds what it has queued together as one batch.
   */
  | { readonly type: 'batch'; readonly events: ReadonlyArray<ControllerEvent> };

/**
 * How an admin request ended, as carried by its `adminDone` command; `error` says why in words.
 *
 * @example
 * const result: AdminResult = await controller.admin({ type: 'resize', disk: 'vol', segmentCount: 128 });
 * if (!result.ok) console.error(result.error);
 */
export type AdminResult = { readonly ok: true } | { readonly ok: false; readonly error: string };
