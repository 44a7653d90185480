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
 * Layout: a hash array mapped trie (bitmap-compressed nodes of up to 32 slots, 5 bits of the
 * key's hash per level, a list for keys whose 32-bit hashes are equal) finds a key; a second
 * trie of the same nodes, indexed by each entry's insertion number from the most significant
 * digit, gives the order. An entry is one leaf object shared by both tries. Keys compare as in
 * `Map` (SameValueZero). Numbers and strings hash well; other keys all hash alike (correct,
 * but each lookup among them is linear), which no caller of this library needs.
 */

const BITS = 5;
/** Maps of at most this many entries have no key trie, and are searched without hashing (`leafOf`). */
const SMALL = 8;
const MASK = 31;

class Leaf<K, V> {
  constructor(
    readonly hash: number,
    readonly key: K,
    readonly value: V,
    readonly seq: number,
  ) {}
}

/** Keys whose hashes are equal in all 32 bits. */
class Collision<K, V> {
  constructor(
    readonly hash: number,
    readonly leaves: ReadonlyArray<Leaf<K, V>>,
  ) {}
}

/**
 * A trie node: `items` holds one slot per bit set in `bitmap`, in bit order. Immutable once a
 * map holds it, except by the builder that made it (`owner`) while that builder is open.
 */
class Branch<K, V> {
  constructor(
    public bitmap: number,
    public items: Item<K, V>[],
    readonly owner: object | null = null,
  ) {}
}

type Item<K, V> = Leaf<K, V> | Branch<K, V> | Collision<K, V>;

const popcount = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 63;
};

const slotOf = (bitmap: number, bit: number): number => popcount(bitmap & (bit - 1));

const sameValueZero = (a: unknown, b: unknown): boolean => a === b || (a !== a && b !== b);

const hashString = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix(h);
};

const mix = (k: number): number => {
  let h = Math.imul(k ^ (k >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) | 0;
};

/** @internal The hash a key is placed by (exported for tests that need keys whose hashes collide). */
export const hashOf = (key: unknown): number => {
  if (typeof key === 'number') return (key | 0) === key ? mix(key) : hashString(String(key)); // -0 | 0 is 0, as Map treats it
  if (typeof key === 'string') return hashString(key);
  if (typeof key === 'boolean' || typeof key === 'bigint') return hashString(`${typeof key}:${String(key)}`);
  return 0;
};

const withItem = <K, V>(items: Item<K, V>[], at: number, item: Item<K, V>): Item<K, V>[] => {
  const next = items.slice();
  next[at] = item;
  return next;
};

const insertItem = <K, V>(items: ReadonlyArray<Item<K, V>>, at: number, item: Item<K, V>): Item<K, V>[] => {
  const next = new Array<Item<K, V>>(items.length + 1);
  for (let i = 0; i < at; i++) next[i] = items[i]!;
  next[at] = item;
  for (let i = at; i < items.length; i++) next[i + 1] = items[i]!;
  return next;
};

const removeItem = <K, V>(items: ReadonlyArray<Item<K, V>>, at: number): Item<K, V>[] => {
  const next = new Array<Item<K, V>>(items.length - 1);
  for (let i = 0; i < at; i++) next[i] = items[i]!;
  for (let i = at + 1; i < items.length; i++) next[i - 1] = items[i]!;
  return next;
};

// ---------------------------------------------------------------------------------------------
// The key trie

const find = <K, V>(root: Branch<K, V> | null, hash: number, key: K): Leaf<K, V> | undefined => {
  let node: Item<K, V> | null = root;
  let shift = 0;
  while (node !== null) {
    if (node instanceof Branch) {
      const bit = 1 << ((hash >>> shift) & MASK);
      if ((node.bitmap & bit) === 0) return undefined;
      node = node.items[slotOf(node.bitmap, bit)]!;
      shift += BITS;
    } else if (node instanceof Leaf) {
      return sameValueZero(node.key, key) ? node : undefined;
    } else {
      if (node.hash !== hash) return undefined;
      for (const leaf of node.leaves) if (sameValueZero(leaf.key, key)) return leaf;
      return undefined;
    }
  }
  return undefined;
};

/** Two leaves of different keys under one slot at `shift`: the smallest subtree that tells them apart. */
const split = <K, V>(a: Leaf<K, V>, b: Leaf<K, V>, shift: number): Item<K, V> => {
  if (shift >= 32) return new Collision(a.hash, [a, b]);
  const ia = (a.hash >>> shift) & MASK;
  const ib = (b.hash >>> shift) & MASK;
  if (ia === ib) return new Branch(1 << ia, [split(a, b, shift + BITS)]);
  return new Branch((1 << ia) | (1 << ib), ia < ib ? [a, b] : [b, a]);
};

/** `node` with `leaf` in place of the leaf of the same key, or added. */
const assoc = <K, V>(node: Item<K, V>, leaf: Leaf<K, V>, shift: number): Item<K, V> => {
  if (node instanceof Branch) {
    const bit = 1 << ((leaf.hash >>> shift) & MASK);
    const at = slotOf(node.bitmap, bit);
    if ((node.bitmap & bit) === 0) return new Branch(node.bitmap | bit, insertItem(node.items, at, leaf));
    return new Branch(node.bitmap, withItem(node.items, at, assoc(node.items[at]!, leaf, shift + BITS)));
  }
  if (node instanceof Leaf) return sameValueZero(node.key, leaf.key) ? leaf : split(node, leaf, shift);
  if (node.hash !== leaf.hash) {
    // A collision list under a slot where a different hash arrives: push the list one level down.
    const ic = (node.hash >>> shift) & MASK;
    const il = (leaf.hash >>> shift) & MASK;
    if (ic === il) return new Branch(1 << ic, [assoc(node, leaf, shift + BITS)]);
    return new Branch((1 << ic) | (1 << il), ic < il ? [node, leaf] : [leaf, node]);
  }
  const at = node.leaves.findIndex((l) => sameValueZero(l.key, leaf.key));
  const leaves = node.leaves.slice();
  if (at < 0) leaves.push(leaf);
  else leaves[at] = leaf;
  return new Collision(node.hash, leaves);
};

/** `node` without the leaf of `key` (which is in it), or null when nothing is left. */
const dissoc = <K, V>(node: Item<K, V>, hash: number, key: K, shift: number): Item<K, V> | null => {
  if (node instanceof Branch) {
    const bit = 1 << ((hash >>> shift) & MASK);
    const at = slotOf(node.bitmap, bit);
    const child = dissoc(node.items[at]!, hash, key, shift + BITS);
    if (child !== null) return new Branch(node.bitmap, withItem(node.items, at, child));
    if (node.items.length === 1) return null;
    return new Branch(node.bitmap & ~bit, removeItem(node.items, at));
  }
  if (node instanceof Leaf) return null;
  const leaves = node.leaves.filter((l) => !sameValueZero(l.key, key));
  return leaves.length === 1 ? leaves[0]! : new Collision(node.hash, leaves);
};

// ---------------------------------------------------------------------------------------------
// The order trie: leaves by insertion number, `levels` levels of 5 bits each

const orderSet = <K, V>(node: Branch<K, V> | null, shift: number, leaf: Leaf<K, V>): Branch<K, V> => {
  const bit = 1 << ((leaf.seq >>> shift) & MASK);
  if (node === null) return new Branch(bit, [shift === 0 ? leaf : orderSet(null, shift - BITS, leaf)]);
  const at = slotOf(node.bitmap, bit);
  if ((node.bitmap & bit) === 0) return new Branch(node.bitmap | bit, insertItem(node.items, at, shift === 0 ? leaf : orderSet(null, shift - BITS, leaf)));
  return new Branch(node.bitmap, withItem(node.items, at, shift === 0 ? leaf : orderSet(node.items[at] as Branch<K, V>, shift - BITS, leaf)));
};

const orderDelete = <K, V>(node: Branch<K, V>, shift: number, seq: number): Branch<K, V> | null => {
  const bit = 1 << ((seq >>> shift) & MASK);
  const at = slotOf(node.bitmap, bit);
  const child = shift === 0 ? null : orderDelete(node.items[at] as Branch<K, V>, shift - BITS, seq);
  if (child !== null) return new Branch(node.bitmap, withItem(node.items, at, child));
  if (node.items.length === 1) return null;
  return new Branch(node.bitmap & ~bit, removeItem(node.items, at));
};

// ---------------------------------------------------------------------------------------------
// The same insertions for a builder: nodes it made itself (`owner`) are changed in place

/** `node` as a node of `owner`: itself if it is one, else a copy. */
const own = <K, V>(node: Branch<K, V>, owner: object): Branch<K, V> => (node.owner === owner ? node : new Branch(node.bitmap, node.items.slice(), owner));

const assocIn = <K, V>(node: Item<K, V>, leaf: Leaf<K, V>, shift: number, owner: object): Item<K, V> => {
  if (!(node instanceof Branch)) return assoc(node, leaf, shift);
  const n = own(node, owner);
  const bit = 1 << ((leaf.hash >>> shift) & MASK);
  const at = slotOf(n.bitmap, bit);
  if ((n.bitmap & bit) === 0) {
    n.items.splice(at, 0, leaf);
    n.bitmap |= bit;
  } else n.items[at] = assocIn(n.items[at]!, leaf, shift + BITS, owner);
  return n;
};

const orderSetIn = <K, V>(node: Branch<K, V> | null, shift: number, leaf: Leaf<K, V>, owner: object): Branch<K, V> => {
  const n = node === null ? new Branch<K, V>(0, [], owner) : own(node, owner);
  const bit = 1 << ((leaf.seq >>> shift) & MASK);
  const at = slotOf(n.bitmap, bit);
  if ((n.bitmap & bit) === 0) {
    n.items.splice(at, 0, shift === 0 ? leaf : orderSetIn(null, shift - BITS, leaf, owner));
    n.bitmap |= bit;
  } else n.items[at] = shift === 0 ? leaf : orderSetIn(n.items[at] as Branch<K, V>, shift - BITS, leaf, owner);
  return n;
};

/** The key trie of the leaves of an order trie (a small map growing past `SMALL`, or a builder starting from one). */
const keyTrieOf = <K, V>(order: Branch<K, V> | null, levels: number): Branch<K, V> | null => {
  let root: Branch<K, V> | null = null;
  if (order !== null) walk(order, (levels - 1) * BITS, (l) => ((root = root === null ? new Branch<K, V>(1 << (l.hash & MASK), [l]) : (assoc(root, l, 0) as Branch<K, V>)), true));
  return root;
};

/** Calls `f` on every leaf under `node` in insertion order; stops when it returns false. */
const walk = <K, V>(node: Branch<K, V>, shift: number, f: (leaf: Leaf<K, V>) => boolean): boolean => {
  const items = node.items;
  if (shift === 0) {
    for (let i = 0; i < items.length; i++) if (!f(items[i] as Leaf<K, V>)) return false;
    return true;
  }
  for (let i = 0; i < items.length; i++) if (!walk(items[i] as Branch<K, V>, shift - BITS, f)) return false;
  return true;
};

function* leavesOf<K, V>(node: Branch<K, V> | null, levels: number): Generator<Leaf<K, V>> {
  if (node === null) return;
  // An explicit stack: a recursive generator would cost a generator per level.
  const nodes: Branch<K, V>[] = [node];
  const next: number[] = [0];
  while (nodes.length > 0) {
    const top = nodes.length - 1;
    const n = nodes[top]!;
    const i = next[top]!;
    if (i >= n.items.length) {
      nodes.pop();
      next.pop();
      continue;
    }
    next[top] = i + 1;
    if (top === levels - 1) yield n.items[i] as Leaf<K, V>;
    else {
      nodes.push(n.items[i] as Branch<K, V>);
      next.push(0);
    }
  }
}

// ---------------------------------------------------------------------------------------------

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
 * Many insertions into a persistent map at the price of one pass: the nodes the builder makes
 * are changed in place while it is open, and those it shares with the map it started from are
 * copied on their first change, as `set` would. `done()` hands back the map and closes the
 * builder (a later `set` starts copying again, so the map handed back never changes).
 *
 * @example
 * const b = PersistentMap.empty<number, number>().builder();
 * for (let i = 0; i < 1000; i++) b.set(i, i * i);
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

  set(key: K, value: V): void {
    if ((key as unknown) === 0) key = 0 as K; // Map keeps -0 as +0
    const hash = hashOf(key);
    const old = find(this.root, hash, key);
    if (old !== undefined && Object.is(old.value, value)) return;
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
  }

  /** The map as built so far; the builder may go on, without changing it. */
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
    let s = PersistentSet.empty<T>();
    for (const v of values) s = s.add(v);
    return s;
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
