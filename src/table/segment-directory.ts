/**
 * The directory of a variable table's boundary index (docs/design.md#address-model): the disk cut
 * into buckets of `bucketBlocks` blocks (a power of two), and for each bucket the segment holding
 * its first block. The segment of block `v` lies between the entries of `v`'s bucket and of the
 * next one, a few segments apart, so finding it is one load of the directory and a short
 * bisection of the boundary index. A bisection of the whole index took 20 dependent loads at a
 * million segments, most of them cache misses and about half of them after a mispredicted branch
 * (bench/README.md, "Variable tables"). Built with the boundary index and shared with it between
 * versions of a table; never mutated.
 */

/**
 * @internal Buckets span at least this many segments of the mean length: the directory costs at
 * most one byte per segment (a `Uint32Array` entry per 4 to 8 segments), an eighth of the boundary
 * index itself, and a lookup bisects 4 to 8 segments on average. Written as a literal, like every
 * module-level constant here (bundlers drop unused ones).
 */
export const SEGMENTS_PER_BUCKET = 4;

/** @internal See the module comment. */
export interface SegmentDirectory {
  /** Blocks per bucket: a power of two, so that `v / bucketBlocks` is exact. */
  readonly bucketBlocks: number;
  /**
   * `ceil(blocks / bucketBlocks) + 1` segment numbers: entry `i` is the segment holding block
   * `min(i * bucketBlocks, blocks - 1)`. The last entry is the last segment, so `first[i + 1]`
   * exists for every block's bucket `i`.
   */
  readonly first: Uint32Array;
}

/**
 * @internal The directory of the boundary index `starts` of `count` segments (`count + 1`
 * ascending block numbers from 0). O(count + buckets).
 */
export const directoryOf = (starts: Float64Array, count: number): SegmentDirectory => {
  const blocks = count === 0 ? 0 : starts[count]!;
  let bucketBlocks = 1;
  while (bucketBlocks * count < SEGMENTS_PER_BUCKET * blocks) bucketBlocks *= 2;
  const buckets = Math.ceil(blocks / bucketBlocks);
  const first = new Uint32Array(buckets + 1);
  let s = 0;
  for (let i = 0; i <= buckets; i++) {
    const v = Math.min(i * bucketBlocks, blocks - 1);
    while (s + 1 < count && starts[s + 1]! <= v) s++;
    first[i] = s;
  }
  return { bucketBlocks, first };
};

/**
 * @internal The segment holding block `v` (inside the disk: `0 <= v < starts[count]`): the last
 * `s` with `starts[s] <= v`, by bisection between the entries of `v`'s bucket and the next one.
 * Translation has a copy of its own (src/translate/translate-into.ts, `variableSegment`).
 */
export const segmentInDirectory = (starts: Float64Array, directory: SegmentDirectory, v: number): number => {
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
