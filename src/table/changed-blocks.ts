/**
 * Changed-block tracking: which virtual blocks may read differently under two tables of one
 * snapshot family, decided from the tables alone, without reading any data
 * (docs/design.md#changed-block-tracking).
 *
 * Soundness rests on one rule: a block counts as unchanged only when both tables read it as
 * zeros, or both read it from the same block of a frozen (`noWrite`) primary. A frozen primary
 * that the older table still holds is never written (snapshots share primaries copy-on-write and
 * `noWrite` is only ever cleared together with a move to a new primary) and never reused (its
 * space is reference-counted), so both tables see the same bytes there. Everything else, every
 * alternate included (alternates take writes even under `noWrite`), counts as changed.
 */
import { segmentLengthAt, segmentStartAt } from './segments.js';
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { validationError, type ValidationError } from '../errors.js';
import type { MappingEntry } from './entry.js';
import {
  CHUNK_SIZE,
  chunkFrozen,
  entryAt,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  frozenHead,
  REC_WORDS,
  type Chunk,
  type MappingTable,
} from './table.js';

/**
 * A run of virtual blocks `start .. start+length-1` that may differ between two tables. `zero`
 * says the newer table reads the whole run as zeros (a backup can write zeros or discard there
 * instead of reading). Blocks the newer table cannot read (`invalid`, `error`) are reported
 * with `zero: false`: reading them shows the fault or failure.
 *
 * @example
 * const r: ChangedRange = { start: 80, length: 16, zero: false }; // blocks 80..95: read them from the newer disk
 */
export interface ChangedRange {
  readonly start: number;
  readonly length: number;
  readonly zero: boolean;
}

/** @internal What {@link changedBlocksCounted} did: for tests and benchmarks. */
export interface ChangedBlocksReport {
  readonly ranges: ChangedRange[];
  /** Chunks both tables share and that hold only frozen or zero segments: skipped whole. */
  readonly chunksSkipped: number;
  /** Chunks whose segments were looked at one by one. */
  readonly chunksCompared: number;
}

/** Collects ranges in ascending order, merging each one into the last when they touch and agree. */
class RangeList {
  readonly out: ChangedRange[] = [];
  private start = 0;
  private length = 0;
  private zero = false;

  add(start: number, length: number, zero: boolean): void {
    if (length === 0) return;
    if (this.length > 0 && this.start + this.length === start && this.zero === zero) {
      this.length += length;
      return;
    }
    this.flush();
    this.start = start;
    this.length = length;
    this.zero = zero;
  }

  flush(): ChangedRange[] {
    if (this.length > 0) this.out.push({ start: this.start, length: this.length, zero: this.zero });
    this.length = 0;
    return this.out;
  }
}

const UNREADABLE = F_INVALID | F_ERROR;
const FROZEN_PRIMARY = F_NO_WRITE | F_HAS_LOCATION;

/**
 * True when every block of a segment with these flags reads the same under two tables that both
 * hold this very entry: zeros, or a frozen primary, and no alternate.
 */
const isSettled = (flags: number): boolean =>
  (flags & (UNREADABLE | F_HAS_ALTERNATE)) === 0 && ((flags & F_ZERO) !== 0 || (flags & FROZEN_PRIMARY) === FROZEN_PRIMARY);

/**
 * Chunks are immutable once shared, so whether one is settled throughout is computed once, as
 * its records say and as a table that froze it (by its bit) reads them.
 */
const settledChunks = new WeakMap<Chunk, boolean>();
const settledFrozenChunks = new WeakMap<Chunk, boolean>();

const isSettledChunk = (c: Chunk, frozen: boolean): boolean => {
  const memo = frozen ? settledFrozenChunks : settledChunks;
  let settled = memo.get(c);
  if (settled === undefined) {
    settled = true;
    for (let r = 0; r < c.rec.length && settled; r += REC_WORDS) settled = isSettled(frozen ? frozenHead(c.rec[r]!) : c.rec[r]!);
    memo.set(c, settled);
  }
  return settled;
};

/** Where a run of blocks of one segment is read from under one table. */
const Source = { Unreadable: 0, Zero: 1, Primary: 2, Alternate: 3 } as const;
type Source = (typeof Source)[keyof typeof Source];

const baseSource = (e: MappingEntry): Source =>
  e.invalid || e.error ? Source.Unreadable : e.zero ? Source.Zero : e.location === null ? Source.Unreadable : Source.Primary;

/**
 * The general case of one segment, with alternates or unreadable entries involved: the segment
 * is cut where either bitmap changes, and each run is decided as a whole. `older` is null for a
 * segment past the older table's end. Both tables have grain `grain` (one bit per grain), so the
 * cuts fall on grain boundaries and the walk is over grains.
 */
const compareSegment = (older: MappingEntry | null, newer: MappingEntry, base: number, segmentBlocks: number, grain: number, out: RangeList): void => {
  const sb = segmentBlocks / grain; // bits, one per grain
  const oBase = older === null ? Source.Unreadable : baseSource(older);
  const nBase = baseSource(newer);
  // Alternates are ignored by invalid and error entries, which decide every block.
  const oAlt = older !== null && oBase !== Source.Unreadable ? older.alternate : null;
  const nAlt = nBase !== Source.Unreadable ? newer.alternate : null;
  const samePrimary =
    older !== null &&
    older.noWrite &&
    newer.noWrite &&
    older.location !== null &&
    newer.location !== null &&
    older.location.lun === newer.location.lun &&
    older.location.start === newer.location.start;
  for (let k = 0; k < sb; ) {
    const oBit = oAlt !== null && B.has(oAlt.blocks, k);
    const nBit = nAlt !== null && B.has(nAlt.blocks, k);
    const oEnd = oAlt === null ? sb : B.scanFor(oAlt.blocks.words, k, sb, !oBit);
    const nEnd = nAlt === null ? sb : B.scanFor(nAlt.blocks.words, k, sb, !nBit);
    const end = Math.min(oEnd, nEnd);
    const o = oBit ? Source.Alternate : oBase;
    const n = nBit ? Source.Alternate : nBase;
    const unchanged = (o === Source.Zero && n === Source.Zero) || (o === Source.Primary && n === Source.Primary && samePrimary);
    if (!unchanged) out.add(base + k * grain, (end - k) * grain, n === Source.Zero);
    k = end;
  }
};

const sameLocation = (x: Uint32Array, y: Uint32Array, r: number): boolean =>
  x[r + 1] === y[r + 1] && x[r + 2] === y[r + 2] && x[r + 3] === y[r + 3];

/**
 * @internal {@link changedBlocks}, also saying how many chunks it skipped whole and how many it
 * looked into: tests check with it that shared chunks are skipped.
 */
export const changedBlocksCounted = (older: MappingTable, newer: MappingTable): E.Either<ValidationError[], ChangedBlocksReport> => {
  if (older.segmentBlocks !== newer.segmentBlocks)
    return E.left([validationError('newer.segmentBlocks', newer.segmentBlocks, `must equal older.segmentBlocks ${older.segmentBlocks}`)]);
  if (older.grainBlocks !== newer.grainBlocks)
    return E.left([validationError('newer.grainBlocks', newer.grainBlocks, `must equal older.grainBlocks ${older.grainBlocks}`)]);
  const grain = newer.grainBlocks;
  // Variable tables: the segments both have must have the same bounds (no split or merge between them).
  const common = Math.min(older.segmentCount, newer.segmentCount);
  if (newer.segmentStarts !== null && older.segmentStarts !== newer.segmentStarts)
    for (let s = 1; s <= common; s++)
      if (segmentStartAt(older, s) !== segmentStartAt(newer, s))
        return E.left([validationError(`newer segment ${s - 1} length`, segmentLengthAt(newer, s - 1), `must equal the older table's ${segmentLengthAt(older, s - 1)} (segments split or merged between the tables)`)]);
  const starts = newer.segmentStarts;
  const out = new RangeList();
  let chunksSkipped = 0;
  let chunksCompared = 0;
  for (let ci = 0; ci < newer.chunks.length; ci++) {
    const y = newer.chunks[ci]!;
    const x = older.chunks[ci];
    const frozenNew = chunkFrozen(newer, ci);
    const frozenOld = x !== undefined && chunkFrozen(older, ci);
    if (x === y && frozenNew === frozenOld && isSettledChunk(y, frozenNew)) {
      chunksSkipped++;
      continue;
    }
    chunksCompared++;
    const first = ci * CHUNK_SIZE;
    for (let i = 0; i < y.size; i++) {
      const s = first + i;
      const base = starts === null ? s * newer.segmentBlocks : starts[s]!;
      const sb = starts === null ? newer.segmentBlocks : starts[s + 1]! - base;
      const r = i * REC_WORDS;
      const fn = frozenNew ? frozenHead(y.rec[r]!) : y.rec[r]!;
      if (s >= older.segmentCount) {
        if ((fn & (UNREADABLE | F_HAS_ALTERNATE)) === 0) out.add(base, sb, (fn & F_ZERO) !== 0);
        else compareSegment(null, entryAt(newer, s), base, sb, grain, out);
        continue;
      }
      const fo = frozenOld ? frozenHead(x!.rec[r]!) : x!.rec[r]!;
      if (((fo | fn) & (UNREADABLE | F_HAS_ALTERNATE)) === 0) {
        // The common case, read from the records alone: no alternates, both readable.
        if ((fn & F_ZERO) !== 0) {
          if ((fo & F_ZERO) === 0) out.add(base, sb, true);
        } else if ((fo & F_ZERO) !== 0 || (fo & fn & F_NO_WRITE) === 0 || !sameLocation(x!.rec, y.rec, r)) out.add(base, sb, false);
        continue;
      }
      if ((fn & UNREADABLE) !== 0) out.add(base, sb, false);
      else compareSegment(entryAt(older, s), entryAt(newer, s), base, sb, grain, out);
    }
  }
  return E.right({ ranges: out.flush(), chunksSkipped, chunksCompared });
};

/**
 * The virtual block ranges whose content may differ between `older` and `newer`, two tables of
 * one snapshot family (a snapshot and a later snapshot of the same disk, or a snapshot and the
 * disk itself), decided from the tables alone: no data is read. Ranges are ascending, maximal
 * (neighbours merge when their `zero` flags agree) and lie inside `newer`'s disk; blocks past
 * `older`'s end always count as changed. Chunks the tables share whose segments are all frozen
 * or zero are skipped whole, so comparing a snapshot with its successor costs little more than
 * the segments that changed.
 *
 * A block is reported unless both tables read it as zeros, or both read it from the same block of
 * a primary that both mark `noWrite`. That is sound (no block that differs is missed) when
 * `older` is still in force and nothing has been written through it: a snapshot that has not
 * been deleted or written to since. Then its frozen primaries stay referenced, so they are
 * neither written (a shared primary is `noWrite` in every table holding it, and `noWrite` is
 * only cleared together with a move to a new primary) nor freed and reused. The answer
 * over-approximates: blocks read from an alternate always count as changed, and so does every
 * block of a segment whose alternate was promoted, even those the copy merely carried over.
 * Comparing two versions of a disk that is still written reports each of its writable segments
 * whole: take snapshots to back up.
 *
 * In a table with a grain (`grainBlocks` above 1) the answer is at grain granularity: every
 * range starts and ends on a grain boundary (a multiple of `grainBlocks`), since an alternate bit
 * stands for a whole grain, and the work is one step per grain, not per block.
 *
 * Left when the tables' `segmentBlocks` or `grainBlocks` differ, or when variable tables' common
 * segments have different bounds (split or merged between them); `segmentCount` may differ (a
 * resize).
 *
 * @example
 * // Full backup of snap1; later, an incremental one of snap2:
 * const changed = changedBlocks(snap1, snap2);
 * if (E.isRight(changed))
 *   for (const r of changed.right) r.zero ? backup.zero(r.start, r.length) : backup.copy(r.start, r.length);
 */
export const changedBlocks = (older: MappingTable, newer: MappingTable): E.Either<ValidationError[], ChangedRange[]> =>
  E.map((report: ChangedBlocksReport) => report.ranges)(changedBlocksCounted(older, newer));
