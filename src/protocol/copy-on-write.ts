/**
 * Copy-on-write maps for the pure state machines (`agentStep`, `controllerStep`).
 *
 * A step reads the state it was given and writes through these wrappers, and a step that writes
 * nothing hands back the very map it was given. Writes go to a persistent map
 * (`persistent-map.ts`): a write costs O(log n) and shares the rest with the map the step was
 * given, so a step that changes one record of ten thousand does not copy the other ones. The
 * given state is never changed, so it stays usable after the step. A plain `Map` given as a base
 * (a state built by hand, or an initial state) is converted once, on the first write.
 *
 * A step that writes a big map many times writes through a builder (a transient: the nodes the
 * step made are changed in place), so that it copies each node it touches once, not once per
 * write. Small maps keep the plain `set`/`delete`: they have no key trie to start a builder from,
 * and a change copies their one node anyway.
 */
import { type MapBuilder, PersistentMap } from './persistent-map.js';

/** `map` as a persistent map: itself when it is one, else converted (O(n), once per plain map). */
const persistent = <K, V>(map: ReadonlyMap<K, V>): PersistentMap<K, V> => (map instanceof PersistentMap ? map : PersistentMap.from(map));

/**
 * Maps of more entries than this are written through a builder. Below it a map may be small
 * (no key trie, see `persistent-map.ts`), and a builder would have to make one.
 */
const BUILD_ABOVE = 16;

/**
 * A map read from a base and written as a persistent map. Writing the value a key already has
 * (or deleting a missing key) is not a write, so it keeps the base.
 *
 * @example
 * const m = new CowMap(base);
 * m.set(1, 'x'); // base unchanged; m.current has the new entry
 * m.result()     // base itself when nothing was written
 */
export class CowMap<K, V> {
  /** The base, or the latest version handed out. */
  private map: ReadonlyMap<K, V>;
  /** Writes to a big map go here (see the module comment); `map` is then stale until `snapshot()`. */
  private builder: MapBuilder<K, V> | null = null;
  private stale = false;
  private owned = false;

  constructor(base: ReadonlyMap<K, V>) {
    this.map = base;
  }

  /**
   * The current contents, as a map that never changes. Between writes it costs nothing; after a
   * write to a big map it closes the builder's ownership, so that the next write copies the
   * nodes it touches once more: read it once per batch of writes, not between every two.
   */
  get current(): ReadonlyMap<K, V> {
    return this.snapshot();
  }

  get size(): number {
    return this.builder?.size ?? this.map.size;
  }

  /** True once a write has changed the map. */
  get changed(): boolean {
    return this.owned;
  }

  get(key: K): V | undefined {
    return this.builder !== null ? this.builder.get(key) : this.map.get(key);
  }

  has(key: K): boolean {
    return this.builder !== null ? this.builder.has(key) : this.map.has(key);
  }

  set(key: K, value: V): void {
    if (this.get(key) === value && (value !== undefined || this.has(key))) return;
    const b = this.writer();
    if (b !== null) {
      b.set(key, value);
      this.stale = true;
    } else this.map = persistent(this.map).set(key, value);
    this.owned = true;
  }

  delete(key: K): void {
    if (!this.has(key)) return;
    const b = this.writer();
    if (b !== null) {
      b.delete(key);
      this.stale = true;
    } else this.map = persistent(this.map).delete(key);
    this.owned = true;
  }

  /** The map to hand back in the next state. */
  result(): ReadonlyMap<K, V> {
    return this.snapshot();
  }

  /** The builder to write through, made on the first write once the map is big enough for it to pay. */
  private writer(): MapBuilder<K, V> | null {
    if (this.builder === null && this.map.size > BUILD_ABOVE) this.builder = persistent(this.map).builder();
    return this.builder;
  }

  private snapshot(): ReadonlyMap<K, V> {
    if (this.stale) {
      this.map = this.builder!.done();
      this.stale = false;
    }
    return this.map;
  }
}

/**
 * A map of records that a step edits in place: `get(key)` hands out a private copy of the
 * record (made by `thaw` on first use, then the same copy for the rest of the step), and
 * `result()` turns every copy back into a record with `freeze`, which returns the record it was
 * thawed from when nothing in it changed. `peek` reads without copying.
 *
 * @example
 * const jobs = new CowRecords(state.jobs, (j) => ({ ...j }), (j, base) => j);
 * jobs.get(7)!.phase = { kind: 'waiting' };
 * const next = jobs.result();
 */
export class CowRecords<K, V, D> {
  private readonly base: ReadonlyMap<K, V>;
  /** Private copies, and keys given new records or deleted (undefined) in this step. */
  private readonly drafts = new Map<K, D | undefined>();
  /** What the last `result()` changed (see `changes()`). */
  private applied: ReadonlyArray<readonly [K, V | undefined, V | undefined]> = [];

  constructor(
    base: ReadonlyMap<K, V>,
    private readonly thaw: (value: V) => D,
    private readonly freeze: (draft: D, base: V | undefined) => V,
  ) {
    this.base = base;
  }

  has(key: K): boolean {
    const d = this.drafts.get(key);
    return d !== undefined || (!this.drafts.has(key) && this.base.has(key));
  }

  get size(): number {
    let n = this.base.size;
    for (const [k, d] of this.drafts) {
      const inBase = this.base.has(k);
      if (d === undefined && inBase) n--;
      else if (d !== undefined && !inBase) n++;
    }
    return n;
  }

  /** The record as it is now, without copying it: the private copy, or the record of the base. */
  peek(key: K): V | D | undefined {
    const d = this.drafts.get(key);
    return d !== undefined || this.drafts.has(key) ? d : this.base.get(key);
  }

  /** The record for editing: a private copy, made on first use in this step. */
  get(key: K): D | undefined {
    const d = this.drafts.get(key);
    if (d !== undefined || this.drafts.has(key)) return d;
    const value = this.base.get(key);
    if (value === undefined) return undefined;
    const draft = this.thaw(value);
    this.drafts.set(key, draft);
    return draft;
  }

  /** True when `key` was deleted in this step (and not put again). */
  deleted(key: K): boolean {
    return this.drafts.get(key) === undefined && this.drafts.has(key);
  }

  /** Puts a record that is already private to this step under `key`, and returns it. */
  put(key: K, draft: D): D {
    this.drafts.set(key, draft);
    return draft;
  }

  delete(key: K): void {
    if (!this.has(key)) return;
    this.drafts.set(key, undefined);
  }

  /** Every key, in insertion order (keys added in this step last). */
  keys(): K[] {
    const out: K[] = [];
    for (const k of this.base.keys()) if (!this.drafts.has(k) || this.drafts.get(k) !== undefined) out.push(k);
    for (const [k, d] of this.drafts) if (d !== undefined && !this.base.has(k)) out.push(k);
    return out;
  }

  /** The map to hand back in the next state: the base itself when no record changed. */
  result(): ReadonlyMap<K, V> {
    const changes: Array<readonly [K, V | undefined, V | undefined]> = [];
    for (const [k, d] of this.drafts) {
      const before = this.base.get(k);
      const after = d === undefined ? undefined : this.freeze(d, before);
      if (after === before && (after !== undefined || !this.base.has(k))) continue;
      changes.push([k, before, after]);
    }
    this.applied = changes;
    if (changes.length === 0) return this.base;
    let next = persistent(this.base);
    if (changes.length === 1 || next.size <= BUILD_ABOVE) {
      for (const [k, , v] of changes) next = v === undefined ? next.delete(k) : next.set(k, v);
      return next;
    }
    const b = next.builder();
    for (const [k, , v] of changes) {
      if (v === undefined) b.delete(k);
      else b.set(k, v);
    }
    return b.done();
  }

  /**
   * The records the last `result()` changed, as [key, before, after] (undefined: absent), in the
   * order the step first touched them: for indexes kept beside the map (`job-index.ts`).
   */
  changes(): ReadonlyArray<readonly [K, V | undefined, V | undefined]> {
    return this.applied;
  }
}

/**
 * True when `a` and `b` have the same own fields with identical values: a record thawed and
 * frozen again without a change can then hand back the original.
 *
 * @example
 * sameFields({ a: 1 }, { a: 1 }) // true
 */
export const sameFields = (a: object, b: object): boolean => {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return false;
  return true;
};
