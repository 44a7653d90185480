/**
 * Where extents are placed wrongly: two extents holding one block (unless the disks declare
 * sharing) and extents past the end of their LUN.
 */
import { isBlockNumber } from '../errors.js';
import { lunSize, type LunSizes } from '../table/entry.js';
import { ALTERNATE, clusterEnd, PRIMARY, ROLE_NAMES, type Extents } from './extents.js';
import { blocks, type Finding } from './findings.js';

/** What one overlap sweep works with. */
interface Sweep {
  readonly x: Extents;
  readonly names: ReadonlyArray<string>;
  /** groups[disk]: the sharing groups the disk belongs to, ascending. */
  readonly groups: ReadonlyArray<ReadonlyArray<number>>;
  readonly findings: Finding[];
}

/** For each disk (by index in `names`), the sharing groups it belongs to, ascending. */
const sharingGroups = (names: ReadonlyArray<string>, sharing: ReadonlyArray<ReadonlyArray<string>>): number[][] => {
  const index = new Map(names.map((n, i) => [n, i]));
  const groups: number[][] = names.map(() => []);
  sharing.forEach((group, g) => {
    for (const name of new Set(group)) {
      const i = index.get(name);
      if (i !== undefined) groups[i]!.push(g);
    }
  });
  return groups;
};

/** True when disks `a` and `b` are two disks with a sharing group in common. */
const share = (groups: Sweep['groups'], a: number, b: number): boolean => a !== b && groups[a]!.some((g) => groups[b]!.includes(g));

/** One finding for extents `i` and `j`, which hold blocks in common. */
const pair = ({ x, names, findings }: Sweep, i: number, j: number, reason: string): void => {
  const { d, seg, role, lun, start, end } = x;
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
const within = (sweep: Sweep, from: number, to: number): void => {
  const { d, role, order } = sweep.x;
  const groups = sweep.groups;
  const members = order.slice(from, to);
  const byRole = [members.filter((i) => role[i] === PRIMARY), members.filter((i) => role[i] === ALTERNATE)];
  for (const p of byRole[0]!) for (const a of byRole[1]!) pair(sweep, p, a, "an alternate may never share a primary's blocks");
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
        if (d[i] === d[j]) pair(sweep, i, j, 'two segments of one disk never share');
        else if (!share(groups, d[i]!, d[j]!)) pair(sweep, i, j, 'identical extents, but the disks do not declare sharing');
      }
  }
};

/** @internal Sweep over the extents in `order`, identical extents taken together as one cluster. */
export const checkOverlaps = (x: Extents, names: ReadonlyArray<string>, sharing: ReadonlyArray<ReadonlyArray<string>>, findings: Finding[]): void => {
  const sweep: Sweep = { x, names, groups: sharingGroups(names, sharing), findings };
  const { lun, start, end, order } = x;
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
      for (let a = activeFrom[c]!; a < activeTo[c]!; a++) for (let b = p; b < q; b++) pair(sweep, order[a]!, order[b]!, 'partial overlap');
    if (q - p > 1) within(sweep, p, q);
    activeFrom.push(p);
    activeTo.push(q);
    activeEnd.push(end[first]!);
    p = q;
  }
};

/** @internal One `past-lun-end` finding per extent that does not fit its declared LUN size. */
export const checkLunEnds = (x: Extents, names: ReadonlyArray<string>, sizes: LunSizes, findings: Finding[]): void => {
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
