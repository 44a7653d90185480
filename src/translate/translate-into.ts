/**
 * The decision: {@link translateInto} and its hot loops, following
 * docs/design.md#per-block-decision-table in this precedence:
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
 * when any block is `error`; only a request with neither yields pieces. It reads the table's
 * records directly; their layout is in `src/table/layout.ts`.
 */
import {
  ALT_HEADER,
  altStride,
  CHUNK_BITS,
  chunkFrozen,
  chunkInFlat,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  frozenHead,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
  type MappingTable,
} from '../table/layout.js';
import { segmentIn } from '../table/segments.js';
import {
  KIND_ALTERNATE,
  KIND_PRIMARY,
  KIND_ZERO,
  REASON_ERROR,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_INVALID_REQUEST,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
  type Op,
  type PieceBuffer,
  type TranslateStatus,
  type Variant,
} from './types.js';

const CHUNK_MASK = (1 << CHUNK_BITS) - 1;

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
 * The end (a segment offset, at most `to`) of the run of grains from grain `bit` on whose bits
 * all differ from `set`: {@link scan} over grain numbers, scaled back to blocks.
 */
const grainRunEnd = (words: Uint32Array, at: number, bit: number, to: number, grain: number, set: boolean): number => {
  const grains = Math.ceil(to / grain);
  const end = scan(words, at, bit, grains, set) * grain;
  return end < to ? end : to;
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
  // A variable table has segmentBlocks 0, so it always takes this branch: the uniform path pays nothing.
  if (end > table.segmentCount * table.segmentBlocks) return translateVariable(table, op, start, end, out, variant);
  const physical = onePrimaryStart(table, op, start, end);
  if (physical >= 0) return onePrimaryPiece(out, start, length, onePrimaryLun, physical);
  return translateGeneral(table, op === 'write', variant === 'distributed', start, end, out);
};

/** Out of range for a uniform table; a variable table's request goes through its boundary index. */
const translateVariable = (table: MappingTable, op: Op, start: number, end: number, out: PieceBuffer, variant: Variant): TranslateStatus =>
  table.segmentStarts === null || end > table.segmentStarts[table.segmentCount]!
    ? STATUS_OUT_OF_RANGE
    : translateGeneral(table, op === 'write', variant === 'distributed', start, end, out);

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
  // A read of a noWrite primary is served like any other read; a write to a located segment of
  // a chunk frozen by its bit (freeze.ts) is not.
  if ((rec[r]! & (op === 'write' ? FLAG_MASK : FLAG_MASK & ~F_NO_WRITE)) !== F_HAS_LOCATION) return -1;
  if (op === 'write' && chunkFrozen(table, ci)) return -1;
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
  // A variable table's segments are found by bisection of its boundary index, then walked in order.
  const starts = table.segmentStarts;
  let segment = starts === null ? Math.floor(start / sb) : segmentIn(starts, table.segmentCount, start);
  let segmentBase = starts === null ? segment * sb : starts[segment]!;
  let faulted = false;
  let errored = false;
  // One alternate bit per grain (docs/design.md#bitmap-grain): offset k reads bit k / grain.
  const grain = table.grainBlocks;
  const stride = altStride(grain === 1 ? sb : sb / grain);
  let v = start;
  while (v < end) {
    // One record holds the flags, the primary and the alternate's slot (see table.ts).
    const ci = segment >>> CHUNK_BITS;
    const chunk = table.chunks[ci]!; // dereferenced only for alternates and chunks outside `flat`
    const inFlat = chunkInFlat(table, ci);
    const rec = inFlat ? table.flat! : chunk.rec;
    const r = (inFlat ? segment : segment & CHUNK_MASK) * REC_WORDS;
    // Only writes look at the chunk's frozen bit (freeze.ts): a read of a noWrite primary is any read.
    const head = write && chunkFrozen(table, ci) ? frozenHead(rec[r]!) : rec[r]!;
    const nextBase = starts === null ? segmentBase + sb : starts[segment + 1]!;
    const segmentEnd = Math.min(end, nextBase);
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
          let set: boolean;
          let runEnd: number;
          if (grain === 1) {
            set = ((words[at + (k >>> 5)]! >>> (k & 31)) & 1) === 1;
            runEnd = scan(words, at, k, to, !set);
          } else {
            const bit = (k / grain) | 0; // offsets are below 2^24
            set = ((words[at + (bit >>> 5)]! >>> (bit & 31)) & 1) === 1;
            runEnd = grainRunEnd(words, at, bit, to, grain, !set);
          }
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
    segmentBase = nextBase;
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

// The `translate` wrapper's short path shares these. They are exported under other names so that
// the functions translateInto calls stay module-private: calling an exported binding adds
// bytecode, and translateInto is kept under V8's inlining limit.

/** @internal {@link isRequest}, for the `translate` wrapper. */
export const wellFormedRequest = isRequest;
/** @internal {@link onePrimaryStart}, for the `translate` wrapper. */
export const onePrimaryPieceStart = onePrimaryStart;
/** @internal The LUN of the piece the last {@link onePrimaryStart} found. */
export const lastPrimaryLun = (): number => onePrimaryLun;
