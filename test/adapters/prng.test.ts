/**
 * Tests for src/adapters/prng.ts: agreement with the reference mulberry32, determinism, ranges.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPrng, mulberry32 } from '../../src/adapters/prng.js';

/** The widely published mulberry32, verbatim in behaviour. */
const reference = (a: number) => () => {
  let t = (a += 0x6d2b79f5);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

describe('prng', () => {
  it('matches the reference mulberry32', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (seed) => {
        const ref = reference(seed);
        const prng = createPrng(seed);
        for (let i = 0; i < 20; i++) expect(prng.next()).toBe(ref());
      }),
    );
  });

  it('mulberry32 is a pure step', () => {
    expect(mulberry32(42)).toEqual(mulberry32(42));
    const [s1, o1] = mulberry32(42);
    const [, o2] = mulberry32(s1);
    expect(o1).not.toBe(o2);
  });

  it('same seed, same stream; state resumes it', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat({ max: 50 }), (seed, skip) => {
        const a = createPrng(seed);
        const b = createPrng(seed);
        for (let i = 0; i < skip; i++) expect(a.int(1000)).toBe(b.int(1000));
        const c = createPrng(a.state);
        expect(c.next()).toBe(a.next());
      }),
    );
  });

  it('int stays in range and chance honours its extremes', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, n) => {
        const p = createPrng(seed);
        for (let i = 0; i < 20; i++) {
          const x = p.int(n);
          expect(Number.isInteger(x) && x >= 0 && x < n).toBe(true);
          const f = p.next();
          expect(f >= 0 && f < 1).toBe(true);
        }
        const before = p.state;
        expect(p.chance(0)).toBe(false);
        expect(p.chance(1)).toBe(true);
        expect(p.chance(Number.NaN)).toBe(false);
        expect(p.state).toBe(before);
        expect(p.int(0)).toBe(0);
        expect(p.int(-3)).toBe(0);
      }),
    );
  });

  it('is roughly uniform', () => {
    const p = createPrng(123);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[p.int(10)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (p.chance(0.25)) hits++;
    expect(Math.abs(hits - 25_000)).toBeLessThan(1_000);
  });

  it('non-finite seeds act as 0', () => {
    expect(createPrng(Number.NaN).next()).toBe(createPrng(0).next());
    expect(createPrng(Infinity).next()).toBe(createPrng(0).next());
  });
});
