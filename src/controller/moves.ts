/**
 * Whether a change of a segment's entry moves readable blocks: the test that decides whether a
 * change needs an `invalid` fence first when several agents hold the disk (`commit.ts` `stage`,
 * docs/design.md#ordering-rules).
 *
 * A block is read from the alternate when its bit is set, else from the primary (or as zeros);
 * within a run of blocks whose bits are equal under both entries, each entry reads the run from
 * one place at one fixed offset, so the entries are compared once per run of the two bitmaps,
 * never per block (a storm of first writes stages two changes per fault, each of a whole segment).
 * A grained table keeps one bit per grain (docs/design.md#bitmap-grain): the runs are walked in
 * grains, and a run of grains is a run of blocks read from one place just the same.
 */
import { forEachRunUnchecked, type Bitmap } from '../bitmap/bitmap.js';
import type { MappingEntry } from '../table/entry.js';

const NONE = 0;
const ZERO = 1;
const STORAGE = 2;

/** Where `e` reads a block whose alternate bit is `onAlternate`: none (it faults or fails), zeros, or a LUN at `start + offset`. */
const kindOf = (e: MappingEntry, onAlternate: boolean): number => {
  if (e.invalid || e.error) return NONE;
  if (onAlternate) return STORAGE;
  if (e.zero) return ZERO;
  return e.location === null ? NONE : STORAGE;
};

/** Same place for every block of a run, given the kinds and bits of both entries there. */
const sameSource = (before: MappingEntry, bBit: boolean, after: MappingEntry, aBit: boolean): boolean => {
  const kind = kindOf(before, bBit);
  if (kind === NONE) return true; // not readable before: nothing to move
  if (kindOf(after, aBit) !== kind) return false;
  if (kind === ZERO) return true;
  const from = bBit ? before.alternate! : before.location!;
  const to = aBit ? after.alternate! : after.location!;
  return from.lun === to.lun && from.start === to.start;
};

/** The ends of the runs of `b` over `0 .. blocks-1` (exclusive), with the bit of each run; one run of clear bits for no bitmap. */
const runsOf = (b: Bitmap | undefined, blocks: number): { ends: number[]; bits: boolean[] } => {
  const ends: number[] = [];
  const bits: boolean[] = [];
  if (b === undefined) return { ends: [blocks], bits: [false] };
  forEachRunUnchecked(b, 0, Math.min(blocks, b.size), (start, length, set) => {
    ends.push(start + length);
    bits.push(set);
  });
  // A bitmap shorter than the segment (only an inconsistent table has one): the rest reads as clear bits.
  if (ends.length === 0 || ends[ends.length - 1]! < blocks) {
    ends.push(blocks);
    bits.push(false);
  }
  return { ends, bits };
};

/**
 * True when some readable block of `before` is read from somewhere else under `after` (segments
 * of `blocks` blocks, bitmaps of one bit per `grain` blocks).
 */
export const movesBlocks = (before: MappingEntry, after: MappingEntry, blocks: number, grain = 1): boolean => {
  if (before.invalid || before.error || blocks <= 0) return false;
  const bits = grain === 1 ? blocks : blocks / grain;
  const b = runsOf(before.alternate?.blocks, bits);
  const a = runsOf(after.alternate?.blocks, bits);
  let i = 0;
  let j = 0;
  // Walk both run lists together: each step covers blocks where neither bit changes.
  for (let last = 0; ; ) {
    if (!sameSource(before, b.bits[i]!, after, a.bits[j]!)) return true;
    const end = Math.min(b.ends[i]!, a.ends[j]!);
    if (end >= bits) return false;
    if (!(end > last)) return true; // no progress: a malformed bitmap; fencing is always safe
    last = end;
    if (b.ends[i] === end) i++;
    if (a.ends[j] === end) j++;
  }
};
