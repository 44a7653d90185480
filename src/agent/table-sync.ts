/**
 * The agent's volatile table copies: installing `setEntries`/`replaceTable`/`refreshTable`/`dropTable`
 * and acknowledging generations once no I/O still uses an older one (docs/design.md#fault-resolution).
 */
import { segmentLengthAt } from '../table/segments.js';
import type { Stepper } from './stepper.js';
import * as E from 'fp-ts/lib/Either.js';
import { isBlockNumber, show, thrownReason } from '../errors.js';
import { limitsOf } from './config.js';
import { decodeSharedEntry, decodeSharedTable } from '../protocol/shared-documents.js';
import type { DiskId, ReplaceTableMessage, SetEntriesMessage } from '../protocol/messages.js';
import type { MappingEntry } from '../table/entry.js';
import { diffTables, freezeTable, resizeTable, setEntries as setTableEntries, type MappingTable } from '../table/table.js';

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Segments as half-open ranges `[from, to)`. */
export type Ranges = ReadonlyArray<readonly [number, number]>;

/** Ascending segments as ranges, merging neighbours. */
export const toRanges = (segments: ReadonlyArray<number>): Ranges => {
  const out: [number, number][] = [];
  for (const s of segments) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === s) last[1] = s + 1;
    else out.push([s, s + 1]);
  }
  return out;
};


// --- tables and acknowledgements ------------------------------------------------------------

export function ack(s: Stepper, disk: DiskId, generation: number): void {
  const { agent, epoch } = s.config;
  s.send({ type: 'tableAck', agent, epoch, disk, generation });
}


export function fetch(s: Stepper, disk: DiskId, generation: number): void {
  const { agent, epoch } = s.config;
  // Without a copy, the drop mark goes along: this life's word that it holds no table at or
  // below it from now on (-1: none), which a restarted controller may wait for (FetchTableMessage).
  s.send(generation < 0 ? { type: 'fetchTable', agent, epoch, disk, generation, dropMark: s.dropped.get(disk) ?? -1 } : { type: 'fetchTable', agent, epoch, disk, generation });
}


/** Answer to a change the agent already has: acknowledge it, unless an acknowledgement is still draining. */
export function reAck(s: Stepper, disk: DiskId): void {
  const copy = s.disks.get(disk)!;
  if (copy.pendingAcks.length > 0) return; // the drained acknowledgement follows on its own
  if (copy.acked !== copy.table.generation) s.disks.set(disk, { ...copy, acked: copy.table.generation });
  s.ack(disk, copy.table.generation);
}


/** `ioId` left storage: no acknowledgement waits for it any more. */
export function drain(s: Stepper, disk: DiskId, ioId: number): void {
  const copy = s.disks.get(disk);
  if (copy === undefined || !copy.pendingAcks.some((p) => p.draining.includes(ioId))) return;
  const pendingAcks = copy.pendingAcks.map((p) => (p.draining.includes(ioId) ? { ...p, draining: p.draining.filter((id) => id !== ioId) } : p));
  s.disks.set(disk, { ...copy, pendingAcks });
}


/** Sends the highest generation whose drain, and every earlier one's, is complete. */
export function flushAcks(s: Stepper, disk: DiskId): void {
  const copy = s.disks.get(disk);
  if (copy === undefined) return;
  let n = 0;
  while (n < copy.pendingAcks.length && copy.pendingAcks[n]!.draining.length === 0) n++;
  if (n === 0) return;
  const acked = copy.pendingAcks[n - 1]!.generation;
  s.disks.set(disk, { ...copy, acked, pendingAcks: copy.pendingAcks.slice(n) });
  s.ack(disk, acked);
}


/**
 * Adopts `table` for `disk` and acknowledges it once the I/O issued under the old entries of
 * the `touched` segments has left storage (`all`: every I/O of the disk, when there was no
 * copy to compare with, e.g. after a drop).
 */
export function install(s: Stepper, disk: DiskId, table: MappingTable, touched: Ranges | 'all'): void {
  s.dropped.delete(disk); // a table above the drop mark: the disk is attached (or created) again
  const draining: number[] = [];
  for (const [id, io] of s.ios.current) {
    if (io.status !== 'inFlight' || io.request.disk !== disk) continue;
    if (touched === 'all' || touched.some(([from, to]) => from <= io.lastSegment && io.firstSegment < to)) draining.push(id);
  }
  const old = s.disks.get(disk);
  // Unconfirmed after a lapse of the lease (lease.ts): a copy that was, now at a generation no
  // renewal listed yet; and a new copy, which may be a table sent before the lapse by a
  // controller that has stopped counting this life since. A confirmed copy stays confirmed: any
  // table an earlier controller sent is at or below the generation it was confirmed at.
  const unconfirmed = old !== undefined ? old.unconfirmed !== undefined : s.lapsed;
  s.disks.set(disk, {
    table,
    acked: old?.acked ?? -1,
    pendingAcks: [...(old?.pendingAcks ?? []), { generation: table.generation, draining }],
    ...(unconfirmed ? { unconfirmed: {} } : {}),
  });
  s.flushAcks(disk);
}


export function setEntries(s: Stepper, m: SetEntriesMessage): void {
  // Limits first, before anything is read or allocated for the message.
  const { maxSegments, maxChanges } = limitsOf(s.config);
  if (m.changes.length > maxChanges) {
    // Too many changes to take as a delta (a snapshot of a big disk can send one per segment):
    // the whole table, which `maxSegments` bounds, is asked for instead, so the copy converges.
    s.refuse(m, `setEntries: changes must hold at most ${maxChanges} changes (limits.maxChanges), got ${m.changes.length}`);
    return s.fetch(m.disk, s.disks.get(m.disk)?.table.generation ?? -1);
  }
  if (m.segmentCount !== undefined && m.segmentCount > maxSegments)
    return s.refuse(m, `setEntries: segmentCount must be at most ${maxSegments} (limits.maxSegments), got ${m.segmentCount}`);
  const copy = s.disks.get(m.disk);
  if (copy === undefined) return droppedBefore(s, m.disk, m.generation) ? s.stillDropped(m) : s.fetch(m.disk, -1);
  const held = copy.table;
  if (held.generation >= m.generation) return s.reAck(m.disk);
  if (held.generation !== m.fromGeneration) return s.fetch(m.disk, held.generation); // a gap, or a delta from elsewhere
  let table = held;
  const touched: [number, number][] = [];
  if (m.freeze === true) {
    // A snapshot since `fromGeneration`: no entries to read, so the limits do not apply. Every
    // write in flight under a writable primary must drain before the acknowledgement.
    const frozen = freezeTable(table, { generation: m.generation });
    if (E.isLeft(frozen)) return s.refuse(m, `setEntries: ${frozen.left[0]!.message}`);
    table = frozen.right;
    touched.push([0, table.segmentCount]);
  }
  if (m.segmentCount !== undefined) {
    const resized = resizeTable(table, m.segmentCount, { zero: true }, { generation: m.generation });
    if (E.isLeft(resized)) return s.refuse(m, `setEntries: ${resized.left[0]!.message}`);
    table = resized.right;
    touched.push([Math.min(held.segmentCount, table.segmentCount), Math.max(held.segmentCount, table.segmentCount)]);
  }
  const updates: { segment: number; entry: MappingEntry }[] = [];
  for (let n = 0; n < m.changes.length; n++) {
    const c: unknown = m.changes[n];
    if (!isRecord(c)) return s.refuse(m, `setEntries: changes[${n}] must be { segment, entry }, got ${show(c)}`);
    const { segment, entry } = c; // each read once
    if (!isBlockNumber(segment)) return s.refuse(m, `setEntries: changes[${n}].segment must be a non-negative safe integer, got ${show(segment)}`);
    const decoded = decodeSharedEntry(entry, segment < table.segmentCount ? segmentLengthAt(table, segment) : table.segmentBlocks, segment, table.grainBlocks);
    // All or nothing: a half-applied change matches no generation.
    if (E.isLeft(decoded)) return s.refuse(m, `setEntries: changes[${n}]: ${decoded.left[0]!.message}`);
    updates.push({ segment, entry: decoded.right });
    touched.push([segment, segment + 1]);
  }
  const updated = setTableEntries(table, updates, { generation: m.generation });
  if (E.isLeft(updated)) return s.refuse(m, `setEntries: ${updated.left[0]!.message.replace(/^updates\[/, 'changes[')}`);
  s.install(m.disk, updated.right, touched);
}


export function replaceTable(s: Stepper, m: ReplaceTableMessage): void {
  const oversized = s.oversizedDocument(m.table);
  if (oversized !== undefined) return s.refuse(m, oversized);
  const decoded = decodeSharedTable(m.table);
  if (E.isLeft(decoded)) return s.refuse(m, `replaceTable: the table is undecodable: ${decoded.left[0]?.message ?? 'no detail'}`);
  const table = decoded.right;
  const copy = s.disks.get(m.disk);
  if (copy === undefined && droppedBefore(s, m.disk, table.generation)) return s.stillDropped(m);
  if (copy !== undefined && copy.table.generation >= table.generation) return s.reAck(m.disk);
  s.install(m.disk, table, copy === undefined ? 'all' : toRanges(diffTables(copy.table, table)));
}


/** Why a table document is past `limits.maxSegments`, read from its header before it is decoded. */
export function oversizedDocument(s: Stepper, doc: unknown): string | undefined {
  const { maxSegments } = limitsOf(s.config);
  let count: unknown;
  let entries: unknown;
  try {
    ({ segmentCount: count, entries } = doc as { segmentCount?: unknown; entries?: unknown });
    if (Array.isArray(entries) && entries.length > maxSegments)
      return `replaceTable: table.entries must hold at most ${maxSegments} entries (limits.maxSegments), got ${entries.length}`;
  } catch (thrown) {
    return `replaceTable: table could not be read (${thrownReason(thrown)})`;
  }
  if (typeof count === 'number' && count > maxSegments)
    return `replaceTable: table.segmentCount must be at most ${maxSegments} (limits.maxSegments), got ${count}`;
  return undefined;
}


export function refreshTable(s: Stepper, disk: DiskId, generation: number): void {
  const copy = s.disks.get(disk);
  if (copy !== undefined && copy.table.generation >= generation) return s.reAck(disk);
  // No copy: the controller sends nothing below `generation` from now on, so tables below it are
  // refused like those sent before a drop, and the fetch says so (docs/design.md#ordering-rules).
  if (copy === undefined && generation - 1 > (s.dropped.get(disk) ?? -1)) s.dropped.set(disk, generation - 1);
  s.fetch(disk, copy?.table.generation ?? -1);
}


/**
 * Whether a table message of `disk` at `generation` was sent before this life dropped the disk:
 * the `dropTable` carried a generation at least as high (docs/design.md#ordering-rules).
 */
const droppedBefore = (s: Stepper, disk: DiskId, generation: number): boolean => {
  const mark = s.dropped.get(disk);
  return mark !== undefined && generation <= mark;
};

/**
 * Refuses a table message sent before the disk was dropped, and says again that the copy is
 * gone, with the drop's generation: an agent the controller counts as attached then gets a
 * table of a newer generation.
 */
export function stillDropped(s: Stepper, m: SetEntriesMessage | ReplaceTableMessage): void {
  s.refuse(m, `${m.type}: disk ${m.disk} was dropped at generation ${s.dropped.get(m.disk)!}, and this table is not newer`);
  const { agent, epoch } = s.config;
  s.send({ type: 'dropped', agent, epoch, disk: m.disk, generation: s.dropped.get(m.disk)! });
}

export function dropTable(s: Stepper, disk: DiskId, generation?: number): void {
  const victims: number[] = [];
  for (const [id, io] of s.ios.current) if (io.request.disk === disk && io.status !== 'inFlight') victims.push(id);
  // Its faults and marks die with the copy: nothing is left to re-send them for.
  const dead: number[] = [];
  for (const [id, o] of s.outstanding.current) if (o.message.disk === disk) dead.push(id);
  for (const id of dead) s.clear(id);
  for (const id of victims) s.fail(id, 'detached');
  s.disks.delete(disk);
  // Remember the drop: a table message sent before it may still arrive, late or duplicated.
  const mark = Math.max(generation ?? -1, s.dropped.get(disk) ?? -1);
  if (mark >= 0) s.dropped.set(disk, mark);
  const { agent, epoch } = s.config;
  s.send(mark >= 0 ? { type: 'dropped', agent, epoch, disk, generation: mark } : { type: 'dropped', agent, epoch, disk });
}
