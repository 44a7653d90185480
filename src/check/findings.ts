/**
 * What the checker reports: finding codes and severities, the order findings are sorted in, the
 * shapes of its input (table sets, options, reference records) and output, and the helpers that
 * word a finding.
 */
import { show } from '../errors.js';
import type { LunSizes } from '../table/entry.js';
import type { MappingTable } from '../table/table.js';

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
export const SEVERITY: Readonly<Record<FindingCode, Severity>> = /* @__PURE__ */ Object.freeze({
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


/** A finding whose message may be left out (expected findings in tests). */
export type FindingLike = Omit<Finding, 'message'> & { readonly message?: string };

const SEVERITY_RANK: Readonly<Record<Severity, number>> = { corruption: 0, leak: 1, info: 2 };

/** @internal Plain code-unit order: deterministic and locale independent. */
export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

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

/** @internal Records a `bad-input` finding for a value left out of the check. */
export const badInput = (findings: Finding[] | null, field: string, value: unknown, requirement: string): void => {
  findings?.push({ severity: 'corruption', code: 'bad-input', field, message: `${field} ${requirement}, got ${show(value)}; left out of the check` });
};

/** @internal `block 5` or `blocks 5..9`, for messages. */
export const blocks = (start: number, end: number): string => (end - start === 1 ? `block ${start}` : `blocks ${start}..${end - 1}`);
