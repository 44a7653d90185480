/**
 * The properties a simulated run must keep, one named checker each. A checker returns the
 * property it found broken, or undefined; the run loop stops at the first one.
 */
import { blocksOf, segmentAt, segmentLengthAt, segmentStartAt } from '../table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import { agentTable } from '../agent/agent.js';
import type { AgentState } from '../agent/types.js';
import { checkTables, type Finding, type Reference } from '../check/check.js';
import type { Extent } from '../controller/allocator.js';
import { entries } from '../controller/refcounts.js';
import type { ControllerState } from '../controller/types.js';
import type { AgentId, DiskId } from '../protocol/messages.js';
import { diffTables, entryAt, type MappingTable } from '../table/table.js';
import { translate, type Piece } from '../translate/translate.js';
import type { Violation } from './config.js';
import type { DiskModel } from './disk-model.js';
import type { DurabilityModel } from './durability-model.js';
import type { HostIo } from './workload.js';
import type { LunBlocks } from './world.js';

/** A broken property, before the run loop stamps it with the seed, step and time. */
export type BrokenProperty = Omit<Violation, 'seed' | 'step' | 'time'>;

/** What the checkers see of an agent. */
export interface AgentView {
  readonly id: AgentId;
  readonly state: AgentState;
}

export const agentName = (i: number): AgentId => `a${i}`;

/** A completed read returned the last acknowledged write of every block it could vouch for. */
export const checkRead = (io: HostIo): BrokenProperty | undefined => {
  if (io.data === null || io.seen === null) return undefined;
  const bad = io.model.checkRead(io.start, io.data, io.seen);
  if (bad === undefined) return undefined;
  return { kind: 'read-mismatch', message: `read of ${io.disk} block ${bad.block} by ${agentName(io.agent)} returned ${bad.got}, expected ${bad.expected}` };
};

/**
 * Freeze generations after a split, merge or resize renumbered segments: a segment frozen now
 * keeps the latest freeze generation of the segments that held its blocks before, when all of
 * them were frozen (a change of bounds moves no block, so agents that acknowledged those
 * freezes still must not write it); else it is frozen from this commit on.
 */
const renumberedSince = (old: ReadonlyMap<number, number>, prev: MappingTable, now: MappingTable): Map<number, number> => {
  const out = new Map<number, number>();
  for (let seg = 0; seg < now.segmentCount; seg++) {
    if (!entryAt(now, seg).noWrite) continue;
    const start = segmentStartAt(now, seg);
    const end = start + segmentLengthAt(now, seg);
    let since: number | undefined = end <= blocksOf(prev) ? -1 : undefined;
    for (let b = start < blocksOf(prev) ? segmentAt(prev, start) : prev.segmentCount; since !== undefined && b < prev.segmentCount && segmentStartAt(prev, b) < end; b++) {
      const g = entryAt(prev, b).noWrite ? old.get(b) : undefined;
      since = g === undefined ? undefined : Math.max(since, g);
    }
    out.set(seg, since === undefined || since < 0 ? now.generation : since);
  }
  return out;
};

/**
 * Since which generation each segment's primary has been frozen (no-write), per disk: what the
 * frozen-primary check needs, tracked from the controller's commits.
 */
export class FrozenPrimaries {
  private readonly since = new Map<DiskId, Map<number, number>>();

  /** After a controller restart the freeze generations are unknown: counts them from the durable tables. */
  resetFrom(tables: ReadonlyMap<DiskId, MappingTable>): void {
    for (const [disk, table] of tables) {
      const frozen = new Map<number, number>();
      for (let seg = 0; seg < table.segmentCount; seg++) if (entryAt(table, seg).noWrite) frozen.set(seg, table.generation);
      this.since.set(disk, frozen);
    }
  }

  /** Notes the segments a `persisted` step froze or thawed. */
  noteCommits(before: ControllerState, after: ControllerState): void {
    for (const [disk, d] of after.disks) {
      const prev = before.disks.get(disk)?.committed;
      if (prev === d.committed) continue;
      let frozen = this.since.get(disk);
      if (frozen === undefined) this.since.set(disk, (frozen = new Map()));
      if (prev !== undefined && prev.segmentStarts !== d.committed.segmentStarts) {
        this.since.set(disk, renumberedSince(frozen, prev, d.committed));
        continue;
      }
      const segments = prev === undefined ? Array.from({ length: d.committed.segmentCount }, (_, i) => i) : diffTables(prev, d.committed);
      for (const seg of segments) {
        if (seg >= d.committed.segmentCount) {
          frozen.delete(seg);
          continue;
        }
        const e = entryAt(d.committed, seg);
        if (!e.noWrite) frozen.delete(seg);
        else if (!frozen.has(seg)) frozen.set(seg, d.committed.generation);
      }
    }
  }

  /**
   * No write may land on a frozen primary: one whose no-write flag every agent holding the disk
   * has acknowledged (acks promise that nothing issued under the old entry is still in flight).
   */
  checkWrite(controller: ControllerState, io: HostIo, p: Piece): BrokenProperty | undefined {
    const d = controller.disks.get(io.disk);
    const frozen = this.since.get(io.disk);
    if (d === undefined || frozen === undefined || frozen.size === 0) return undefined;
    const t = d.committed;
    const firstSeg = p.virtualStart < blocksOf(t) ? segmentAt(t, p.virtualStart) : t.segmentCount;
    for (let seg = firstSeg; seg < t.segmentCount && segmentStartAt(t, seg) < p.virtualStart + p.length; seg++) {
      const since = frozen.get(seg);
      if (since === undefined) continue;
      const e = entryAt(t, seg);
      const sb = segmentLengthAt(t, seg);
      const physical = p.start! + (Math.max(segmentStartAt(t, seg), p.virtualStart) - p.virtualStart);
      if (!e.noWrite || e.location === null || e.location.lun !== p.lun || physical < e.location.start || physical >= e.location.start + sb) continue;
      const inForce = [...d.agents, ...d.dropping].every((a) => {
        const c = controller.agents.get(a)?.copies.get(io.disk);
        return c === undefined || !c.mayHold || c.acked >= since;
      });
      if (inForce)
        return { kind: 'frozen-primary-write', message: `${agentName(io.agent)} wrote segment ${seg} of ${io.disk} at LUN ${p.lun} block ${physical}, a primary frozen since generation ${since}` };
    }
    return undefined;
  }
}

/** Nothing is left to do: no job, persist or host I/O, and every agent's copy is at the committed generation. */
export const isQuiet = (controller: ControllerState, agents: ReadonlyArray<AgentView>, openHostIos: number): boolean => {
  if (controller.jobs.size > 0 || controller.persist !== null || openHostIos > 0) return false;
  for (const [disk, d] of controller.disks) {
    for (const node of agents) {
      const t = agentTable(node.state, disk);
      if (t !== undefined && t.generation !== d.committed.generation) return false;
    }
  }
  return true;
};

/** Once quiet, every agent's copy of a disk is exactly the controller's committed table. */
export const checkConvergence = (controller: ControllerState, agents: ReadonlyArray<AgentView>): BrokenProperty | undefined => {
  for (const [disk, d] of controller.disks) {
    for (const node of agents) {
      const t = agentTable(node.state, disk);
      if (t === undefined) continue;
      const diff = diffTables(t, d.committed);
      if (diff.length > 0) return { kind: 'no-convergence', message: `${node.id}'s table of ${disk} differs from the controller's at segments ${diff.slice(0, 5).join(', ')}` };
    }
  }
  return undefined;
};

/**
 * `checkTables` finds no corruption and no leak in the committed tables, with each disk's
 * snapshots declared as sharing its space. `families` maps a disk to the disk it was
 * snapshotted from, ultimately.
 */
export const checkFinalTables = (
  controller: ControllerState,
  families: ReadonlyMap<DiskId, DiskId>,
  lunSizes: Readonly<Record<number, number>>,
): BrokenProperty | undefined => checkStoredTables(new Map([...controller.disks].map(([disk, d]) => [disk, d.committed])), families, lunSizes, entries(controller.refs));

/**
 * `checkTables` finds no corruption and no leak in a set of tables (the durable store's, after a
 * power loss), with each disk's snapshots declared as sharing its space.
 */
export const checkStoredTables = (
  tables: ReadonlyMap<DiskId, MappingTable>,
  families: ReadonlyMap<DiskId, DiskId>,
  lunSizes: Readonly<Record<number, number>>,
  /** The controller's reference counts, when checking its own tables: leaks and undercounts are found too. */
  references?: ReadonlyArray<Reference>,
): BrokenProperty | undefined => {
  const sharing = new Map<DiskId, DiskId[]>();
  for (const disk of tables.keys()) {
    const f = families.get(disk) ?? disk;
    sharing.set(f, [...(sharing.get(f) ?? []), disk]);
  }
  const report = checkTables(tables, { lunSizes, sharing: [...sharing.values()], ...(references === undefined ? {} : { references }) });
  const bad = report.findings.find((f: Finding) => f.severity !== 'info');
  return bad === undefined ? undefined : { kind: 'table-check', message: `${bad.code}: ${bad.message}` };
};

/**
 * Every block of every disk reads back, through the controller's tables, as its model says: the
 * disk's own model (else a `lost-write`), or the image a snapshot was taken with (else
 * `snapshot-changed`). Error-marked segments cannot be read back and are skipped.
 */
export const checkContent = (
  controller: ControllerState,
  models: ReadonlyMap<DiskId, DiskModel>,
  snapshotImages: ReadonlyMap<DiskId, DiskModel>,
  blocks: LunBlocks,
): BrokenProperty | undefined => {
  for (const [disk, d] of controller.disks) {
    const model = models.get(disk) ?? snapshotImages.get(disk);
    if (model === undefined) continue;
    const kind = models.has(disk) ? 'lost-write' : 'snapshot-changed';
    const table = d.committed;
    for (let seg = 0; seg < table.segmentCount; seg++) {
      const pieces = translate(table, { op: 'read', start: segmentStartAt(table, seg), length: segmentLengthAt(table, seg) });
      if (E.isLeft(pieces)) continue;
      for (const p of pieces.right)
        for (let i = 0; i < p.length; i++) {
          const b = p.virtualStart + i;
          if (!model.isCertain(b)) continue;
          const got = p.kind === 'zero' ? 0 : blocks.block(p.lun!, p.start! + i);
          if (got !== model.values[b]) return { kind, message: `${disk} block ${b} holds ${got}, expected ${model.values[b]}` };
        }
    }
  }
  return undefined;
};

// ---------------------------------------------------------------------------------------------
// Durability (docs/design.md#ordering-rules)

/**
 * Every block of every disk with a durability model reads, through `tables` (the durable store's
 * after a power loss of storage, the committed ones at the end), a value the model accepts: its
 * last guaranteed write or one written since (never zeros nobody wrote, another disk's data or a
 * released extent's). Error-marked and fenced segments cannot be read and are skipped.
 */
export const checkDurability = (
  tables: ReadonlyMap<DiskId, MappingTable>,
  models: ReadonlyMap<DiskId, DurabilityModel>,
  blocks: LunBlocks,
  when: string,
): BrokenProperty | undefined => {
  for (const [disk, table] of tables) {
    const model = models.get(disk);
    if (model === undefined) continue;
    for (let seg = 0; seg < table.segmentCount; seg++) {
      const pieces = translate(table, { op: 'read', start: segmentStartAt(table, seg), length: segmentLengthAt(table, seg) });
      if (E.isLeft(pieces)) continue;
      for (const p of pieces.right)
        for (let i = 0; i < p.length; i++) {
          const b = p.virtualStart + i;
          if (b >= model.blocks) continue;
          const got = p.kind === 'zero' ? 0 : blocks.block(p.lun!, p.start! + i);
          if (!model.accepts(b, got)) {
            const at = p.kind === 'zero' ? 'a zero entry' : `LUN ${p.lun} block ${p.start! + i}`;
            return { kind: 'durability', message: `${when}, ${disk} block ${b} (at ${at}) reads ${got}, which no write since its last guaranteed one put there (allowed: ${model.allowed(b).join(', ')})` };
          }
        }
    }
  }
  return undefined;
};

/** No extent is both free in the allocator and referenced by a table (committed or working). */
export const checkAllocation = (controller: ControllerState): BrokenProperty | undefined => {
  if (!controller.ready) return undefined;
  const free = new Map<number, [number, number][]>();
  for (const x of controller.allocator.freeExtents()) {
    const list = free.get(x.lun);
    if (list === undefined) free.set(x.lun, [[x.start, x.start + x.length]]);
    else list.push([x.start, x.start + x.length]);
  }
  for (const [disk, d] of controller.disks)
    for (const [which, table] of [['committed', d.committed], ['working', d.working]] as const)
      for (let seg = 0; seg < table.segmentCount; seg++) {
        const e = entryAt(table, seg);
        for (const x of [e.location, e.alternate]) {
          if (x === null) continue;
          const n = segmentLengthAt(table, seg);
          const hit = free.get(x.lun)?.find(([from, to]) => x.start < to && from < x.start + n);
          if (hit !== undefined)
            return { kind: 'allocation', message: `segment ${seg} of ${disk} (${which}) uses LUN ${x.lun} blocks ${x.start}..${x.start + n - 1}, free in the allocator at ${hit[0]}..${hit[1] - 1}` };
        }
      }
  return undefined;
};

/**
 * No extent is free in the allocator while a table, committed or working, or a reference count
 * still holds it: such an extent could be handed out again and two disks would share blocks.
 * Catches a release that ignores reference counts, or releases twice.
 */
export const checkFreeReferenced = (controller: ControllerState): BrokenProperty | undefined => {
  const free = new Map<number, Extent[]>();
  for (const x of controller.allocator.freeExtents()) free.set(x.lun, [...(free.get(x.lun) ?? []), x]);
  /** The free range overlapping `x`, if any: ranges are sorted and disjoint, so a binary search finds it. */
  const overlap = (x: Extent): Extent | undefined => {
    const ranges = free.get(x.lun) ?? [];
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid]!.start + ranges[mid]!.length <= x.start) lo = mid + 1;
      else hi = mid;
    }
    const r = ranges[lo];
    return r !== undefined && r.start < x.start + x.length ? r : undefined;
  };
  const held: Array<readonly [string, Extent]> = entries(controller.refs).map((r) => ['a reference count', r] as const);
  for (const [disk, d] of controller.disks)
    for (const [which, table] of [['committed', d.committed], ['working', d.working]] as const)
      for (let seg = 0; seg < table.segmentCount; seg++) {
        const e = entryAt(table, seg);
        for (const x of [e.location, e.alternate])
          if (x !== null) held.push([`the ${which} table of ${disk} (segment ${seg})`, { lun: x.lun, start: x.start, length: segmentLengthAt(table, seg) }]);
      }
  for (const [who, x] of held) {
    const r = overlap(x);
    if (r !== undefined)
      return { kind: 'free-while-referenced', message: `LUN ${x.lun} blocks ${x.start}..${x.start + x.length - 1}, held by ${who}, are free in the allocator (free range ${r.start}..${r.start + r.length - 1})` };
  }
  return undefined;
};
