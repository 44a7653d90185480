/**
 * Space accounting: pure queries on a controller state, like `rbd du` and `lvs`, and the
 * low-water mark (dm-thin's) that tells a product to grow its pool in time.
 *
 * Figures are in blocks. Per disk they are read from its working table (committed plus decided
 * changes): what the disk's entries reference, whether or not the change that made them is
 * durable yet.
 */
import { segmentLengthAt } from '../table/segments.js';
import type { DiskId } from '../protocol/messages.js';
import { entryAt, type MappingTable } from '../table/table.js';
import type { Allocator } from './allocator.js';
import type { ControllerCommand, ControllerState } from './types.js';

/**
 * One LUN's space: `used` is `size - free` (every allocated block, referenced by a table or
 * held by a change in flight).
 *
 * @example
 * const lun: LunSpace = { lun: 1, size: 1000, used: 64, free: 936 };
 */
export interface LunSpace {
  readonly lun: number;
  readonly size: number;
  readonly used: number;
  readonly free: number;
}

/**
 * One disk's space: `allocated` blocks its entries reference (primaries and alternates), of
 * which `exclusive` no other disk references and `shared` some other disk (a snapshot, or the
 * disk it was taken of) references too. `allocated === exclusive + shared`; deleting the disk
 * frees at most `exclusive` blocks (exactly that, when nothing else is in flight).
 *
 * @example
 * const vol: DiskSpace = { disk: 'vol', segmentBlocks: 16, segmentCount: 8, allocated: 48, exclusive: 16, shared: 32 };
 */
export interface DiskSpace {
  readonly disk: DiskId;
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  readonly allocated: number;
  readonly exclusive: number;
  readonly shared: number;
}

/**
 * Size, used and free blocks of every LUN, by ascending LUN id.
 *
 * @example
 * for (const { lun, used, size } of spaceByLun(controller.state())) console.log(`LUN ${lun}: ${used}/${size} blocks used`);
 */
export const spaceByLun = (state: ControllerState): LunSpace[] => state.allocator.lunSpace().map(({ lun, size, free }) => ({ lun, size, used: size - free, free }));

/** The extents a table references, each once, by key, with their lengths (a variable table's differ). */
const extentKeys = (table: MappingTable): Map<string, number> => {
  const keys = new Map<string, number>();
  for (let seg = 0; seg < table.segmentCount; seg++) {
    const e = entryAt(table, seg);
    const n = segmentLengthAt(table, seg);
    if (e.location !== null) keys.set(`${e.location.lun}:${e.location.start}:${n}`, n);
    if (e.alternate !== null) keys.set(`${e.alternate.lun}:${e.alternate.start}:${n}`, n);
  }
  return keys;
};

/**
 * Allocated, exclusive and shared blocks of every disk and snapshot, sorted by disk. Disks
 * being deleted are left out. Costs one pass over every table.
 *
 * @example
 * const [vol] = spaceByDisk(state); // { disk: 'vol', allocated: 48, exclusive: 16, shared: 32, ... }
 * console.log(`deleting ${vol.disk} would free ${vol.exclusive} blocks`);
 */
export const spaceByDisk = (state: ControllerState): DiskSpace[] => {
  const disks = [...state.disks.entries()].filter(([, d]) => d.deleted !== true).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const keys = disks.map(([, d]) => extentKeys(d.working));
  const holders = new Map<string, number>();
  for (const set of keys) for (const k of set.keys()) holders.set(k, (holders.get(k) ?? 0) + 1);
  return disks.map(([disk, d], i) => {
    let exclusive = 0;
    let allocated = 0;
    for (const [k, n] of keys[i]!) {
      allocated += n;
      if (holders.get(k) === 1) exclusive += n;
    }
    return { disk, segmentBlocks: d.working.segmentBlocks, segmentCount: d.working.segmentCount, allocated, exclusive, shared: allocated - exclusive };
  });
};

/**
 * `lowSpace` commands for every LUN whose free space went from at least `lowWaterMark` blocks
 * in `before` to fewer in `after` (a crossing, so a LUN that stays low is reported once, and
 * again only after it has had enough free space in between). Nothing when the mark is 0.
 *
 * @example
 * lowSpaceCrossings(before, after, 100); // [{ type: 'lowSpace', lun: 1, free: 90, size: 1000, lowWaterMark: 100 }]
 */
export const lowSpaceCrossings = (before: Allocator, after: Allocator, lowWaterMark: number): ControllerCommand[] => {
  if (!(lowWaterMark > 0) || before === after) return [];
  const out: ControllerCommand[] = [];
  for (const { lun, size, free } of after.lunSpace()) {
    if (free < lowWaterMark && before.free(lun) >= lowWaterMark) out.push({ type: 'lowSpace', lun, free, size, lowWaterMark });
  }
  return out;
};
