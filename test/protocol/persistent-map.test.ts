/**
 * Tests of src/protocol/persistent-map.ts against plain `Map` and `Set` as the model: random
 * sequences of set, delete, get, has and iteration, over keys that include full and partial hash
 * collisions, -0, NaN and non-integer numbers; every version stays as it was when later ones
 * are made, and iteration order is `Map`'s (insertion order) throughout.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { hashOf, PersistentMap, PersistentSet } from '../../src/protocol/persistent-map.js';

/** Strings whose 32-bit hashes are equal (found by search: the hash is deterministic). */
const collidingStrings = (() => {
  const seen = new Map<number, string>();
  const out: string[] = [];
  for (let i = 0; out.length < 6; i++) {
    const s = `k${i}`;
    const h = hashOf(s);
    const other = seen.get(h);
    if (other !== undefined) out.push(other, s);
    else seen.set(h, s);
  }
  return out;
})();

/** Strings whose hashes agree in their low 25 bits only: they share the first five levels of the trie. */
const nearStrings = (() => {
  const seen = new Map<number, string>();
  const out: string[] = [];
  for (let i = 0; out.length < 6; i++) {
    const s = `n${i}`;
    const h = hashOf(s);
    const other = seen.get(h & 0x1ffffff);
    if (other !== undefined && hashOf(other) !== h) out.push(other, s);
    else seen.set(h & 0x1ffffff, s);
  }
  return out;
})();

const KEYS: ReadonlyArray<unknown> = [0, -0, 1, 2, 3, 31, 32, 33, 1024, -1, -7, 2 ** 31, 2 ** 40 + 1, 0.5, NaN, 'a', 'b', '', 'disk', 'syncing:disk', true, ...collidingStrings, ...nearStrings];

type Op = { op: 'set'; key: number; value: number } | { op: 'delete'; key: number } | { op: 'keep' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.nat(KEYS.length - 1), value: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'keep' as const }) },
);

/** Every observable of `m` agrees with the model `model`. */
const agree = (m: ReadonlyMap<unknown, number>, model: ReadonlyMap<unknown, number>): void => {
  expect(m.size).toBe(model.size);
  expect([...m]).toEqual([...model]);
  expect([...m.keys()]).toEqual([...model.keys()]);
  expect([...m.values()]).toEqual([...model.values()]);
  const seen: [unknown, number][] = [];
  m.forEach((v, k, self) => {
    expect(self).toBe(m);
    seen.push([k, v]);
  });
  expect(seen).toEqual([...model]);
  for (const k of KEYS) {
    expect(m.has(k)).toBe(model.has(k));
    expect(m.get(k)).toBe(model.get(k));
  }
};

describe('the key pool', () => {
  it('holds full and partial hash collisions', () => {
    expect(hashOf(collidingStrings[0])).toBe(hashOf(collidingStrings[1]));
    expect(collidingStrings[0]).not.toBe(collidingStrings[1]);
    expect(hashOf(nearStrings[0]) & 0x1ffffff).toBe(hashOf(nearStrings[1]) & 0x1ffffff);
    expect(hashOf(nearStrings[0])).not.toBe(hashOf(nearStrings[1]));
    expect(hashOf(-0)).toBe(hashOf(0));
  });
});

describe('PersistentMap', () => {
  afterEach(() => {
    PersistentMap.seqLimit = 2 ** 30;
  });

  const run = (ops: ReadonlyArray<Op>): void => {
    let m = PersistentMap.empty<unknown, number>();
    let model = new Map<unknown, number>();
    const versions: [PersistentMap<unknown, number>, Map<unknown, number>][] = [];
    for (const o of ops) {
      const before = m;
      if (o.op === 'set') {
        const changes = model.get(KEYS[o.key]) !== o.value || !model.has(KEYS[o.key]);
        m = m.set(KEYS[o.key], o.value);
        model.set(KEYS[o.key], o.value);
        if (!changes) expect(m).toBe(before);
      } else if (o.op === 'delete') {
        const changes = model.has(KEYS[o.key]);
        m = m.delete(KEYS[o.key]);
        model.delete(KEYS[o.key]);
        if (!changes) expect(m).toBe(before);
      } else {
        versions.push([m, model]);
        model = new Map(model);
      }
      agree(m, model);
    }
    // Every version kept is as it was when it was made.
    for (const [v, mv] of versions) agree(v, mv);
  };

  it('behaves as Map under random sets and deletes, every version unchanged by later ones', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 120 }), run), { numRuns: 300 });
  });

  it('keeps its order when insertion numbers run out and it renumbers', () => {
    PersistentMap.seqLimit = KEYS.length + 3;
    fc.assert(fc.property(fc.array(opArb, { minLength: 60, maxLength: 200 }), run), { numRuns: 25 });
  });

  it('keeps insertion order at scale, through deletes and re-inserts', () => {
    let m = PersistentMap.empty<number, number>();
    const model = new Map<number, number>();
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const k = x % 5000;
      if (x % 3 === 0) {
        m = m.delete(k);
        model.delete(k);
      } else {
        m = m.set(k, i);
        model.set(k, i);
      }
    }
    expect(m.size).toBe(model.size);
    expect([...m]).toEqual([...model]);
  });

  /** Plays `ops` on a builder and on a `Map`; `keep` hands out a map, whose later versions (made by `set`/`delete`) are checked too. */
  const build = (start: PersistentMap<unknown, number>, startModel: Map<unknown, number>, ops: ReadonlyArray<Op>, keys: ReadonlyArray<unknown>, check = agree): void => {
    const model = new Map(startModel);
    const b = start.builder();
    const handed: [PersistentMap<unknown, number>, Map<unknown, number>][] = [];
    for (const o of ops) {
      if (o.op === 'set') {
        const changes = !model.has(keys[o.key]) || !Object.is(model.get(keys[o.key]), o.value);
        expect(b.set(keys[o.key], o.value)).toBe(changes);
        model.set(keys[o.key], o.value);
      } else if (o.op === 'delete') {
        expect(b.delete(keys[o.key])).toBe(model.has(keys[o.key]));
        model.delete(keys[o.key]);
      } else {
        const m = b.done();
        handed.push([m, new Map(model)]);
        // A map handed out is an ordinary persistent map: its own later versions leave the builder alone.
        const k = keys[(handed.length * 7) % keys.length];
        handed.push([m.set(k, 99), new Map(model).set(k === -0 ? 0 : k, 99)]);
      }
      expect(b.size).toBe(model.size);
    }
    expect(keys.map((k) => [b.get(k), b.has(k)])).toEqual(keys.map((k) => [model.get(k), model.has(k)]));
    check(b.done(), model);
    check(start, startModel);
    for (const [m, mm] of handed) check(m, mm);
  };

  /** `agree` for big maps: the same observables, compared in one assertion each. */
  const agreeBig = (m: ReadonlyMap<unknown, number>, model: ReadonlyMap<unknown, number>): void => {
    expect(m.size).toBe(model.size);
    expect([...m]).toEqual([...model]);
    const seen: [unknown, number][] = [];
    m.forEach((v, k) => seen.push([k, v]));
    expect(seen).toEqual([...model]);
    const probe = [...model.keys()].filter((_, i) => i % 7 === 0);
    expect(probe.map((k) => m.get(k))).toEqual(probe.map((k) => model.get(k)));
  };

  it('builds as Map does, with deletes, and never changes a map it started from or handed back', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), fc.array(opArb, { maxLength: 120 }), fc.boolean(), (first, second, renumber) => {
        if (renumber) PersistentMap.seqLimit = KEYS.length + 3;
        let start = PersistentMap.empty<unknown, number>();
        const model = new Map<unknown, number>();
        for (const o of first) {
          if (o.op === 'set') (start = start.set(KEYS[o.key], o.value)), model.set(KEYS[o.key], o.value);
          else if (o.op === 'delete') (start = start.delete(KEYS[o.key])), model.delete(KEYS[o.key]);
        }
        build(start, model, second, KEYS);
        PersistentMap.seqLimit = 2 ** 30;
      }),
      { numRuns: 300 },
    );
  });

  it('builds deep maps in place as Map does: every map handed back keeps its contents and order', () => {
    // Thousands of keys: several levels of both tries, so nodes are changed in place at every depth.
    const keys = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? `s${i}` : i * 7919));
    const bigOp: fc.Arbitrary<Op> = fc.oneof(
      { weight: 12, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.nat(keys.length - 1), value: fc.nat(3) }) },
      { weight: 8, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.nat(keys.length - 1) }) },
      { weight: 1, arbitrary: fc.constant({ op: 'keep' as const }) },
    );
    fc.assert(
      fc.property(fc.nat(keys.length), fc.array(bigOp, { minLength: 200, maxLength: 1200 }), fc.boolean(), (startSize, ops, renumber) => {
        if (renumber) PersistentMap.seqLimit = keys.length + 500;
        const model = new Map<unknown, number>(keys.slice(0, startSize).map((k, i) => [k, i % 4]));
        build(PersistentMap.from(model), model, ops, keys, agreeBig);
        PersistentMap.seqLimit = 2 ** 30;
      }),
      { numRuns: 15 },
    );
  });

  it('empties and refills in a builder, and keeps -0 as 0', () => {
    const b = PersistentMap.from<unknown, number>([[1, 1], [collidingStrings[0], 2], [collidingStrings[1], 3]]).builder();
    expect(b.delete(collidingStrings[0])).toBe(true);
    const one = b.done();
    expect(b.delete(1)).toBe(true);
    expect(b.delete(collidingStrings[1])).toBe(true);
    expect(b.delete(1)).toBe(false);
    expect(b.done()).toBe(PersistentMap.empty());
    expect(b.set(-0, 5)).toBe(true);
    expect(b.set(collidingStrings[1], 6)).toBe(true);
    const m = b.done();
    expect([...m]).toEqual([[0, 5], [collidingStrings[1], 6]]);
    expect(Object.is([...m.keys()][0], 0)).toBe(true);
    expect([...one]).toEqual([[1, 1], [collidingStrings[1], 3]]);
  });

  it('is built from entries, and from itself for nothing', () => {
    const m = PersistentMap.from([[2, 'b'], [1, 'a'], [2, 'c']]);
    expect([...m]).toEqual([[2, 'c'], [1, 'a']]);
    expect(PersistentMap.from(m)).toBe(m);
    expect(m.delete(2).delete(1)).toBe(PersistentMap.empty());
  });
});

describe('PersistentSet', () => {
  it('behaves as Set under random adds and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(KEYS.length - 1)), { maxLength: 100 }), (ops) => {
        let s = PersistentSet.empty<unknown>();
        const model = new Set<unknown>();
        for (const [add, i] of ops) {
          const before = s;
          const changes = add !== model.has(KEYS[i]);
          s = add ? s.add(KEYS[i]) : s.delete(KEYS[i]);
          if (add) model.add(KEYS[i]);
          else model.delete(KEYS[i]);
          if (!changes) expect(s).toBe(before);
          expect(s.size).toBe(model.size);
          expect([...s]).toEqual([...model]);
          expect([...s.entries()]).toEqual([...model.entries()]);
          const seen: unknown[] = [];
          s.forEach((v) => seen.push(v));
          expect(seen).toEqual([...model]);
          for (const k of KEYS) expect(s.has(k)).toBe(model.has(k));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('builds as Set does, and never changes a set it started from or handed back', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(KEYS.length - 1), { maxLength: 30 }), fc.array(fc.tuple(fc.nat(2), fc.nat(KEYS.length - 1)), { maxLength: 100 }), (first, ops) => {
        const start = PersistentSet.from(first.map((i) => KEYS[i]));
        const startModel = new Set(first.map((i) => KEYS[i]));
        expect([...start]).toEqual([...startModel]);
        const model = new Set(startModel);
        const b = start.builder();
        const handed: [PersistentSet<unknown>, Set<unknown>][] = [];
        for (const [op, i] of ops) {
          if (op === 0) {
            expect(b.add(KEYS[i])).toBe(!model.has(KEYS[i]));
            model.add(KEYS[i]);
          } else if (op === 1) {
            expect(b.delete(KEYS[i])).toBe(model.has(KEYS[i]));
            model.delete(KEYS[i]);
          } else handed.push([b.done(), new Set(model)]);
          expect(b.size).toBe(model.size);
          expect(b.has(KEYS[i])).toBe(model.has(KEYS[i]));
        }
        handed.push([b.done(), model], [start, startModel]);
        for (const [s, m] of handed) {
          expect([...s]).toEqual([...m]);
          expect(s.size).toBe(m.size);
        }
        if (model.size === 0) expect(b.done()).toBe(PersistentSet.empty());
      }),
      { numRuns: 200 },
    );
  });
});
