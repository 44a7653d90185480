/**
 * Reference counting: the counts the tables imply ({@link countReferences}), and the check of a
 * controller's counts against them, per maximal run of blocks.
 */
import { isBlockNumber } from '../errors.js';
import { clusterEnd, collect, diskList, type Extents } from './extents.js';
import { blocks, type Finding, type Reference, type TableSet } from './findings.js';

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

/** The usable reference records as columns; records of length or count 0 hold nothing and are left out. */
interface Records {
  readonly lun: number[];
  readonly start: number[];
  readonly end: number[];
  readonly count: number[];
}

/** Reads each record once; bad ones become findings, and past {@link MAX_BAD_REFERENCES} of them the rest is not read. */
const readRecords = (references: ReadonlyArray<Reference>, findings: Finding[]): Records => {
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
  return { lun: recLun, start: recStart, end: recEnd, count: recCount };
};

/** A maximal run of blocks of one LUN over which the held and counted values are constant and differ. */
interface Run {
  readonly lun: number;
  readonly start: number;
  end: number;
  readonly held: number;
  readonly counted: number;
}

/** The finding of a run: counted below held is an undercount, above it a leak. */
const runFinding = ({ lun: l, start, end, held, counted }: Run): Finding => {
  const under = counted < held;
  return {
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
  };
};

/**
 * Sweep over four sorted event streams per LUN: extent starts (+1 held) and ends (-1 held),
 * record starts (+count counted) and ends (-count counted). Between two event positions both
 * values are constant; every such interval where they differ joins the current maximal run.
 *
 * @internal
 */
export const checkReferences = (x: Extents, references: ReadonlyArray<Reference>, findings: Finding[]): void => {
  const { lun: recLun, start: recStart, end: recEnd, count: recCount } = readRecords(references, findings);
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
      if (run !== null) findings.push(runFinding(run));
      run = { lun: l, start: p, end: next, held, counted };
    }
  }
  if (run !== null) findings.push(runFinding(run));
};
