/**
 * Translation: (table, read | write, virtual range) -> physical pieces, or a failure.
 *
 * Each block's decision follows docs/design.md#per-block-decision-table, in this precedence:
 *
 * | block k                  | read                | write                                          |
 * |--------------------------|---------------------|------------------------------------------------|
 * | `invalid`                | fault `invalid`     | fault `invalid`                                |
 * | `error`                  | fail `error`        | fail `error`                                   |
 * | alternate with bit k set | alternate           | alternate                                      |
 * | `zero`                   | zeros, no I/O       | fault `zero`                                   |
 * | primary, `noWrite`       | primary             | fault `no-write`; distributed with an alternate: alternate, marking bit k |
 * | primary                  | primary             | primary                                        |
 *
 * A request faults when any block faults (listing every faulting segment) and otherwise fails
 * when any block is `error`; only a request with neither yields pieces.
 *
 * There is one implementation, {@link translateInto}, which writes into a reusable
 * {@link PieceBuffer} and allocates nothing once the buffer is big enough; {@link translate}
 * wraps it in objects and `Either` for everyone else.
 */
import * as E from 'fp-ts/lib/Either.js';
import { unreadableError, validationError, type ValidationError } from '../errors.js';
import {
  ALT_HEADER,
  altStride,
  CHUNK_BITS,
  chunkInFlat,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  isTable,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
  type MappingTable,
} from '../table/table.js';

const CHUNK_MASK = (1 << CHUNK_BITS) - 1;

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

const REASON_NAMES: readonly FaultReason[] = ['invalid', 'no-write', 'zero'];

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

/** Appends a piece, merging it into the previous one when they are contiguous in every sense. */
const emit = (out: PieceBuffer, kind: number, marks: number, v: number, length: number, lun: number, start: number): void => {
  const last = out.count - 1;
  if (
    last >= 0 &&
    out.kind[last] === kind &&
    out.marks[last] === marks &&
    out.virtualStart[last]! + out.length[last]! === v &&
    (kind === KIND_ZERO || (out.lun[last] === lun && out.start[last]! + out.length[last]! === start))
  ) {
    out.length[last] = out.length[last]! + length;
    return;
  }
  if (out.count === out.kind.length) out.growPieces();
  const i = out.count++;
  out.kind[i] = kind;
  out.marks[i] = marks;
  out.virtualStart[i] = v;
  out.length[i] = length;
  out.lun[i] = kind === KIND_ZERO ? 0 : lun;
  out.start[i] = kind === KIND_ZERO ? 0 : start;
};

const fail = (out: PieceBuffer, segment: number, reason: number): void => {
  if (out.failureCount === out.failureSegment.length) out.growFailures();
  out.failureSegment[out.failureCount] = segment;
  out.failureReason[out.failureCount++] = reason;
};

/**
 * First offset in `from .. to-1` whose bit equals `set` (or `to`), a whole word at a time, in the
 * bitmap whose word 0 is `words[at]`.
 */
const scan = (words: Uint32Array, at: number, from: number, to: number, set: boolean): number => {
  let w = from >>> 5;
  let word = (set ? words[at + w]! : ~words[at + w]!) & (~0 << (from & 31));
  const lastWord = (to - 1) >>> 5;
  while (word === 0) {
    if (w >= lastWord) return to;
    w++;
    word = set ? words[at + w]! : ~words[at + w]!;
  }
  const k = (w << 5) + 31 - Math.clz32(word & -word);
  return k < to ? k : to;
};

/**
 * Allocation-free translation into `out` (cleared first). Returns a status code; on
 * `STATUS_FAULT` or `STATUS_ERROR` the failing segments are in `out.failureSegment` with their
 * `REASON_*` codes, and no pieces are left in `out`. Same results as {@link translate}.
 *
 * @example
 * const buf = new PieceBuffer();
 * const status = translateInto(table, 'write', 16, 8, buf, 'distributed');
 * if (status === STATUS_FAULT) console.log(Array.from(buf.failureSegment.subarray(0, buf.failureCount)));
 */
export const translateInto = (
  table: MappingTable,
  op: Op,
  start: number,
  length: number,
  out: PieceBuffer,
  variant: Variant = 'centralized',
): TranslateStatus => {
  // Kept under V8's inlining limit (460 bytes of bytecode) so that a caller's loop absorbs it:
  // the rare cases live in translateGeneral, the rest in small helpers.
  out.count = 0;
  out.failureCount = 0;
  if (!isRequest(op, start, length)) return STATUS_INVALID_REQUEST;
  const end = start + length;
  if (end > table.segmentCount * table.segmentBlocks) return STATUS_OUT_OF_RANGE;
  const physical = onePrimaryStart(table, op, start, end);
  if (physical >= 0) return onePrimaryPiece(out, start, length, onePrimaryLun, physical);
  return translateGeneral(table, op === 'write', variant === 'distributed', start, end, out);
};

const isRequest = (op: Op, start: number, length: number): boolean =>
  Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(length) && length >= 0 && (op === 'read' || op === 'write');

/** The LUN of the piece {@link onePrimaryStart} found (a second result without an allocation). */
let onePrimaryLun = 0;

/**
 * The short path both entry points share. Most requests lie inside one segment whose blocks all
 * go to the primary: then the piece's physical start (its LUN in `onePrimaryLun`), else -1.
 * The request is valid and inside the disk.
 */
const onePrimaryStart = (table: MappingTable, op: Op, start: number, end: number): number => {
  const sb = table.segmentBlocks;
  const segment = Math.floor(start / sb);
  if (end > (segment + 1) * sb || end === start) return -1;
  const ci = segment >>> CHUNK_BITS;
  const inFlat = chunkInFlat(table, ci);
  const rec = inFlat ? table.flat! : table.chunks[ci]!.rec;
  const r = (inFlat ? segment : segment & CHUNK_MASK) * REC_WORDS;
  // A read of a noWrite primary is served like any other read.
  if ((rec[r]! & (op === 'write' ? FLAG_MASK : FLAG_MASK & ~F_NO_WRITE)) !== F_HAS_LOCATION) return -1;
  onePrimaryLun = rec[r + 1]!;
  return rec[r + 2]! + rec[r + 3]! * TWO_POW_32 + (start - segment * sb);
};

const onePrimaryPiece = (out: PieceBuffer, virtualStart: number, length: number, lun: number, start: number): TranslateStatus => {
  out.kind[0] = KIND_PRIMARY;
  out.marks[0] = 0;
  out.virtualStart[0] = virtualStart;
  out.length[0] = length;
  out.lun[0] = lun;
  out.start[0] = start;
  out.count = 1;
  return STATUS_OK;
};

/** Every case of {@link translateInto}, for a request already validated. */
const translateGeneral = (table: MappingTable, write: boolean, distributed: boolean, start: number, end: number, out: PieceBuffer): TranslateStatus => {
  const sb = table.segmentBlocks;
  let segment = Math.floor(start / sb);
  let segmentBase = segment * sb;
  let faulted = false;
  let errored = false;
  const stride = altStride(sb);
  let v = start;
  while (v < end) {
    // One record holds the flags, the primary and the alternate's slot (see table.ts).
    const ci = segment >>> CHUNK_BITS;
    const chunk = table.chunks[ci]!; // dereferenced only for alternates and chunks outside `flat`
    const inFlat = chunkInFlat(table, ci);
    const rec = inFlat ? table.flat! : chunk.rec;
    const r = (inFlat ? segment : segment & CHUNK_MASK) * REC_WORDS;
    const head = rec[r]!;
    const segmentEnd = Math.min(end, segmentBase + sb);
    if ((head & F_INVALID) !== 0) {
      faulted = true;
      fail(out, segment, REASON_INVALID);
    } else if ((head & F_ERROR) !== 0) {
      errored = true;
      fail(out, segment, REASON_ERROR);
    } else {
      const hasAlt = (head & F_HAS_ALTERNATE) !== 0;
      const slot = head >>> SLOT_SHIFT;
      // A chunk still in `flat` has its slots in `flatAlts` too: reading them there spares two
      // dependent loads (the chunk, then its typed array), which at a million segments miss the cache.
      const flatAlts = inFlat ? table.flatAlts : null;
      const alt = flatAlts !== null ? flatAlts.slots : chunk.alt;
      const altAt = (flatAlts !== null ? flatAlts.base[ci]! + slot : slot) * stride;
      // Decision for blocks not at the alternate.
      let kind = KIND_PRIMARY;
      let marks = 0;
      let lun = rec[r + 1]!;
      let base = rec[r + 2]! + rec[r + 3]! * TWO_POW_32;
      let reason = -1;
      if ((head & F_ZERO) !== 0) {
        if (write) reason = REASON_ZERO;
        else kind = KIND_ZERO;
      } else if (write && (head & F_NO_WRITE) !== 0) {
        if (distributed && hasAlt) {
          kind = KIND_ALTERNATE;
          marks = 1;
          lun = alt![altAt]!;
          base = alt![altAt + 1]! + alt![altAt + 2]! * TWO_POW_32;
        } else {
          reason = REASON_NO_WRITE;
        }
      }
      const from = v - segmentBase;
      const to = segmentEnd - segmentBase;
      if (!hasAlt) {
        if (reason >= 0) {
          faulted = true;
          fail(out, segment, reason);
        } else if (!faulted) emit(out, kind, marks, v, to - from, lun, base + from);
      } else {
        // Alternate runs (bit set) and decision runs (bit clear) alternate; find each run's end
        // with whole-word scans.
        const altLun = alt![altAt]!;
        const altStart = alt![altAt + 1]! + alt![altAt + 2]! * TWO_POW_32;
        const inline = stride > ALT_HEADER; // else the bitmaps are values of the chunk
        const words = inline ? alt! : chunk.bitmaps![slot]!.words;
        const at = inline ? altAt + ALT_HEADER : 0;
        let k = from;
        let faultedHere = false;
        while (k < to) {
          const set = ((words[at + (k >>> 5)]! >>> (k & 31)) & 1) === 1;
          const runEnd = scan(words, at, k, to, !set);
          if (set) {
            if (!faulted) emit(out, KIND_ALTERNATE, 0, segmentBase + k, runEnd - k, altLun, altStart + k);
          } else if (reason >= 0) {
            faultedHere = true;
            break;
          } else if (!faulted) {
            emit(out, kind, marks, segmentBase + k, runEnd - k, lun, base + k);
          }
          k = runEnd;
        }
        if (faultedHere) {
          faulted = true;
          fail(out, segment, reason);
        }
      }
    }
    v = segmentEnd;
    segment++;
    segmentBase += sb;
  }
  if (faulted) {
    // Keep only the faults: an error elsewhere in the request is reported after resolution.
    let n = 0;
    for (let j = 0; j < out.failureCount; j++)
      if (out.failureReason[j] !== REASON_ERROR) {
        out.failureSegment[n] = out.failureSegment[j]!;
        out.failureReason[n++] = out.failureReason[j]!;
      }
    out.failureCount = n;
    out.count = 0;
    return STATUS_FAULT;
  }
  if (errored) {
    out.count = 0;
    return STATUS_ERROR;
  }
  return STATUS_OK;
};

const scratch = /* @__PURE__ */ new PieceBuffer(64);

const requestErrors = (request: IoRequest): ValidationError[] => {
  const errors: ValidationError[] = [];
  if (typeof request !== 'object' || request === null) return [validationError('request', request, 'must be { op, start, length }')];
  if (request.op !== 'read' && request.op !== 'write') errors.push(validationError('op', request.op, "must be 'read' or 'write'"));
  if (!(Number.isSafeInteger(request.start) && request.start >= 0))
    errors.push(validationError('start', request.start, 'must be a non-negative safe integer'));
  if (!(Number.isSafeInteger(request.length) && request.length >= 0))
    errors.push(validationError('length', request.length, 'must be a non-negative safe integer'));
  return errors;
};

/**
 * Copies the pieces of `out` into plain objects, for code that takes `Piece` values (logs,
 * tests, an agent's `issueIo` command) after an allocation-free {@link translateInto}.
 *
 * @example
 * if (translateInto(table, 'read', 0, 8, buf) === STATUS_OK) console.log(piecesOf(buf));
 */
export const piecesOf = (out: PieceBuffer): Piece[] => {
  // Most requests have one piece: an array literal of it is allocated at its final size.
  if (out.count === 1) return [pieceAt(out, 0)];
  const pieces: Piece[] = [];
  for (let i = 0; i < out.count; i++) pieces.push(pieceAt(out, i));
  return pieces;
};

const pieceAt = (out: PieceBuffer, i: number): Piece => {
  const kind = out.kind[i]!;
  const virtualStart = out.virtualStart[i]!;
  const length = out.length[i]!;
  // Literal objects of a fixed shape: spreading a shared base is several times slower.
  if (kind === KIND_ZERO) return { kind: 'zero', virtualStart, length };
  if (out.marks[i] === 1) return { kind: 'alternate', virtualStart, length, lun: out.lun[i]!, start: out.start[i]!, marksAlternate: true };
  return { kind: kind === KIND_PRIMARY ? 'primary' : 'alternate', virtualStart, length, lun: out.lun[i]!, start: out.start[i]! };
};

/**
 * Translates a host request through a table.
 *
 * @example
 * translate(table, { op: 'read', start: 0, length: 10 })
 * // Right([{ kind: 'primary', virtualStart: 0, length: 2, lun: 1, start: 0 },
 * //        { kind: 'alternate', virtualStart: 2, length: 1, lun: 2, start: 12 }, ...])
 * translate(table, { op: 'write', start: 10, length: 1 })
 * // Left({ type: 'fault', faults: [{ segment: 1, reason: 'no-write' }] })
 */
export const translate = (
  table: MappingTable,
  request: IoRequest,
  options: TranslateOptions = {},
): E.Either<TranslateFailure, Piece[]> => {
  // Every field is read once, so a getter cannot answer differently below; nothing is allocated
  // for well-formed input.
  let op: unknown;
  let start: unknown;
  let length: unknown;
  let variant: unknown;
  try {
    if (typeof request === 'object' && request !== null) ({ op, start, length } = request);
    if (typeof options === 'object' && options !== null) variant = options.variant;
  } catch (thrown) {
    return E.left({ type: 'invalid-request', errors: [unreadableError('request', thrown)] });
  }
  const fields = (): IoRequest => (typeof request === 'object' && request !== null ? ({ op, start, length } as IoRequest) : request);
  if (!isTable(table) || (variant !== undefined && variant !== 'centralized' && variant !== 'distributed')) {
    const errors: ValidationError[] = [];
    if (!isTable(table)) errors.push(validationError('table', table, 'must be a mapping table built by this library'));
    if (variant !== undefined && variant !== 'centralized' && variant !== 'distributed')
      errors.push(validationError('options.variant', variant, "must be 'centralized' or 'distributed'"));
    return E.left({ type: 'invalid-request', errors: [...errors, ...requestErrors(fields())] });
  }
  // The short path builds its one piece directly, without the round trip through `scratch`.
  if (isRequest(op as Op, start as number, length as number) && (start as number) + (length as number) <= table.segmentCount * table.segmentBlocks) {
    const [first, count] = [start as number, length as number];
    const physical = onePrimaryStart(table, op as Op, first, first + count);
    if (physical >= 0) return E.right([{ kind: 'primary', virtualStart: first, length: count, lun: onePrimaryLun, start: physical }]);
  }
  const status = translateInto(table, op as Op, start as number, length as number, scratch, variant as Variant | undefined);
  switch (status) {
    case STATUS_OK:
      return E.right(piecesOf(scratch));
    case STATUS_FAULT: {
      const faults: SegmentFault[] = [];
      for (let j = 0; j < scratch.failureCount; j++)
        faults.push({ segment: scratch.failureSegment[j]!, reason: REASON_NAMES[scratch.failureReason[j]!]! });
      return E.left({ type: 'fault', faults });
    }
    case STATUS_ERROR:
      return E.left({ type: 'error', segments: Array.from(scratch.failureSegment.subarray(0, scratch.failureCount)) });
    case STATUS_OUT_OF_RANGE: {
      const diskBlocks = table.segmentCount * table.segmentBlocks;
      return E.left({
        type: 'out-of-range',
        start: start as number,
        length: length as number,
        diskBlocks,
        message: `request start ${start as number} length ${length as number} ends past the disk's ${diskBlocks} blocks`,
      });
    }
    default:
      return E.left({ type: 'invalid-request', errors: requestErrors(fields()) });
  }
};
