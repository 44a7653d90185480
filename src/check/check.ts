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
 * A segment's extents are `segmentBlocks` long, taken from its own table (in a variable table, the
 * segment's own length).
 *
 * ## Cost
 *
 * Extents are kept in columns and sorted per LUN once (O(n log n)), then swept: overlaps cost
 * O(n log n + p) for p overlapping pairs, identical extents taken together so that declared
 * snapshot sharing costs O(n), not O(pairs); reference counts are checked by a second sweep that
 * merges four sorted event streams (extent starts and ends, record starts and ends), O(n log n).
 * About 0.2 s for 100k segments plus a snapshot of them, with references.
 */
import { thrownReason } from '../errors.js';
import type { LunSizes } from '../table/entry.js';
import { collect, diskList } from './extents.js';
import { badInput, compareFindings, type CheckOptions, type CheckReport, type Finding, type Reference, type TableSet } from './findings.js';
import { checkLunEnds, checkOverlaps } from './overlaps.js';
import { checkReferences } from './references.js';

export type { CheckOptions, CheckReport, ExtentRole, Finding, FindingCode, FindingLike, Reference, Severity, TableSet } from './findings.js';
export { compareFindings, SEVERITY } from './findings.js';
export { countReferences } from './references.js';

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
 * blocks), `bad-reference`, and the `info` findings `invalid-segment` / `error-segment`. (A
 * grained table's bitmaps have one bit per grain, so a partly marked grain cannot be expressed:
 * there is nothing to check for it.)
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
