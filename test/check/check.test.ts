/**
 * Tests for src/check/check.ts and src/testing/damage.ts: hand-written examples per finding code,
 * healthy and damaged random scenarios, declared sharing (snapshots), a naive O(n^2) per-block
 * oracle on random overlapping tables, and a 100k-segment run.
 */
import { segmentLengthAt } from '../../src/table/segments.js';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  checkTables,
  compareFindings,
  countReferences,
  SEVERITY,
  type CheckOptions,
  type ExtentRole,
  type FindingCode,
  type Reference,
} from '../../src/check/check.js';
import type { EntrySpec, LunSizes } from '../../src/table/entry.js';
import { createTable, tableEntries, type MappingTable } from '../../src/table/table.js';
import { entrySpecArb, tableArb } from '../../src/testing/arbitraries.js';
import {
  applyDamage,
  DAMAGE_KINDS,
  damageArb,
  flagFindings,
  scenarioArb,
  withoutMessages,
  type ExpectedFinding,
} from '../../src/testing/damage.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const table = (segmentBlocks: number, entries: EntrySpec[]): MappingTable => {
  const t = createTable({ segmentBlocks, entries });
  if (E.isLeft(t)) throw new Error(JSON.stringify(t.left));
  return t.right;
};

const check = (tables: Parameters<typeof checkTables>[0], options?: CheckOptions): ExpectedFinding[] => {
  const report = checkTables(tables, options);
  for (const f of report.findings) {
    expect(f.message.length).toBeGreaterThan(0);
    expect(f.severity).toBe(SEVERITY[f.code]);
  }
  const counts = { corruption: 0, leak: 0, info: 0 };
  for (const f of report.findings) counts[f.severity]++;
  expect(report.counts).toEqual(counts);
  expect([...report.findings].sort(compareFindings)).toEqual(report.findings);
  return withoutMessages(report.findings);
};

const at = (lun: number, start: number) => ({ lun, start });
const alt = (lun: number, start: number, blocks: number[] = []) => ({ lun, start, blocks });

const pairFinding = (
  code: 'overlap' | 'alternate-overlaps-primary',
  main: [string, number, ExtentRole],
  other: [string, number, ExtentRole],
  lun: number,
  start: number,
  length: number,
): ExpectedFinding => ({
  severity: 'corruption',
  code,
  disk: main[0],
  segment: main[1],
  role: main[2],
  lun,
  start,
  length,
  other: { disk: other[0], segment: other[1], role: other[2] },
});

// ---------------------------------------------------------------------------------------------
// Hand-written examples, one or more per code
// ---------------------------------------------------------------------------------------------

describe('checkTables: examples', () => {
  it('healthy tables give no finding', () => {
    const t = table(10, [{ location: at(0, 0), alternate: alt(1, 0, [1]) }, { location: at(0, 10) }, { zero: true }]);
    expect(check({ vol: t }, { lunSizes: { 0: 20, 1: 10 }, references: countReferences({ vol: t }) })).toEqual([]);
    expect(countReferences({ vol: t })).toEqual([
      { lun: 0, start: 0, length: 10, count: 1 },
      { lun: 0, start: 10, length: 10, count: 1 },
      { lun: 1, start: 0, length: 10, count: 1 },
    ]);
  });

  it('overlap: two primaries of one disk, partially', () => {
    const t = table(10, [{ location: at(0, 0) }, { location: at(0, 5) }]);
    expect(check({ vol: t })).toEqual([pairFinding('overlap', ['vol', 0, 'primary'], ['vol', 1, 'primary'], 0, 5, 5)]);
  });

  it('overlap: identical extents in one disk, even when the disk is in a sharing group', () => {
    const t = table(4, [{ location: at(2, 8) }, { location: at(2, 8) }]);
    const expected = [pairFinding('overlap', ['vol', 0, 'primary'], ['vol', 1, 'primary'], 2, 8, 4)];
    expect(check({ vol: t })).toEqual(expected);
    expect(check({ vol: t, snap: t }, { sharing: [['vol', 'snap']] })).toEqual([
      pairFinding('overlap', ['snap', 0, 'primary'], ['snap', 1, 'primary'], 2, 8, 4),
      ...expected,
    ]);
  });

  it('overlap: across disks without declared sharing; declared sharing of identical extents is fine', () => {
    const a = table(10, [{ location: at(0, 0), alternate: alt(0, 100, [3]) }]);
    const b = table(10, [{ location: at(0, 0), alternate: alt(0, 100, [3]) }]);
    expect(check({ a, b })).toEqual([
      pairFinding('overlap', ['a', 0, 'primary'], ['b', 0, 'primary'], 0, 0, 10),
      pairFinding('overlap', ['a', 0, 'alternate'], ['b', 0, 'alternate'], 0, 100, 10),
    ]);
    const refs: Reference[] = [
      { lun: 0, start: 0, length: 10, count: 2 },
      { lun: 0, start: 100, length: 10, count: 2 },
    ];
    expect(countReferences({ a, b })).toEqual(refs);
    expect(check({ a, b }, { sharing: [['b', 'a']], references: refs })).toEqual([]);
    // A group that does not contain both disks does not help.
    expect(check({ a, b }, { sharing: [['a', 'c'], ['b']] })).toHaveLength(2);
  });

  it('overlap: declared sharing never covers a partial overlap or different segment sizes', () => {
    const a = table(10, [{ location: at(0, 0) }]);
    const b = table(10, [{ location: at(0, 5) }]);
    const c = table(5, [{ location: at(0, 0) }]);
    expect(check({ a, b, c }, { sharing: [['a', 'b', 'c']] })).toEqual([
      pairFinding('overlap', ['a', 0, 'primary'], ['c', 0, 'primary'], 0, 0, 5),
      pairFinding('overlap', ['a', 0, 'primary'], ['b', 0, 'primary'], 0, 5, 5),
    ]);
  });

  it('overlap: sharing is per group, not transitive', () => {
    const t = table(3, [{ location: at(1, 30) }]);
    expect(check({ a: t, b: t, c: t }, { sharing: [['a', 'b'], ['b', 'c']] })).toEqual([
      pairFinding('overlap', ['a', 0, 'primary'], ['c', 0, 'primary'], 1, 30, 3),
    ]);
    expect(check({ a: t, b: t, c: t }, { sharing: [['a', 'b', 'c']] })).toEqual([]);
  });

  it('alternate-overlaps-primary: over its own primary, and over another segment of another disk', () => {
    const own = table(10, [{ location: at(0, 0), alternate: alt(0, 6) }]);
    expect(check({ own })).toEqual([pairFinding('alternate-overlaps-primary', ['own', 0, 'alternate'], ['own', 0, 'primary'], 0, 6, 4)]);
    const a = table(10, [{ location: at(0, 0) }]);
    const b = table(10, [{ zero: true, alternate: alt(0, 0, [0]) }]);
    // Even in one sharing group: a snapshot shares extents only in the same role.
    expect(check({ a, b }, { sharing: [['a', 'b']] })).toEqual([
      pairFinding('alternate-overlaps-primary', ['b', 0, 'alternate'], ['a', 0, 'primary'], 0, 0, 10),
    ]);
  });

  it('past-lun-end: past a declared size, and on an undeclared LUN', () => {
    const t = table(10, [{ location: at(0, 0) }, { location: at(0, 10), alternate: alt(7, 0) }, { location: at(0, 20) }]);
    const expected: ExpectedFinding[] = [
      { severity: 'corruption', code: 'past-lun-end', disk: 'vol', segment: 1, role: 'primary', lun: 0, start: 10, length: 10 },
      { severity: 'corruption', code: 'past-lun-end', disk: 'vol', segment: 1, role: 'alternate', lun: 7, start: 0, length: 10 },
      { severity: 'corruption', code: 'past-lun-end', disk: 'vol', segment: 2, role: 'primary', lun: 0, start: 20, length: 10 },
    ];
    expect(check({ vol: t }, { lunSizes: { 0: 19 } })).toEqual(expected);
    expect(check({ vol: t }, { lunSizes: new Map([[0, 19]]) })).toEqual(expected);
    expect(check({ vol: t }, { lunSizes: { 0: 30, 7: 10 } })).toEqual([]);
    expect(check({ vol: t })).toEqual([]);
  });

  it('reference-undercount: blocks held but counted lower, per maximal run', () => {
    const t = table(10, [{ location: at(0, 0) }, { location: at(0, 10) }, { location: at(0, 20) }, { location: at(1, 0) }]);
    expect(
      check({ vol: t }, { references: [{ lun: 0, start: 0, length: 10, count: 1 }, { lun: 1, start: 0, length: 10, count: 1 }] }),
    ).toEqual([{ severity: 'corruption', code: 'reference-undercount', lun: 0, start: 10, length: 20, counted: 0, referenced: 1 }]);
  });

  it('reference-leak: counted higher than held, including blocks nothing holds', () => {
    const t = table(10, [{ location: at(0, 0) }, { location: at(0, 10) }]);
    expect(
      check({ vol: t }, { references: [{ lun: 0, start: 0, length: 20, count: 2 }, { lun: 0, start: 25, length: 5, count: 1 }, { lun: 3, start: 0, length: 0, count: 9 }] }),
    ).toEqual([
      { severity: 'leak', code: 'reference-leak', lun: 0, start: 0, length: 20, counted: 2, referenced: 1 },
      { severity: 'leak', code: 'reference-leak', lun: 0, start: 25, length: 5, counted: 1, referenced: 0 },
    ]);
    // Overlapping records add up per block.
    expect(
      check({ vol: t }, { references: [{ lun: 0, start: 0, length: 20, count: 1 }, { lun: 0, start: 5, length: 2, count: 1 }] }),
    ).toEqual([{ severity: 'leak', code: 'reference-leak', lun: 0, start: 5, length: 2, counted: 2, referenced: 1 }]);
  });

  it('reference counts see a block shared by k segments as k', () => {
    const t = table(10, [{ location: at(0, 0) }]);
    const tables = { a: t, b: t, c: t };
    const options = { sharing: [['a', 'b', 'c']] };
    expect(check(tables, { ...options, references: [{ lun: 0, start: 0, length: 10, count: 3 }] })).toEqual([]);
    expect(check(tables, { ...options, references: [{ lun: 0, start: 0, length: 10, count: 2 }] })).toEqual([
      { severity: 'corruption', code: 'reference-undercount', lun: 0, start: 0, length: 10, counted: 2, referenced: 3 },
    ]);
  });

  it('bad-reference: unreadable records are reported and ignored, never thrown', () => {
    const t = table(10, [{ location: at(0, 0) }]);
    const references = [
      { lun: 0, start: 0, length: 10, count: 1 },
      { lun: -1, start: 0, length: 1, count: 1 },
      { lun: 0, start: 0.5, length: 1, count: 1 },
      { lun: 0, start: Number.MAX_SAFE_INTEGER, length: 2, count: 1 },
      null as unknown as Reference,
    ];
    expect(check({ vol: t }, { references })).toEqual([1, 2, 3, 4].map((reference) => ({ severity: 'corruption', code: 'bad-reference', reference })));
  });

  it('invalid-segment and error-segment: one info finding per flag', () => {
    const t = table(10, [{ location: at(0, 0), error: true }, { invalid: true }, { invalid: true, error: true, zero: true }, { zero: true, noWrite: true }]);
    expect(check({ vol: t })).toEqual([
      { severity: 'info', code: 'error-segment', disk: 'vol', segment: 0 },
      { severity: 'info', code: 'error-segment', disk: 'vol', segment: 2 },
      { severity: 'info', code: 'invalid-segment', disk: 'vol', segment: 1 },
      { severity: 'info', code: 'invalid-segment', disk: 'vol', segment: 2 },
    ]);
    expect(checkTables({ vol: t }).counts).toEqual({ corruption: 0, leak: 0, info: 4 });
    expect(checkTables({ vol: t }).findings[1]!.message).toMatch(/masked/);
  });

  it('sorts by severity, code and location; Map and Record inputs agree', () => {
    const t = table(10, [{ location: at(0, 0), error: true }, { location: at(0, 5) }]);
    const options: CheckOptions = { lunSizes: { 0: 12 }, references: [{ lun: 0, start: 0, length: 30, count: 1 }] };
    const findings = check({ z: t, a: t }, options);
    expect(findings.map((f) => [f.severity, f.code, f.disk])).toEqual([
      ['corruption', 'overlap', 'a'],
      ['corruption', 'overlap', 'a'],
      ['corruption', 'overlap', 'a'],
      ['corruption', 'overlap', 'a'],
      ['corruption', 'overlap', 'a'],
      ['corruption', 'overlap', 'z'],
      ['corruption', 'past-lun-end', 'a'],
      ['corruption', 'past-lun-end', 'z'],
      ['corruption', 'reference-undercount', undefined],
      ['corruption', 'reference-undercount', undefined],
      ['corruption', 'reference-undercount', undefined],
      ['leak', 'reference-leak', undefined],
      ['info', 'error-segment', 'a'],
      ['info', 'error-segment', 'z'],
    ]);
    expect(check(new Map([['a', t], ['z', t]]), options)).toEqual(findings);
  });

  it('an empty set of tables is clean', () => {
    expect(checkTables({})).toEqual({ findings: [], counts: { corruption: 0, leak: 0, info: 0 } });
    expect(check(new Map(), { references: [] })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Random healthy and damaged scenarios
// ---------------------------------------------------------------------------------------------

describe('checkTables: scenarios', () => {
  it('healthy disjoint tables give exactly the info findings of their flags', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        expect(check(s.tables, s.options)).toEqual(flagFindings(s.tables));
        // The scenario's own references (one record per extent) are what countReferences says.
        expect(countReferences(s.tables)).toEqual(s.options.references);
      }),
      { numRuns: 200 },
    );
  });

  for (const kind of DAMAGE_KINDS)
    it(`finds exactly the damage: ${kind}`, () => {
      fc.assert(
        fc.property(damageArb(kind), (d) => {
          const found = check(d.tables, d.options);
          expect(found, d.description).toEqual(d.expected);
          // The damage is there: one finding more than the flags (or one more flag).
          expect(found.length).toBeGreaterThan(flagFindings(d.tables).length - (kind.endsWith('-flag') ? 1 : 0));
        }),
        { numRuns: 150 },
      );
    });

  it('applyDamage with no choices, and when nothing can be damaged', () => {
    const t = table(10, [{ location: at(0, 0) }, { location: at(0, 10), alternate: alt(1, 0, [4]) }]);
    const s = { tables: { vol: t }, options: { lunSizes: { 0: 20, 1: 10 }, references: countReferences({ vol: t }) } };
    for (const kind of DAMAGE_KINDS) {
      const d = applyDamage(s, kind);
      expect(d, kind).toBeDefined();
      expect(check(d!.tables, d!.options), kind).toEqual(d!.expected);
    }
    const zero = table(10, [{ zero: true }]);
    expect(applyDamage({ tables: { vol: zero } }, 'overlap-primary')).toBeUndefined();
    expect(applyDamage({ tables: { vol: zero } }, 'past-lun-end')).toBeUndefined();
    expect(applyDamage({ tables: { vol: zero } }, 'reference-leak')).toBeUndefined();
    expect(applyDamage({ tables: { vol: zero } }, 'error-flag')?.expected).toEqual([
      { severity: 'info', code: 'error-segment', disk: 'vol', segment: 0 },
    ]);
  });

  it('a snapshot with declared sharing is clean; without the declaration every shared extent overlaps', () => {
    fc.assert(
      fc.property(scenarioArb({ maxDisks: 3 }), fc.nat(), (s, pick) => {
        const names = [...s.tables.keys()];
        const origin = names[pick % names.length]!;
        const snap = `${origin}#snap`;
        const t = s.tables.get(origin)!;
        // A variable table is its own snapshot's table (tables are values).
        const copy = t.segmentStarts === null ? table(t.segmentBlocks, [...tableEntries(t)].map(([, e]) => e)) : t;
        const tables = new Map([...s.tables, [snap, copy]]);
        // References: the origin's records now count 2.
        const mine = new Set(
          [...tableEntries(t)].flatMap(([, e]) => [e.location, e.alternate].flatMap((x) => (x === null ? [] : [`${x.lun}:${x.start}`]))),
        );
        const references = s.options.references!.map((r) => (mine.has(`${r.lun}:${r.start}`) ? { ...r, count: 2 } : r));
        expect(countReferences(tables)).toEqual(references);
        const options = { ...s.options, references, sharing: [...(s.options.sharing ?? []), [origin, snap]] };
        const flags = flagFindings(tables);
        expect(check(tables, options)).toEqual(flags);

        const overlaps: ExpectedFinding[] = [...tableEntries(t)].flatMap(([segment, e]) =>
          (
            [
              ['primary', e.location],
              ['alternate', e.alternate],
            ] as const
          ).flatMap(([role, x]) =>
            x === null ? [] : [pairFinding('overlap', [origin, segment, role], [snap, segment, role], x.lun, x.start, segmentLengthAt(t, segment))],
          ),
        );
        const undeclared = { ...options, sharing: s.options.sharing ?? [] };
        expect(check(tables, undeclared)).toEqual([...overlaps, ...flags].sort(compareFindings));
      }),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// A naive oracle on random, overlapping tables
// ---------------------------------------------------------------------------------------------

interface NaiveExt {
  disk: string;
  segment: number;
  role: ExtentRole;
  lun: number;
  start: number;
  end: number;
}

const naive = (tables: Map<string, MappingTable>, options: CheckOptions): ExpectedFinding[] => {
  const out: ExpectedFinding[] = [];
  const exts: NaiveExt[] = [];
  for (const [disk, t] of tables)
    for (const [segment, e] of tableEntries(t)) {
      if (e.location) exts.push({ disk, segment, role: 'primary', lun: e.location.lun, start: e.location.start, end: e.location.start + t.segmentBlocks });
      if (e.alternate)
        exts.push({ disk, segment, role: 'alternate', lun: e.alternate.lun, start: e.alternate.start, end: e.alternate.start + t.segmentBlocks });
      if (e.invalid) out.push({ severity: 'info', code: 'invalid-segment', disk, segment });
      if (e.error) out.push({ severity: 'info', code: 'error-segment', disk, segment });
    }
  const groups = options.sharing ?? [];
  for (let i = 0; i < exts.length; i++)
    for (let j = i + 1; j < exts.length; j++) {
      const x = exts[i]!;
      const y = exts[j]!;
      if (x.lun !== y.lun || x.end <= y.start || y.end <= x.start) continue;
      const identical = x.start === y.start && x.end === y.end;
      const shared = x.disk !== y.disk && groups.some((g) => g.includes(x.disk) && g.includes(y.disk));
      if (identical && x.role === y.role && shared) continue;
      const xFirst = x.disk < y.disk || (x.disk === y.disk && (x.segment < y.segment || (x.segment === y.segment && x.role === 'primary')));
      const [m, o] = x.role !== y.role ? (x.role === 'alternate' ? [x, y] : [y, x]) : xFirst ? [x, y] : [y, x];
      const start = Math.max(x.start, y.start);
      out.push(
        pairFinding(
          x.role === y.role ? 'overlap' : 'alternate-overlaps-primary',
          [m.disk, m.segment, m.role],
          [o.disk, o.segment, o.role],
          x.lun,
          start,
          Math.min(x.end, y.end) - start,
        ),
      );
    }
  const sizes = options.lunSizes;
  if (sizes !== undefined)
    for (const x of exts) {
      const size = sizes instanceof Map ? sizes.get(x.lun) : (sizes as Record<number, number>)[x.lun];
      if (size === undefined || x.end > size)
        out.push({ severity: 'corruption', code: 'past-lun-end', disk: x.disk, segment: x.segment, role: x.role, lun: x.lun, start: x.start, length: x.end - x.start });
    }
  if (options.references !== undefined) {
    const held = new Map<string, number>();
    const counted = new Map<string, number>();
    const add = (m: Map<string, number>, lun: number, b: number, n: number) => m.set(`${lun}:${b}`, (m.get(`${lun}:${b}`) ?? 0) + n);
    for (const x of exts) for (let b = x.start; b < x.end; b++) add(held, x.lun, b, 1);
    options.references.forEach((r, i) => {
      if (!(r.lun >= 0 && r.start >= 0 && r.length >= 0 && r.count >= 0)) {
        out.push({ severity: 'corruption', code: 'bad-reference', reference: i });
        return;
      }
      for (let b = r.start; b < r.start + r.length; b++) add(counted, r.lun, b, r.count);
    });
    const blocks = [...new Set([...held.keys(), ...counted.keys()])]
      .map((k) => k.split(':').map(Number) as [number, number])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let run: { lun: number; start: number; length: number; counted: number; referenced: number } | undefined;
    const flush = () => {
      if (run)
        out.push({
          severity: run.counted < run.referenced ? 'corruption' : 'leak',
          code: run.counted < run.referenced ? 'reference-undercount' : 'reference-leak',
          ...run,
        });
      run = undefined;
    };
    for (const [lun, b] of blocks) {
      const h = held.get(`${lun}:${b}`) ?? 0;
      const c = counted.get(`${lun}:${b}`) ?? 0;
      if (h === c) continue;
      if (run && run.lun === lun && run.start + run.length === b && run.counted === c && run.referenced === h) run.length++;
      else {
        flush();
        run = { lun, start: b, length: 1, counted: c, referenced: h };
      }
    }
    flush();
  }
  return out.sort(compareFindings);
};

describe('checkTables: against a naive oracle', () => {
  const names = ['a', 'b', 'c', 'b@1'];
  const referenceArb = fc.record({ lun: fc.nat(3), start: fc.nat(80), length: fc.nat(12), count: fc.integer({ min: -1, max: 3 }) });
  const lunSizesArb: fc.Arbitrary<LunSizes> = fc.dictionary(
    fc.constantFrom('0', '1', '2'),
    fc.nat(100),
  ) as unknown as fc.Arbitrary<LunSizes>;

  it('agrees on random overlapping tables, sharing groups, LUN sizes and references', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) =>
          fc.tuple(
            fc.array(tableArb({ segmentBlocks: fc.constantFrom(1, 3, 5, 10), segmentCount: fc.integer({ min: 1, max: 8 }), luns: [0, 1, 2], maxStart: 60 }), {
              minLength: n,
              maxLength: n,
            }),
            fc.array(fc.subarray(names), { maxLength: 2 }),
            fc.option(lunSizesArb, { nil: undefined }),
            fc.option(fc.array(referenceArb, { maxLength: 10 }), { nil: undefined }),
            fc.boolean(),
          ),
        ),
        ([ts, sharing, lunSizes, references, exact]) => {
          const tables = new Map(ts.map((t, i) => [names[i]!, t]));
          // Sometimes start from the exact counts, so that runs of agreement appear.
          const refs = references === undefined ? undefined : exact ? [...countReferences(tables), ...references.filter((r) => r.count < 0)] : references;
          const options: CheckOptions = {
            sharing,
            ...(lunSizes !== undefined ? { lunSizes } : {}),
            ...(refs !== undefined ? { references: refs } : {}),
          };
          expect(check(tables, options)).toEqual(naive(tables, options));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('agrees on snapshot families with identical extents', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((blocks) =>
          fc.tuple(fc.array(entrySpecArb(blocks, { luns: [0, 1], maxStart: 20 }), { minLength: 1, maxLength: 6 }), fc.constant(blocks)),
        ),
        fc.array(fc.subarray(names), { maxLength: 3 }),
        fc.array(fc.nat(3), { minLength: 4, maxLength: 4 }),
        ([entries, blocks], sharing, variants) => {
          // Disks built from a few versions of one entry list, so identical extents are common.
          const versions = [entries, entries.slice().reverse(), entries.map((e) => ({ ...e, alternate: null }))];
          const tables = new Map(names.map((n, i) => [n, table(blocks, versions[variants[i]! % versions.length]!)]));
          const options = { sharing, references: countReferences(tables) };
          expect(check(tables, options)).toEqual(naive(tables, options));
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

describe('checkTables: scale', () => {
  it('checks 100k segments (with a snapshot of them) in well under a few seconds', () => {
    const n = 100_000;
    const blocks = 8;
    // Primaries interleaved on two LUNs, an alternate on every 7th segment on LUN 2.
    const entries: EntrySpec[] = Array.from({ length: n }, (_, s) => ({
      location: at(s % 2, Math.floor(s / 2) * blocks),
      ...(s % 7 === 0 ? { alternate: alt(2, (s / 7) * blocks, [1]) } : {}),
      ...(s % 1000 === 0 ? { error: true } : {}),
    }));
    const t = table(blocks, entries);
    const tables = { vol: t, 'vol@snap': t };
    const references = countReferences(tables);
    const started = performance.now();
    const clean = checkTables(tables, { sharing: [['vol', 'vol@snap']], references, lunSizes: { 0: n * blocks, 1: n * blocks, 2: n * blocks } });
    const elapsed = performance.now() - started;
    expect(clean.counts).toEqual({ corruption: 0, leak: 0, info: 200 });
    expect(elapsed).toBeLessThan(5000);

    const broken = checkTables(tables, { references: references.slice(1) });
    expect(broken.counts.corruption).toBe(n + Math.ceil(n / 7) + 1);
    const codes = new Set<FindingCode>(broken.findings.map((f) => f.code));
    expect([...codes].sort()).toEqual(['error-segment', 'overlap', 'reference-undercount']);
  });
});

describe('checkTables with unusable input', () => {
  it('reports what it could not use as bad-input findings (corruption: the check is incomplete)', () => {
    const t = E.getOrElseW(() => expect.fail('fixture'))(createTable({ segmentBlocks: 10, entries: [{ location: { lun: 0, start: 0 } }] })) as MappingTable;
    const report = checkTables({ vol: t, junk: { segmentBlocks: 10 } as never }, { sharing: 'vol' as never, references: [undefined as never] });
    expect(report.findings.filter((f) => f.code === 'bad-input').map((f) => f.field)).toEqual(['options.sharing', 'tables["junk"]']);
    expect(report.findings.some((f) => f.code === 'bad-reference')).toBe(true);
    expect(report.counts.corruption).toBe(4); // and the vol extent nothing counts: reference-undercount
    expect(checkTables(null as never).findings.map((f) => f.code)).toEqual(['bad-input']);
  });
});
