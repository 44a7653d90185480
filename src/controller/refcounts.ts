/**
 * Reference counts of allocated physical extents: how many table entries (of a disk and its
 * snapshots) hold each extent, so shared space is released only when the last holder lets go.
 *
 * The map is persistent (`protocol/persistent-map.ts`): a change costs O(log n) and shares the
 * rest with the map it came from, so a fault that takes or releases one extent does not copy the
 * counts of a million others. Counts are keyed by the exact extent (LUN, start and length): two
 * different extents never share a count even when they overlap, which is the checker's business,
 * not this module's.
 *
 * Snapshots share whole chunks of table records between disks. Rather than one increment per
 * extent of the disk, a snapshot adds one holder to each chunk object (`shareTable`, O(chunks));
 * an extent's count is its own plus, for every shared chunk whose entries hold it, that chunk's
 * extra holders. When a disk stops holding a shared chunk (an update copied it, a resize or a
 * deletion dropped it: `retireChunks`), that holder's references become per-extent counts again,
 * 256 increments at most, the order of the copy itself. Every extent of a shared chunk also has
 * a count of its own (its first holder's), so a count of its own reaching zero still means that
 * no table holds the extent.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Reference } from '../check/check.js';
import { validationError, type ValidationError } from '../errors.js';
import { PersistentMap } from '../protocol/persistent-map.js';
import { alternateAt, bitmapBits, CHUNK_SIZE, F_HAS_ALTERNATE, F_HAS_LOCATION, REC_WORDS, SLOT_SHIFT, TWO_POW_32, type Chunk, type MappingTable } from '../table/table.js';
import type { Extent } from './allocator.js';

/**
 * One extent and how many table entries reference it (an entry of {@link RefCounts}).
 *
 * @example
 * const c: Counted = { lun: 1, start: 0, length: 8, count: 2 };
 */
export interface Counted {
  readonly lun: number;
  readonly start: number;
  readonly length: number;
  readonly count: number;
}

/**
 * An immutable map from extent to a positive count. Extents absent from it have count 0.
 *
 * @example
 * const refs = increment(emptyRefCounts, { lun: 1, start: 0, length: 10 });
 * countOf(refs, { lun: 1, start: 0, length: 10 }); // 1
 */
export interface RefCounts {
  /** Number of extents with a positive count. */
  readonly size: number;
  /** @internal The counts of their own by extent key; never mutate it. */
  readonly counts: ReadonlyMap<string, Counted>;
  /**
   * @internal Chunks held by more tables than their extents' own counts say, by chunk position
   * (a list per position: the versions of that chunk still shared), so that retiring one copies
   * the position list, never a map of every shared chunk.
   */
  readonly shares: ReadonlyArray<ChunkShare | null>;
}

/**
 * Extra holders of one chunk of table records that snapshots share (see {@link RefCounts}), the
 * segment size its records are read with, and the next shared chunk at the same position.
 *
 * @example
 * for (const list of refs.shares) for (let s = list; s !== null; s = s.next) console.log(s.count);
 */
export interface ChunkShare {
  readonly chunk: Chunk;
  readonly count: number;
  readonly segmentBlocks: number;
  /** The table's grain: its alternate slots are sized by one bit per grain (`bitmapBits`). */
  readonly grainBlocks: number;
  /** A variable table's boundary index (each segment's extents are its own length), else `null`. */
  readonly segmentStarts: Float64Array | null;
  /** The chunk's first segment, to find its segments' lengths in `segmentStarts`. */
  readonly firstSegment: number;
  readonly next: ChunkShare | null;
}

/** How a share's records are measured: the table's segment size or boundary index, and where the chunk starts. */
type ShareGeometry = Pick<ChunkShare, 'segmentBlocks' | 'grainBlocks' | 'segmentStarts' | 'firstSegment'>;

/** The list `list` with `chunk`'s extra holders changed by `delta` (dropped at 0, added when absent). */
const withShare = (list: ChunkShare | null, chunk: Chunk, delta: number, g: ShareGeometry): ChunkShare | null => {
  if (list === null) return delta > 0 ? { chunk, count: delta, segmentBlocks: g.segmentBlocks, grainBlocks: g.grainBlocks, segmentStarts: g.segmentStarts, firstSegment: g.firstSegment, next: null } : null;
  if (list.chunk === chunk) return list.count + delta > 0 ? { ...list, count: list.count + delta } : list.next;
  return { ...list, next: withShare(list.next, chunk, delta, g) };
};

const findShare = (list: ChunkShare | null, chunk: Chunk): ChunkShare | null => {
  for (let n = list; n !== null; n = n.next) if (n.chunk === chunk) return n;
  return null;
};

function* allShares(refs: RefCounts): Generator<ChunkShare> {
  for (const list of refs.shares) for (let n = list; n !== null; n = n.next) yield n;
}

/** A class, not a plain object, so that immer-based callers never draft or deep-freeze its map. */
class RefCountsValue implements RefCounts {
  constructor(
    readonly counts: PersistentMap<string, Counted>,
    readonly shares: ReadonlyArray<ChunkShare | null>,
  ) {
    Object.freeze(this);
  }

  get size(): number {
    return this.counts.size;
  }
}

/**
 * The map with no extents.
 *
 * @example
 * entries(emptyRefCounts); // []
 */
export const emptyRefCounts: RefCounts = /* @__PURE__ */ (() => new RefCountsValue(PersistentMap.empty(), Object.freeze([])))();

const keyOf = (x: Extent): string => `${x.lun}:${x.start}:${x.length}`;

const countsOf = (refs: RefCounts): PersistentMap<string, Counted> => PersistentMap.from(refs.counts);

/**
 * Adds one holder to every extent in `extents` (an extent listed twice gets two), in one pass
 * of a map builder: a restore can add a million holders cheaply.
 * Extents are taken as given (they come from an allocator, which validated them).
 *
 * @example
 * incrementAll(emptyRefCounts, [a, b, a]); // a: 2, b: 1
 */
export const incrementAll = (refs: RefCounts, extents: Iterable<Extent>): RefCounts => {
  const b = countsOf(refs).builder();
  let any = false;
  for (const x of extents) {
    const key = keyOf(x);
    b.set(key, { lun: x.lun, start: x.start, length: x.length, count: (b.get(key)?.count ?? 0) + 1 });
    any = true;
  }
  return any ? new RefCountsValue(b.done(), refs.shares) : refs;
};

/**
 * One more holder of `extent`.
 *
 * @example
 * countOf(increment(increment(emptyRefCounts, x), x), x); // 2
 */
export const increment = (refs: RefCounts, extent: Extent): RefCounts => {
  const counts = countsOf(refs);
  const key = keyOf(extent);
  return new RefCountsValue(counts.set(key, { lun: extent.lun, start: extent.start, length: extent.length, count: (counts.get(key)?.count ?? 0) + 1 }), refs.shares);
};

/**
 * One holder fewer of `extent`. `releasedToZero` is true when that was the last holder: the
 * extent is gone from the map and its space may be released. Left when the extent has no count
 * (a double release, or an extent that was never counted).
 *
 * @example
 * decrement(increment(emptyRefCounts, x), x); // Right([emptyRefCounts-like, true])
 * decrement(emptyRefCounts, x);               // Left([{ field: 'extent', ... 'has no reference count' }])
 */
export const decrement = (refs: RefCounts, extent: Extent): E.Either<ValidationError[], [RefCounts, releasedToZero: boolean]> => {
  const key = typeof extent === 'object' && extent !== null ? keyOf(extent) : '';
  const counts = countsOf(refs);
  const old = counts.get(key);
  if (old === undefined) return E.left([validationError('extent', extent, 'has no reference count to decrement')]);
  const zero = old.count <= 1;
  return E.right([new RefCountsValue(zero ? counts.delete(key) : counts.set(key, { ...old, count: old.count - 1 }), refs.shares), zero]);
};

/**
 * How many holders `extent` has (0 when it is not in the map).
 *
 * @example
 * countOf(emptyRefCounts, { lun: 1, start: 0, length: 10 }); // 0
 */
export const countOf = (refs: RefCounts, extent: Extent): number => {
  let n = refs.counts.get(keyOf(extent))?.count ?? 0;
  if (n === 0) return 0; // every extent of a shared chunk has a count of its own
  for (const share of allShares(refs))
    for (const x of chunkExtents(share.chunk, share)) if (x.lun === extent.lun && x.start === extent.start && x.length === extent.length) n += share.count;
  return n;
};

/**
 * Every counted extent with its count, sorted by LUN, start, then length: the form the table
 * checker's `references` option takes.
 *
 * @example
 * checkTables(tables, { references: entries(refs) });
 */
export const entries = (refs: RefCounts): Reference[] => {
  const expanded = incrementAll(refs, [...allShares(refs)].flatMap((share) => Array.from({ length: share.count }, () => chunkExtents(share.chunk, share)).flat()));
  const out: Reference[] = [];
  for (const c of expanded.counts.values()) out.push({ lun: c.lun, start: c.start, length: c.length, count: c.count });
  return out.sort((a, b) => a.lun - b.lun || a.start - b.start || a.length - b.length);
};

/** @internal Every extent the entries of chunk `c` hold (primaries and alternates), read from its records. */
export const chunkExtents = (c: Chunk, g: ShareGeometry): Extent[] => {
  const out: Extent[] = [];
  const rec = c.rec;
  const starts = g.segmentStarts;
  for (let r = 0; r < rec.length; r += REC_WORDS) {
    const head = rec[r]!;
    const s = g.firstSegment + r / REC_WORDS;
    const length = starts === null ? g.segmentBlocks : starts[s + 1]! - starts[s]!;
    if ((head & F_HAS_LOCATION) !== 0) out.push({ lun: rec[r + 1]!, start: rec[r + 2]! + rec[r + 3]! * TWO_POW_32, length });
    if ((head & F_HAS_ALTERNATE) !== 0) {
      const a = alternateAt(c, head >>> SLOT_SHIFT, bitmapBits(g));
      out.push({ lun: a.lun, start: a.start, length });
    }
  }
  return out;
};

/**
 * One more holder of every chunk of `table` (a new disk sharing them all: a snapshot), in
 * O(chunks): every extent its entries hold gains one reference.
 *
 * @example
 * refs = shareTable(refs, snapshotTable); // the snapshot holds every extent the source holds
 */
export const shareTable = (refs: RefCounts, table: MappingTable): RefCounts => {
  const shares = refs.shares.slice();
  table.chunks.forEach(
    (c, ci) => void (shares[ci] = withShare(shares[ci] ?? null, c, 1, { segmentBlocks: table.segmentBlocks, grainBlocks: table.grainBlocks, segmentStarts: table.segmentStarts, firstSegment: ci * CHUNK_SIZE })),
  );
  return new RefCountsValue(countsOf(refs), shares);
};

/**
 * A disk's table went from `before` to `after` (`null`: the disk is gone). For every shared
 * chunk of `before` that `after` no longer holds at the same place, the chunk loses this holder
 * and its extents each gain a reference of their own instead: the disk's copy of the chunk holds
 * them now (what the update changed is released by its job, as for any change), or, for a
 * deletion, its job releases them. Costs nothing when no chunk is shared.
 *
 * @example
 * s.refs = retireChunks(s.refs, d.working, updated); // before d.working = updated
 */
export const retireChunks = (refs: RefCounts, before: MappingTable, after: MappingTable | null): RefCounts => {
  if (refs.shares.length === 0 || before === after || before.chunks === after?.chunks) return refs;
  let shares: Array<ChunkShare | null> | null = null;
  const extents: Extent[] = [];
  const chunks = before.chunks;
  for (let ci = 0; ci < chunks.length && ci < refs.shares.length; ci++) {
    const c = chunks[ci]!;
    if (after !== null && after.chunks[ci] === c) continue;
    const share = findShare(refs.shares[ci] ?? null, c);
    if (share === null) continue;
    shares ??= refs.shares.slice();
    shares[ci] = withShare(shares[ci] ?? null, c, -1, share);
    for (const x of chunkExtents(c, share)) extents.push(x);
  }
  if (shares === null) return refs;
  while (shares.length > 0 && shares[shares.length - 1] === null) shares.pop();
  const counted = incrementAll(refs, extents);
  return new RefCountsValue(countsOf(counted), shares);
};
