/**
 * A tiny seeded pseudo-random generator (mulberry32) for the in-memory adapters and simulators.
 *
 * Simulations must replay exactly from a seed, so nothing here touches `Math.random`. The core is
 * a pure step function over a 32-bit state; {@link createPrng} wraps it in a small mutable
 * generator, because the adapters that use it are stateful by nature.
 */

/**
 * One mulberry32 step: the next state and a 32-bit unsigned output. Pure.
 *
 * @example
 * const [state, out] = mulberry32(42); // same input, same [state, out], every time
 */
export const mulberry32 = (state: number): [state: number, output: number] => {
  const next = (state + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [next, (t ^ (t >>> 14)) >>> 0];
};

/**
 * A seeded generator. Every method advances the same stream, so the sequence of calls (not just
 * the seed) decides the values: keep call order deterministic to keep runs reproducible.
 *
 * @example
 * const prng = createPrng(7);
 * prng.int(6); // 0..5, the same on every run with seed 7
 */
export interface Prng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n), for a positive integer `n` (anything else gives 0). */
  int(n: number): number;
  /** True with probability `p` (p <= 0: never, p >= 1: always, without consuming a value). */
  chance(p: number): boolean;
  /** The current 32-bit state: `createPrng(s.state)` continues the same stream. */
  readonly state: number;
}

/**
 * A generator seeded with any number (it is reduced to 32 bits; non-finite seeds count as 0).
 *
 * @example
 * const a = createPrng(1), b = createPrng(1);
 * a.next() === b.next(); // true
 */
export const createPrng = (seed: number): Prng => {
  let state = Number.isFinite(seed) ? Math.trunc(seed) | 0 : 0;
  const nextUint = (): number => {
    const [s, out] = mulberry32(state);
    state = s;
    return out;
  };
  return {
    next: () => nextUint() / 0x1_0000_0000,
    // Floor of a float in [0, n) is unbiased enough for simulation and exact for n < 2^32.
    int: (n) => (Number.isSafeInteger(n) && n > 0 ? Math.floor((nextUint() / 0x1_0000_0000) * n) : 0),
    chance: (p) => (p <= 0 || Number.isNaN(p) ? false : p >= 1 ? true : nextUint() / 0x1_0000_0000 < p),
    get state() {
      return state;
    },
  };
};
