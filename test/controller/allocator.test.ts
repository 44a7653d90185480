/**
 * Property tests for src/controller/allocator.ts against a naive model: per LUN, a boolean array
 * with one entry per block (true = used).
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator, type AllocationError, type Allocator, type Extent } from '../../src/controller/allocator.js';
import type { ValidationError } from '../../src/errors.js';

// ---------------------------------------------------------------------------------------------
// Helpers and model
// ---------------------------------------------------------------------------------------------

const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

const leftErrors = <A>(e: E.Either<ValidationError[], A>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  expect(e.left.length).toBeGreaterThan(0);
  for (const err of e.left) expect(err.message).toContain(err.field);
  return e.left;
};

type Model = Map<number, boolean[]>;

const modelOf = (sizes: Record<number, number>): Model =>
  new Map(Object.entries(sizes).map(([lun, size]) => [Number(lun), new Array<boolean>(size).fill(false)]));

const copyModel = (m: Model): Model => new Map([...m].map(([lun, used]) => [lun, used.slice()]));

const modelFreeExtents = (m: Model): Extent[] => {
  const out: Extent[] = [];
  for (const lun of [...m.keys()].sort((a, b) => a - b)) {
    const used = m.get(lun)!;
    let k = 0;
    while (k < used.length) {
      if (used[k]) {
        k++;
        continue;
      }
      const start = k;
      while (k < used.length && !used[k]) k++;
      out.push({ lun, start, length: k - start });
    }
  }
  return out;
};

const modelFree = (m: Model, lun?: number): number =>
  [...m].filter(([l]) => lun === undefined || l === lun).reduce((n, [, used]) => n + used.filter((u) => !u).length, 0);

const inside = (m: Model, x: Extent): boolean => {
  const used = m.get(x.lun);
  return used !== undefined && x.length > 0 && x.start >= 0 && x.start + x.length <= used.length;
};

const allIs = (m: Model, x: Extent, value: boolean): boolean => {
  const used = m.get(x.lun)!;
  for (let k = x.start; k < x.start + x.length; k++) if (used[k] !== value) return false;
  return true;
};

const mark = (m: Model, x: Extent, value: boolean): void => {
  const used = m.get(x.lun)!;
  for (let k = x.start; k < x.start + x.length; k++) used[k] = value;
};

/** First fit in the model: preferLun first, then ascending LUN ids. */
const modelAllocate = (m: Model, length: number, preferLun?: number): Extent | null => {
  const order = [...m.keys()].sort((a, b) => a - b);
  const luns = preferLun === undefined ? order : [preferLun, ...order.filter((l) => l !== preferLun)];
  for (const lun of luns) {
    const used = m.get(lun)!;
    let run = 0;
    for (let k = 0; k < used.length; k++) {
      run = used[k] ? 0 : run + 1;
      if (run === length) return { lun, start: k - length + 1, length };
    }
  }
  return null;
};

const expectMatchesModel = (a: Allocator, m: Model): void => {
  expect(a.freeExtents()).toEqual(modelFreeExtents(m));
  expect(a.free()).toBe(modelFree(m));
  for (const lun of m.keys()) expect(a.free(lun)).toBe(modelFree(m, lun));
};

const overlaps = (a: Extent, b: Extent): boolean => a.lun === b.lun && a.start < b.start + b.length && b.start < a.start + a.length;

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const sizesArb = fc.dictionary(fc.integer({ min: 0, max: 9 }).map(String), fc.integer({ min: 0, max: 60 }), { minKeys: 1, maxKeys: 3 }).map(
  (d) => Object.fromEntries(Object.entries(d).map(([k, v]) => [Number(k), v])) as Record<number, number>,
);

type Cmd =
  | { type: 'allocate'; length: number; prefer: number | null }
  | { type: 'releaseLive'; pick: number }
  | { type: 'release'; lun: number; start: number; length: number }
  | { type: 'reserve'; lun: number; start: number; length: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('allocate' as const), length: fc.integer({ min: 1, max: 12 }), prefer: fc.option(fc.integer({ min: 0, max: 9 })) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('releaseLive' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('release' as const), lun: fc.integer({ min: 0, max: 10 }), start: fc.integer({ min: 0, max: 65 }), length: fc.integer({ min: 1, max: 10 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('reserve' as const), lun: fc.integer({ min: 0, max: 10 }), start: fc.integer({ min: 0, max: 65 }), length: fc.integer({ min: 1, max: 10 }) }),
  },
);

/** Runs commands against allocator and model, checking after each one. Returns the final pair and live extents. */
const run = (sizes: Record<number, number>, cmds: ReadonlyArray<Cmd>) => {
  let a = right(createAllocator(sizes));
  const m = modelOf(sizes);
  const live: Extent[] = [];
  expectMatchesModel(a, m);
  for (const cmd of cmds) {
    const before = a;
    const beforeFree = a.freeExtents();
    const beforeModel = copyModel(m);
    switch (cmd.type) {
      case 'allocate': {
        const prefer = cmd.prefer !== null && m.has(cmd.prefer) ? cmd.prefer : undefined;
        const got = a.allocate(cmd.length, prefer);
        const want = modelAllocate(m, cmd.length, prefer);
        if (want === null) {
          expect(E.isLeft(got) && got.left.type).toBe('no-space');
          // The message names the largest free range, which the chunks keep as they change.
          const largest = modelFreeExtents(m).reduce((n, x) => Math.max(n, x.length), 0);
          expect(E.isLeft(got) && got.left.message).toContain(`(largest free range: ${largest} blocks;`);
        } else {
          const [next, x] = right(got);
          expect(x).toEqual(want);
          expect(inside(m, x)).toBe(true);
          for (const l of live) expect(overlaps(l, x)).toBe(false);
          mark(m, x, true);
          live.push(x);
          a = next;
        }
        break;
      }
      case 'releaseLive': {
        if (live.length === 0) break;
        const [x] = live.splice(cmd.pick % live.length, 1);
        a = right(a.release(x!));
        mark(m, x!, false);
        break;
      }
      case 'release': {
        const x = { lun: cmd.lun, start: cmd.start, length: cmd.length };
        const got = a.release(x);
        if (inside(m, x) && allIs(m, x, true)) {
          a = right(got);
          mark(m, x, false);
          // The released blocks belonged to live extents: keep only what is left of those.
          for (let i = live.length - 1; i >= 0; i--) {
            const l = live[i]!;
            if (!overlaps(l, x)) continue;
            live.splice(i, 1);
            if (l.start < x.start) live.push({ lun: l.lun, start: l.start, length: x.start - l.start });
            const end = l.start + l.length;
            if (end > x.start + x.length) live.push({ lun: l.lun, start: x.start + x.length, length: end - x.start - x.length });
          }
          break;
        }
        leftErrors(got);
        break;
      }
      case 'reserve': {
        const x = { lun: cmd.lun, start: cmd.start, length: cmd.length };
        const got = a.reserve(x);
        if (inside(m, x) && allIs(m, x, false)) {
          a = right(got);
          mark(m, x, true);
          live.push(x);
        } else {
          leftErrors(got);
        }
        break;
      }
    }
    // Persistence: the old value is untouched by the operation.
    expect(before.freeExtents()).toEqual(beforeFree);
    expect(modelFreeExtents(beforeModel)).toEqual(beforeFree);
    expectMatchesModel(a, m);
  }
  return { a, m, live };
};

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('createAllocator', () => {
  it('starts with one free range per non-empty LUN, sorted by LUN', () => {
    const a = right(createAllocator({ 3: 10, 1: 5, 2: 0 }));
    expect(a.freeExtents()).toEqual([
      { lun: 1, start: 0, length: 5 },
      { lun: 3, start: 0, length: 10 },
    ]);
    expect(a.free()).toBe(15);
    expect(a.free(2)).toBe(0);
    expect(a.free(99)).toBe(0);
  });

  it('accepts a Map', () => {
    const a = right(createAllocator(new Map([[7, 4]])));
    expect(a.freeExtents()).toEqual([{ lun: 7, start: 0, length: 4 }]);
  });

  it('rejects bad LUN ids and sizes, naming each', () => {
    const errors = leftErrors(createAllocator(new Map<number, number>([[-1, 5], [1, 2.5], [2, -3]])));
    expect(errors.map((e) => e.field)).toEqual(['lunSizes', 'lunSizes[1]', 'lunSizes[2]']);
    leftErrors(createAllocator({ 1: Number.NaN } as Record<number, number>));
    leftErrors(createAllocator({ x: 5 } as unknown as Record<number, number>));
    leftErrors(createAllocator(new Map([[2 ** 32, 5]])));
  });
});

describe('allocate', () => {
  it('is first fit, preferring preferLun, then ascending LUN ids', () => {
    let a = right(createAllocator({ 1: 20, 2: 20 }));
    let x: Extent;
    [a, x] = right(a.allocate(5));
    expect(x).toEqual({ lun: 1, start: 0, length: 5 });
    [a, x] = right(a.allocate(5, 2));
    expect(x).toEqual({ lun: 2, start: 0, length: 5 });
    [a, x] = right(a.allocate(15, 1));
    expect(x).toEqual({ lun: 1, start: 5, length: 15 });
    [a, x] = right(a.allocate(15));
    expect(x).toEqual({ lun: 2, start: 5, length: 15 });
    expect(a.free()).toBe(0);
  });

  it('falls back from a full preferred LUN to the others', () => {
    let a = right(createAllocator({ 1: 20, 2: 20 }));
    let x: Extent;
    [a, x] = right(a.allocate(18, 2));
    expect(x).toEqual({ lun: 2, start: 0, length: 18 });
    [a, x] = right(a.allocate(5, 2));
    expect(x).toEqual({ lun: 1, start: 0, length: 5 });
    expect(a.free(2)).toBe(2);
  });

  it('reports no-space with the sizes involved', () => {
    const a = right(createAllocator({ 1: 10 }));
    const got = a.allocate(11);
    expect(E.isLeft(got)).toBe(true);
    const e = (got as E.Left<AllocationError>).left;
    expect(e).toMatchObject({ type: 'no-space', length: 11 });
    expect(e.message).toContain('11');
    expect(e.message).toContain('10');
  });

  it('rejects bad lengths and undeclared preferred LUNs as invalid', () => {
    const a = right(createAllocator({ 1: 10 }));
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      const got = a.allocate(bad);
      expect(E.isLeft(got) && got.left.type).toBe('invalid');
      if (E.isLeft(got) && got.left.type === 'invalid') expect(got.left.errors[0]!.field).toBe('length');
    }
    const got = a.allocate(1, 5);
    expect(E.isLeft(got) && got.left.type === 'invalid' && got.left.errors[0]!.field).toBe('preferLun');
  });

  it('never overlaps live extents and stays inside its LUN (model)', () => {
    fc.assert(
      fc.property(sizesArb, fc.array(cmdArb, { maxLength: 80 }), (sizes, cmds) => {
        run(sizes, cmds);
      }),
      { numRuns: 300 },
    );
  });
});

describe('release', () => {
  it('coalesces with both neighbours', () => {
    let a = right(createAllocator({ 1: 30 }));
    const xs: Extent[] = [];
    for (let i = 0; i < 3; i++) {
      const [next, x] = right(a.allocate(10));
      a = next;
      xs.push(x);
    }
    a = right(a.release(xs[0]!));
    a = right(a.release(xs[2]!));
    expect(a.freeExtents()).toEqual([
      { lun: 1, start: 0, length: 10 },
      { lun: 1, start: 20, length: 10 },
    ]);
    a = right(a.release(xs[1]!));
    expect(a.freeExtents()).toEqual([{ lun: 1, start: 0, length: 30 }]);
  });

  it('rejects a double release, naming the extent and the free blocks', () => {
    const [a, x] = right(right(createAllocator({ 1: 30 })).allocate(10));
    const once = right(a.release(x));
    const errors = leftErrors(once.release(x));
    expect(errors[0]!.value).toEqual(x);
    expect(errors[0]!.message).toContain('LUN 1 blocks 0..9');
    expect(errors[0]!.message).toContain('already free');
  });

  it('rejects extents outside a LUN or malformed, never fixing them', () => {
    const [a] = right(right(createAllocator({ 1: 30 })).allocate(30));
    expect(leftErrors(a.release({ lun: 1, start: 25, length: 10 }))[0]!.field).toBe('extent');
    expect(leftErrors(a.release({ lun: 2, start: 0, length: 1 }))[0]!.field).toBe('extent.lun');
    expect(leftErrors(a.release({ lun: 1, start: -1, length: 1 }))[0]!.field).toBe('extent.start');
    expect(leftErrors(a.release({ lun: 1, start: 0, length: 0 }))[0]!.field).toBe('extent.length');
    expect(leftErrors(a.release(null as unknown as Extent))[0]!.field).toBe('extent');
    expect(a.free()).toBe(0);
  });

  it('release then allocate reuses the space', () => {
    fc.assert(
      fc.property(sizesArb, fc.array(cmdArb, { maxLength: 40 }), fc.nat(), (sizes, cmds, pick) => {
        const { a, live } = run(sizes, cmds);
        if (live.length === 0) return;
        const x = live[pick % live.length]!;
        const released = right(a.release(x));
        // First fit returns the lowest free range of that length, which is at or before x.
        const [, y] = right(released.allocate(x.length, x.lun));
        expect(y.lun).toBe(x.lun);
        expect(y.start).toBeLessThanOrEqual(x.start);
        // Releasing and allocating the whole LUN's free space leaves it full again.
        expect(right(right(released.reserve(x)).release(x)).freeExtents()).toEqual(released.freeExtents());
      }),
      { numRuns: 200 },
    );
  });

  it('double release is a Left for any live extent', () => {
    fc.assert(
      fc.property(sizesArb, fc.array(cmdArb, { maxLength: 40 }), fc.nat(), (sizes, cmds, pick) => {
        const { a, live } = run(sizes, cmds);
        if (live.length === 0) return;
        const x = live[pick % live.length]!;
        leftErrors(right(a.release(x)).release(x));
      }),
      { numRuns: 200 },
    );
  });

  it('after releasing everything there is one free range per non-empty LUN', () => {
    fc.assert(
      fc.property(sizesArb, fc.array(cmdArb, { maxLength: 80 }), fc.array(fc.nat()), (sizes, cmds, order) => {
        const { a, live } = run(sizes, cmds);
        // Release in a random order.
        const rest = live.slice();
        let b = a;
        for (const k of order) {
          if (rest.length === 0) break;
          b = right(b.release(rest.splice(k % rest.length, 1)[0]!));
        }
        for (const x of rest) b = right(b.release(x));
        expect(b.freeExtents()).toEqual(
          Object.entries(sizes)
            .map(([lun, size]) => ({ lun: Number(lun), start: 0, length: size }))
            .filter((x) => x.length > 0)
            .sort((p, q) => p.lun - q.lun),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('reserve', () => {
  it('marks a specific free extent used and splits the range', () => {
    const a = right(right(createAllocator({ 1: 30 })).reserve({ lun: 1, start: 10, length: 5 }));
    expect(a.freeExtents()).toEqual([
      { lun: 1, start: 0, length: 10 },
      { lun: 1, start: 15, length: 15 },
    ]);
    expect(a.free(1)).toBe(25);
  });

  it('rejects extents that are partly in use, naming the first used block', () => {
    const a = right(right(createAllocator({ 1: 30 })).reserve({ lun: 1, start: 10, length: 5 }));
    const errors = leftErrors(a.reserve({ lun: 1, start: 8, length: 4 }));
    expect(errors[0]!.message).toContain('block 10 of it is in use');
    expect(leftErrors(a.reserve({ lun: 1, start: 12, length: 1 }))[0]!.message).toContain('block 12');
  });

  it('never lets an allocation overlap a reserved extent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.record({ start: fc.nat({ max: 99 }), length: fc.integer({ min: 1, max: 10 }) }), { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 30 }),
        (size, reservations, lengths) => {
          let a = right(createAllocator({ 0: size }));
          const reserved: Extent[] = [];
          for (const r of reservations) {
            const x = { lun: 0, ...r };
            const got = a.reserve(x);
            if (E.isRight(got)) {
              a = got.right;
              reserved.push(x);
            }
          }
          for (const length of lengths) {
            const got = a.allocate(length);
            if (E.isLeft(got)) continue;
            const [next, x] = got.right;
            expect(x.start + x.length).toBeLessThanOrEqual(size);
            for (const r of reserved) expect(overlaps(r, x)).toBe(false);
            reserved.push(x);
            a = next;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('scale', () => {
  it('matches the model through heavy fragmentation (chunk splits and merges)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        // A cheap deterministic stream of choices from fast-check's seed.
        let s = seed;
        const rand = (n: number): number => {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          return (s >>> 8) % n;
        };
        const sizes = { 0: 3000, 1: 500 };
        let a = right(createAllocator(sizes));
        const m = modelOf(sizes);
        const live: Extent[] = [];
        const allocate = (length: number, prefer?: number): void => {
          const got = a.allocate(length, prefer);
          if (E.isLeft(got)) return;
          const [next, x] = got.right;
          expect(allIs(m, x, false)).toBe(true);
          mark(m, x, true);
          live.push(x);
          a = next;
        };
        const release = (): void => {
          const [x] = live.splice(rand(live.length), 1);
          a = right(a.release(x!));
          mark(m, x!, false);
        };
        // Fill up with small extents, then free a random half: hundreds of holes per LUN.
        while (a.free() > 0) allocate(1 + rand(3));
        while (live.length > 0 && a.free() < 1750) release();
        expect(a.freeExtents().length).toBeGreaterThan(300);
        expectMatchesModel(a, m);
        for (let i = 0; i < 3000; i++) {
          if (rand(10) < 5) allocate(1 + rand(4), rand(2) === 0 ? 1 : undefined);
          else if (live.length > 0) release();
          if (i % 250 === 0) expectMatchesModel(a, m);
        }
        expectMatchesModel(a, m);
        while (live.length > 0) release();
        expect(a.freeExtents()).toEqual([
          { lun: 0, start: 0, length: 3000 },
          { lun: 1, start: 0, length: 500 },
        ]);
      }),
      { numRuns: 10 },
    );
  });

  it('handles tens of thousands of small allocations and releases quickly', () => {
    const t0 = performance.now();
    let a = right(createAllocator({ 0: 1_000_000, 1: 1_000_000 }));
    const xs: Extent[] = [];
    for (let i = 0; i < 50_000; i++) {
      const [next, x] = right(a.allocate(10));
      a = next;
      xs.push(x);
    }
    // Every other extent: 25,000 separate holes.
    for (let i = 0; i < xs.length; i += 2) a = right(a.release(xs[i]!));
    expect(a.freeExtents().length).toBe(25_002); // the holes, the rest of LUN 0, and LUN 1
    for (let i = 0; i < 25_000; i++) a = right(a.allocate(10)).at(0) as Allocator;
    expect(a.freeExtents()).toEqual([
      { lun: 0, start: 500_000, length: 500_000 },
      { lun: 1, start: 0, length: 1_000_000 },
    ]);
    for (const x of xs) a = right(a.release(x));
    expect(a.freeExtents().length).toBe(2);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
