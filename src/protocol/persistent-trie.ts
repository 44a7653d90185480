/**
 * The nodes of the persistent maps (`persistent-map.ts`) and the operations on them: a hash array
 * mapped trie that finds a key, and a trie over insertion numbers that gives the order; both are
 * made of the same bitmap-compressed nodes of up to 32 slots and share one leaf per entry.
 *
 * Each change comes in two forms: a persistent one (`assoc`, `dissoc`, `orderSet`,
 * `orderDelete`) that copies the path it changes, and one for a builder (`...In`) that changes in
 * place the nodes that builder owns and copies the others once, after which it owns them.
 */

export const BITS = 5;
/** Maps of at most this many entries have no key trie, and are searched without hashing (`leafOf`). */
export const SMALL = 8;
export const MASK = 31;

export class Leaf<K, V> {
  constructor(
    readonly hash: number,
    readonly key: K,
    readonly value: V,
    readonly seq: number,
  ) {}
}

/** Keys whose hashes are equal in all 32 bits. */
export class Collision<K, V> {
  constructor(
    readonly hash: number,
    readonly leaves: ReadonlyArray<Leaf<K, V>>,
  ) {}
}

/**
 * A trie node: `items` holds one slot per bit set in `bitmap`, in bit order. Immutable once a
 * map holds it, except by the builder that made it (`owner`) while that builder is open.
 */
export class Branch<K, V> {
  constructor(
    public bitmap: number,
    public items: Item<K, V>[],
    readonly owner: object | null = null,
  ) {}
}

export type Item<K, V> = Leaf<K, V> | Branch<K, V> | Collision<K, V>;

const popcount = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 63;
};

const slotOf = (bitmap: number, bit: number): number => popcount(bitmap & (bit - 1));

export const sameValueZero = (a: unknown, b: unknown): boolean => a === b || (a !== a && b !== b);

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

/** The hash a key is placed by. */
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

export const find = <K, V>(root: Branch<K, V> | null, hash: number, key: K): Leaf<K, V> | undefined => {
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
export const assoc = <K, V>(node: Item<K, V>, leaf: Leaf<K, V>, shift: number): Item<K, V> => {
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
export const dissoc = <K, V>(node: Item<K, V>, hash: number, key: K, shift: number): Item<K, V> | null => {
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

export const orderSet = <K, V>(node: Branch<K, V> | null, shift: number, leaf: Leaf<K, V>): Branch<K, V> => {
  const bit = 1 << ((leaf.seq >>> shift) & MASK);
  if (node === null) return new Branch(bit, [shift === 0 ? leaf : orderSet(null, shift - BITS, leaf)]);
  const at = slotOf(node.bitmap, bit);
  if ((node.bitmap & bit) === 0) return new Branch(node.bitmap | bit, insertItem(node.items, at, shift === 0 ? leaf : orderSet(null, shift - BITS, leaf)));
  return new Branch(node.bitmap, withItem(node.items, at, shift === 0 ? leaf : orderSet(node.items[at] as Branch<K, V>, shift - BITS, leaf)));
};

export const orderDelete = <K, V>(node: Branch<K, V>, shift: number, seq: number): Branch<K, V> | null => {
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

/** `node` (as a node of `owner`) with `item` in the free slot `at` of `bit`: in place when owned, else one copy of the right size. */
const insertIn = <K, V>(node: Branch<K, V>, bit: number, at: number, item: Item<K, V>, owner: object): Branch<K, V> => {
  if (node.owner !== owner) return new Branch(node.bitmap | bit, insertItem(node.items, at, item), owner);
  const items = node.items;
  for (let i = items.length; i > at; i--) items[i] = items[i - 1]!;
  items[at] = item;
  node.bitmap |= bit;
  return node;
};

/** `node` (as a node of `owner`) without the slot `at` of `bit`: in place when owned, else one copy of the right size. */
const removeIn = <K, V>(node: Branch<K, V>, bit: number, at: number, owner: object): Branch<K, V> => {
  if (node.owner !== owner) return new Branch(node.bitmap & ~bit, removeItem(node.items, at), owner);
  const items = node.items;
  for (let i = at + 1; i < items.length; i++) items[i - 1] = items[i]!;
  items.pop();
  node.bitmap &= ~bit;
  return node;
};

export const assocIn = <K, V>(node: Item<K, V>, leaf: Leaf<K, V>, shift: number, owner: object): Item<K, V> => {
  if (!(node instanceof Branch)) return assoc(node, leaf, shift);
  const bit = 1 << ((leaf.hash >>> shift) & MASK);
  const at = slotOf(node.bitmap, bit);
  if ((node.bitmap & bit) === 0) return insertIn(node, bit, at, leaf, owner);
  const n = own(node, owner);
  n.items[at] = assocIn(n.items[at]!, leaf, shift + BITS, owner);
  return n;
};

export const orderSetIn = <K, V>(node: Branch<K, V> | null, shift: number, leaf: Leaf<K, V>, owner: object): Branch<K, V> => {
  const bit = 1 << ((leaf.seq >>> shift) & MASK);
  if (node === null) return new Branch(bit, [shift === 0 ? leaf : orderSetIn(null, shift - BITS, leaf, owner)], owner);
  const at = slotOf(node.bitmap, bit);
  if ((node.bitmap & bit) === 0) return insertIn(node, bit, at, shift === 0 ? leaf : orderSetIn(null, shift - BITS, leaf, owner), owner);
  const n = own(node, owner);
  n.items[at] = shift === 0 ? leaf : orderSetIn(n.items[at] as Branch<K, V>, shift - BITS, leaf, owner);
  return n;
};

/** `node` without the leaf of `key` (which is in it), or null when nothing is left; owned nodes change in place. */
export const dissocIn = <K, V>(node: Item<K, V>, hash: number, key: K, shift: number, owner: object): Item<K, V> | null => {
  if (!(node instanceof Branch)) return dissoc(node, hash, key, shift);
  const bit = 1 << ((hash >>> shift) & MASK);
  const at = slotOf(node.bitmap, bit);
  const child = dissocIn(node.items[at]!, hash, key, shift + BITS, owner);
  if (child === node.items[at]) return node; // changed in place below: this node is owned too
  if (child !== null) {
    const n = own(node, owner);
    n.items[at] = child;
    return n;
  }
  return node.items.length === 1 ? null : removeIn(node, bit, at, owner);
};

/** `node` without the leaf numbered `seq`, or null when nothing is left; owned nodes change in place. */
export const orderDeleteIn = <K, V>(node: Branch<K, V>, shift: number, seq: number, owner: object): Branch<K, V> | null => {
  const bit = 1 << ((seq >>> shift) & MASK);
  const at = slotOf(node.bitmap, bit);
  const child = shift === 0 ? null : orderDeleteIn(node.items[at] as Branch<K, V>, shift - BITS, seq, owner);
  if (child === node.items[at]) return node;
  if (child !== null) {
    const n = own(node, owner);
    n.items[at] = child;
    return n;
  }
  return node.items.length === 1 ? null : removeIn(node, bit, at, owner);
};

/** The key trie of the leaves of an order trie (a small map growing past `SMALL`, or a builder starting from one). */
export const keyTrieOf = <K, V>(order: Branch<K, V> | null, levels: number): Branch<K, V> | null => {
  let root: Branch<K, V> | null = null;
  if (order !== null) walk(order, (levels - 1) * BITS, (l) => ((root = root === null ? new Branch<K, V>(1 << (l.hash & MASK), [l]) : (assoc(root, l, 0) as Branch<K, V>)), true));
  return root;
};

/** Calls `f` on every leaf under `node` in insertion order; stops when it returns false. */
export const walk = <K, V>(node: Branch<K, V>, shift: number, f: (leaf: Leaf<K, V>) => boolean): boolean => {
  const items = node.items;
  if (shift === 0) {
    for (let i = 0; i < items.length; i++) if (!f(items[i] as Leaf<K, V>)) return false;
    return true;
  }
  for (let i = 0; i < items.length; i++) if (!walk(items[i] as Branch<K, V>, shift - BITS, f)) return false;
  return true;
};

export function* leavesOf<K, V>(node: Branch<K, V> | null, levels: number): Generator<Leaf<K, V>> {
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
