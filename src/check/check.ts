/**
 * A consistency checker for a set of mapping tables, in the spirit of thin-provisioning-tools'
 * `thin_check`: it recomputes what the tables claim about physical space (which blocks each
 * segment holds, and how many segments hold each block) and grades every disagreement.
 *
 * Severities:
 *
 * - `corruption`: data can be lost or served wrongly (two owners of one block, an extent past its
 *   LUN, space counted lower than it is used, unreadable reference records);
 * - `leak`: space is held that nothing uses (counted higher than it is used);
 * - `info`: a legal state worth knowing about (segments marked `invalid` or `error`).
 *
 * ## Why there is no "unusable for ever" finding
 *
 * Every flag combination docs/design.md#mapping-entries allows can still serve I/O after the
 * normal mechanism runs:
 *
 * - `invalid` (with or without any other flag) makes every I/O *fault*; a fault reaches the
 *   controller, which may rewrite the entry in any way, so it is a transient state;
 * - `zero` without an alternate (with or without `noWrite`, with or without a location) reads
 *   zeros and faults on writes; the controller resolves the fault by attaching an alternate;
 * - `noWrite` without an alternate faults writes (centralized) and the controller attaches one;
 * - `error` is the one state the fault path never sees: I/O fails without a fault. But it is the
 *   controller's own deliberate marking of failed storage, lifted only by the controller
 *   rewriting the entry after a repair; that is the documented way out, not a stuck state.
 *
 * So no entry is unusable *for ever*; calling any combination corruption would be dishonest. The
 * checker instead reports one `info` finding per flag: `invalid-segment` for each `invalid` entry
 * and `error-segment` for each `error` entry (both when both are set; the message of an
 * `error-segment` notes when `invalid` masks it, since `invalid` takes precedence).
 *
 * ## What counts as a reference
 *
 * Every extent an entry records is held space, whatever the flags: the primary location (even of
 * a `zero` or `invalid` entry, which the controller may bring back into use by clearing the flag)
 * and the whole alternate extent (blocks whose bit is still clear are reserved for later writes).
 * A segment's extents are `segmentBlocks` long, taken from its own table.
 *
 * ## Cost
 *
 * Extents are kept in columns and sorted per LUN once (O(n log n)), then swept: overlaps cost
 * O(n log n + p) for p overlapping pairs, identical extents taken together so that declared
 * snapshot sharing costs O(n), not O(pairs); reference counts are checked by a second sweep that
 * merges four sorted event streams (extent starts and ends, record starts and ends), O(n log n).
 * About 0.2 s for 100k segments plus a snapshot of them, with references.
 */
import { isBlockNumber, show, thrownReason } from '../errors.js';
import { lunSize, type LunSizes } from '../table/entry.js';
import { isTable, tableEntries, type MappingTable } from '../table/table.js';

/**
 * How bad a finding is: `corruption` (data can be lost or served wrongly), `leak` (space is held
 * that nothing uses) or `info` (a legal state worth knowing about, such as a segment marked
 * `error`). Lets a caller decide which findings must stop a deployment and which only need a look.
 *
 * @example
 * const serious = report.findings.filter((f) => f.severity === 'corruption');
 */
export type Severity = 'corruption' | 'leak' | 'info';

/**
 * Every kind of finding the checker reports. Each code has one fixed severity, given by
 * {@link SEVERITY}.
 *
 * @example
 * const code: FindingCode = 'reference-leak';
 * SEVERITY[code] // 'leak'
 */
export type FindingCode =
  | 'overlap'
  | 'alternate-overlaps-primary'
  | 'past-lun-end'
  | 'reference-undercount'
  | 'reference-leak'
  | 'bad-reference'
  | 'bad-input'
  | 'invalid-segment'
  | 'error-segment';

/**
 * Which of a segment's two extents a finding is about: its primary location or its alternate.
 *
 * @example
 * const onAlternates = report.findings.filter((f) => f.role === 'alternate');
 */
export type ExtentRole = 'primary' | 'alternate';

/**
 * The severity of each finding code (a code always has the same severity).
 *
 * @example
 * SEVERITY['reference-leak'] // 'leak'
 */
export const SEVERITY: Readonly<Record<FindingCode, Severity>> = Object.freeze({
  overlap: 'corruption',
  'alternate-overlaps-primary': 'corruption',
  'past-lun-end': 'corruption',
  'reference-undercount': 'corruption',
  'bad-reference': 'corruption',
  // A check that could not look at everything is not a clean bill of health.
  'bad-input': 'corruption',
  'reference-leak': 'leak',
  'invalid-segment': 'info',
  'error-segment': 'info',
});

/**
 * The controller's own reference count of an extent: `count` holders of blocks
 * `start .. start+length-1` of LUN `lun`. Records may overlap; their counts add up per block.
 *
 * @example
 * const r: Reference = { lun: 1, start: 0, length: 10, count: 2 }; // a segment shared by two disks
 */
export interface Reference {
  readonly lun: number;
  readonly start: number;
  readonly length: number;
  readonly count: number;
}

/**
 * Options of {@link checkTables}.
 *
 * @example
 * const options: CheckOptions = { lunSizes: { 0: 1000 }, sharing: [['vol', 'vol@snap1']], references: [] };
 */
export interface CheckOptions {
  /** Declared LUN sizes: extents past a LUN's end, or on an undeclared LUN, are corruption. */
  readonly lunSizes?: LunSizes;
  /**
   * Groups of disk names that may share whole segments (a disk and its snapshots). Two extents of
   * different disks may coincide only when both disks are in one group and the extents are
   * identical (same LUN, start and length) and in the same role.
   */
  readonly sharing?: ReadonlyArray<ReadonlyArray<string>>;
  /** The controller's reference counts of allocated extents, when it keeps them. */
  readonly references?: ReadonlyArray<Reference>;
}

/**
 * One problem, or one noteworthy state. Which fields are present depends on the code:
 *
 * - `overlap`, `alternate-overlaps-primary`: `disk`, `segment`, `role` (for the latter, always the
 *   alternate), `other` (the second extent of the pair) and `lun`/`start`/`length`, the blocks the
 *   two extents have in common;
 * - `past-lun-end`: `disk`, `segment`, `role` and the whole extent;
 * - `reference-undercount`, `reference-leak`: a maximal run of blocks (`lun`/`start`/`length`)
 *   with the same `counted` and `referenced` values;
 * - `bad-reference`: `reference`, the index of the unreadable record in `options.references`;
 * - `bad-input`: `field`, the path of what could not be used (`tables["vol"]`, `options.sharing`),
 *   which the check then leaves out;
 * - `invalid-segment`, `error-segment`: `disk` and `segment`.
 *
 * @example
 * const f: Finding = {
 *   severity: 'corruption', code: 'overlap', message: '...',
 *   disk: 'a', segment: 0, role: 'primary', lun: 1, start: 20, length: 10,
 *   other: { disk: 'b', segment: 3, role: 'primary' },
 * };
 */
export interface Finding {
  readonly severity: Severity;
  readonly code: FindingCode;
  readonly message: string;
  readonly disk?: string;
  readonly segment?: number;
  readonly role?: ExtentRole;
  readonly lun?: number;
  readonly start?: number;
  readonly length?: number;
  readonly other?: { readonly disk: string; readonly segment: number; readonly role: ExtentRole };
  /** Reference findings: the controller's count of each block of the run. */
  readonly counted?: number;
  /** Reference findings: how many extents really hold each block of the run. */
  readonly referenced?: number;
  /** `bad-reference`: index of the record in `options.references`. */
  readonly reference?: number;
  /** `bad-input`: the path of the argument, disk or option that was left out. */
  readonly field?: string;
}

/**
 * What {@link checkTables} found, sorted by severity, then code, then location (the order of
 * `compareFindings`), with a count per severity.
 *
 * @example
 * const clean = (r: CheckReport) => r.counts.corruption === 0 && r.counts.leak === 0;
 */
export interface CheckReport {
  readonly findings: Finding[];
  readonly counts: { corruption: number; leak: number; info: number };
}

/**
 * The tables to check, by disk name: a `Map` or a plain object. Names are what findings report
 * and what {@link CheckOptions.sharing} refers to.
 *
 * @example
 * checkTables({ vol: table, 'vol@snap1': table }, { sharing: [['vol', 'vol@snap1']] }) // a snapshot shares every extent
 */
export type TableSet = ReadonlyMap<string, MappingTable> | Readonly<Record<string, MappingTable>>;

// ---------------------------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------------------------

/** A finding whose message may be left out (expected findings in tests). */
export type FindingLike = Omit<Finding, 'message'> & { readonly message?: string };

const SEVERITY_RANK: Readonly<Record<Severity, number>> = { corruption: 0, leak: 1, info: 2 };

/** Plain code-unit order: deterministic and locale independent. */
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const cmpOpt = (a: number | undefined, b: number | undefined): number => (a ?? -1) - (b ?? -1);
const cmpOptStr = (a: string | undefined, b: string | undefined): number =>
  a === b ? 0 : a === undefined ? -1 : b === undefined ? 1 : compareStrings(a, b);
const roleRank = (r: ExtentRole | undefined): number => (r === undefined ? -1 : r === 'primary' ? 0 : 1);

/**
 * The order of {@link CheckReport.findings}: severity (corruption, leak, info), then code, then
 * location (disk, segment, role, LUN, start, length, the other extent, reference index); the
 * message breaks any remaining tie. Use it to sort expected findings the same way.
 *
 * @example
 * [...findings].sort(compareFindings)
 */
export const compareFindings = (a: FindingLike, b: FindingLike): number =>
  SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
  compareStrings(a.code, b.code) ||
  cmpOptStr(a.disk, b.disk) ||
  cmpOpt(a.segment, b.segment) ||
  roleRank(a.role) - roleRank(b.role) ||
  cmpOpt(a.lun, b.lun) ||
  cmpOpt(a.start, b.start) ||
  cmpOpt(a.length, b.length) ||
  cmpOptStr(a.other?.disk, b.other?.disk) ||
  cmpOpt(a.other?.segment, b.other?.segment) ||
  roleRank(a.other?.role) - roleRank(b.other?.role) ||
  cmpOpt(a.reference, b.reference) ||
  cmpOpt(a.counted, b.counted) ||
  cmpOpt(a.referenced, b.referenced) ||
  cmpOptStr(a.field, b.field) ||
  cmpOptStr(a.message, b.message);

// ---------------------------------------------------------------------------------------------
// Extents
// ---------------------------------------------------------------------------------------------

const PRIMARY = 0;
const ALTERNATE = 1;
const ROLE_NAMES: readonly ExtentRole[] = ['primary', 'alternate'];

/**
 * Every extent the tables hold, as parallel columns (extent `i` is disk `d[i]`, in name order,
 * segment `seg[i]`, role `role[i]`, blocks `start[i] .. end[i]-1` of LUN `lun[i]`), collected in
 * disk, segment, role order, plus `order`: the extent indices sorted by LUN, start and end.
 * Columns and a stable index sort keep millions of extents cheap for the garbage collector, and
 * stability leaves identical extents in disk, segment, role order.
 */
interface Extents {
  readonly d: number[];
  readonly seg: number[];
  readonly role: number[];
  readonly lun: number[];
  readonly start: number[];
  readonly end: number[];
  readonly order: number[];
}

const badInput = (findings: Finding[] | null, field: string, value: unknown, requirement: string): void => {
  findings?.push({ severity: 'corruption', code: 'bad-input', field, message: `${field} ${requirement}, got ${show(value)}; left out of the check` });
};

/**
 * The disks to check, by name. Anything that is not a table set, a disk name that is not a
 * string or a value that is not a table is left out, with a `bad-input` finding when `findings`
 * is given; so is a set that cannot even be read (a proxy, a throwing getter).
 */
const diskList = (tables: TableSet, findings: Finding[] | null = null): [string, MappingTable][] => {
  let list: [unknown, unknown][];
  try {
    if (tables instanceof Map) list = [...tables.entries()];
    else if (typeof tables === 'object' && tables !== null && !Array.isArray(tables)) list = Object.entries(tables);
    else {
      badInput(findings, 'tables', tables, 'must be a Map or an object of mapping tables by disk name');
      return [];
    }
  } catch (thrown) {
    findings?.push({ severity: 'corruption', code: 'bad-input', field: 'tables', message: `tables could not be read (${thrownReason(thrown)}); nothing was checked` });
    return [];
  }
  const disks: [string, MappingTable][] = [];
  for (const [name, table] of list) {
    if (typeof name !== 'string') badInput(findings, 'tables', name, 'must have strings as disk names');
    else if (!isTable(table)) badInput(findings, `tables[${JSON.stringify(name)}]`, table, 'must be a mapping table built by this library');
    else disks.push([name, table]);
  }
  return disks.sort((x, y) => compareStrings(x[0], y[0]));
};

/** The options, each read once; unusable ones are left out with a `bad-input` finding. */
const readOptions = (options: unknown, findings: Finding[]): CheckOptions => {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') {
    badInput(findings, 'options', options, 'must be an object');
    return {};
  }
  const { lunSizes, sharing, references } = options as Record<string, unknown>;
  const out: { lunSizes?: LunSizes; sharing?: string[][]; references?: ReadonlyArray<Reference> } = {};
  if (lunSizes !== undefined) {
    if (typeof lunSizes === 'object' && lunSizes !== null) out.lunSizes = lunSizes as LunSizes;
    else badInput(findings, 'options.lunSizes', lunSizes, 'must be a Map or an object of LUN sizes');
  }
  if (sharing !== undefined) {
    if (!Array.isArray(sharing)) badInput(findings, 'options.sharing', sharing, 'must be an array of groups of disk names');
    else {
      out.sharing = [];
      for (let g = 0; g < sharing.length; g++) {
        const group: unknown = sharing[g];
        if (Array.isArray(group) && group.every((n) => typeof n === 'string')) out.sharing.push(group as string[]);
        else badInput(findings, `options.sharing[${g}]`, group, 'must be an array of disk names (strings)');
      }
    }
  }
  if (references !== undefined) {
    if (Array.isArray(references)) out.references = references as ReadonlyArray<Reference>;
    else badInput(findings, 'options.references', references, 'must be an array of { lun, start, length, count }');
  }
  return out;
};

const blocks = (start: number, end: number): string => (end - start === 1 ? `block ${start}` : `blocks ${start}..${end - 1}`);

/** The extents of every segment; `onFlags` sees the invalid and error entries, in order. */
const collect = (
  disks: ReadonlyArray<[string, MappingTable]>,
  onFlags?: (d: number, seg: number, invalid: boolean, error: boolean) => void,
): Extents => {
  const x: Extents = { d: [], seg: [], role: [], lun: [], start: [], end: [], order: [] };
  const push = (d: number, seg: number, role: number, lun: number, start: number, length: number): void => {
    x.d.push(d);
    x.seg.push(seg);
    x.role.push(role);
    x.lun.push(lun);
    x.start.push(start);
    x.end.push(start + length);
  };
  disks.forEach(([, table], d) => {
    const n = table.segmentBlocks;
    for (const [seg, e] of tableEntries(table)) {
      if (e.location !== null) push(d, seg, PRIMARY, e.location.lun, e.location.start, n);
      if (e.alternate !== null) push(d, seg, ALTERNATE, e.alternate.lun, e.alternate.start, n);
      if (onFlags !== undefined && (e.invalid || e.error)) onFlags(d, seg, e.invalid, e.error);
    }
  });
  const { lun, start, end, order } = x;
  for (let i = 0; i < lun.length; i++) order.push(i);
  order.sort((a, b) => lun[a]! - lun[b]! || start[a]! - start[b]! || end[a]! - end[b]!);
  return x;
};

/** End of the run of extents identical to `order[from]` (same LUN, start and end). */
const clusterEnd = (x: Extents, from: number): number => {
  const { lun, start, end, order } = x;
  const f = order[from]!;
  let to = from + 1;
  while (to < order.length) {
    const g = order[to]!;
    if (lun[g] !== lun[f] || start[g] !== start[f] || end[g] !== end[f]) break;
    to++;
  }
  return to;
};

/**
 * Every extent held by the tables, as reference records: one per distinct extent (LUN, start
 * and length), counting how many segment extents coincide with it, sorted by LUN, start and
 * length. This is what a controller's reference counts should be; pass it as
 * `options.references` to check a controller that keeps counts in this form. Values that are
 * not tables count nothing (`checkTables` reports them as `bad-input`).
 *
 * @example
 * countReferences({ vol: table, 'vol@snap': table })
 * // [{ lun: 1, start: 0, length: 10, count: 2 }, ...]: each extent held by both disks
 */
export const countReferences = (tables: TableSet): Reference[] => {
  const x = collect(diskList(tables));
  const out: Reference[] = [];
  for (let p = 0; p < x.order.length; ) {
    const q = clusterEnd(x, p);
    const i = x.order[p]!;
    out.push({ lun: x.lun[i]!, start: x.start[i]!, length: x.end[i]! - x.start[i]!, count: q - p });
    p = q;
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

/**
 * Checks a set of mapping tables (by disk name) for physical consistency and returns every
 * finding, sorted by `compareFindings`. Never throws: bad `references` records become
 * `bad-reference` findings, and anything else it cannot use (a value that is not a table, a
 * malformed option, an input whose getters throw) a `bad-input` finding naming the field and the
 * value, so a report with no `corruption` finding really did look at everything.
 *
 * Findings: `overlap` and `alternate-overlaps-primary` (two extents holding one block, each pair
 * once, unless it is declared sharing: see {@link CheckOptions.sharing}), `past-lun-end` (with
 * `lunSizes`), `reference-undercount` / `reference-leak` (with `references`, per maximal run of
 * blocks), `bad-reference`, and the `info` findings `invalid-segment` / `error-segment`.
 *
 * @example
 * const vol = createTable({ segmentBlocks: 10, entries: [{ location: { lun: 0, start: 0 } }, { location: { lun: 0, start: 5 } }] });
 * if (E.isRight(vol)) checkTables({ vol: vol.right }).findings;
 * // [{ severity: 'corruption', code: 'overlap', disk: 'vol', segment: 0, role: 'primary',
 * //    lun: 0, start: 5, length: 5, other: { disk: 'vol', segment: 1, role: 'primary' }, message: ... }]
 */
export const checkTables = (tables: TableSet, options: CheckOptions = {}): CheckReport => {
  try {
    return checkReadable(tables, options);
  } catch (thrown) {
    // Only an option whose getters or proxy traps throw gets here: report it, never throw.
    const findings: Finding[] = [
      { severity: 'corruption', code: 'bad-input', field: 'options', message: `the input could not be read (${thrownReason(thrown)}); the check is incomplete` },
    ];
    return { findings, counts: { corruption: 1, leak: 0, info: 0 } };
  }
};

const checkReadable = (tables: TableSet, options: CheckOptions): CheckReport => {
  const findings: Finding[] = [];
  const disks = diskList(tables, findings);
  const opts = readOptions(options, findings);
  const names = disks.map(([name]) => name);

  const x = collect(disks, (d, seg, invalid, error) => {
    const disk = names[d]!;
    if (invalid)
      findings.push({
        severity: 'info',
        code: 'invalid-segment',
        disk,
        segment: seg,
        message: `${disk} segment ${seg} is invalid: every I/O faults until the controller rewrites the entry`,
      });
    if (error)
      findings.push({
        severity: 'info',
        code: 'error-segment',
        disk,
        segment: seg,
        message: invalid
          ? `${disk} segment ${seg} is marked error (masked while it is also invalid: I/O faults first)`
          : `${disk} segment ${seg} is marked error: every I/O fails until the controller rewrites the entry`,
      });
  });

  checkOverlaps(x, names, opts.sharing ?? [], findings);
  if (opts.lunSizes !== undefined) checkLunEnds(x, names, opts.lunSizes, findings);
  if (opts.references !== undefined) checkReferences(x, opts.references, findings);

  findings.sort(compareFindings);
  const counts = { corruption: 0, leak: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return { findings, counts };
};

/** Sweep over the extents in `order`, identical extents taken together as one cluster. */
const checkOverlaps = (x: Extents, names: ReadonlyArray<string>, sharing: ReadonlyArray<ReadonlyArray<string>>, findings: Finding[]): void => {
  const { d, seg, role, lun, start, end, order } = x;
  // groups[disk]: the sharing groups the disk belongs to, ascending.
  const index = new Map(names.map((n, i) => [n, i]));
  const groups: number[][] = names.map(() => []);
  sharing.forEach((group, g) => {
    for (const name of new Set(group)) {
      const i = index.get(name);
      if (i !== undefined) groups[i]!.push(g);
    }
  });
  const share = (a: number, b: number): boolean => a !== b && groups[a]!.some((g) => groups[b]!.includes(g));

  const pair = (i: number, j: number, reason: string): void => {
    // The alternate leads an alternate/primary pair; otherwise the smaller (disk, segment).
    const [m, o] = role[i] !== role[j] ? (role[i] === ALTERNATE ? [i, j] : [j, i]) : (d[i]! - d[j]! || seg[i]! - seg[j]!) <= 0 ? [i, j] : [j, i];
    const from = Math.max(start[m]!, start[o]!);
    const to = Math.min(end[m]!, end[o]!);
    const md = names[d[m]!]!;
    const od = names[d[o]!]!;
    const mr = ROLE_NAMES[role[m]!]!;
    const or = ROLE_NAMES[role[o]!]!;
    findings.push({
      severity: 'corruption',
      code: mr !== or ? 'alternate-overlaps-primary' : 'overlap',
      disk: md,
      segment: seg[m]!,
      role: mr,
      lun: lun[m]!,
      start: from,
      length: to - from,
      other: { disk: od, segment: seg[o]!, role: or },
      message: `${md} segment ${seg[m]} ${mr} and ${od} segment ${seg[o]} ${or} both map LUN ${lun[m]} ${blocks(from, to)} (${reason})`,
    });
  };

  /** Pairs inside one cluster of identical extents, `order[from .. to-1]` (at least two). */
  const within = (from: number, to: number): void => {
    const members = order.slice(from, to);
    const byRole = [members.filter((i) => role[i] === PRIMARY), members.filter((i) => role[i] === ALTERNATE)];
    for (const p of byRole[0]!) for (const a of byRole[1]!) pair(p, a, "an alternate may never share a primary's blocks");
    for (const same of byRole) {
      if (same.length < 2) continue;
      // Fast path (a snapshot family): distinct disks with one sharing group in common.
      if (new Set(same.map((i) => d[i])).size === same.length) {
        const first = groups[d[same[0]!]!]!;
        if (first.some((g) => same.every((i) => groups[d[i]!]!.includes(g)))) continue;
      }
      for (let a = 0; a < same.length; a++)
        for (let b = a + 1; b < same.length; b++) {
          const i = same[a]!;
          const j = same[b]!;
          if (d[i] === d[j]) pair(i, j, 'two segments of one disk never share');
          else if (!share(d[i]!, d[j]!)) pair(i, j, 'identical extents, but the disks do not declare sharing');
        }
    }
  };

  // Active clusters as parallel arrays: positions in `order` and the common end; compacted in place.
  const activeFrom: number[] = [];
  const activeTo: number[] = [];
  const activeEnd: number[] = [];
  let currentLun = -1;
  for (let p = 0; p < order.length; ) {
    const q = clusterEnd(x, p);
    const first = order[p]!;
    if (lun[first] !== currentLun) {
      activeFrom.length = activeTo.length = activeEnd.length = 0;
      currentLun = lun[first]!;
    }
    let kept = 0;
    for (let c = 0; c < activeEnd.length; c++) {
      if (activeEnd[c]! <= start[first]!) continue;
      activeFrom[kept] = activeFrom[c]!;
      activeTo[kept] = activeTo[c]!;
      activeEnd[kept] = activeEnd[c]!;
      kept++;
    }
    activeFrom.length = activeTo.length = activeEnd.length = kept;
    // Every cluster still active starts at or before this one and ends after its start, and is
    // a different extent: a partial overlap, never legal sharing.
    for (let c = 0; c < kept; c++)
      for (let a = activeFrom[c]!; a < activeTo[c]!; a++) for (let b = p; b < q; b++) pair(order[a]!, order[b]!, 'partial overlap');
    if (q - p > 1) within(p, q);
    activeFrom.push(p);
    activeTo.push(q);
    activeEnd.push(end[first]!);
    p = q;
  }
};

const checkLunEnds = (x: Extents, names: ReadonlyArray<string>, sizes: LunSizes, findings: Finding[]): void => {
  for (let i = 0; i < x.lun.length; i++) {
    const l = x.lun[i]!;
    const size = lunSize(sizes, l);
    const declared = isBlockNumber(size);
    if (declared && x.end[i]! <= size) continue;
    const disk = names[x.d[i]!]!;
    const role = ROLE_NAMES[x.role[i]!]!;
    const where = `${disk} segment ${x.seg[i]} ${role} LUN ${l} ${blocks(x.start[i]!, x.end[i]!)}`;
    findings.push({
      severity: 'corruption',
      code: 'past-lun-end',
      disk,
      segment: x.seg[i]!,
      role,
      lun: l,
      start: x.start[i]!,
      length: x.end[i]! - x.start[i]!,
      message: declared ? `${where} ends past the LUN's ${size} blocks` : `${where} is on a LUN with no declared size`,
    });
  }
};

/** Bad reference records reported one by one; past this the rest of the list is not read. */
const MAX_BAD_REFERENCES = 100;

/** The record's fields, each read once, or `null` when it is not a valid record. */
const readReference = (r: unknown): Reference | null => {
  if (typeof r !== 'object' || r === null) return null;
  const { lun, start, length, count } = r as Record<string, unknown>;
  return isBlockNumber(lun) && isBlockNumber(start) && isBlockNumber(length) && isBlockNumber(count) && Number.isSafeInteger(start + length)
    ? { lun, start, length, count }
    : null;
};

/**
 * Sweep over four sorted event streams per LUN: extent starts (+1 held) and ends (-1 held),
 * record starts (+count counted) and ends (-count counted). Between two event positions both
 * values are constant; every such interval where they differ joins the current maximal run.
 */
const checkReferences = (x: Extents, references: ReadonlyArray<Reference>, findings: Finding[]): void => {
  const recLun: number[] = [];
  const recStart: number[] = [];
  const recEnd: number[] = [];
  const recCount: number[] = [];
  let bad = 0;
  for (let i = 0; i < references.length; i++) {
    if (bad === MAX_BAD_REFERENCES) {
      findings.push({
        severity: 'corruption',
        code: 'bad-input',
        field: 'options.references',
        message: `options.references has more than ${MAX_BAD_REFERENCES} bad records; records from index ${i} on were not read`,
      });
      break;
    }
    let r: Reference | null = null;
    try {
      r = i in references ? readReference(references[i]) : null; // a hole is no record
    } catch {
      // unreadable: reported below like any other bad record
    }
    if (r === null) {
      bad++;
      findings.push({
        severity: 'corruption',
        code: 'bad-reference',
        reference: i,
        message: `references[${i}] is not a record of non-negative safe integers { lun, start, length, count }; ignored`,
      });
    } else if (r.length > 0 && r.count > 0) {
      recLun.push(r.lun);
      recStart.push(r.start);
      recEnd.push(r.start + r.length);
      recCount.push(r.count);
    }
  }
  const sortedBy = (luns: number[], pos: number[], base?: number[]): number[] =>
    (base?.slice() ?? Array.from(luns, (_, i) => i)).sort((a, b) => luns[a]! - luns[b]! || pos[a]! - pos[b]!);
  // Extent ends start from the start order, which TimSort finishes quickly (ends mostly follow starts).
  const streams = [
    { luns: x.lun, pos: x.start, order: x.order, held: 1, counts: null, sign: 0 },
    { luns: x.lun, pos: x.end, order: sortedBy(x.lun, x.end, x.order), held: -1, counts: null, sign: 0 },
    { luns: recLun, pos: recStart, order: sortedBy(recLun, recStart), held: 0, counts: recCount, sign: 1 },
    { luns: recLun, pos: recEnd, order: sortedBy(recLun, recEnd), held: 0, counts: recCount, sign: -1 },
  ];
  const at = [0, 0, 0, 0];
  // The smallest (LUN, position) at the head of any stream, or null when all are done.
  let headLun = 0;
  let headPos = 0;
  const nextHead = (): boolean => {
    let found = false;
    for (let s = 0; s < 4; s++) {
      const st = streams[s]!;
      if (at[s]! >= st.order.length) continue;
      const i = st.order[at[s]!]!;
      const l = st.luns[i]!;
      const p = st.pos[i]!;
      if (!found || l < headLun || (l === headLun && p < headPos)) {
        headLun = l;
        headPos = p;
        found = true;
      }
    }
    return found;
  };

  interface Run {
    readonly lun: number;
    readonly start: number;
    end: number;
    readonly held: number;
    readonly counted: number;
  }
  const emit = ({ lun: l, start, end, held, counted }: Run): void => {
    const under = counted < held;
    findings.push({
      severity: under ? 'corruption' : 'leak',
      code: under ? 'reference-undercount' : 'reference-leak',
      lun: l,
      start,
      length: end - start,
      counted,
      referenced: held,
      message: under
        ? `LUN ${l} ${blocks(start, end)}: held by ${held} extent(s) but counted ${counted} (could be handed out again)`
        : `LUN ${l} ${blocks(start, end)}: counted ${counted} but held by ${held} extent(s) (space leaked)`,
    });
  };
  let run: Run | null = null;
  let held = 0;
  let counted = 0;
  while (nextHead()) {
    const l = headLun;
    const p = headPos;
    for (let s = 0; s < 4; s++) {
      const st = streams[s]!;
      while (at[s]! < st.order.length) {
        const i = st.order[at[s]!]!;
        if (st.luns[i] !== l || st.pos[i] !== p) break;
        held += st.held;
        if (st.counts !== null) counted += st.sign * st.counts[i]!;
        at[s]!++;
      }
    }
    // The values now hold for [p, next position) on LUN l; after the LUN's last event both are 0.
    if (held === counted || !nextHead() || headLun !== l) continue;
    const next = headPos;
    if (run !== null && run.lun === l && run.end === p && run.held === held && run.counted === counted) {
      run.end = next;
    } else {
      if (run !== null) emit(run);
      run = { lun: l, start: p, end: next, held, counted };
    }
  }
  if (run !== null) emit(run);
};
