/**
 * Every extent a set of tables holds, in columns sorted by LUN and position: what the overlap and
 * reference checks sweep over. Also reads the table set itself, leaving out what is not a table.
 */
import { thrownReason } from '../errors.js';
import { isTable, tableEntries, type MappingTable } from '../table/table.js';
import { segmentLengthAt } from '../table/segments.js';
import { badInput, compareStrings, type ExtentRole, type Finding, type TableSet } from './findings.js';

/** @internal Extent roles, as stored in {@link Extents.role}. */
export const PRIMARY = 0;
/** @internal */
export const ALTERNATE = 1;
/** @internal */
export const ROLE_NAMES: readonly ExtentRole[] = ['primary', 'alternate'];

/**
 * Every extent the tables hold, as parallel columns (extent `i` is disk `d[i]`, in name order,
 * segment `seg[i]`, role `role[i]`, blocks `start[i] .. end[i]-1` of LUN `lun[i]`), collected in
 * disk, segment, role order, plus `order`: the extent indices sorted by LUN, start and end.
 * Columns and a stable index sort keep millions of extents cheap for the garbage collector, and
 * stability leaves identical extents in disk, segment, role order.
 *
 * @internal
 */
export interface Extents {
  readonly d: number[];
  readonly seg: number[];
  readonly role: number[];
  readonly lun: number[];
  readonly start: number[];
  readonly end: number[];
  readonly order: number[];
}

/**
 * The disks to check, by name. Anything that is not a table set, a disk name that is not a
 * string or a value that is not a table is left out, with a `bad-input` finding when `findings`
 * is given; so is a set that cannot even be read (a proxy, a throwing getter).
 *
 * @internal
 */
export const diskList = (tables: TableSet, findings: Finding[] | null = null): [string, MappingTable][] => {
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

/** @internal The extents of every segment; `onFlags` sees the invalid and error entries, in order. */
export const collect = (
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
    for (const [seg, e] of tableEntries(table)) {
      const n = segmentLengthAt(table, seg); // each segment's own length in a variable table
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

/** @internal End of the run of extents identical to `order[from]` (same LUN, start and end). */
export const clusterEnd = (x: Extents, from: number): number => {
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
