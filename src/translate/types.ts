/**
 * The vocabulary of translation: requests and their options, pieces and failures, the status,
 * kind and reason codes of {@link translateInto}, and {@link PieceBuffer}, its reusable output.
 */
import type { ValidationError } from '../errors.js';

/**
 * The two operations a host request can be. The distinction matters because only writes fault
 * on `noWrite` and `zero` segments; reads of them are served.
 *
 * @example
 * const op: Op = 'write';
 * translate(table, { op, start: 0, length: 8 });
 */
export type Op = 'read' | 'write';

/**
 * A host request on a virtual disk: `length` blocks from virtual block `start`.
 *
 * @example
 * const request: IoRequest = { op: 'read', start: 16, length: 8 }; // virtual blocks 16..23
 */
export interface IoRequest {
  readonly op: Op;
  readonly start: number;
  readonly length: number;
}

/**
 * Who sets alternate bits (docs/design.md#fault-resolution). `distributed` lets a write to a
 * `noWrite` segment that has an alternate go to the alternate, marking its blocks.
 *
 * @example
 * translate(table, { op: 'write', start: 10, length: 1 }, { variant: 'distributed' })
 * // Right([{ kind: 'alternate', ..., marksAlternate: true }]) when segment 1 is noWrite with an alternate
 */
export type Variant = 'centralized' | 'distributed';

/**
 * Options of {@link translate}. Agents pass the variant the controller runs, so that translation
 * and fault resolution agree on who sets alternate bits.
 *
 * @example
 * const options: TranslateOptions = { variant: 'distributed' };
 * translate(table, request, options);
 */
export interface TranslateOptions {
  /** Defaults to `centralized`; anything else is an invalid request. */
  readonly variant?: Variant;
}

/**
 * Where a piece goes: the segment's primary location, its alternate, or nowhere (`zero`: the
 * blocks read as zeros and need no storage I/O).
 *
 * @example
 * const blocksByKind: Record<PieceKind, number> = { primary: 0, alternate: 0, zero: 0 };
 * for (const p of pieces) blocksByKind[p.kind] += p.length;
 */
export type PieceKind = 'primary' | 'alternate' | 'zero';

/**
 * A maximal run of the request with one physical destination: `length` blocks from virtual
 * block `virtualStart`, at `lun:start` (absent for `zero`, which reads as zeros with no I/O).
 *
 * @example
 * for (const p of pieces) if (p.kind !== 'zero') await storage.read(p.lun!, p.start!, p.length);
 */
export interface Piece {
  readonly kind: PieceKind;
  readonly virtualStart: number;
  readonly length: number;
  readonly lun?: number;
  readonly start?: number;
  /**
   * Distributed variant only: this write goes to the alternate and sets the bits of its blocks;
   * the host write completes only once the controller has made those bits durable.
   */
  readonly marksAlternate?: true;
}

/**
 * Why a segment faults: `invalid` for any I/O through an invalid entry, `no-write` for a write
 * to a frozen primary, `zero` for a write to a block of a `zero` segment that has no storage yet.
 * The controller resolves each kind differently.
 *
 * @example
 * const result = translate(table, { op: 'write', start: 10, length: 1 });
 * if (E.isLeft(result) && result.left.type === 'fault') result.left.faults.map((f) => f.reason); // ['no-write']
 */
export type FaultReason = 'invalid' | 'no-write' | 'zero';

/**
 * One segment that stops a request, and why. An agent raises one fault with the controller per
 * `SegmentFault` and parks the request until they are resolved.
 *
 * @example
 * const fault: SegmentFault = { segment: 1, reason: 'no-write' };
 */
export interface SegmentFault {
  readonly segment: number;
  readonly reason: FaultReason;
}

/**
 * Why a request yields no pieces. A `fault` needs the controller and may succeed once it is
 * resolved; `error` fails the I/O; the other two are the caller's mistake.
 *
 * @example
 * const result = translate(table, { op: 'read', start: 0, length: 1 << 20 });
 * if (E.isLeft(result) && result.left.type === 'out-of-range') console.error(result.left.message);
 */
export type TranslateFailure =
  | { readonly type: 'fault'; readonly faults: ReadonlyArray<SegmentFault> }
  | { readonly type: 'error'; readonly segments: ReadonlyArray<number> }
  | { readonly type: 'out-of-range'; readonly start: number; readonly length: number; readonly diskBlocks: number; readonly message: string }
  | { readonly type: 'invalid-request'; readonly errors: ReadonlyArray<ValidationError> };

/**
 * Status of {@link translateInto}: the request translated, and its pieces are in the buffer.
 *
 * @example
 * if (translateInto(table, 'read', 0, 8, buf) === STATUS_OK) console.log(piecesOf(buf));
 */
export const STATUS_OK = 0;
/**
 * Status of {@link translateInto}: at least one segment faults. The faulting segments are in
 * `failureSegment` with their `REASON_*` codes; the I/O must wait for the controller.
 *
 * @example
 * if (translateInto(table, 'write', 0, 32, buf) === STATUS_FAULT)
 *   for (let i = 0; i < buf.failureCount; i++) console.log(buf.failureSegment[i], buf.failureReason[i]);
 */
export const STATUS_FAULT = 1;
/**
 * Status of {@link translateInto}: no segment faults but at least one is marked `error`, so the
 * I/O fails. The segments are in `failureSegment`, each with {@link REASON_ERROR}.
 *
 * @example
 * if (translateInto(table, 'read', 0, 32, buf) === STATUS_ERROR) console.error('request touches failed storage');
 */
export const STATUS_ERROR = 2;
/**
 * Status of {@link translateInto}: the request ends past the last block of the disk.
 *
 * @example
 * translateInto(table, 'read', table.segmentCount * table.segmentBlocks, 1, buf) === STATUS_OUT_OF_RANGE // true
 */
export const STATUS_OUT_OF_RANGE = 3;
/**
 * Status of {@link translateInto}: the operation is not `read` or `write`, or `start` or `length`
 * is not a non-negative safe integer. {@link translate} reports which, field by field.
 *
 * @example
 * translateInto(table, 'read', -1, 8, buf) === STATUS_INVALID_REQUEST // true
 */
export const STATUS_INVALID_REQUEST = 4;
/**
 * What {@link translateInto} returns: one of the `STATUS_*` codes. Numbers rather than objects,
 * so that a hot path can translate without allocating.
 *
 * @example
 * const status: TranslateStatus = translateInto(table, 'write', 0, 8, buf);
 * if (status !== STATUS_OK && status !== STATUS_FAULT) throw new Error(`cannot translate: status ${status}`);
 */
export type TranslateStatus = 0 | 1 | 2 | 3 | 4;

/**
 * `kind[i]` of a piece in a {@link PieceBuffer} that goes to the segment's primary location.
 *
 * @example
 * if (buf.kind[i] === KIND_PRIMARY) await storage.read(buf.lun[i]!, buf.start[i]!, buf.length[i]!);
 */
export const KIND_PRIMARY = 0;
/**
 * `kind[i]` of a piece in a {@link PieceBuffer} that goes to the segment's alternate. When
 * `marks[i]` is 1, the write also sets the alternate bits of its blocks (distributed variant).
 *
 * @example
 * const marking = buf.kind[i] === KIND_ALTERNATE && buf.marks[i] === 1;
 */
export const KIND_ALTERNATE = 1;
/**
 * `kind[i]` of a piece in a {@link PieceBuffer} that reads as zeros with no storage I/O; its
 * `lun` and `start` are 0 and mean nothing.
 *
 * @example
 * const needsIo = buf.kind[i] !== KIND_ZERO; // zero pieces are filled in by the caller
 */
export const KIND_ZERO = 2;
/**
 * `failureReason[i]` in a {@link PieceBuffer}: the segment's entry is `invalid` (a fault).
 *
 * @example
 * if (buf.failureReason[i] === REASON_INVALID) console.log(`segment ${buf.failureSegment[i]} is invalid`);
 */
export const REASON_INVALID = 0;
/**
 * `failureReason[i]` in a {@link PieceBuffer}: a write to a `noWrite` primary (a fault).
 *
 * @example
 * if (buf.failureReason[i] === REASON_NO_WRITE) console.log(`segment ${buf.failureSegment[i]} is frozen`);
 */
export const REASON_NO_WRITE = 1;
/**
 * `failureReason[i]` in a {@link PieceBuffer}: a write to a `zero` block with no storage yet (a
 * fault).
 *
 * @example
 * if (buf.failureReason[i] === REASON_ZERO) console.log(`segment ${buf.failureSegment[i]} needs space`);
 */
export const REASON_ZERO = 2;
/**
 * `failureReason[i]` in a {@link PieceBuffer}: the segment is marked `error`. Not a fault: it
 * comes with {@link STATUS_ERROR} and the I/O fails.
 *
 * @example
 * if (buf.failureReason[i] === REASON_ERROR) console.error(`segment ${buf.failureSegment[i]} has failed`);
 */
export const REASON_ERROR = 3;

/**
 * Reusable output of {@link translateInto}: pieces `0 .. count-1` as parallel columns, and the
 * failing segments `0 .. failureCount-1` with their reasons. Grows (allocating) only when a
 * request needs more room than any before it.
 *
 * @example
 * const buf = new PieceBuffer();
 * if (translateInto(table, 'read', 0, 30, buf) === STATUS_OK)
 *   for (let i = 0; i < buf.count; i++) issue(buf.lun[i], buf.start[i], buf.length[i]);
 */
export class PieceBuffer {
  count = 0;
  kind: Uint8Array;
  marks: Uint8Array;
  virtualStart: Float64Array;
  length: Float64Array;
  lun: Uint32Array;
  start: Float64Array;
  failureCount = 0;
  failureSegment: Float64Array;
  failureReason: Uint8Array;

  constructor(capacity = 16) {
    const n = Math.max(1, capacity);
    this.kind = new Uint8Array(n);
    this.marks = new Uint8Array(n);
    this.virtualStart = new Float64Array(n);
    this.length = new Float64Array(n);
    this.lun = new Uint32Array(n);
    this.start = new Float64Array(n);
    this.failureSegment = new Float64Array(n);
    this.failureReason = new Uint8Array(n);
  }

  /** @internal */
  growPieces(): void {
    const n = this.kind.length * 2;
    const grow = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.kind = grow(this.kind, (k) => new Uint8Array(k));
    this.marks = grow(this.marks, (k) => new Uint8Array(k));
    this.virtualStart = grow(this.virtualStart, (k) => new Float64Array(k));
    this.length = grow(this.length, (k) => new Float64Array(k));
    this.lun = grow(this.lun, (k) => new Uint32Array(k));
    this.start = grow(this.start, (k) => new Float64Array(k));
  }

  /** @internal */
  growFailures(): void {
    const seg = new Float64Array(this.failureSegment.length * 2);
    seg.set(this.failureSegment);
    const reason = new Uint8Array(seg.length);
    reason.set(this.failureReason);
    this.failureSegment = seg;
    this.failureReason = reason;
  }
}
