/**
 * `base:allocation` from the mapping table: which byte ranges of a virtual disk are holes.
 *
 * A block is a hole that reads as zeros when its segment is `zero` and the block is not at the
 * segment's alternate (docs/design.md#per-block-decision-table): no storage holds it. Every other
 * block is reported allocated (flags 0), including `invalid` and `error` segments, whose content
 * the table alone cannot tell.
 */
import * as E from 'fp-ts/lib/Either.js';
import { bitmap, getEntry, type MappingTable } from '../../src/index.js';
import { STATE_HOLE, STATE_ZERO, type StatusExtent } from './protocol.js';

const HOLE = STATE_HOLE | STATE_ZERO;
/** Extent lengths are 32-bit on the wire: longer runs are split at this many bytes. */
export const MAX_EXTENT_BYTES = 2 ** 31;

/**
 * The status extents covering `offset .. offset+length-1` (bytes) of a disk with `table`, in
 * order, merged where equal, at most `maxExtents` of them (the last ones are dropped: the client
 * asks again from where the reply ends). Empty when the range is empty or outside the disk.
 *
 * @example
 * allocationExtents(table, 4096, 0, 1 << 20) // [{ length: 65536, flags: 0 }, { length: 983040, flags: 3 }]
 */
export const allocationExtents = (table: MappingTable, blockSize: number, offset: number, length: number, maxExtents = 1 << 16): StatusExtent[] => {
  const diskBytes = table.segmentCount * table.segmentBlocks * blockSize;
  const end = Math.min(offset + length, diskBytes);
  const out: { length: number; flags: number }[] = [];
  const push = (bytes: number, flags: number): void => {
    const last = out[out.length - 1];
    if (last !== undefined && last.flags === flags) last.length += bytes;
    else out.push({ length: bytes, flags });
  };
  const segmentBytes = table.segmentBlocks * blockSize;
  let at = offset;
  while (at < end && out.length <= maxExtents) {
    const segment = Math.floor(at / segmentBytes);
    const segmentStart = segment * segmentBytes;
    const segmentEnd = Math.min(segmentStart + segmentBytes, end);
    const got = getEntry(table, segment);
    const entry = E.isRight(got) ? got.right : null;
    if (entry === null || !entry.zero) {
      push(segmentEnd - at, 0);
    } else if (entry.alternate === null) {
      push(segmentEnd - at, HOLE);
    } else {
      const blocks = entry.alternate.blocks;
      for (let b = Math.floor((at - segmentStart) / blockSize); segmentStart + b * blockSize < segmentEnd; b++) {
        const from = Math.max(at, segmentStart + b * blockSize);
        const to = Math.min(segmentEnd, segmentStart + (b + 1) * blockSize);
        push(to - from, bitmap.has(blocks, Math.floor(b / table.grainBlocks)) ? 0 : HOLE); // one bit per grain
      }
    }
    at = segmentEnd;
  }
  const split: StatusExtent[] = [];
  for (const e of out) {
    for (let left = e.length; left > 0; left -= MAX_EXTENT_BYTES) split.push({ length: Math.min(left, MAX_EXTENT_BYTES), flags: e.flags });
  }
  return split.slice(0, maxExtents);
};
