/**
 * Changing a live disk's segment bounds (docs/design.md#jobs, "reshape"): `resize` of a variable
 * disk, `splitSegment` and `mergeSegments` as administrative requests.
 *
 * Each is an admin job: the new table is staged with the change of bounds it came from
 * (`updateTable.segments`, `segment-changes.ts`), and the request is answered once the record is
 * durable and every agent holding the disk has acknowledged it. No block moves, so no fence: an
 * agent still holding the old table reads and writes every virtual block at the same place.
 *
 * What the new numbering costs, and how it is kept safe:
 * - Requests are refused while the disk has a job on a segment (a fault, mark, zero, settle,
 *   migrate or flag job, queued or running), is frozen (snapshot, rollback, deletion) or is
 *   being created: jobs are keyed by segment number, and none is then left to be renumbered.
 * - Every segment from the first one whose number changed counts as changed at the new
 *   generation (`DiskState.reshaped`, read by `lastChangeOf`). A fault, mark or whole-segment
 *   discard an agent sends from an older copy is therefore stale where numbers moved: it is
 *   decided against the table as it is now (a mark and a discard only bring the agent up to
 *   date and make it retry, so a discard never zeroes the segment that now has its number).
 * - Such a fault names its blocks, so the intake files it under the segment that holds its
 *   first block now, cut to that segment (`rekeyStale`): the agent retries with the new table
 *   and faults again for the rest, if anything is left.
 * - Agents get the whole table (they fetch; a delta cannot carry new bounds: `sync.ts`).
 *
 * Splitting a uniform disk makes it variable; grained disks cannot be split or merged (their
 * grain must divide every segment), and a variable disk cannot be rolled back to a snapshot
 * taken with other bounds (`rollback.ts`).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { ValidationError } from '../../errors.js';
import { entryAt, resizeTable, type MappingTable } from '../../table/table.js';
import { segmentIn, segmentStartAt } from '../../table/segments.js';
import { mergeSegments, splitSegment } from '../../table/variable.js';
import type { Extent } from '../allocator.js';
import * as R from '../refcounts.js';
import { adminDone, lastChangeOf, newId, segmentExtent, type DiskView } from '../basics.js';
import { nextGeneration, setWorking, waitForCommit } from '../commit.js';
import type { SegmentChange } from '../segment-changes.js';
import type { AdminEvent, ControllerCommand, StagedChanges } from '../types.js';
import type { DiskDraft, Working } from '../working.js';
import { CowMap } from '../../protocol/copy-on-write.js';

type Reshape = Extract<AdminEvent, { type: 'resize' | 'splitSegment' | 'mergeSegments' }>;

const refuse = (out: ControllerCommand[], event: AdminEvent, error: string): void => adminDone(out, event.requestId, { ok: false, error });

const messages = (errors: ReadonlyArray<ValidationError>): string => errors.map((e) => e.message).join('; ');

/** Why the disk's bounds cannot change now, or null (see the module comment). */
const busyWhy = (d: DiskView, disk: string): string | null =>
  d.busy.size > 0 || d.queued.size > 0 || d.frozenBy !== null || d.staged?.created === true ? `disk ${disk} is busy; try again when its faults are resolved` : null;

/** Where a resize would take the table, and the change a record carries for it. */
const resized = (old: MappingTable, event: Extract<Reshape, { type: 'resize' }>, generation: number): E.Either<string, [MappingTable, SegmentChange | null]> => {
  const variable = old.segmentStarts !== null;
  const length = event.segmentLength;
  if (!variable) {
    if (length !== undefined && length !== old.segmentBlocks)
      return E.left(`segmentLength must be absent or ${old.segmentBlocks} on disk ${event.disk}, whose segments are all ${old.segmentBlocks} blocks, got ${length}`);
    const t = resizeTable(old, event.segmentCount, { zero: true }, { generation });
    return E.isLeft(t) ? E.left(messages(t.left)) : E.right([t.right, null]);
  }
  const grows = event.segmentCount > old.segmentCount;
  if (grows && length === undefined) return E.left(`segmentLength is required to grow disk ${event.disk}, whose segments differ in size (the length of each new segment), got undefined`);
  const t = resizeTable(old, event.segmentCount, { zero: true, length: grows ? length! : 1 }, { generation });
  if (E.isLeft(t)) return E.left(messages(t.left).replace(/^fill\.length/, 'segmentLength'));
  return E.right([t.right, grows ? { op: 'resize', segmentCount: event.segmentCount, length: length! } : { op: 'resize', segmentCount: event.segmentCount }]);
};

/**
 * `resize`, `splitSegment` and `mergeSegments`: checks the request against the disk (refusals
 * name the field and the value), stages the new table and starts the admin job that answers it.
 */
export const beginReshape = (s: Working, out: ControllerCommand[], d: DiskDraft, event: Reshape): void => {
  const busy = busyWhy(d, event.disk);
  if (busy !== null) return refuse(out, event, busy);
  const old = d.working as MappingTable;
  if (event.type !== 'resize' && old.grainBlocks > 1)
    return refuse(out, event, `grainBlocks of disk ${event.disk} is ${old.grainBlocks}: a grained disk cannot be split or merged (its grain must divide every segment)`);
  const generation = nextGeneration(d);
  let next: MappingTable;
  let change: SegmentChange | null;
  if (event.type === 'resize') {
    // A resize keeps the numbers of the segments it keeps.
    const r = resized(old, event, generation);
    if (E.isLeft(r)) return refuse(out, event, r.left);
    [next, change] = r.right;
  } else {
    const t = event.type === 'splitSegment' ? splitSegment(old, event.segment, event.at, { generation }) : mergeSegments(old, event.segment, { generation });
    if (E.isLeft(t)) return refuse(out, event, messages(t.left));
    const shared = sharedExtent(s, old, event.type === 'splitSegment' ? [event.segment] : [event.segment, event.segment + 1]);
    if (shared !== null) return refuse(out, event, `segment ${shared[0]} of disk ${event.disk} shares LUN ${shared[1].lun} blocks ${shared[1].start}+${shared[1].length} with another table (a snapshot): an extent held more than once cannot be cut or joined`);
    next = t.right;
    change = event.type === 'splitSegment' ? { op: 'split', segment: event.segment, at: event.at } : { op: 'merge', segment: event.segment };
  }
  const release: Extent[] = [];
  for (let seg = next.segmentCount; seg < old.segmentCount && event.type === 'resize'; seg++) {
    const e = entryAt(old, seg);
    for (const x of [e.location, e.alternate]) if (x !== null) release.push(segmentExtent(old, x, seg));
  }
  setWorking(s, d, next);
  if (change !== null && change.op !== 'resize') recount(s, old, next, change);
  stageBounds(d, next, change ?? { op: 'resize', segmentCount: next.segmentCount });
  // A variable resize changes bounds past the kept segments (a segment dropped and added again
  // in one batch may come back with another length): those count as renumbered too.
  if (event.type !== 'resize') renumbered(d, event.segment, generation);
  else if (next.segmentStarts !== null) renumbered(d, Math.min(old.segmentCount, next.segmentCount), generation);
  const id = newId(s);
  s.jobs.put(id, { id, kind: 'admin', disk: event.disk, requestId: event.requestId, phase: { kind: 'waiting' }, path: [], release });
  waitForCommit(s, out, s.jobs.get(id)!);
};

/** The first extent of `segments` that more than one table entry holds, or null. */
const sharedExtent = (s: Working, table: MappingTable, segments: ReadonlyArray<number>): [number, Extent] | null => {
  for (const seg of segments) for (const x of heldBy(table, seg)) if (R.countOf(s.refs, x) > 1) return [seg, x];
  return null;
};

/** The extents segment `seg` of `table` holds: its primary and alternate. */
const heldBy = (table: MappingTable, seg: number): Extent[] => {
  const e = entryAt(table, seg);
  return [e.location, e.alternate].filter((x) => x !== null).map((x) => segmentExtent(table, x, seg));
};

/**
 * Reference counts are kept by exact extent (`refcounts.ts`): a split cuts the segment's extents
 * in two and a merge joins two into one, so their counts (1 each: shared extents are refused)
 * move to the new extents. Nothing is released: the blocks stay in use.
 */
const recount = (s: Working, old: MappingTable, next: MappingTable, change: Exclude<SegmentChange, { op: 'resize' }>): void => {
  const before = change.op === 'split' ? heldBy(old, change.segment) : [...heldBy(old, change.segment), ...heldBy(old, change.segment + 1)];
  const after = change.op === 'split' ? [...heldBy(next, change.segment), ...heldBy(next, change.segment + 1)] : heldBy(next, change.segment);
  for (const x of before) {
    const dec = R.decrement(s.refs, x);
    if (E.isRight(dec)) s.refs = dec.right[0];
  }
  s.refs = R.incrementAll(s.refs, after);
};

/**
 * Joins the change of bounds to the batch staging for the disk. A uniform disk's resize is
 * recorded as `segmentCount` when it is the batch's first change of bounds (records as they
 * always were), else as a `resize` in `segments`: two resizes in one batch replay in order, so
 * segments dropped and added again read as zeros. Changes already staged are numbered as the
 * table stood before: each is taken again from the new table under its new number (a split
 * segment's change becomes both halves'; a merged pair's, the merged entry's).
 */
const stageBounds = (d: DiskDraft, next: MappingTable, change: SegmentChange): void => {
  const staged: StagedChanges = d.staged ?? { created: false, changes: new Map() };
  const changes = new Map<number, ReturnType<typeof entryAt>>();
  for (const seg of staged.changes.keys()) for (const n of newNumbers(next, change, seg)) changes.set(n, entryAt(next, n));
  const legacy = change.op === 'resize' && change.length === undefined && next.segmentStarts === null && staged.segmentCount === undefined && staged.segments === undefined;
  if (legacy) d.staged = { ...staged, changes, segmentCount: change.segmentCount };
  else d.staged = { ...staged, changes, segments: [...(staged.segments ?? []), change] };
};

/** The numbers segment `seg` of the table before `change` has in `next` (none when a resize dropped it). */
const newNumbers = (next: MappingTable, change: SegmentChange, seg: number): number[] => {
  if (change.op === 'resize') return seg < next.segmentCount ? [seg] : [];
  if (change.op === 'split') return seg < change.segment ? [seg] : seg === change.segment ? [seg, seg + 1] : [seg + 1];
  return seg <= change.segment ? [seg] : seg === change.segment + 1 ? [change.segment] : [seg - 1];
};

/** Segments from `from` on have new numbers at `generation`: older faults there are stale. */
const renumbered = (d: DiskDraft, from: number, generation: number): void => {
  const before = d.reshaped;
  d.reshaped = { from: before === undefined ? from : Math.min(before.from, from), generation };
  // Per-segment change generations from `from` on name other segments now; `reshaped` covers them.
  const kept = new Map<number, number>();
  for (const [seg, g] of d.lastChange.current) if (seg < d.reshaped.from) kept.set(seg, g);
  d.lastChange = new CowMap(kept);
};

/**
 * A fault or mark from an agent whose copy is older than the segment bounds: filed under the
 * segment that holds its first block now, cut to that segment, when its range is not inside the
 * segment it names and it is stale there (its copy predates that segment's last change). Null
 * when it is not such a fault (the intake then checks it as it is).
 *
 * @example
 * // disk split segment 3 (blocks 30..39) at 5; an agent at an older generation faults on blocks 33..36 of "segment 3":
 * rekeyStale(d, { segment: 3, start: 33, length: 4, generation: 7 }) // { segment: 3, start: 33, length: 2 }
 */
export const rekeyStale = <M extends { readonly segment: number; readonly start: number; readonly length: number; readonly generation: number }>(d: DiskView, m: M): M | null => {
  const t = d.working as MappingTable;
  if (t.segmentStarts === null || m.segment < 0) return null;
  const inside = m.segment < t.segmentCount && m.start >= segmentStartAt(t, m.segment) && m.start + m.length <= segmentStartAt(t, m.segment + 1);
  if (inside) return null;
  if (t.segmentCount === 0 || m.start >= segmentStartAt(t, t.segmentCount)) return null; // past the end: refused as it is
  const seg = segmentIn(t.segmentStarts, t.segmentCount, m.start);
  if (!(m.generation < lastChangeOf(d, seg))) return null;
  const end = Math.min(m.start + m.length, segmentStartAt(t, seg + 1));
  return { ...m, segment: seg, length: end - m.start };
};

/**
 * A whole-segment discard from a copy older than the bounds, naming a segment past the end of
 * the disk now (a merge shortened it): filed under the last segment, where it is stale (it
 * changes nothing; the agent is brought up to date and retries). Null otherwise.
 */
export const rekeyStaleZero = <M extends { readonly segment: number; readonly generation: number }>(d: DiskView, m: M): M | null => {
  const t = d.working as MappingTable;
  if (t.segmentStarts === null || m.segment < t.segmentCount || t.segmentCount === 0) return null;
  const last = t.segmentCount - 1;
  return m.generation < lastChangeOf(d, last) ? { ...m, segment: last } : null;
};
