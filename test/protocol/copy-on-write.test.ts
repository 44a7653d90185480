/**
 * Tests of src/protocol/copy-on-write.ts: the maps the state machines write through never change
 * the map they were given, copy once, and hand the base back when nothing changed.
 */
import { describe, expect, it } from 'vitest';
import { CowMap, CowRecords, sameFields } from '../../src/protocol/copy-on-write.js';

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
});
