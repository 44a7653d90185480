/**
 * Changes of segment bounds as a persist record carries them (docs/design.md#address-model):
 * splitting a segment, merging two neighbours, and resizing a variable table. A `updateTable`
 * record lists them in `segments`, applied in order after its freeze and `segmentCount` and
 * before its `changes` (which are numbered as the table stands after them).
 *
 * A record without `segments` means what it always meant: a uniform disk's resize keeps
 * recording `segmentCount` alone, so its records are unchanged.
 */
import * as E from 'fp-ts/lib/Either.js';
import { show, type ValidationError } from '../errors.js';
import { resizeTable, type MappingTable } from '../table/table.js';
import { mergeSegments, splitSegment } from '../table/variable.js';

/**
 * One change of segment bounds, replayed by `applySegmentChanges`:
 *
 * - `split`: segment `segment` becomes two at block `at` of it (`splitSegment`);
 * - `merge`: segment `segment` and the next become one (`mergeSegments`);
 * - `resize`: the table has `segmentCount` segments; new ones read as zeros and are `length`
 *   blocks each (`resizeTable` with `fill.length`; `length` is present when the table grows).
 *
 * @example
 * const ops: SegmentChange[] = [{ op: 'split', segment: 3, at: 16 }, { op: 'resize', segmentCount: 12, length: 64 }];
 */
export type SegmentChange =
  | { readonly op: 'split'; readonly segment: number; readonly at: number }
  | { readonly op: 'merge'; readonly segment: number }
  | { readonly op: 'resize'; readonly segmentCount: number; readonly length?: number };

const describe = (errors: ReadonlyArray<ValidationError>): string => errors.map((e) => e.message).join('; ');

/** The same change with each field read once, or why it cannot be read. */
const readChange = (raw: unknown, path: string): E.Either<string, SegmentChange> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return E.left(`${path} must be an object, got ${show(raw)}`);
  const { op, segment, at, segmentCount, length } = raw as Record<string, unknown>;
  if (op === 'split') return E.right({ op, segment: segment as number, at: at as number });
  if (op === 'merge') return E.right({ op, segment: segment as number });
  if (op === 'resize') return E.right(length === undefined ? { op, segmentCount: segmentCount as number } : { op, segmentCount: segmentCount as number, length: length as number });
  return E.left(`${path}.op must be 'split', 'merge' or 'resize', got ${show(op)}`);
};

/**
 * Applies `changes` to `table` in order, the result at `generation`: the table, or why a
 * change is refused, naming `segments[i]` and the field (the record may come from untyped code).
 * The table operations check every value (a segment past the end, a split point outside the
 * segment, neighbours that cannot merge, a new segment's length).
 *
 * @example
 * applySegmentChanges(table, [{ op: 'split', segment: 0, at: 4 }], 7) // Right: segment 0 cut in two, at generation 7
 * applySegmentChanges(table, [{ op: 'merge', segment: 99 }], 7) // Left('segments[0]: segment: must be an integer from 0 to ... got 99')
 */
export const applySegmentChanges = (table: MappingTable, changes: unknown, generation: number): E.Either<string, MappingTable> => {
  if (!Array.isArray(changes)) return E.left(`segments must be an array, got ${show(changes)}`);
  let t = table;
  for (let i = 0; i < changes.length; i++) {
    const path = `segments[${i}]`;
    const change = readChange(changes[i], path);
    if (E.isLeft(change)) return change;
    const c = change.right;
    if (c.op === 'resize' && t.segmentStarts !== null && c.segmentCount > t.segmentCount && c.length === undefined)
      return E.left(`${path}.length must give the new segments' length when a variable table grows, got undefined`);
    const done =
      c.op === 'split' ? splitSegment(t, c.segment, c.at, { generation })
      : c.op === 'merge' ? mergeSegments(t, c.segment, { generation })
      : resizeTable(t, c.segmentCount, t.segmentStarts === null || c.length === undefined ? { zero: true, length: 1 } : { zero: true, length: c.length }, { generation });
    if (E.isLeft(done)) return E.left(`${path}: ${describe(done.left)}`);
    t = done.right;
  }
  return E.right(t);
};
