/**
 * Reference counts of allocated physical extents: how many table entries (of a disk and its
 * snapshots) hold each extent, so shared space is released only when the last holder lets go.
 *
 * The map is persistent: keys are spread over a fixed number of buckets by a hash of the extent,
 * each bucket a persistent map, and a change copies the bucket list and the path to the key in
 * the one bucket it touches (buckets hold about a thousand extents each at a million segments). Counts
 * are keyed by the exact extent (LUN, start and length): two different extents never share a
 * count even when they overlap, which is the checker's business, not this module's.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Reference } from '../check/check.js';
import { validationError, type ValidationError } from '../errors.js';
import { PersistentMap, type MapBuilder } from '../protocol/persistent-map.js';
import type { Extent } from './allocator.js';

/** Buckets of the map: enough that a bucket stays small at tens of thousands of extents. */
const BUCKETS = 1024;

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
  /** @internal Buckets by hash; never mutate them. */
  readonly buckets: ReadonlyArray<ReadonlyMap<string, Counted>>;
}

const EMPTY_BUCKET: ReadonlyMap<string, Counted> = new Map();

/** A class, not a plain object, so that immer-based callers never draft or deep-freeze its Maps. */
class RefCountsValue implements RefCounts {
  constructor(
    readonly size: number,
    readonly buckets: ReadonlyArray<ReadonlyMap<string, Counted>>,
  ) {
    Object.freeze(this);
  }
}

/**
 * The map with no extents.
 *
 * @example
 * entries(emptyRefCounts); // []
 */
export const emptyRefCounts: RefCounts = /* @__PURE__ */ new RefCountsValue(0, Object.freeze(new Array<ReadonlyMap<string, Counted>>(BUCKETS).fill(EMPTY_BUCKET)));

const keyOf = (x: Extent): string => `${x.lun}:${x.start}:${x.length}`;

/** Spreads extents over buckets; block numbers may exceed 32 bits, so fold the high part in. */
const bucketOf = (x: Extent): number => {
  const high = Math.floor(x.start / 0x1_0000_0000);
  let h = Math.imul(x.start | 0, 0x9e3779b1);
  h = Math.imul(h ^ (high | 0) ^ Math.imul(x.lun | 0, 0x85ebca6b), 0xc2b2ae35);
  h ^= Math.imul(x.length | 0, 0x27d4eb2f);
  return ((h ^ (h >>> 15)) >>> 0) % BUCKETS;
};

/**
 * Adds one holder to every extent in `extents` (an extent listed twice gets two),
 * copying each touched bucket once: a snapshot can add tens of thousands of holders cheaply.
 * Extents are taken as given (they come from an allocator, which validated them).
 *
 * @example
 * incrementAll(emptyRefCounts, [a, b, a]); // a: 2, b: 1
 */
export const incrementAll = (refs: RefCounts, extents: Iterable<Extent>): RefCounts => {
  const touched = new Map<number, MapBuilder<string, Counted>>();
  let size = refs.size;
  for (const x of extents) {
    const b = bucketOf(x);
    let bucket = touched.get(b);
    if (bucket === undefined) touched.set(b, (bucket = PersistentMap.from(refs.buckets[b]!).builder()));
    const key = keyOf(x);
    const old = bucket.get(key);
    if (old === undefined) size++;
    bucket.set(key, { lun: x.lun, start: x.start, length: x.length, count: (old?.count ?? 0) + 1 });
  }
  if (touched.size === 0) return refs;
  const buckets = refs.buckets.slice();
  for (const [b, bucket] of touched) buckets[b] = bucket.done();
  return new RefCountsValue(size, buckets);
};

/**
 * One more holder of `extent`.
 *
 * @example
 * countOf(increment(increment(emptyRefCounts, x), x), x); // 2
 */
export const increment = (refs: RefCounts, extent: Extent): RefCounts => incrementAll(refs, [extent]);

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
  const b = typeof extent === 'object' && extent !== null ? bucketOf(extent) : 0;
  const key = typeof extent === 'object' && extent !== null ? keyOf(extent) : '';
  const old = refs.buckets[b]!.get(key);
  if (old === undefined) return E.left([validationError('extent', extent, 'has no reference count to decrement')]);
  const zero = old.count <= 1;
  const before = PersistentMap.from(refs.buckets[b]!);
  const bucket = zero ? before.delete(key) : before.set(key, { ...old, count: old.count - 1 });
  const buckets = refs.buckets.slice();
  buckets[b] = bucket.size === 0 ? EMPTY_BUCKET : bucket;
  return E.right([new RefCountsValue(zero ? refs.size - 1 : refs.size, buckets), zero]);
};

/**
 * How many holders `extent` has (0 when it is not in the map).
 *
 * @example
 * countOf(emptyRefCounts, { lun: 1, start: 0, length: 10 }); // 0
 */
export const countOf = (refs: RefCounts, extent: Extent): number => refs.buckets[bucketOf(extent)]!.get(keyOf(extent))?.count ?? 0;

/**
 * Every counted extent with its count, sorted by LUN, start, then length: the form the table
 * checker's `references` option takes.
 *
 * @example
 * checkTables(tables, { references: entries(refs) });
 */
export const entries = (refs: RefCounts): Reference[] => {
  const out: Reference[] = [];
  for (const bucket of refs.buckets) for (const c of bucket.values()) out.push({ lun: c.lun, start: c.start, length: c.length, count: c.count });
  return out.sort((a, b) => a.lun - b.lun || a.start - b.start || a.length - b.length);
};
