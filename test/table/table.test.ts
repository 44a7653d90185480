/**
 * Property tests for src/table/table.ts against a naive reference model: a table is a plain
 * `MEntry[]`, one plain object per segment, with the alternate's bitmap as a `boolean[]`.
 * Validity is decided by a naive, independent re-statement of docs/design.md#mapping-entries.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { MAX_BITMAP_SIZE } from '../../src/bitmap/bitmap.js';
import * as B from '../../src/bitmap/bitmap.js';
import type { EntrySpec, LunSizes } from '../../src/table/entry.js';
import {
  CHUNK_SIZE,
  chunkInFlat,
  createTable,
  diffTables,
  MAX_SEGMENT_COUNT,
  getEntry,
  REC_WORDS,
  resizeTable,
  setEntries,
  setEntry,
  tableEntries,
  tablesEqual,
  withGeneration,
  type EntryUpdate,
  type MappingTable,
} from '../../src/table/table.js';
import { entrySpecArb } from '../../src/testing/arbitraries.js';

import {
  anySpecArb,
  entryIs,
  expectErrors,
  goodSpecArb,
  isNat,
  junkFlag,
  left,
  lunSizesArb,
  MAX_LUN_ID,
  MAX_SAFE,
  MAX_SEGMENT_BLOCKS,
  modelEq,
  modelOf,
  modelOfEntry,
  naiveEntry,
  noThrow,
  right,
  specOfModel,
  tinySpecArb,
  type Exp,
  type MEntry,
  type Result,
} from './entry-model.js';

/** The table has the model's geometry and entries, read both through getEntry and tableEntries. */
const expectMatches = (t: MappingTable, sb: number, model: ReadonlyArray<MEntry>): void => {
  expect(t.segmentBlocks).toBe(sb);
  expect(t.segmentCount).toBe(model.length);
  expect(Object.isFrozen(t)).toBe(true);
  let n = 0;
  for (const [s, e] of tableEntries(t)) {
    if (s !== n) expect(s).toBe(n);
    const viaGet = right(getEntry(t, s));
    const want = model[s]!;
    if (!entryIs(viaGet, want) || !entryIs(e, want)) {
      expect({ segment: s, entry: modelOfEntry(viaGet) }).toEqual({ segment: s, entry: want });
      expect({ segment: s, entry: modelOfEntry(e) }).toEqual({ segment: s, entry: want });
    }
    n++;
  }
  expect(n).toBe(model.length);
};

/**
 * The flat record array is used exactly for chunks whose records are the view of it at their own
 * offset, and is dropped once no chunk uses it (translation reads it instead of the chunk).
 */
const expectFlatConsistent = (t: MappingTable): void => {
  let used = 0;
  t.chunks.forEach((c, ci) => {
    if (!chunkInFlat(t, ci)) {
      if (t.flat !== null) expect(c.rec.buffer, `chunk ${ci} is not in the flat array`).not.toBe(t.flat.buffer);
      return;
    }
    used++;
    expect(t.flat).not.toBeNull();
    expect(c.rec.buffer).toBe(t.flat!.buffer);
    expect(c.rec.byteOffset).toBe(t.flat!.byteOffset + ci * CHUNK_SIZE * REC_WORDS * 4);
  });
  if (used === 0) expect(t.flat).toBeNull();
};

/** Chunks are unchanged unless some entry inside them changed. */
const expectSharing = (before: MappingTable, after: MappingTable, touched: ReadonlySet<number>, changed: ReadonlySet<number>): void => {
  expect(after.chunks.length).toBe(before.chunks.length);
  for (let ci = 0; ci < before.chunks.length; ci++) {
    if (!touched.has(ci)) expect(after.chunks[ci], `chunk ${ci} must be shared`).toBe(before.chunks[ci]);
    if (changed.has(ci)) expect(after.chunks[ci], `chunk ${ci} changed, so must be a copy`).not.toBe(before.chunks[ci]);
  }
};


/** A valid table with its model. */
interface Case {
  readonly table: MappingTable;
  readonly sb: number;
  readonly model: ReadonlyArray<MEntry>;
}

const smallCaseArb: fc.Arbitrary<Case> = fc
  .tuple(fc.integer({ min: 1, max: 40 }), fc.option(fc.nat(1000), { nil: undefined }))
  .chain(([sb, generation]) =>
    fc.array(goodSpecArb(sb), { maxLength: 12 }).map((specs): Case => {
      const table = right(createTable({ segmentBlocks: sb, entries: specs, ...(generation === undefined ? {} : { generation }) }));
      return { table, sb, model: specs.map((s) => modelOf(s, sb)) };
    }),
  );

const BIG_COUNTS = [CHUNK_SIZE * 2 + 7, CHUNK_SIZE, CHUNK_SIZE + 1, CHUNK_SIZE * 3 - 1] as const;

/** Tables over several chunks, built with a function spec from a small pool of entries. */
const bigCaseArb: fc.Arbitrary<Case> = fc
  .tuple(fc.integer({ min: 1, max: 33 }), fc.constantFrom(...BIG_COUNTS), fc.nat(1000))
  .chain(([sb, count, salt]) =>
    fc.array(goodSpecArb(sb), { minLength: 1, maxLength: 6 }).map((pool): Case => {
      const f = (s: number): EntrySpec => pool[(s * 7 + salt) % pool.length]!;
      const table = right(createTable({ segmentBlocks: sb, segmentCount: count, entries: f, generation: salt }));
      const models = pool.map((p) => modelOf(p, sb));
      return { table, sb, model: Array.from({ length: count }, (_, s) => models[(s * 7 + salt) % pool.length]!) };
    }),
  );

/**
 * Segments of more than 1,024 blocks, whose alternate bitmaps are kept as shared values rather
 * than inline in the chunk (table.ts stores the two sizes differently).
 */
const wideCaseArb: fc.Arbitrary<Case> = fc.constantFrom(1025, 1056, 1500).chain((sb) =>
  fc.array(goodSpecArb(sb), { maxLength: 5 }).map((specs): Case => {
    const table = right(createTable({ segmentBlocks: sb, entries: specs }));
    return { table, sb, model: specs.map((s) => modelOf(s, sb)) };
  }),
);

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  { arbitrary: smallCaseArb, weight: 3 },
  { arbitrary: bigCaseArb, weight: 1 },
  { arbitrary: wideCaseArb, weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// createTable
// ---------------------------------------------------------------------------------------------

describe('createTable', () => {
  it('round-trips the arbitraries entry specs through getEntry and tableEntries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((sb) => fc.tuple(fc.constant(sb), fc.array(entrySpecArb(sb), { maxLength: 12 }))),
        fc.option(fc.nat(MAX_SAFE), { nil: undefined }),
        ([sb, specs], generation) => {
          const t = right(createTable({ segmentBlocks: sb, entries: specs, ...(generation === undefined ? {} : { generation }) }));
          expect(t.generation).toBe(generation ?? 0);
          expectMatches(t, sb, specs.map((s) => modelOf(s, sb)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('round-trips valid specs given as a list or as a function with segmentCount', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((sb) => fc.tuple(fc.constant(sb), fc.array(goodSpecArb(sb), { maxLength: 12 }))),
        fc.boolean(),
        ([sb, specs], asFunction) => {
          const calls: number[] = [];
          const t = right(
            asFunction
              ? createTable({
                  segmentBlocks: sb,
                  segmentCount: specs.length,
                  entries: (s) => {
                    calls.push(s);
                    return specs[s]!;
                  },
                })
              : createTable({ segmentBlocks: sb, entries: specs, segmentCount: specs.length }),
          );
          if (asFunction) expect([...calls].sort((a, b) => a - b)).toEqual(specs.map((_, s) => s));
          expect(t.generation).toBe(0);
          expectMatches(t, sb, specs.map((s) => modelOf(s, sb)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('round-trips tables spanning several chunks', () => {
    fc.assert(
      fc.property(bigCaseArb, (c) => {
        expect(c.table.chunks.length).toBe(Math.ceil(c.model.length / CHUNK_SIZE));
        expectMatches(c.table, c.sb, c.model);
      }),
      { numRuns: 15 },
    );
  });

  it('accepts exactly the valid entries and names segment, field and value of every problem', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((sb) =>
          fc.tuple(
            fc.constant(sb),
            fc.array(anySpecArb(sb, { luns: [0, 1, 2, 3], maxStart: 60 }), { maxLength: 8 }),
            fc.option(lunSizesArb([0, 1, 2, 3], 120), { nil: undefined }),
          ),
        ),
        fc.boolean(),
        ([sb, specs, sizes], asFunction) => {
          const result = noThrow(() =>
            createTable(
              asFunction
                ? { segmentBlocks: sb, segmentCount: specs.length, entries: (s) => specs[s] as EntrySpec }
                : { segmentBlocks: sb, entries: specs as EntrySpec[] },
              sizes === undefined ? {} : { lunSizes: sizes },
            ),
          );
          const naive = specs.map((s, i) => naiveEntry(s, sb, i, sizes));
          const expected = naive.flatMap((n) => n.errors);
          if (expected.length === 0) expectMatches(right(result), sb, naive.map((n) => n.entry!));
          else {
            const errors = left(result);
            for (const e of errors) expect(e.segment).toBeTypeOf('number');
            expectErrors(errors, expected);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reports exactly the bad segments of a multi-chunk function spec', () => {
    fc.assert(
      fc.property(
        bigCaseArb.chain((c) =>
          fc.tuple(
            fc.constant(c),
            fc.uniqueArray(fc.tuple(fc.nat(c.model.length - 1), anySpecArb(c.sb)), { maxLength: 5, selector: ([s]) => s }),
          ),
        ),
        ([c, bad]) => {
          const over = new Map(bad);
          const base = (s: number): EntrySpec => specOfModel(c.model[s]!, s % 2 === 0);
          const result = noThrow(() =>
            createTable({
              segmentBlocks: c.sb,
              segmentCount: c.model.length,
              entries: (s) => (over.has(s) ? (over.get(s) as EntrySpec) : base(s)),
            }),
          );
          const expected = bad.flatMap(([s, spec]) => naiveEntry(spec, c.sb, s).errors);
          if (expected.length > 0) expectErrors(left(result), expected);
          else {
            const model = c.model.slice();
            for (const [s, spec] of bad) model[s] = modelOf(spec, c.sb);
            expectMatches(right(result), c.sb, model);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rejects each kind of bad field value with one error naming segment, field and value', () => {
    type Where = 'location.lun' | 'location.start' | 'alternate.lun' | 'alternate.start';
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 2 * CHUNK_SIZE + 7 }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1))),
        fc.constantFrom<Where>('location.lun', 'location.start', 'alternate.lun', 'alternate.start'),
        fc.constantFrom<unknown>(-1, -7, 0.5, 1.5, 2 ** 53, 2 ** 53 + 2, NaN, Infinity, -Infinity, '3', '', null, undefined, true, {}),
        (sb, [count, segment], where, junk) => {
          const [part, field] = where.split('.') as ['location' | 'alternate', 'lun' | 'start'];
          const good = { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: sb, blocks: [0] } };
          const bad = { ...good, [part]: { ...good[part], [field]: junk } };
          const errors = left(
            createTable({ segmentBlocks: sb, segmentCount: count, entries: (s) => (s === segment ? (bad as EntrySpec) : good) }),
          );
          expect(errors).toHaveLength(1);
          expect(errors[0]!.segment).toBe(segment);
          expect(errors[0]!.field).toBe(where);
          expect(Object.is(errors[0]!.value, junk)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects LUN ids above 2^32-1, which would not survive storage', () => {
    for (const where of ['location', 'alternate'] as const) {
      const ok = right(
        createTable({ segmentBlocks: 4, entries: [{ zero: true, [where]: { lun: MAX_LUN_ID, start: 3, blocks: [1] } }] }),
      );
      const e = right(getEntry(ok, 0));
      expect(e[where]?.lun).toBe(MAX_LUN_ID);
      for (const lun of [2 ** 32, 2 ** 32 + 5, MAX_SAFE]) {
        const errors = left(createTable({ segmentBlocks: 4, entries: [{ zero: true, [where]: { lun, start: 3, blocks: [1] } }] }));
        expectErrors(errors, [{ segment: 0, field: `${where}.lun`, value: lun }]);
      }
    }
  });

  it('rejects non-boolean flags, bad offsets, wrong-size bitmaps and a missing location', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.nat(20).chain((n) => fc.tuple(fc.constant(n + 1), fc.nat(n))),
        fc.constantFrom('flag', 'offset', 'bitmap', 'location'),
        fc.constantFrom('invalid', 'noWrite', 'zero', 'error'),
        junkFlag,
        fc.nat(5),
        (sb, [count, segment], kind, flag, junk, pad) => {
          const good: EntrySpec = { location: { lun: 1, start: 0 } };
          let bad: unknown;
          let expected: Exp;
          if (kind === 'flag') {
            bad = { ...good, [flag]: junk };
            expected = { segment, field: flag, value: junk };
          } else if (kind === 'offset') {
            const offsets = [...Array.from({ length: pad }, (_, k) => k % sb), sb + pad];
            bad = { ...good, alternate: { lun: 2, start: 0, blocks: offsets } };
            expected = { segment, field: `alternate.blocks[${pad}]`, value: sb + pad };
          } else if (kind === 'bitmap') {
            const size = sb + 1 + pad;
            bad = { ...good, alternate: { lun: 2, start: 0, blocks: right(B.empty(size)) } };
            expected = { segment, field: 'alternate.blocks', value: size };
          } else {
            // a non-invalid, non-zero entry without location, whatever else it has
            bad = { noWrite: true, error: true, [flag]: false, location: pad % 2 === 0 ? null : undefined };
            expected = { segment, field: 'location', value: null };
          }
          const specs = Array.from({ length: count }, (_, s) => (s === segment ? bad : good)) as EntrySpec[];
          expectErrors(left(createTable({ segmentBlocks: sb, entries: specs })), [expected]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('allows an extent ending exactly at block 2^53-1 and rejects one ending past it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_SEGMENT_BLOCKS }), fc.constantFrom('location', 'alternate'), (sb, where) => {
        const last = MAX_SAFE - (sb - 1);
        const mk = (start: number): EntrySpec =>
          where === 'location'
            ? { location: { lun: 0, start } }
            : { zero: true, alternate: { lun: 0, start, blocks: [] } };
        const t = right(createTable({ segmentBlocks: sb, entries: [mk(last)] }));
        const e = right(getEntry(t, 0));
        expect(e[where]?.start).toBe(last);
        const errors = left(createTable({ segmentBlocks: sb, entries: [mk(last + 1)] }));
        expectErrors(errors, [{ segment: 0, field: `${where}.start`, value: last + 1 }]);
      }),
      { numRuns: 60 },
    );
  });

  it('checks extents against declared LUN sizes, as a Map or a Record', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.nat(3),
        fc.nat(100),
        fc.nat(160),
        fc.constantFrom('location', 'alternate'),
        fc.boolean(),
        fc.boolean(),
        (sb, lun, start, size, where, asMap, declared) => {
          const pairs: [number, number][] = declared ? [[lun, size], [lun + 1, 10 ** 6]] : [[lun + 1, 10 ** 6]];
          const lunSizes: LunSizes = asMap ? new Map(pairs) : Object.fromEntries(pairs);
          const other = { lun: lun + 1, start: 0 };
          const spec: EntrySpec =
            where === 'location'
              ? { location: { lun, start } }
              : { location: other, alternate: { lun, start, blocks: [0] } };
          const result = createTable({ segmentBlocks: sb, entries: [{ location: other }, spec] }, { lunSizes });
          if (!declared) expectErrors(left(result), [{ segment: 1, field: `${where}.lun`, value: lun }]);
          else if (start + sb <= size) expect(right(getEntry(right(result), 1))[where]).toMatchObject({ lun, start });
          else expectErrors(left(result), [{ segment: 1, field: where, value: { lun, start } }]);
          // without sizes, anything goes
          expect(E.isRight(createTable({ segmentBlocks: sb, entries: [{ location: other }, spec] }))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects bad geometry, generation, segmentCount and entries without throwing', () => {
    const ok: EntrySpec[] = [{ zero: true }];
    for (const segmentBlocks of [0, -1, 1.5, NaN, Infinity, MAX_SEGMENT_BLOCKS + 1, 2 ** 53, '10', null, undefined]) {
      const errors = left(noThrow(() => createTable({ segmentBlocks, entries: ok } as never)));
      expectErrors(errors, [{ field: 'segmentBlocks', value: segmentBlocks }]);
    }
    for (const generation of [-1, 1.5, NaN, Infinity, 2 ** 53, '1', true]) {
      const errors = left(noThrow(() => createTable({ segmentBlocks: 3, entries: ok, generation } as never)));
      expectErrors(errors, [{ field: 'generation', value: generation }]);
    }
    for (const segmentCount of [undefined, -1, 1.5, NaN, 2 ** 32 + 1, '3', null]) {
      const errors = left(noThrow(() => createTable({ segmentBlocks: 3, entries: () => ({ zero: true }), segmentCount } as never)));
      expectErrors(errors, [{ field: 'segmentCount', value: segmentCount }]);
    }
    expectErrors(left(createTable({ segmentBlocks: 3, entries: ok, segmentCount: 2 })), [{ field: 'segmentCount', value: 2 }]);
    for (const entries of [null, undefined, 5, 'x', {}]) {
      const errors = left(noThrow(() => createTable({ segmentBlocks: 3, entries } as never)));
      expectErrors(errors, [{ field: 'entries', value: entries }]);
    }
    for (const spec of [null, undefined, 5, 'x']) expect(E.isLeft(noThrow(() => createTable(spec as never)))).toBe(true);
    // several geometry problems are all reported
    const many = left(createTable({ segmentBlocks: 0, generation: -1, entries: () => ({}), segmentCount: -1 } as never));
    expect(many.map((e) => e.field).sort()).toEqual(['generation', 'segmentBlocks', 'segmentCount']);
    // boundaries that are fine
    expect(right(createTable({ segmentBlocks: 1, entries: [] })).segmentCount).toBe(0);
    expect(right(createTable({ segmentBlocks: MAX_SEGMENT_BLOCKS, entries: () => ({ zero: true }), segmentCount: 0 })).segmentCount).toBe(0);
    expect(right(createTable({ segmentBlocks: MAX_SEGMENT_BLOCKS, entries: ok })).segmentBlocks).toBe(MAX_SEGMENT_BLOCKS);
    expect(right(createTable({ segmentBlocks: 3, entries: ok, generation: MAX_SAFE })).generation).toBe(MAX_SAFE);
  });

  it('reports the errors of the first bad segments of a huge all-bad table, in segment order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), anySpecArb(4).filter((s) => naiveEntry(s, 4, 0).errors.length > 0), (n, spec) => {
        const count = 300 * n;
        const errors = left(noThrow(() => createTable({ segmentBlocks: 4, segmentCount: count, entries: () => spec as EntrySpec })));
        const segs = errors.map((e) => e.segment!);
        for (let i = 1; i < segs.length; i++) expect(segs[i]!).toBeGreaterThanOrEqual(segs[i - 1]!);
        const last = segs[segs.length - 1]!;
        expect(last).toBeLessThan(count);
        const expected = Array.from({ length: last + 1 }, (_, s) => naiveEntry(spec, 4, s).errors).flat();
        expectErrors(errors, expected);
      }),
      { numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// getEntry
// ---------------------------------------------------------------------------------------------

describe('getEntry', () => {
  it('is Left naming `segment` outside 0..segmentCount-1 or for a non-integer', () => {
    fc.assert(
      fc.property(
        caseArb,
        fc.oneof(
          fc.integer({ min: -5, max: -1 }),
          fc.integer({ min: 0, max: 5 }),
          fc.constantFrom<unknown>(0.5, -0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 32, '0', null, undefined),
        ),
        (c, delta) => {
          const n = c.model.length;
          const segment = typeof delta === 'number' && Number.isInteger(delta) ? (delta < 0 ? delta : n + delta) : delta;
          const errors = left(getEntry(c.table, segment as number));
          expectErrors(errors, [{ field: 'segment', value: segment }]);
          if (typeof segment === 'number' && Number.isFinite(segment) && n > 0) {
            const inside = Math.min(n - 1, Math.max(0, Math.floor(segment)));
            expect(modelOfEntry(right(getEntry(c.table, inside)))).toEqual(c.model[inside]);
            if (segment > 0 && segment < n) expect(E.isLeft(getEntry(c.table, segment + 0.25))).toBe(true);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// setEntry / setEntries
// ---------------------------------------------------------------------------------------------

interface Op {
  readonly single: boolean;
  readonly updates: ReadonlyArray<{ readonly segment: unknown; readonly entry: unknown }>;
  readonly generation: unknown;
}

const opArb = (count: number, sb: number): fc.Arbitrary<Op> => {
  const inRange: fc.WeightedArbitrary<unknown>[] =
    count === 0
      ? []
      : [
          { arbitrary: fc.integer({ min: 0, max: count - 1 }), weight: 5 },
          {
            arbitrary: fc.constantFrom(0, count - 1, Math.min(count - 1, CHUNK_SIZE - 1), Math.min(count - 1, CHUNK_SIZE), count >> 1),
            weight: 3,
          },
        ];
  const outOfRange = fc.constantFrom<unknown>(-1, count, count + 1, 0.5, NaN, Infinity, '0', null, 2 ** 53);
  const goodSeg = inRange.length === 0 ? outOfRange : fc.oneof(...inRange);
  const anySeg = fc.oneof(...inRange, { arbitrary: outOfRange, weight: 1 });
  const goodGen = fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(10 ** 6), weight: 1 });
  const anyGen = fc.oneof({ arbitrary: goodGen, weight: 5 }, { arbitrary: fc.constantFrom<unknown>(-1, 1.5, NaN, 2 ** 53, '7'), weight: 1 });
  const opOf = (seg: fc.Arbitrary<unknown>, entry: fc.Arbitrary<unknown>, gen: fc.Arbitrary<unknown>) =>
    fc.tuple(fc.boolean(), fc.array(fc.record({ segment: seg, entry }), { maxLength: 6 }), gen).chain(([single, updates, generation]) =>
      single
        ? fc.record({ segment: seg, entry }).map((u): Op => ({ single, updates: [u], generation }))
        : fc.constant<Op>({ single, updates, generation }),
    );
  return fc.oneof(
    { arbitrary: opOf(goodSeg, goodSpecArb(sb), goodGen), weight: 3 },
    { arbitrary: opOf(anySeg, anySpecArb(sb), anyGen), weight: 1 },
  );
};

/** What an update call should do: the expected errors, or the new model and the touched chunks. */
const expectOp = (
  count: number,
  sb: number,
  model: ReadonlyArray<MEntry>,
  op: Op,
  sizes?: LunSizes,
  current = 0,
): { errors: Exp[]; model: MEntry[]; touched: Set<number>; changed: Set<number> } => {
  const errors: Exp[] = [];
  // Generations never go backwards: an explicit one below the table's is refused, except 0 (a new table).
  if (op.generation !== undefined && !(isNat(op.generation) && (op.generation >= current || op.generation === 0)))
    errors.push({ field: 'generation', value: op.generation });
  const next = model.slice();
  const touched = new Set<number>();
  op.updates.forEach((u, n) => {
    const s = u.segment;
    if (!(typeof s === 'number' && Number.isInteger(s) && s >= 0 && s < count)) {
      errors.push({ field: `updates[${n}].segment`, value: s });
      return;
    }
    const r = naiveEntry(u.entry, sb, s, sizes);
    errors.push(...r.errors);
    if (r.entry !== undefined) {
      next[s] = r.entry;
      touched.add(Math.floor(s / CHUNK_SIZE));
    }
  });
  const changed = new Set<number>();
  for (let s = 0; s < count; s++) if (!modelEq(model[s]!, next[s]!)) changed.add(Math.floor(s / CHUNK_SIZE));
  return { errors, model: next, touched, changed };
};

const runOp = (t: MappingTable, op: Op, sizes?: LunSizes): Result<MappingTable> => {
  const options = { ...(op.generation === undefined ? {} : { generation: op.generation as number }), ...(sizes ? { lunSizes: sizes } : {}) };
  const u = op.updates[0];
  return noThrow(() =>
    op.single && u !== undefined
      ? setEntry(t, u.segment as number, u.entry as EntrySpec, options)
      : setEntries(t, op.updates as EntryUpdate[], options),
  );
};

describe('setEntry / setEntries', () => {
  it('after random update sequences equals the model, keeps old versions and shares untouched chunks', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.tuple(fc.constant(c), fc.array(opArb(c.model.length, c.sb), { minLength: 1, maxLength: 8 }))),
        ([c, ops]) => {
          const count = c.model.length;
          const versions: { table: MappingTable; model: ReadonlyArray<MEntry>; generation: number }[] = [
            { table: c.table, model: c.model, generation: c.table.generation },
          ];
          let cur = versions[0]!;
          expectFlatConsistent(c.table);
          for (const op of ops) {
            const want = expectOp(count, c.sb, cur.model, op, undefined, cur.generation);
            const result = runOp(cur.table, op);
            if (want.errors.length > 0) {
              const errors = left(result);
              if (op.single) {
                for (const e of errors) if (e.field === 'segment') (e as { field: string }).field = 'updates[0].segment';
              }
              expectErrors(errors, want.errors);
              continue;
            }
            const next = right(result);
            expect(next).not.toBe(cur.table);
            expect(next.generation).toBe(op.generation === undefined ? cur.generation + 1 : op.generation);
            expectSharing(cur.table, next, want.touched, want.changed);
            expectFlatConsistent(next);
            // its entries are checked with every other version's below
            cur = { table: next, model: want.model, generation: next.generation };
            versions.push(cur);
          }
          // persistence: every version still reads its own values
          for (const v of versions) {
            expect(v.table.generation).toBe(v.generation);
            expectMatches(v.table, c.sb, v.model);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('shares every chunk but the touched one when a multi-chunk table is updated', () => {
    fc.assert(
      fc.property(
        bigCaseArb.chain((c) =>
          fc.tuple(fc.constant(c), fc.nat(c.model.length - 1), goodSpecArb(c.sb), fc.array(fc.nat(c.model.length - 1), { maxLength: 4 })),
        ),
        ([c, segment, spec, more]) => {
          const t1 = right(setEntry(c.table, segment, spec));
          const ci = Math.floor(segment / CHUNK_SIZE);
          for (let i = 0; i < c.table.chunks.length; i++) if (i !== ci) expect(t1.chunks[i]).toBe(c.table.chunks[i]);
          expect(modelOfEntry(right(getEntry(t1, segment)))).toEqual(modelOf(spec, c.sb));
          expect(modelOfEntry(right(getEntry(c.table, segment)))).toEqual(c.model[segment]);
          const t2 = right(setEntries(t1, more.map((s) => ({ segment: s, entry: { invalid: true } }))));
          const touched = new Set(more.map((s) => Math.floor(s / CHUNK_SIZE)));
          for (let i = 0; i < t1.chunks.length; i++) if (!touched.has(i)) expect(t2.chunks[i]).toBe(t1.chunks[i]);
          expect(t2.generation).toBe(c.table.generation + 2);
          const model = c.model.slice();
          model[segment] = modelOf(spec, c.sb);
          for (const s of more) model[s] = modelOf({ invalid: true }, c.sb);
          expectMatches(t2, c.sb, model);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('keeps alternates right when one batch takes them away from and gives them back to segments many times', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((sb) =>
          fc.tuple(
            fc.constant(sb),
            fc.array(fc.record({ segment: fc.nat(3), entry: goodSpecArb(sb) }), { minLength: 1, maxLength: 300 }),
          ),
        ),
        ([sb, updates]) => {
          const table = right(createTable({ segmentBlocks: sb, segmentCount: 4, entries: () => ({ zero: true }) }));
          const next = right(setEntries(table, updates));
          const model: MEntry[] = Array.from({ length: 4 }, () => modelOf({ zero: true }, sb));
          for (const u of updates) model[u.segment] = modelOf(u.entry, sb);
          expectMatches(next, sb, model);
          // Slots are packed when the chunk is shared: one per segment with an alternate.
          const withAlternate = model.filter((e) => e.alternate !== null).length;
          const alt = next.chunks[0]!.alt;
          expect(alt === null ? 0 : alt.length).toBe(withAlternate * (3 + Math.ceil(sb / 32)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('lets the later update of a segment in one batch win', () => {
    fc.assert(
      fc.property(
        smallCaseArb.filter((c) => c.model.length > 0).chain((c) =>
          fc.tuple(fc.constant(c), fc.nat(c.model.length - 1), fc.array(goodSpecArb(c.sb), { minLength: 2, maxLength: 5 })),
        ),
        ([c, segment, specs]) => {
          const t = right(setEntries(c.table, specs.map((entry) => ({ segment, entry }))));
          const model = c.model.slice();
          model[segment] = modelOf(specs[specs.length - 1], c.sb);
          expectMatches(t, c.sb, model);
          expect(t.generation).toBe(c.table.generation + 1);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('checks LUN sizes given in the options', () => {
    fc.assert(
      fc.property(
        smallCaseArb.filter((c) => c.model.length > 0).chain((c) =>
          fc.tuple(
            fc.constant(c),
            fc.array(fc.record({ segment: fc.nat(c.model.length - 1), entry: goodSpecArb(c.sb, { luns: [0, 1, 2], maxStart: 50, top: false }) }), {
              minLength: 1,
              maxLength: 4,
            }),
            lunSizesArb([0, 1, 2], 100),
          ),
        ),
        ([c, updates, sizes]) => {
          const op: Op = { single: false, updates, generation: undefined };
          const want = expectOp(c.model.length, c.sb, c.model, op, sizes);
          const result = runOp(c.table, op, sizes);
          if (want.errors.length > 0) expectErrors(left(result), want.errors);
          else expectMatches(right(result), c.sb, want.model);
          // the same updates without sizes are fine
          expectMatches(right(runOp(c.table, op)), c.sb, expectOp(c.model.length, c.sb, c.model, op).model);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses to advance the generation past 2^53-1 but accepts an explicit one', () => {
    const t = right(createTable({ segmentBlocks: 2, entries: [{ zero: true }] }));
    const top = right(withGeneration(t, MAX_SAFE));
    expectErrors(left(setEntry(top, 0, { invalid: true })), [{ field: 'generation', value: MAX_SAFE + 1 }]);
    expectErrors(left(setEntries(top, [])), [{ field: 'generation', value: MAX_SAFE + 1 }]);
    expectErrors(left(setEntry(top, 0, { invalid: true }, { generation: 2 })), [{ field: 'generation', value: 2 }]);
    const again = right(setEntry(top, 0, { invalid: true }, { generation: 0 })); // a new table's history
    expect(again.generation).toBe(0);
    expect(right(getEntry(again, 0)).invalid).toBe(true);
    expect(right(getEntry(top, 0)).invalid).toBe(false);
  });

  it('with no updates still advances the generation and shares every chunk', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const t = right(setEntries(c.table, []));
        expect(t.generation).toBe(c.table.generation + 1);
        expectSharing(c.table, t, new Set(), new Set());
        expect(tablesEqual(t, c.table)).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// resizeTable
// ---------------------------------------------------------------------------------------------

describe('resizeTable', () => {
  it('keeps the old entries, fills new segments, and shares whole chunks', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) =>
          fc.tuple(
            fc.constant(c),
            fc.oneof(
              fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 10 }),
              fc.constantFrom(0, 1, c.model.length, c.model.length + 1, Math.max(0, c.model.length - 1), CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE),
              fc.constantFrom<unknown>(-1, 1.5, NaN, Infinity, 2 ** 32 + 1, '5', null),
            ),
            fc.oneof({ arbitrary: goodSpecArb(c.sb), weight: 3 }, { arbitrary: anySpecArb(c.sb), weight: 1 }),
            fc.oneof(
              { arbitrary: fc.constant(undefined), weight: 3 },
              { arbitrary: fc.nat(1000), weight: 1 },
              { arbitrary: fc.constantFrom<unknown>(-1, 0.5, '1'), weight: 1 },
            ),
          ),
        ),
        ([c, count, fill, generation]) => {
          const result = noThrow(() =>
            resizeTable(c.table, count as number, fill as EntrySpec, generation === undefined ? {} : { generation: generation as number }),
          );
          const expected: Exp[] = [];
          if (!(typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= MAX_SEGMENT_COUNT))
            expected.push({ field: 'segmentCount', value: count });
          if (generation !== undefined && !(isNat(generation) && (generation >= c.table.generation || generation === 0)))
            expected.push({ field: 'generation', value: generation });
          const f = naiveEntry(fill, c.sb, undefined);
          expected.push(...f.errors);
          if (expected.length > 0) {
            expectErrors(left(result), expected);
          } else {
            const n = count as number;
            const t = right(result);
            const model = Array.from({ length: n }, (_, s) => (s < c.model.length ? c.model[s]! : f.entry!));
            expectMatches(t, c.sb, model);
            expect(t.generation).toBe(generation === undefined ? c.table.generation + 1 : generation);
            expect(t.chunks.length).toBe(Math.ceil(n / CHUNK_SIZE));
            const whole = Math.floor(Math.min(n, c.model.length) / CHUNK_SIZE);
            for (let ci = 0; ci < whole; ci++) expect(t.chunks[ci]).toBe(c.table.chunks[ci]);
            expectFlatConsistent(t);
            if (n === c.model.length) for (let ci = 0; ci < t.chunks.length; ci++) expect(t.chunks[ci]).toBe(c.table.chunks[ci]);
          }
          expectMatches(c.table, c.sb, c.model);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('grows after a shrink without bringing back the dropped entries', () => {
    fc.assert(
      fc.property(
        bigCaseArb.chain((c) => fc.tuple(fc.constant(c), fc.nat(c.model.length), goodSpecArb(c.sb), fc.integer({ min: 1, max: CHUNK_SIZE * 2 }))),
        ([c, keep, fill, grow]) => {
          const small = right(resizeTable(c.table, keep, { invalid: true }));
          const big = right(resizeTable(small, keep + grow, fill));
          const model = Array.from({ length: keep + grow }, (_, s) => (s < keep ? c.model[s]! : modelOf(fill, c.sb)));
          expectMatches(big, c.sb, model);
          expect(big.generation).toBe(c.table.generation + 2);
        },
      ),
      { numRuns: 20 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// withGeneration
// ---------------------------------------------------------------------------------------------

describe('withGeneration', () => {
  it('changes only the generation, sharing every chunk', () => {
    fc.assert(
      fc.property(
        caseArb,
        fc.oneof(fc.nat(), fc.constant(MAX_SAFE), fc.constantFrom<unknown>(-1, 1.5, NaN, 2 ** 53, '3', null, undefined)),
        (c, g) => {
          const result = noThrow(() => withGeneration(c.table, g as number));
          if (!(isNat(g) && g >= c.table.generation)) {
            expectErrors(left(result), [{ field: 'generation', value: g }]);
          } else {
            const t = right(result);
            expect(t.generation).toBe(g);
            expectSharing(c.table, t, new Set(), new Set());
            expectMatches(t, c.sb, c.model);
            expect(tablesEqual(t, c.table)).toBe(true);
          }
          expectMatches(c.table, c.sb, c.model);
        },
      ),
      { numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// diffTables / tablesEqual
// ---------------------------------------------------------------------------------------------

const naiveDiff = (sbA: number, a: ReadonlyArray<MEntry>, sbB: number, b: ReadonlyArray<MEntry>): number[] => {
  const out: number[] = [];
  for (let s = 0; s < Math.max(a.length, b.length); s++)
    if (sbA !== sbB || s >= a.length || s >= b.length || !modelEq(a[s]!, b[s]!)) out.push(s);
  return out;
};

const expectDiff = (a: Case, b: Case): void => {
  const want = naiveDiff(a.sb, a.model, b.sb, b.model);
  expect(diffTables(a.table, b.table)).toEqual(want);
  expect(diffTables(b.table, a.table)).toEqual(want);
  const equal = a.sb === b.sb && a.model.length === b.model.length && want.length === 0;
  expect(tablesEqual(a.table, b.table)).toBe(equal);
  expect(tablesEqual(b.table, a.table)).toBe(equal);
};

describe('diffTables / tablesEqual', () => {
  it('match a naive per-segment comparison for independently built tables', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3).chain((sbA) =>
          fc
            .tuple(
              fc.constant(sbA),
              fc.oneof({ arbitrary: fc.constant(sbA), weight: 3 }, { arbitrary: fc.constantFrom(1, 2, 3), weight: 1 }),
              fc.array(tinySpecArb(sbA), { maxLength: 7 }),
              fc.integer({ min: -3, max: 3 }),
            )
            .chain(([sbA, sbB, specsA, delta]) => {
              const n = Math.max(0, specsA.length + delta);
              return fc.tuple(
                fc.constant(sbA),
                fc.constant(sbB),
                fc.constant(specsA),
                fc.array(fc.tuple(fc.constantFrom('same', 'same-bitmap', 'new'), tinySpecArb(sbB)), { minLength: n, maxLength: n }),
                fc.option(fc.nat(5), { nil: undefined }),
              );
            }),
        ),
        ([sbA, sbB, specsA, picks, generation]) => {
          const modelA = specsA.map((s) => modelOf(s, sbA));
          const specsB = picks.map(([how, spec], s) =>
            how !== 'new' && s < modelA.length && sbA === sbB ? specOfModel(modelA[s]!, how === 'same-bitmap') : spec,
          );
          const a: Case = { table: right(createTable({ segmentBlocks: sbA, entries: specsA })), sb: sbA, model: modelA };
          const b: Case = {
            table: right(createTable({ segmentBlocks: sbB, entries: specsB, ...(generation === undefined ? {} : { generation }) })),
            sb: sbB,
            model: specsB.map((s) => modelOf(s, sbB)),
          };
          expectDiff(a, b);
          expectDiff(a, a);
          expect(diffTables(a.table, a.table)).toEqual([]);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('match a naive comparison for a table and its updated successors, including no-op rewrites', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) =>
          fc.tuple(
            fc.constant(c),
            c.model.length === 0
              ? fc.constant([])
              : fc.array(
                  fc.tuple(fc.nat(c.model.length - 1), fc.oneof(goodSpecArb(c.sb), fc.constantFrom<'rewrite'>('rewrite'))),
                  { maxLength: 8 },
                ),
          ),
        ),
        ([c, updates]) => {
          const specs = updates.map(([s, spec]) => ({ segment: s, entry: spec === 'rewrite' ? specOfModel(c.model[s]!, s % 2 === 0) : spec }));
          const model = c.model.slice();
          for (const u of specs) model[u.segment] = modelOf(u.entry, c.sb);
          const b: Case = { table: right(setEntries(c.table, specs)), sb: c.sb, model };
          expectDiff(c, b);
          // and a rewrite that reads entries back unchanged through getEntry
          if (c.model.length > 0) {
            const seg = updates.length > 0 ? updates[0]![0] : 0;
            const same = right(setEntry(c.table, seg, right(getEntry(c.table, seg))));
            expect(diffTables(c.table, same)).toEqual([]);
            expect(tablesEqual(c.table, same)).toBe(true);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('match a naive comparison against resized tables and tables of another segment size', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.tuple(fc.constant(c), fc.integer({ min: 0, max: 3 * CHUNK_SIZE }), tinySpecArb(c.sb), fc.integer({ min: 1, max: 4 }))),
        ([c, n, fill, extra]) => {
          const b: Case = {
            table: right(resizeTable(c.table, n, fill)),
            sb: c.sb,
            model: Array.from({ length: n }, (_, s) => (s < c.model.length ? c.model[s]! : modelOf(fill, c.sb))),
          };
          expectDiff(c, b);
          // same entries (as far as they fit), other segment size: everything differs
          const sb2 = c.sb + extra;
          const other: Case = {
            table: right(createTable({ segmentBlocks: sb2, segmentCount: c.model.length, entries: () => ({ zero: true }) })),
            sb: sb2,
            model: c.model.map(() => modelOf({ zero: true }, sb2)),
          };
          expectDiff(c, other);
          expect(diffTables(c.table, other.table)).toHaveLength(c.model.length);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('treat an independently rebuilt copy as equal whatever its generation', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), fc.boolean(), (c, g, asBitmap) => {
        const copy = right(
          createTable({ segmentBlocks: c.sb, segmentCount: c.model.length, entries: (s) => specOfModel(c.model[s]!, asBitmap), generation: g }),
        );
        for (let ci = 0; ci < copy.chunks.length; ci++) expect(copy.chunks[ci]).not.toBe(c.table.chunks[ci]);
        expect(diffTables(c.table, copy)).toEqual([]);
        expect(tablesEqual(c.table, copy)).toBe(true);
        if (c.model.length > 0) {
          const s = g % c.model.length;
          const m = c.model[s]!;
          const flipped = right(setEntry(copy, s, { ...specOfModel(m, asBitmap), error: !m.error }));
          expect(diffTables(c.table, flipped)).toEqual([s]);
          expect(tablesEqual(c.table, flipped)).toBe(false);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('bad arguments from untyped callers', () => {
  it('setEntries rejects a non-array of updates with a Left naming it; null options act as none', () => {
    const t = right(createTable({ segmentBlocks: 4, entries: [{ location: { lun: 1, start: 0 } }] }));
    const errors = left(setEntries(t, null as never));
    expect(errors.map((e) => e.field)).toEqual(['updates']);
    expect(right(setEntry(t, 0, { zero: true }, null as never)).generation).toBe(t.generation + 1);
    expect(right(resizeTable(t, 2, { zero: true }, null as never)).segmentCount).toBe(2);
  });
});

describe('resource limits and hostile specs', () => {
  it('refuses more than MAX_SEGMENT_COUNT segments before reading or allocating anything', () => {
    let calls = 0;
    const f = () => {
      calls++;
      return { zero: true };
    };
    expectErrors(left(createTable({ segmentBlocks: 8, segmentCount: 2 ** 32, entries: f })), [{ field: 'segmentCount', value: 2 ** 32 }]);
    expect(calls).toBe(0);
    const sparse = new Array(MAX_SEGMENT_COUNT + 1); // a hole-only list: its length alone must be refused
    const errors = left(createTable({ segmentBlocks: 8, entries: sparse }));
    expect(errors.map((e) => e.field)).toEqual(['entries.length']);
    expect(errors[0]!.message).toContain(String(MAX_SEGMENT_COUNT + 1));
    const t = right(createTable({ segmentBlocks: 8, entries: [{ zero: true }] }));
    expectErrors(left(resizeTable(t, MAX_SEGMENT_COUNT + 1, { zero: true })), [{ field: 'segmentCount', value: MAX_SEGMENT_COUNT + 1 }]);
    expect(MAX_SEGMENT_COUNT * 16).toBeLessThanOrEqual(2 ** 30); // 1 GiB of records at most
    expect(MAX_BITMAP_SIZE).toBe(2 ** 24);
  });

  it('options.maxSegments lowers the limit for one call, and is itself validated', () => {
    expectErrors(left(createTable({ segmentBlocks: 8, segmentCount: 11, entries: () => ({ zero: true }) }, { maxSegments: 10 })), [{ field: 'segmentCount', value: 11 }]);
    expect(right(createTable({ segmentBlocks: 8, segmentCount: 10, entries: () => ({ zero: true }) }, { maxSegments: 10 })).segmentCount).toBe(10);
    expectErrors(left(createTable({ segmentBlocks: 8, entries: [] }, { maxSegments: -1 })), [{ field: 'options.maxSegments', value: -1 }]);
  });

  it('refuses a generation that goes backwards, except 0 for a new table', () => {
    const t = right(createTable({ segmentBlocks: 8, generation: 5, entries: [{ zero: true }] }));
    expectErrors(left(setEntry(t, 0, { invalid: true }, { generation: 2 })), [{ field: 'generation', value: 2 }]);
    expectErrors(left(setEntries(t, [], { generation: 4 })), [{ field: 'generation', value: 4 }]);
    expectErrors(left(resizeTable(t, 3, { zero: true }, { generation: 1 })), [{ field: 'generation', value: 1 }]);
    expectErrors(left(withGeneration(t, 4)), [{ field: 'generation', value: 4 }]);
    expectErrors(left(withGeneration(t, 0)), [{ field: 'generation', value: 0 }]);
    expect(right(setEntry(t, 0, { invalid: true }, { generation: 5 })).generation).toBe(5);
    expect(right(setEntry(t, 0, { invalid: true }, { generation: 0 })).generation).toBe(0);
    expect(right(withGeneration(t, 5)).generation).toBe(5);
  });

  it('refuses a bitmap whose words break its invariants, and holes in offset lists', () => {
    const broken = B.unsafeFromWords(10, new Uint32Array([0xffffffff]));
    const errors = left(createTable({ segmentBlocks: 10, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: broken } }] }));
    expect(errors.map((e) => e.field)).toEqual(['alternate.blocks']);
    // eslint-disable-next-line no-sparse-arrays
    const holes = left(createTable({ segmentBlocks: 10, entries: [{ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: [, 3] as number[] } }] }));
    expect(holes.map((e) => e.field)).toEqual(['alternate.blocks[0]']);
    expect(holes[0]!.message).toContain('missing');
    // eslint-disable-next-line no-sparse-arrays
    const t = right(createTable({ segmentBlocks: 10, entries: [{ zero: true }] }));
    expect(left(setEntries(t, [, { segment: 0, entry: { zero: true } }] as never)).map((e) => e.field)).toEqual(['updates[0]']);
  });

  it('reads each field of a spec once: a getter cannot swap in garbage after the check', () => {
    let reads = 0;
    const location = {
      lun: 1,
      get start() {
        return reads++ === 0 ? 0 : 'garbage';
      },
    };
    const t = right(createTable({ segmentBlocks: 10, entries: [{ location: location as never }] }));
    expect(right(getEntry(t, 0)).location).toEqual({ lun: 1, start: 0 });
    expect(reads).toBe(1);
  });

  it('turns a getter or proxy trap that throws into a Left naming what could not be read', () => {
    const spec = { segmentBlocks: 10, entries: [Object.defineProperty({}, 'location', { get: () => { throw new TypeError('no'); }, enumerable: true })] };
    const errors = left(createTable(spec));
    expect(errors).toMatchObject([{ segment: 0, field: 'entry' }]);
    expect(errors[0]!.message).toBe('segment 0: entry could not be read (no)');
    const trap = new Proxy({}, { get: () => { throw new Error('trap'); } });
    expect(left(createTable(trap as never))[0]!.message).toContain('could not be read (trap)');
    expect(left(getEntry(trap as never, 0)).map((e) => e.field)).toEqual(['table']);
  });
});

describe('createTable and updates refuse LUN sizes that would turn the extent check off', () => {
  const spec = { segmentBlocks: 8, entries: [{ location: { lun: 1, start: 0 } }] };
  it.each([
    ['a string', 'abc'],
    ['NaN as a size', { 1: Number.NaN }],
    ['a string as a size', { 1: 'x' }],
    ['a negative size', new Map([[1, -8]])],
    ['a key that is no LUN id', new Map([[-1, 8]])],
    ['an array', [8, 8]],
  ])('%s', (_, lunSizes) => {
    const made = createTable(spec, { lunSizes: lunSizes as never });
    expect(E.isLeft(made) && made.left.some((e) => e.field.startsWith('options.lunSizes'))).toBe(true);
    const table = createTable(spec);
    if (E.isLeft(table)) throw new Error('the plain table must build');
    const updated = setEntry(table.right, 0, { zero: true }, { lunSizes: lunSizes as never });
    expect(E.isLeft(updated) && updated.left.some((e) => e.field.startsWith('options.lunSizes'))).toBe(true);
  });
  it('accepts sizes given as a Map or a plain object', () => {
    expect(E.isRight(createTable(spec, { lunSizes: { 1: 8 } }))).toBe(true);
    expect(E.isRight(createTable(spec, { lunSizes: new Map([[1, 8]]) }))).toBe(true);
  });
});
