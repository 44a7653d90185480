/**
 * Persistent maps and sets: immutable, with `set`/`delete`/`add` that return a new version in
 * O(log n) and share everything they did not change with the version they came from.
 *
 * The state machines hand back a new state on every step; with plain `Map`s a step that
 * changes one record of a big map (one job among ten thousand in flight) has to copy all of
 * them. These keep that cost logarithmic, and behave as `ReadonlyMap`/`ReadonlySet` to readers.
 *
 * Iteration follows insertion order, exactly as `Map` and `Set` do (a key set again keeps its
 * place; a key deleted and added again goes last): step code depends on it (disks in the order
 * they were created, jobs in id order), and states must iterate the same whatever their history.
 *
 * Layout (`persistent-trie.ts`): a hash array mapped trie (bitmap-compressed nodes of up to 32
 * slots, 5 bits of the key's hash per level, a list for keys whose 32-bit hashes are equal) finds
 * a key; a second trie of the same nodes, indexed by each entry's insertion number from the most
 * significant digit, gives the order. An entry is one leaf object shared by both tries. Keys
 * compare as in `Map` (SameValueZero). Numbers and strings hash well; other keys all hash alike
 * (correct, but each lookup among them is linear), which no caller of this library needs.
 *
 * Many changes at once go through a builder ({@link MapBuilder}, {@link SetBuilder}): a transient
 * that changes the nodes it made in place, so that a step touching thousands of entries copies
 * each node it touches once instead of once per change.
 */

import { assoc, assocIn, Branch, BITS, dissoc, dissocIn, find, hashOf, keyTrieOf, Leaf, leavesOf, MASK, orderDelete, orderDeleteIn, orderSet, orderSetIn, sameValueZero, SMALL, walk } from './persistent-trie.js';

/** @internal The hash a key is placed by (exported for tests that need keys whose hashes collide). */
export { hashOf };

/**
 * An immutable map. `set` and `delete` return a new map (or this one, when nothing changes);
 * reading is the `ReadonlyMap` interface, iteration in insertion order.
 *
 * @example
 * const a = PersistentMap.empty<number, string>().set(1, 'x');
 * const b = a.set(2, 'y'); // a still has one entry
 * [...b.keys()] // [1, 2]
 */
export class PersistentMap<K, V> implements ReadonlyMap<K, V> {
  private constructor(
    /** The key trie; null for a small map (see `leafOf`), which is only an order trie of one node. */
    private readonly root: Branch<K, V> | null,
    private readonly order: Branch<K, V> | null,
    /** Levels of the order trie: insertion numbers below 32 ** levels fit. */
    private readonly levels: number,
    private readonly nextSeq: number,
    readonly size: number,
  ) {}

  /** Made on first use, not at load: a class with no work at load tree-shakes away. */
  private static emptyMap: PersistentMap<never, never> | undefined;

  /**
   * @internal Insertion numbers stay below this (six levels of the order trie); reaching it
   * renumbers the entries. Only tests lower it, to exercise that path.
   */
  static seqLimit = 1_073_741_824; // 2 ** 30

  /** The map with no entries. */
  static empty<K, V>(): PersistentMap<K, V> {
    return (PersistentMap.emptyMap ??= new PersistentMap<never, never>(null, null, 1, 0, 0)) as PersistentMap<K, V>;
  }

  /** A map of `entries`, in their order (a later entry of the same key wins, keeping the first one's place). */
  static from<K, V>(entries: Iterable<readonly [K, V]>): PersistentMap<K, V> {
    if (entries instanceof PersistentMap) return entries as PersistentMap<K, V>;
    const b = PersistentMap.empty<K, V>().builder();
    for (const [k, v] of entries) b.set(k, v);
    return b.done();
  }

  /** A builder starting from this map, for many insertions at the cost of few (see {@link MapBuilder}). */
  builder(): MapBuilder<K, V> {
    return new MapBuilder(this.root ?? keyTrieOf(this.order, this.levels), this.order, this.levels, this.nextSeq, this.size);
  }

  /** @internal The builder's way in: a map of its parts. */
  static of<K, V>(root: Branch<K, V> | null, order: Branch<K, V> | null, levels: number, nextSeq: number, size: number): PersistentMap<K, V> {
    return size === 0 ? PersistentMap.empty() : new PersistentMap(root, order, levels, nextSeq, size);
  }

  get(key: K): V | undefined {
    return this.leafOf(key)?.value;
  }

  has(key: K): boolean {
    return this.leafOf(key) !== undefined;
  }

  /**
   * The leaf of `key`. A small map (at most `SMALL` entries, all in the order trie's one node)
   * has no key trie: it is searched in order without hashing, and a change copies one node.
   * Most maps of a step (agents, disks, a disk's busy segments) are small, and hashing a string
   * key costs more than comparing a few.
   */
  private leafOf(key: K): Leaf<K, V> | undefined {
    if (this.root !== null) return find(this.root, hashOf(key), key);
    const items = this.order?.items ?? [];
    for (let i = 0; i < items.length; i++) if (sameValueZero((items[i] as Leaf<K, V>).key, key)) return items[i] as Leaf<K, V>;
    return undefined;
  }

  /** This map with `key` mapped to `value` (in its old place if it had one, else last). */
  set(key: K, value: V): PersistentMap<K, V> {
    if ((key as unknown) === 0) key = 0 as K; // Map keeps -0 as +0
    const old = this.leafOf(key);
    if (old !== undefined && Object.is(old.value, value)) return this;
    const hash = old?.hash ?? hashOf(key);
    if (old !== undefined) {
      const leaf = new Leaf(hash, key, value, old.seq);
      const root = this.root === null ? null : (assoc(this.root, leaf, 0) as Branch<K, V>);
      return new PersistentMap(root, orderSet(this.order, (this.levels - 1) * BITS, leaf), this.levels, this.nextSeq, this.size);
    }
    if (this.nextSeq >= PersistentMap.seqLimit) return this.renumbered().set(key, value);
    const leaf = new Leaf(hash, key, value, this.nextSeq);
    // Small stays small while it fits one order node; past that, the key trie is built once.
    const small = this.root === null && this.size < SMALL && leaf.seq < 1 << BITS;
    const root = small ? null : (assoc(this.root ?? keyTrieOf(this.order, this.levels) ?? new Branch<K, V>(0, []), leaf, 0) as Branch<K, V>);
    let order = this.order;
    let levels = this.levels;
    if (leaf.seq >= 2 ** (BITS * levels)) {
      // The order trie grows a level at the top: everything so far sits under its first slot.
      order = order === null ? null : new Branch(1, [order]);
      levels++;
    }
    return new PersistentMap(root, orderSet(order, (levels - 1) * BITS, leaf), levels, this.nextSeq + 1, this.size + 1);
  }

  /** This map without `key`. */
  delete(key: K): PersistentMap<K, V> {
    const old = this.leafOf(key);
    if (old === undefined) return this;
    if (this.size === 1) return PersistentMap.empty();
    const root = this.root === null ? null : (dissoc(this.root, old.hash, old.key, 0) as Branch<K, V>);
    return new PersistentMap(root, orderDelete(this.order!, (this.levels - 1) * BITS, old.seq), this.levels, this.nextSeq, this.size - 1);
  }

  forEach(f: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    if (this.order !== null) walk(this.order, (this.levels - 1) * BITS, (l) => (f.call(thisArg, l.value, l.key, this), true));
  }

  *entries(): MapIterator<[K, V]> {
    for (const l of leavesOf(this.order, this.levels)) yield [l.key, l.value];
  }

  *keys(): MapIterator<K> {
    for (const l of leavesOf(this.order, this.levels)) yield l.key;
  }

  *values(): MapIterator<V> {
    for (const l of leavesOf(this.order, this.levels)) yield l.value;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'PersistentMap';
  }

  /** The same entries in the same order, numbered from 0 again. */
  private renumbered(): PersistentMap<K, V> {
    const b = PersistentMap.empty<K, V>().builder();
    if (this.order !== null) walk(this.order, (this.levels - 1) * BITS, (l) => (b.set(l.key, l.value), true));
    return b.done();
  }

  /** @internal For a builder that runs out of insertion numbers: the parts of the renumbered map. */
  renumberedParts(): { root: Branch<K, V> | null; order: Branch<K, V> | null; levels: number; nextSeq: number } {
    const m = this.renumbered();
    return { root: m.root, order: m.order, levels: m.levels, nextSeq: m.nextSeq };
  }
}

/**
 * A transient of a persistent map: many changes at the price of one pass. The nodes the builder
 * made are changed in place while it is open, and those it shares with the map it started from
 * (or with a map it handed out) are copied on their first change, as `set` and `delete` would.
 * `done()` hands back the map as built so far and closes the builder's ownership of every node:
 * the builder may go on, but its next changes copy again, so no map handed out ever changes.
 *
 * Reads (`get`, `has`, `size`) see every change made so far. Iterate a map handed out by `done()`.
 *
 * @example
 * const b = PersistentMap.empty<number, number>().builder();
 * for (let i = 0; i < 1000; i++) b.set(i, i * i);
 * b.delete(0);
 * const squares = b.done();
 */
export class MapBuilder<K, V> {
  private owner: object = {};

  /** @internal Made by {@link PersistentMap.builder}. */
  constructor(
    private root: Branch<K, V> | null,
    private order: Branch<K, V> | null,
    private levels: number,
    private nextSeq: number,
    private count: number,
  ) {}

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    return find(this.root, hashOf(key), key)?.value;
  }

  has(key: K): boolean {
    return find(this.root, hashOf(key), key) !== undefined;
  }

  /** Maps `key` to `value` (in its old place if it had one, else last); false when it already was. */
  set(key: K, value: V): boolean {
    if ((key as unknown) === 0) key = 0 as K; // Map keeps -0 as +0
    const hash = hashOf(key);
    const old = find(this.root, hash, key);
    if (old !== undefined && Object.is(old.value, value)) return false;
    if (old === undefined && this.nextSeq >= PersistentMap.seqLimit) {
      ({ root: this.root, order: this.order, levels: this.levels, nextSeq: this.nextSeq } = this.done().renumberedParts());
      return this.set(key, value);
    }
    const leaf = new Leaf(hash, key, value, old?.seq ?? this.nextSeq);
    this.root = this.root === null ? new Branch<K, V>(1 << (hash & MASK), [leaf], this.owner) : (assocIn(this.root, leaf, 0, this.owner) as Branch<K, V>);
    if (old === undefined) {
      if (leaf.seq >= 2 ** (BITS * this.levels)) {
        this.order = this.order === null ? null : new Branch(1, [this.order], this.owner);
        this.levels++;
      }
      this.nextSeq++;
      this.count++;
    }
    this.order = orderSetIn(this.order, (this.levels - 1) * BITS, leaf, this.owner);
    return true;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: K): boolean {
    const old = find(this.root, hashOf(key), key);
    if (old === undefined) return false;
    this.root = dissocIn(this.root!, old.hash, old.key, 0, this.owner) as Branch<K, V> | null;
    this.order = orderDeleteIn(this.order!, (this.levels - 1) * BITS, old.seq, this.owner);
    this.count--;
    return true;
  }

  /** The map as built so far, never to change: the builder may go on, copying what it changes next. */
  done(): PersistentMap<K, V> {
    this.owner = {};
    return PersistentMap.of(this.root, this.order, this.levels, this.nextSeq, this.count);
  }
}

/**
 * An immutable set, iterated in insertion order; `add` and `delete` return a new set (or this
 * one, when nothing changes).
 *
 * @example
 * const s = PersistentSet.empty<number>().add(3).add(1);
 * [...s] // [3, 1]
 */
export class PersistentSet<T> implements ReadonlySet<T> {
  private constructor(private readonly map: PersistentMap<T, T>) {}

  private static emptySet: PersistentSet<never> | undefined;

  static empty<T>(): PersistentSet<T> {
    return (PersistentSet.emptySet ??= new PersistentSet<never>(PersistentMap.empty())) as PersistentSet<T>;
  }

  static from<T>(values: Iterable<T>): PersistentSet<T> {
    if (values instanceof PersistentSet) return values as PersistentSet<T>;
    const b = PersistentSet.empty<T>().builder();
    for (const v of values) b.add(v);
    return b.done();
  }

  /** @internal The set of a map of each value to itself (a builder's way in). */
  static ofMap<T>(map: PersistentMap<T, T>): PersistentSet<T> {
    return map.size === 0 ? PersistentSet.empty() : new PersistentSet(map);
  }

  /** A builder starting from this set, for many changes at the cost of few (see {@link SetBuilder}). */
  builder(): SetBuilder<T> {
    return new SetBuilder(this.map.builder());
  }

  get size(): number {
    return this.map.size;
  }

  has(value: T): boolean {
    return this.map.has(value);
  }

  add(value: T): PersistentSet<T> {
    if ((value as unknown) === 0) value = 0 as T; // Set keeps -0 as +0
    const map = this.map.set(value, value);
    return map === this.map ? this : new PersistentSet(map);
  }

  delete(value: T): PersistentSet<T> {
    const map = this.map.delete(value);
    return map === this.map ? this : map.size === 0 ? PersistentSet.empty() : new PersistentSet(map);
  }

  forEach(f: (value: T, value2: T, set: ReadonlySet<T>) => void, thisArg?: unknown): void {
    this.map.forEach((v) => f.call(thisArg, v, v, this));
  }

  *entries(): SetIterator<[T, T]> {
    for (const v of this.map.keys()) yield [v, v];
  }

  keys(): SetIterator<T> {
    return this.values();
  }

  *values(): SetIterator<T> {
    yield* this.map.keys();
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }

  get [Symbol.toStringTag](): string {
    return 'PersistentSet';
  }
}

/**
 * A transient of a persistent set, as {@link MapBuilder} is of a map: changes in place until
 * `done()`, which hands back a set that never changes.
 *
 * @example
 * const b = PersistentSet.empty<number>().builder();
 * b.add(3);
 * b.add(1);
 * b.delete(3);
 * [...b.done()] // [1]
 */
export class SetBuilder<T> {
  /** @internal Made by {@link PersistentSet.builder}. */
  constructor(private readonly map: MapBuilder<T, T>) {}

  get size(): number {
    return this.map.size;
  }

  has(value: T): boolean {
    return this.map.has(value);
  }

  /** Adds `value` (last, unless it is there already); false when it was there. */
  add(value: T): boolean {
    if ((value as unknown) === 0) value = 0 as T; // Set keeps -0 as +0
    return this.map.set(value, value);
  }

  /** Removes `value`; false when it was not there. */
  delete(value: T): boolean {
    return this.map.delete(value);
  }

  /** The set as built so far, never to change (see {@link MapBuilder.done}). */
  done(): PersistentSet<T> {
    return PersistentSet.ofMap(this.map.done());
  }
}
