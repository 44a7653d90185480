/**
 * Damage generators for the consistency checker, in the spirit of thin-provisioning-tools'
 * damage tests: start from healthy, physically disjoint tables with correct reference counts,
 * break exactly one thing through the public `setEntry`, and say exactly which findings
 * `checkTables` must report afterwards (codes, severities and locations; messages are free).
 *
 * Use {@link damageArb} for ready-made property tests, or {@link applyDamage} on your own
 * scenarios. fast-check is a peer dependency of this module only.
 */
import fc from 'fast-check';
import * as B from '../bitmap/bitmap.js';
import {
  compareFindings,
  countReferences,
  type CheckOptions,
  type ExtentRole,
  type Finding,
  type Reference,
  type TableSet,
} from '../check/check.js';
import { isBlockNumber } from '../errors.js';
import { lunSize, type LunSizes, type MappingEntry } from '../table/entry.js';
import { createTable, setEntry, tableEntries, type MappingTable } from '../table/table.js';
import { layoutTableArb, layoutVariableTableArb } from './arbitraries.js';
import { segmentLengthAt } from '../table/segments.js';
import { createVariableTable } from '../table/variable.js';

/**
 * Every kind of damage this module makes, a closed list:
 *
 * - `overlap-primary`: a segment's primary is moved onto another segment's primary (same disk,
 *   or a disk that does not declare sharing with it) → one `overlap`;
 * - `overlap-alternate`: likewise for alternates (a segment without one gets one) → one `overlap`;
 * - `alternate-on-primary`: a segment's alternate is put onto a primary, possibly its own →
 *   one `alternate-overlaps-primary`;
 * - `past-lun-end`: an extent moved past its LUN's end, straddling it, or onto an undeclared LUN
 *   (needs `lunSizes`) → one `past-lun-end`;
 * - `reference-undercount`: one reference record's count lowered (possibly to 0) → one
 *   `reference-undercount` over that record's blocks (needs `references`);
 * - `reference-leak`: one record's count raised, or a record added for unused blocks → one
 *   `reference-leak` (needs `references`);
 * - `error-flag` / `invalid-flag`: a segment gets the `error` / `invalid` flag → one more
 *   `error-segment` / `invalid-segment` info finding.
 *
 * @example
 * for (const kind of DAMAGE_KINDS) fc.assert(fc.property(damageArb(kind), (d) => ...));
 */
export const DAMAGE_KINDS = [
  'overlap-primary',
  'overlap-alternate',
  'alternate-on-primary',
  'past-lun-end',
  'reference-undercount',
  'reference-leak',
  'error-flag',
  'invalid-flag',
] as const;

/**
 * One of {@link DAMAGE_KINDS}.
 *
 * @example
 * const kind: DamageKind = 'overlap-primary';
 * fc.assert(fc.property(damageArb(kind), (d) => checkTables(d.tables, d.options).findings.some((f) => f.code === 'overlap')));
 */
export type DamageKind = (typeof DAMAGE_KINDS)[number];

/**
 * Tables by disk name and the options to check them with.
 *
 * @example
 * const s: Scenario = { tables: new Map([['vol', table]]), options: { references: countReferences({ vol: table }) } };
 */
export interface Scenario {
  readonly tables: ReadonlyMap<string, MappingTable>;
  readonly options: CheckOptions;
}

/**
 * A finding without its message: what a test compares.
 *
 * @example
 * const e: ExpectedFinding = { severity: 'info', code: 'error-segment', disk: 'vol', segment: 3 };
 */
export type ExpectedFinding = Omit<Finding, 'message'>;

/**
 * A damaged scenario: `tables` and `options` to check, the `expected` findings (all of them,
 * including the `info` findings of flags already present, sorted by `compareFindings`), and a
 * human-readable `description` of what was broken.
 *
 * @example
 * expect(withoutMessages(checkTables(d.tables, d.options).findings)).toEqual(d.expected);
 */
export interface Damage extends Scenario {
  readonly kind: DamageKind;
  readonly description: string;
  readonly expected: ExpectedFinding[];
}

/**
 * Findings without their messages, in the same order.
 *
 * @example
 * withoutMessages(checkTables(tables).findings) // compare with Damage.expected
 */
export const withoutMessages = (findings: ReadonlyArray<Finding>): ExpectedFinding[] =>
  findings.map(({ message: _message, ...rest }) => rest);

const compareNames = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const toMap = (tables: TableSet): Map<string, MappingTable> =>
  new Map(
    (tables instanceof Map ? [...tables.entries()] : Object.entries(tables as Readonly<Record<string, MappingTable>>)).sort((x, y) =>
      compareNames(x[0], y[0]),
    ),
  );

/**
 * The `info` findings the checker reports for tables with no physical damage: one
 * `invalid-segment` per `invalid` entry and one `error-segment` per `error` entry, sorted.
 *
 * @example
 * expect(withoutMessages(checkTables(tables).findings)).toEqual(flagFindings(tables)) // healthy tables
 */
export const flagFindings = (tables: TableSet): ExpectedFinding[] => {
  const out: ExpectedFinding[] = [];
  for (const [disk, table] of toMap(tables))
    for (const [segment, e] of tableEntries(table)) {
      if (e.invalid) out.push({ severity: 'info', code: 'invalid-segment', disk, segment });
      if (e.error) out.push({ severity: 'info', code: 'error-segment', disk, segment });
    }
  return out.sort(compareFindings);
};

interface Seg {
  readonly disk: string;
  readonly segment: number;
  readonly entry: MappingEntry;
  readonly blocks: number;
}

interface SegExtent {
  readonly seg: Seg;
  readonly role: ExtentRole;
  readonly lun: number;
  readonly start: number;
}

const unwrapTable = (e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: MappingTable }): MappingTable => {
  if (e._tag === 'Left') throw new Error(`damage built an invalid table: ${JSON.stringify(e.left)}`);
  return e.right;
};

const declaredLuns = (sizes: LunSizes): number[] =>
  sizes instanceof Map ? [...sizes.keys()] : Object.keys(sizes).map(Number).filter((n) => Number.isSafeInteger(n));

/**
 * Breaks one thing of kind `kind` in a healthy scenario and returns the damaged scenario with the
 * findings the checker must report, or `undefined` when the scenario offers nothing to damage
 * that way (e.g. no primary to overlap, no `lunSizes` for `past-lun-end`, no `references` for
 * the reference kinds).
 *
 * `choices` are non-negative integers (e.g. from `fc.array(fc.nat())`) consumed in order to pick
 * the victim and the variant; missing choices count as 0, so `[]` gives a fixed damage.
 *
 * Preconditions: the tables are physically disjoint (no two extents share a block), every extent
 * lies inside its declared LUN, and `references`, if given, are correct and pairwise disjoint
 * (as {@link countReferences} returns for disjoint tables). For table damages the returned
 * `references` are recomputed with `countReferences`, so that only the intended finding appears.
 *
 * @example
 * const d = applyDamage({ tables, options: { references: countReferences(tables) } }, 'overlap-primary', [3, 1]);
 * if (d !== undefined) expect(withoutMessages(checkTables(d.tables, d.options).findings)).toEqual(d.expected);
 */
export const applyDamage = (
  scenario: { readonly tables: TableSet; readonly options?: CheckOptions },
  kind: DamageKind,
  choices: ReadonlyArray<number> = [],
): Damage | undefined => {
  const tables = toMap(scenario.tables);
  const options = scenario.options ?? {};
  let next = 0;
  const choose = (n: number): number => {
    const c = choices[next++] ?? 0;
    return Number.isFinite(c) ? Math.floor(Math.abs(c)) % n : 0;
  };
  const pickFrom = <T>(xs: ReadonlyArray<T>): T | undefined => (xs.length === 0 ? undefined : xs[choose(xs.length)]);

  const segs: Seg[] = [];
  for (const [disk, table] of tables)
    for (const [segment, entry] of tableEntries(table)) segs.push({ disk, segment, entry, blocks: segmentLengthAt(table, segment) });
  const extents: SegExtent[] = segs.flatMap((seg) => [
    ...(seg.entry.location !== null ? [{ seg, role: 'primary' as const, lun: seg.entry.location.lun, start: seg.entry.location.start }] : []),
    ...(seg.entry.alternate !== null
      ? [{ seg, role: 'alternate' as const, lun: seg.entry.alternate.lun, start: seg.entry.alternate.start }]
      : []),
  ]);
  const sharing = options.sharing ?? [];
  const share = (a: string, b: string): boolean => a !== b && sharing.some((g) => g.includes(a) && g.includes(b));
  const same = (a: Seg, b: Seg): boolean => a.disk === b.disk && a.segment === b.segment;
  const before = (a: Seg, b: Seg): boolean => compareNames(a.disk, b.disk) < 0 || (a.disk === b.disk && a.segment < b.segment);

  /** Finishes a table damage: rewrite one entry, recompute the references. */
  const rewrite = (seg: Seg, entry: MappingEntry, description: string, found: ExpectedFinding[]): Damage => {
    const damaged = new Map(tables);
    damaged.set(seg.disk, unwrapTable(setEntry(tables.get(seg.disk)!, seg.segment, entry)));
    const newOptions: CheckOptions =
      options.references === undefined ? options : { ...options, references: countReferences(damaged) };
    return finish(damaged, newOptions, description, found);
  };
  const finish = (damaged: Map<string, MappingTable>, newOptions: CheckOptions, description: string, found: ExpectedFinding[]): Damage => ({
    kind,
    description,
    tables: damaged,
    options: newOptions,
    expected: [...flagFindings(damaged), ...found].sort(compareFindings),
  });
  const emptyBitmap = (size: number): B.Bitmap => {
    const b = B.empty(size);
    if (b._tag === 'Left') throw new Error(`bad segment size ${size}`);
    return b.right;
  };
  const where = (x: Seg, role: ExtentRole): string => `${x.disk} segment ${x.segment} ${role}`;

  switch (kind) {
    case 'overlap-primary':
    case 'overlap-alternate': {
      const role: ExtentRole = kind === 'overlap-primary' ? 'primary' : 'alternate';
      const target = pickFrom(extents.filter((x) => x.role === role));
      if (target === undefined) return undefined;
      const t = target.seg;
      const mover = pickFrom(segs.filter((m) => !same(m, t) && m.blocks === t.blocks && (m.disk === t.disk || !share(m.disk, t.disk))));
      if (mover === undefined) return undefined;
      const entry: MappingEntry =
        role === 'primary'
          ? { ...mover.entry, location: { lun: target.lun, start: target.start } }
          : { ...mover.entry, alternate: { lun: target.lun, start: target.start, blocks: mover.entry.alternate?.blocks ?? emptyBitmap(mover.blocks) } };
      const [m, o] = before(mover, t) ? [mover, t] : [t, mover];
      return rewrite(mover, entry, `moved ${where(mover, role)} onto ${where(t, role)}`, [
        {
          severity: 'corruption',
          code: 'overlap',
          disk: m.disk,
          segment: m.segment,
          role,
          lun: target.lun,
          start: target.start,
          length: t.blocks,
          other: { disk: o.disk, segment: o.segment, role },
        },
      ]);
    }
    case 'alternate-on-primary': {
      const target = pickFrom(extents.filter((x) => x.role === 'primary'));
      if (target === undefined) return undefined;
      const p = target.seg;
      const a = pickFrom(segs.filter((x) => x.blocks === p.blocks));
      if (a === undefined) return undefined;
      const entry: MappingEntry = {
        ...a.entry,
        alternate: { lun: target.lun, start: target.start, blocks: a.entry.alternate?.blocks ?? emptyBitmap(a.blocks) },
      };
      return rewrite(a, entry, `moved ${where(a, 'alternate')} onto ${where(p, 'primary')}`, [
        {
          severity: 'corruption',
          code: 'alternate-overlaps-primary',
          disk: a.disk,
          segment: a.segment,
          role: 'alternate',
          lun: target.lun,
          start: target.start,
          length: p.blocks,
          other: { disk: p.disk, segment: p.segment, role: 'primary' },
        },
      ]);
    }
    case 'past-lun-end': {
      const sizes = options.lunSizes;
      if (sizes === undefined) return undefined;
      const victim = pickFrom(extents);
      if (victim === undefined) return undefined;
      const x = victim.seg;
      const size = lunSize(sizes, victim.lun);
      const variant = choose(3);
      let lun = victim.lun;
      let start: number;
      let how: string;
      if (variant === 2 || !isBlockNumber(size)) {
        lun = 1 + Math.max(0, ...declaredLuns(sizes), ...extents.map((e) => e.lun));
        start = choose(100);
        how = `onto undeclared LUN ${lun}`;
      } else if (variant === 0) {
        start = size + choose(4);
        how = `past the end of LUN ${lun}`;
      } else {
        // Straddle the end, clear of every other extent of the LUN.
        const othersEnd = Math.max(
          0,
          ...extents.filter((e) => e.lun === lun && !(same(e.seg, x) && e.role === victim.role)).map((e) => e.start + e.seg.blocks),
        );
        start = Math.max(size - x.blocks + 1, othersEnd);
        how = `across the end of LUN ${lun}`;
      }
      const entry: MappingEntry =
        victim.role === 'primary'
          ? { ...x.entry, location: { lun, start } }
          : { ...x.entry, alternate: { lun, start, blocks: x.entry.alternate!.blocks } };
      return rewrite(x, entry, `moved ${where(x, victim.role)} ${how}`, [
        { severity: 'corruption', code: 'past-lun-end', disk: x.disk, segment: x.segment, role: victim.role, lun, start, length: x.blocks },
      ]);
    }
    case 'reference-undercount':
    case 'reference-leak': {
      const refs = options.references;
      if (refs === undefined) return undefined;
      const usable = refs.map((r, i) => [r, i] as const).filter(([r]) => isBlockNumber(r.count) && r.length > 0);
      const done = (newRefs: Reference[], description: string, found: ExpectedFinding): Damage =>
        finish(tables, { ...options, references: newRefs }, description, [found]);
      if (kind === 'reference-undercount') {
        const picked = pickFrom(usable.filter(([r]) => r.count >= 1));
        if (picked === undefined) return undefined;
        const [r, i] = picked;
        const counted = r.count - 1 - choose(r.count);
        const newRefs = refs.slice();
        // Dropping a record and counting it 0 are the same damage; do both.
        if (counted === 0 && choose(2) === 1) newRefs.splice(i, 1);
        else newRefs[i] = { ...r, count: counted };
        return done(newRefs, `counted references[${i}] ${counted} instead of ${r.count}`, {
          severity: 'corruption',
          code: 'reference-undercount',
          lun: r.lun,
          start: r.start,
          length: r.length,
          counted,
          referenced: r.count,
        });
      }
      const picked = choose(2) === 0 ? pickFrom(usable) : undefined;
      if (picked !== undefined) {
        const [r, i] = picked;
        const counted = r.count + 1 + choose(3);
        const newRefs = refs.slice();
        newRefs[i] = { ...r, count: counted };
        return done(newRefs, `counted references[${i}] ${counted} instead of ${r.count}`, {
          severity: 'leak',
          code: 'reference-leak',
          lun: r.lun,
          start: r.start,
          length: r.length,
          counted,
          referenced: r.count,
        });
      }
      // A record for blocks nothing holds, past everything on the LUN.
      const luns = [...new Set([...extents.map((e) => e.lun), ...usable.map(([r]) => r.lun)])].sort((a, b) => a - b);
      const lun = luns.length === 0 ? 0 : luns[choose(luns.length)]!;
      const end = Math.max(
        0,
        ...extents.filter((e) => e.lun === lun).map((e) => e.start + e.seg.blocks),
        ...usable.filter(([r]) => r.lun === lun).map(([r]) => r.start + r.length),
      );
      const start = end + choose(5);
      const length = 1 + choose(20);
      const count = 1 + choose(3);
      return done([...refs, { lun, start, length, count }], `added a reference for free LUN ${lun} blocks ${start}..${start + length - 1}`, {
        severity: 'leak',
        code: 'reference-leak',
        lun,
        start,
        length,
        counted: count,
        referenced: 0,
      });
    }
    case 'error-flag':
    case 'invalid-flag': {
      const flag = kind === 'error-flag' ? 'error' : 'invalid';
      const x = pickFrom(segs.filter((s) => !s.entry[flag]));
      if (x === undefined) return undefined;
      // The new info finding comes from flagFindings of the damaged tables.
      return rewrite(x, { ...x.entry, [flag]: true }, `set ${flag} on ${x.disk} segment ${x.segment}`, []);
    }
  }
};

/**
 * Limits of {@link scenarioArb} and {@link damageArb}. Smaller limits give faster runs and
 * smaller counterexamples.
 *
 * @example
 * fc.assert(fc.property(scenarioArb({ maxDisks: 2, maxSegments: 4, segmentBlocks: fc.constant(8) }), (s) => s.tables.size <= 2));
 */
export interface ScenarioArbOptions {
  /** Most disks (at least 1); default 4. */
  readonly maxDisks?: number;
  /** Most segments per disk (at least 1); default 10. */
  readonly maxSegments?: number;
  /** Segment sizes; default 1 to 24 blocks, chosen per disk. */
  readonly segmentBlocks?: fc.Arbitrary<number>;
  /**
   * Also variable disks (each segment of its own length, from `segmentBlocks`'s range), about
   * one disk in three; default true. Damage then moves extents between segments of equal length.
   */
  readonly variableDisks?: boolean;
}

const shiftEntry = (e: MappingEntry, by: number): MappingEntry => ({
  ...e,
  location: e.location === null ? null : { lun: e.location.lun, start: e.location.start + by },
  alternate: e.alternate === null ? null : { ...e.alternate, start: e.alternate.start + by },
});

/**
 * Healthy scenarios: 1 to `maxDisks` disks with random names, physically disjoint (each disk laid
 * out by `layoutTableArb`, or `layoutVariableTableArb` for a variable disk, on LUNs 0 to 2, then
 * shifted past the previous disks), LUN sizes with
 * some room to spare, correct references (one record per extent), and sometimes a sharing group
 * (harmless, since nothing is shared). `checkTables` reports exactly `flagFindings(tables)`.
 *
 * @example
 * fc.assert(fc.property(scenarioArb(), (s) => checkTables(s.tables, s.options).counts.corruption === 0));
 */
export const scenarioArb = (options: ScenarioArbOptions = {}): fc.Arbitrary<Scenario> => {
  const maxDisks = Math.max(1, options.maxDisks ?? 4);
  const segmentCount = fc.integer({ min: 1, max: Math.max(1, options.maxSegments ?? 10) });
  const segmentBlocks = options.segmentBlocks ?? fc.integer({ min: 1, max: 24 });
  const luns = [0, 1, 2];
  const layout = layoutTableArb({ luns, segmentCount, segmentBlocks });
  return fc
    .integer({ min: 1, max: maxDisks })
    .chain((n) =>
      fc.record({
        names: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9@-]{0,5}$/), { minLength: n, maxLength: n }),
        layouts: fc.array(
          options.variableDisks === false
            ? layout
            : fc.oneof({ arbitrary: layout, weight: 2 }, { arbitrary: layoutVariableTableArb({ luns, segmentCount, segmentLength: segmentBlocks }), weight: 1 }),
          { minLength: n, maxLength: n },
        ),
        gaps: fc.array(fc.nat(5), { minLength: n, maxLength: n }),
        slack: fc.array(fc.nat(10), { minLength: luns.length, maxLength: luns.length }),
        asRecord: fc.boolean(),
        sharing: fc.option(fc.subarray([...Array(n).keys()]), { nil: undefined }),
      }),
    )
    .map(({ names, layouts, gaps, slack, asRecord, sharing }) => {
      const tables = new Map<string, MappingTable>();
      const ends = new Map<number, number>(luns.map((l) => [l, 0]));
      const references: Reference[] = [];
      let offset = 0;
      layouts.forEach((layout, i) => {
        offset += gaps[i]!;
        const by = offset;
        const table = unwrapTable(
          layout.segmentStarts === null
            ? createTable({ segmentBlocks: layout.segmentBlocks, entries: [...tableEntries(layout)].map(([, e]) => shiftEntry(e, by)) })
            : createVariableTable({ entries: [...tableEntries(layout)].map(([s, e]) => ({ ...shiftEntry(e, by), length: segmentLengthAt(layout, s) })) }),
        );
        for (const [s, e] of tableEntries(table))
          for (const x of [e.location, e.alternate]) {
            if (x === null) continue;
            const length = segmentLengthAt(table, s);
            const end = x.start + length;
            offset = Math.max(offset, end);
            ends.set(x.lun, Math.max(ends.get(x.lun) ?? 0, end));
            references.push({ lun: x.lun, start: x.start, length, count: 1 });
          }
        tables.set(names[i]!, table);
      });
      references.sort((a, b) => a.lun - b.lun || a.start - b.start);
      const sizes = luns.map((l, i) => [l, ends.get(l)! + slack[i]!] as const);
      const lunSizes: LunSizes = asRecord ? Object.fromEntries(sizes) : new Map(sizes);
      const group = sharing?.map((i) => names[i]!);
      return {
        tables,
        options: { lunSizes, references, ...(group !== undefined && group.length > 0 ? { sharing: [group] } : {}) },
      };
    });
};

/**
 * Damaged scenarios of one kind: a {@link scenarioArb} scenario broken by {@link applyDamage}
 * with random choices (scenarios that offer nothing to break that way are skipped).
 *
 * @example
 * fc.assert(fc.property(damageArb('overlap-primary'), (d) => {
 *   expect(withoutMessages(checkTables(d.tables, d.options).findings)).toEqual(d.expected);
 * }));
 */
export const damageArb = (kind: DamageKind, options: ScenarioArbOptions = {}): fc.Arbitrary<Damage> =>
  fc
    .tuple(scenarioArb(options), fc.array(fc.nat(1 << 20), { minLength: 8, maxLength: 8 }))
    .map(([s, choices]) => applyDamage(s, kind, choices))
    .filter((d): d is Damage => d !== undefined);
