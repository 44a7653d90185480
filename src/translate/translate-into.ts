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
 *
 * Constants below are written as literals, each checked by the compiler against the name it
 * stands for (`8 satisfies typeof CHUNK_BITS`), and the chunk bit tests are local copies of
 * layout's `chunkInFlat` / `chunkFrozen`. V8 does not fold a binding imported from another
 * module (nor does the published build put layout.ts and this file in one chunk): each use of
 * an imported constant cost a chain of loads and checks in the inlined loop, and each call of an
 * imported function a load and an identity check. The short path of a request inside one plain
 * segment went from 1.6-2.0 to 1.15-1.2 times the raw baseline (bench/README.md, translation).
 *
 * A variable table's request finds its first segment through the boundary index's directory
 * (`src/table/segment-directory.ts`), then takes the same one-segment short cut as a uniform
 * table's before the general loop.
 */
import type {
  ALT_HEADER,
  CHUNK_BITS,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  INLINE_BITMAP_WORDS,
  MappingTable,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
} from '../table/layout.js';
import type { SegmentDirectory } from '../table/segment-directory.js';
import type {
  KIND_ALTERNATE,
  KIND_PRIMARY,
  KIND_ZERO,
  Op,
  PieceBuffer,
  REASON_ERROR,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_INVALID_REQUEST,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
  TranslateStatus,
  Variant,
} from './types.js';

/** Segments per chunk minus one (`CHUNK_SIZE - 1`). */
const CHUNK_MASK = (1 << (8 satisfies typeof CHUNK_BITS)) - 1;

/** True when chunk `ci` has its records in `table.flat` (layout's `chunkInFlat`). */
const inFlatChunk = (table: MappingTable, ci: number): boolean => ((table.inFlat[ci >>> 5]! >>> (ci & 31)) & 1) === 1;

/** True when chunk `ci` is frozen by its bit (layout's `chunkFrozen`). */
const frozenChunk = (table: MappingTable, ci: number): boolean => table.frozen !== null && ((table.frozen[ci >>> 5]! >>> (ci & 31)) & 1) === 1;

/** A record's first word as a frozen chunk means it: `noWrite` added to a located segment (layout's `frozenHead`). */
const frozenFlags = (head: number): number => ((head & (16 satisfies typeof F_HAS_LOCATION)) !== 0 ? (head | (2 satisfies typeof F_NO_WRITE)) >>> 0 : head);

/** Words per alternate slot for bitmaps of `bits` bits (layout's `altStride`): the header, then the bitmap when it is inline. */
const slotWords = (bits: number): number => {
  const words = (bits + 31) >>> 5;
  return (3 satisfies typeof ALT_HEADER) + (words <= (32 satisfies typeof INLINE_BITMAP_WORDS) ? words : 0);
};

/** Appends a piece, merging it into the previous one when they are contiguous in every sense. */
const emit = (out: PieceBuffer, kind: number, marks: number, v: number, length: number, lun: number, start: number): void => {
  const last = out.count - 1;
  if (
    last >= 0 &&
    out.kind[last] === kind &&
    out.marks[last] === marks &&
    out.virtualStart[last]! + out.length[last]! === v &&
    (kind === (2 satisfies typeof KIND_ZERO) || (out.lun[last] === lun && out.start[last]! + out.length[last]! === start))
  ) {
    out.length[last] = out.length[last]! + length;
    return;
  }
  if (out.count === out.kind.length) out.growPieces();
  const i = out.count++;
  const zero = kind === (2 satisfies typeof KIND_ZERO);
  out.kind[i] = kind;
  out.marks[i] = marks;
  out.virtualStart[i] = v;
  out.length[i] = length;
  out.lun[i] = zero ? 0 : lun;
  out.start[i] = zero ? 0 : start;
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
  if (!isRequest(op, start, length)) return 4 satisfies typeof STATUS_INVALID_REQUEST;
  const end = start + length;
  // A variable table has segmentBlocks 0, so it takes this branch (but for an empty request at
  // block 0, which the general loop answers with no piece): the uniform path pays nothing.
  if (end > table.segmentCount * table.segmentBlocks) return translateVariable(table, op, start, end, out, variant);
  if (onePrimaryPiece(table, op, start, end, out)) return 0 satisfies typeof STATUS_OK;
  return translateGeneral(table, op === 'write', variant === 'distributed', start, end, out, -1);
};

/**
 * Out of range for a uniform table. A variable table's request finds the segment of its first
 * block in the boundary index, then is served like a uniform table's: one piece when it lies
 * inside one segment that goes to the primary, else the general loop from that segment.
 */
const translateVariable = (table: MappingTable, op: Op, start: number, end: number, out: PieceBuffer, variant: Variant): TranslateStatus => {
  const starts = table.segmentStarts;
  if (starts === null || end > starts[table.segmentCount]!) return 3 satisfies typeof STATUS_OUT_OF_RANGE;
  if (end === start) return 0 satisfies typeof STATUS_OK; // no block, hence no segment to find (start may be the disk's end)
  const segment = variableSegment(starts, table.segmentDirectory!, start);
  if (end <= starts[segment + 1]! && oneVariablePiece(table, op, segment, start, end, start - starts[segment]!, out)) return 0 satisfies typeof STATUS_OK;
  return translateGeneral(table, op === 'write', variant === 'distributed', start, end, out, segment);
};

/**
 * The segment holding block `v` (inside the disk) of a variable table: the last `s` with
 * `starts[s] <= v`, bisecting only the few segments between the directory's entries for `v`'s
 * bucket and the next. A local copy of segment-directory.ts's `segmentInDirectory`, for the
 * reason given at the top of this file.
 */
const variableSegment = (starts: Float64Array, directory: SegmentDirectory, v: number): number => {
  const i = Math.floor(v / directory.bucketBlocks);
  let lo = directory.first[i]!;
  let hi = directory.first[i + 1]!;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};

const isRequest = (op: Op, start: number, length: number): boolean =>
  Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(length) && length >= 0 && (op === 'read' || op === 'write');

/**
 * The short path both entry points share. Most requests lie inside one segment whose blocks all
 * go to the primary: then the one piece is written into `out` (whose counts are 0) and the
 * answer is true, else false and `out` is untouched. The request is valid and inside the disk.
 * (Returning the piece's start and its LUN through a module-level variable instead cost about
 * 15% of the plain path: V8 stores and loads such a variable through its context.)
 */
const onePrimaryPiece = (table: MappingTable, op: Op, start: number, end: number, out: PieceBuffer): boolean => {
  const sb = table.segmentBlocks;
  const segment = Math.floor(start / sb);
  if (end > (segment + 1) * sb || end === start) return false;
  const ci = segment >>> (8 satisfies typeof CHUNK_BITS);
  const inFlat = inFlatChunk(table, ci);
  const rec = inFlat ? table.flat! : table.chunks[ci]!.rec;
  const r = (inFlat ? segment : segment & CHUNK_MASK) * (4 satisfies typeof REC_WORDS);
  // A read of a noWrite primary is served like any other read; a write to a located segment of
  // a chunk frozen by its bit (freeze.ts) is not. 0xfd: FLAG_MASK & ~F_NO_WRITE.
  if ((rec[r]! & (op === 'write' ? (0xff satisfies typeof FLAG_MASK) : 0xfd)) !== (16 satisfies typeof F_HAS_LOCATION)) return false;
  if (op === 'write' && frozenChunk(table, ci)) return false;
  out.kind[0] = 0 satisfies typeof KIND_PRIMARY;
  out.marks[0] = 0;
  out.virtualStart[0] = start;
  out.length[0] = end - start;
  out.lun[0] = rec[r + 1]!;
  out.start[0] = rec[r + 2]! + rec[r + 3]! * (4294967296 satisfies typeof TWO_POW_32) + (start - segment * sb);
  out.count = 1;
  return true;
};

/**
 * {@link onePrimaryPiece} for segment `segment` of a variable table, holding the request (not
 * empty) from block `offset` of it. The same record test and piece; a copy rather than a helper
 * both call, so that the uniform short path stays exactly what was measured (a shared helper is
 * one more level for V8 to inline into `translate`'s short path).
 */
const oneVariablePiece = (table: MappingTable, op: Op, segment: number, start: number, end: number, offset: number, out: PieceBuffer): boolean => {
  const ci = segment >>> (8 satisfies typeof CHUNK_BITS);
  const inFlat = inFlatChunk(table, ci);
  const rec = inFlat ? table.flat! : table.chunks[ci]!.rec;
  const r = (inFlat ? segment : segment & CHUNK_MASK) * (4 satisfies typeof REC_WORDS);
  if ((rec[r]! & (op === 'write' ? (0xff satisfies typeof FLAG_MASK) : 0xfd)) !== (16 satisfies typeof F_HAS_LOCATION)) return false;
  if (op === 'write' && frozenChunk(table, ci)) return false;
  out.kind[0] = 0 satisfies typeof KIND_PRIMARY;
  out.marks[0] = 0;
  out.virtualStart[0] = start;
  out.length[0] = end - start;
  out.lun[0] = rec[r + 1]!;
  out.start[0] = rec[r + 2]! + rec[r + 3]! * (4294967296 satisfies typeof TWO_POW_32) + offset;
  out.count = 1;
  return true;
};

/**
 * Every case of {@link translateInto}, for a request already validated. `found` is the segment
 * holding `start` in a variable table (its caller looked it up); a uniform table's is a division.
 */
const translateGeneral = (table: MappingTable, write: boolean, distributed: boolean, start: number, end: number, out: PieceBuffer, found: number): TranslateStatus => {
  const sb = table.segmentBlocks;
  // A variable table's segments are walked in order from the one found, through its boundary index.
  const starts = table.segmentStarts;
  let segment = starts === null ? Math.floor(start / sb) : found;
  let segmentBase = starts === null ? segment * sb : starts[segment]!;
  let faulted = false;
  let errored = false;
  // One alternate bit per grain (docs/design.md#bitmap-grain): offset k reads bit k / grain.
  const grain = table.grainBlocks;
  const stride = slotWords(grain === 1 ? sb : sb / grain);
  let v = start;
  while (v < end) {
    // One record holds the flags, the primary and the alternate's slot (see table.ts).
    const ci = segment >>> (8 satisfies typeof CHUNK_BITS);
    const chunk = table.chunks[ci]!; // dereferenced only for alternates and chunks outside `flat`
    const inFlat = inFlatChunk(table, ci);
    const rec = inFlat ? table.flat! : chunk.rec;
    const r = (inFlat ? segment : segment & CHUNK_MASK) * (4 satisfies typeof REC_WORDS);
    // Only writes look at the chunk's frozen bit (freeze.ts): a read of a noWrite primary is any read.
    const head = write && frozenChunk(table, ci) ? frozenFlags(rec[r]!) : rec[r]!;
    const nextBase = starts === null ? segmentBase + sb : starts[segment + 1]!;
    const segmentEnd = Math.min(end, nextBase);
    if ((head & (1 satisfies typeof F_INVALID)) !== 0) {
      faulted = true;
      fail(out, segment, 0 satisfies typeof REASON_INVALID);
    } else if ((head & (8 satisfies typeof F_ERROR)) !== 0) {
      errored = true;
      fail(out, segment, 3 satisfies typeof REASON_ERROR);
    } else {
      const hasAlt = (head & (32 satisfies typeof F_HAS_ALTERNATE)) !== 0;
      const slot = head >>> (8 satisfies typeof SLOT_SHIFT);
      // A chunk still in `flat` has its slots in `flatAlts` too: reading them there spares two
      // dependent loads (the chunk, then its typed array), which at a million segments miss the cache.
      const flatAlts = inFlat ? table.flatAlts : null;
      const alt = flatAlts !== null ? flatAlts.slots : chunk.alt;
      const altAt = (flatAlts !== null ? flatAlts.base[ci]! + slot : slot) * stride;
      // Decision for blocks not at the alternate.
      let kind: number = 0 satisfies typeof KIND_PRIMARY;
      let marks = 0;
      let lun = rec[r + 1]!;
      let base = rec[r + 2]! + rec[r + 3]! * (4294967296 satisfies typeof TWO_POW_32);
      let reason = -1;
      if ((head & (4 satisfies typeof F_ZERO)) !== 0) {
        if (write) reason = 2 satisfies typeof REASON_ZERO;
        else kind = 2 satisfies typeof KIND_ZERO;
      } else if (write && (head & (2 satisfies typeof F_NO_WRITE)) !== 0) {
        if (distributed && hasAlt) {
          kind = 1 satisfies typeof KIND_ALTERNATE;
          marks = 1;
          lun = alt![altAt]!;
          base = alt![altAt + 1]! + alt![altAt + 2]! * (4294967296 satisfies typeof TWO_POW_32);
        } else {
          reason = 1 satisfies typeof REASON_NO_WRITE;
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
        const altStart = alt![altAt + 1]! + alt![altAt + 2]! * (4294967296 satisfies typeof TWO_POW_32);
        const inline = stride > (3 satisfies typeof ALT_HEADER); // else the bitmaps are values of the chunk
        const words = inline ? alt! : chunk.bitmaps![slot]!.words;
        const at = inline ? altAt + (3 satisfies typeof ALT_HEADER) : 0;
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
            if (!faulted) emit(out, 1 satisfies typeof KIND_ALTERNATE, 0, segmentBase + k, runEnd - k, altLun, altStart + k);
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
      if (out.failureReason[j] !== (3 satisfies typeof REASON_ERROR)) {
        out.failureSegment[n] = out.failureSegment[j]!;
        out.failureReason[n++] = out.failureReason[j]!;
      }
    out.failureCount = n;
    out.count = 0;
    return 1 satisfies typeof STATUS_FAULT;
  }
  if (errored) {
    out.count = 0;
    return 2 satisfies typeof STATUS_ERROR;
  }
  return 0 satisfies typeof STATUS_OK;
};

// The `translate` wrapper's short path shares these. They are exported under other names so that
// the functions translateInto calls stay module-private: calling an exported binding adds
// bytecode, and translateInto is kept under V8's inlining limit.

/** @internal {@link isRequest}, for the `translate` wrapper. */
export const wellFormedRequest = isRequest;
/** @internal {@link onePrimaryPiece}, for the `translate` wrapper. */
export const onePrimaryPieceInto = onePrimaryPiece;
