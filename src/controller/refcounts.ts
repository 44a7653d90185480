/**
 * Reference counts of allocated physical extents: how many table entries (of a disk and its
 * snapshots) hold each extent, so shared space is released only when the last holder lets go.
 *
 * The map is persistent (`protocol/persistent-map.ts`): a change costs O(log n) and shares the
 * rest with the map it came from, so a fault that takes or releases one extent does not copy the
 * counts of a million others. Counts are keyed by the exact extent (LUN, start and length): two
 * different extents never share a count even when they overlap, which is the checker's business,
 * not this module's.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Reference } from '../check/check.js';
import { validationError, type ValidationError } from '../errors.js';
import { PersistentMap } from '../protocol/persistent-map.js';
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
  /** @internal The counts by extent key; never mutate it. */
  readonly counts: ReadonlyMap<string, Counted>;
}

/** A class, not a plain object, so that immer-based callers never draft or deep-freeze its map. */
class RefCountsValue implements RefCounts {
  constructor(readonly counts: PersistentMap<string, Counted>) {
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
export const emptyRefCounts: RefCounts = /* @__PURE__ */ (() => new RefCountsValue(PersistentMap.empty()))();

const keyOf = (x: Extent): string => `${x.lun}:${x.start}:${x.length}`;

const countsOf = (refs: RefCounts): PersistentMap<string, Counted> => PersistentMap.from(refs.counts);

/**
 * Adds one holder to every extent in `extents` (an extent listed twice gets two), in one pass
 * of a map builder: a restore or a snapshot can add a million holders cheaply.
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
  return any ? new RefCountsValue(b.done()) : refs;
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
  return new RefCountsValue(counts.set(key, { lun: extent.lun, start: extent.start, length: extent.length, count: (counts.get(key)?.count ?? 0) + 1 }));
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
  return E.right([new RefCountsValue(zero ? counts.delete(key) : counts.set(key, { ...old, count: old.count - 1 })), zero]);
};

/**
 * How many holders `extent` has (0 when it is not in the map).
 *
 * @example
 * countOf(emptyRefCounts, { lun: 1, start: 0, length: 10 }); // 0
 */
export const countOf = (refs: RefCounts, extent: Extent): number => refs.counts.get(keyOf(extent))?.count ?? 0;

/**
 * Every counted extent with its count, sorted by LUN, start, then length: the form the table
 * checker's `references` option takes.
 *
 * @example
 * checkTables(tables, { references: entries(refs) });
 */
export const entries = (refs: RefCounts): Reference[] => {
  const out: Reference[] = [];
  for (const c of refs.counts.values()) out.push({ lun: c.lun, start: c.start, length: c.length, count: c.count });
  return out.sort((a, b) => a.lun - b.lun || a.start - b.start || a.length - b.length);
};
