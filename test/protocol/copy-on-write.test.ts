/**
 * Tests of src/protocol/copy-on-write.ts: the maps the state machines write through never change
 * the map they were given, copy once, and hand the base back when nothing changed; small and big
 * maps (big ones are written through a builder) behave as `Map` under random writes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CowMap, CowRecords, sameFields } from '../../src/protocol/copy-on-write.js';
import { PersistentMap } from '../../src/protocol/persistent-map.js';

/** A write, a read of `current` (kept and checked at the end), or a read of one key. */
type Write = { op: 'set'; key: number; value: number } | { op: 'delete'; key: number } | { op: 'current' } | { op: 'get'; key: number };

const writeArb = (keys: number): fc.Arbitrary<Write> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.nat(keys - 1), value: fc.nat(3) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.nat(keys - 1) }) },
    { weight: 1, arbitrary: fc.constant({ op: 'current' as const }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('get' as const), key: fc.nat(keys - 1) }) },
  );

/** A base of `size` entries over keys 0, 2, 4, ... (odd keys are new), as a plain or a persistent map. */
const baseArb = fc.tuple(fc.oneof(fc.nat(12), fc.integer({ min: 13, max: 300 })), fc.boolean()).map(([size, plain]) => {
  const entries = Array.from({ length: size }, (_, i) => [2 * i, i % 4] as const);
  return plain ? new Map(entries) : PersistentMap.from(entries);
});

describe('CowMap', () => {
  it('never changes the base, and each version it hands out stays as it was', () => {
    const base = new Map([[1, 'a'], [2, 'b']]);
    const m = new CowMap<number, string>(base);
    m.set(3, 'c');
    const first = m.current;
    m.delete(1);
    expect([...first]).toEqual([[1, 'a'], [2, 'b'], [3, 'c']]);
    expect([...m.result()]).toEqual([[2, 'b'], [3, 'c']]);
    expect([...base]).toEqual([[1, 'a'], [2, 'b']]);
    const next = new CowMap(m.result());
    next.set(2, 'x');
    expect([...m.result()]).toEqual([[2, 'b'], [3, 'c']]);
    expect([...next.result()]).toEqual([[2, 'x'], [3, 'c']]);
  });

  it('behaves as Map under random writes, small or big, and every version it hands out stays as it was', () => {
    fc.assert(
      fc.property(baseArb, fc.array(writeArb(620), { maxLength: 300 }), (base, writes) => {
        const baseEntries = [...base];
        const m = new CowMap<number, number>(base);
        const model = new Map(base);
        const handed: [ReadonlyMap<number, number>, [number, number][]][] = [];
        let changed = false;
        for (const w of writes) {
          if (w.op === 'set') {
            changed ||= model.get(w.key) !== w.value;
            m.set(w.key, w.value);
            model.set(w.key, w.value);
          } else if (w.op === 'delete') {
            changed ||= model.has(w.key);
            m.delete(w.key);
            model.delete(w.key);
          } else if (w.op === 'current') handed.push([m.current, [...model]]);
          else {
            expect(m.get(w.key)).toBe(model.get(w.key));
            expect(m.has(w.key)).toBe(model.has(w.key));
          }
          expect(m.size).toBe(model.size);
        }
        expect(m.changed).toBe(changed);
        const result = m.result();
        if (!changed) expect(result).toBe(base);
        expect([...result]).toEqual([...model]);
        expect(m.result()).toBe(result);
        for (const [v, entries] of handed) expect([...v]).toEqual(entries);
        expect([...base]).toEqual(baseEntries);
      }),
      { numRuns: 300 },
    );
  });

  it('hands back the base when writes changed nothing', () => {
    const base = new Map([[1, 'a']]);
    const m = new CowMap<number, string>(base);
    m.set(1, 'a');
    m.delete(9);
    expect(m.changed).toBe(false);
    expect(m.result()).toBe(base);
  });
});

interface Rec {
  readonly n: number;
  readonly tag: string;
}

const records = (base: ReadonlyMap<string, Rec>) =>
  new CowRecords<string, Rec, { n: number; tag: string }>(base, (r) => ({ ...r }), (d, b) => (b !== undefined && sameFields(d, b) ? b : d));

describe('CowRecords', () => {
  it('edits private copies and keeps unchanged records, and the base map, as they were', () => {
    const x: Rec = { n: 1, tag: 'x' };
    const y: Rec = { n: 2, tag: 'y' };
    const base = new Map([['x', x], ['y', y]]);
    const r = records(base);
    r.get('x')!.n = 10;
    expect(r.get('x')).toBe(r.get('x')); // one copy per step
    r.get('y'); // taken for editing, left equal
    r.put('z', { n: 3, tag: 'z' });
    r.delete('missing');
    const next = r.result();
    expect(next.get('x')).toEqual({ n: 10, tag: 'x' });
    expect(next.get('y')).toBe(y);
    expect([...next.keys()]).toEqual(['x', 'y', 'z']);
    expect(x.n).toBe(1);
    expect([...base.keys()]).toEqual(['x', 'y']);
  });

  it('hands back the base map when every record taken for editing is left equal', () => {
    const base = new Map([['x', { n: 1, tag: 'x' }]]);
    const r = records(base);
    r.get('x')!.n = 1;
    expect(r.result()).toBe(base);
  });

  it('sees its own edits through peek, has, size and keys, and deletes', () => {
    const base = new Map([['x', { n: 1, tag: 'x' }], ['y', { n: 2, tag: 'y' }]]);
    const r = records(base);
    expect(r.peek('x')).toBe(base.get('x'));
    r.get('x')!.tag = 'changed';
    expect(r.peek('x')).toEqual({ n: 1, tag: 'changed' });
    r.delete('y');
    r.put('z', { n: 3, tag: 'z' });
    expect(r.has('y')).toBe(false);
    expect(r.size).toBe(2);
    expect(r.keys()).toEqual(['x', 'z']);
    expect([...r.result().keys()]).toEqual(['x', 'z']);
    expect(base.size).toBe(2);
  });

  it('behaves as a Map of records under random edits, puts and deletes, small or big', () => {
    fc.assert(
      fc.property(baseArb, fc.array(fc.tuple(fc.nat(3), fc.nat(619), fc.nat(3)), { maxLength: 200 }), (numbers, ops) => {
        const base = new Map([...numbers].map(([k, v]) => [String(k), { n: v, tag: 't' as string }] as const));
        const baseEntries = [...base].map(([k, r]) => [k, { ...r }]);
        const given = PersistentMap.from(base);
        const r = records(given);
        const model = new Map([...base].map(([k, v]) => [k, { ...v }]));
        let changed = false;
        for (const [op, key, n] of ops) {
          const k = String(key);
          if (op === 0) {
            const d = r.get(k);
            expect(d).toEqual(model.get(k));
            if (d !== undefined) (changed ||= d.n !== n), (d.n = n), (model.get(k)!.n = n);
          } else if (op === 1) {
            changed = true;
            r.put(k, { n, tag: 'put' });
            model.set(k, { n, tag: 'put' });
          } else if (op === 2) {
            changed ||= model.has(k);
            r.delete(k);
            model.delete(k);
          } else expect(r.peek(k)).toEqual(model.get(k));
          expect(r.size).toBe(model.size);
        }
        expect(r.keys()).toEqual([...model.keys()]);
        const next = r.result();
        expect([...next]).toEqual([...model]);
        if (!changed) expect(next).toBe(given);
        // changes(): exactly the keys whose record differs, with the records before and after.
        const differ = [...new Set([...given.keys(), ...next.keys()])].filter((k) => given.get(k) !== next.get(k));
        expect(r.changes().map(([k]) => k).sort()).toEqual(differ.sort());
        for (const [k, before, after] of r.changes()) expect([before, after]).toEqual([given.get(k), next.get(k)]);
        for (const [k, v] of next) if (sameFields(v, base.get(k) ?? {})) expect(v).toBe(base.get(k));
        expect([...base].map(([k, v]) => [k, { ...v }])).toEqual(baseEntries);
      }),
      { numRuns: 200 },
    );
  });
});
