/**
 * Changed-block tracking between two snapshots of a big disk: `changedBlocks` vs the naive
 * per-block comparison (every block of every segment decided under both tables by the rule of
 * docs/design.md#changed-block-tracking). Also reports how much `changedBlocks` over-approximates:
 * blocks reported / blocks the host truly wrote, between a snapshot and the next one and between
 * a snapshot and the live disk. `changed-blocks-sparse` is the same comparison with one write per
 * 10,000 segments, where most chunks are shared and skipped whole.
 *
 * The history: a snapshot of the standard table (every primary frozen, alternates settled), then
 * host writes of 1 to 64 blocks at random places, about one per 100 segments, resolved the way
 * the controller resolves them (a `noWrite` or `zero` segment gets an alternate and the written
 * blocks are marked; a full alternate is promoted); that is the live disk. The next snapshot
 * settles every alternate (copy the rest, promote) and freezes every primary again.
 */
import * as B from '../../src/bitmap/bitmap.js';
import { changedBlocksCounted, type ChangedRange } from '../../src/table/changed-blocks.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { createTable, entryAt, setEntries, setEntry, type MappingTable } from '../../src/table/table.js';
import {
  consume,
  createPrng,
  dataset,
  entrySpec,
  FREE_LUN,
  interleave,
  median,
  medianRatio,
  now,
  result,
  unwrap,
  type BenchOptions,
  type Result,
  type Workload,
} from '../lib.js';

/** The standard table as a snapshot: every primary frozen, every alternate settled (promoted). */
const snapshotOf = (o: BenchOptions): MappingTable => {
  const ds = dataset(o);
  return unwrap(
    createTable({
      segmentBlocks: ds.segmentBlocks,
      segmentCount: ds.segmentCount,
      entries: (s): EntrySpec => {
        const e = entrySpec(ds, s);
        if (e.zero === true) return e;
        const at = e.alternate ?? e.location!;
        return { location: { lun: at.lun, start: at.start }, noWrite: true };
      },
    }),
    'createTable',
  );
};

interface History {
  readonly snap1: MappingTable;
  readonly disk: MappingTable;
  readonly snap2: MappingTable;
  /** Virtual blocks the host wrote (each write writes new data), counted once. */
  readonly written: number;
}

const history = (o: BenchOptions, segmentsPerWrite: number): History => {
  const snap1 = snapshotOf(o);
  const sb = snap1.segmentBlocks;
  const blocks = snap1.segmentCount * sb;
  const prng = createPrng(o.seed + 11 + segmentsPerWrite);
  let disk = snap1;
  let nextFree = 0;
  const writes: [number, number][] = [];
  for (let i = 0; i < Math.max(1, Math.floor(snap1.segmentCount / segmentsPerWrite)); i++) {
    const length = 1 + prng.int(64);
    const start = prng.int(blocks - length + 1);
    writes.push([start, start + length]);
    for (let v = start; v < start + length; ) {
      const seg = Math.floor(v / sb);
      const k = v - seg * sb;
      const n = Math.min(start + length, (seg + 1) * sb) - v;
      const e = entryAt(disk, seg);
      if (e.noWrite || e.zero) {
        const alt = e.alternate ?? { lun: FREE_LUN, start: (nextFree++) * sb, blocks: unwrap(B.empty(sb), 'empty') };
        const bits = unwrap(B.setRange(alt.blocks, k, n), 'setRange');
        const entry: EntrySpec = B.isFull(bits) ? { location: { lun: alt.lun, start: alt.start } } : { ...e, alternate: { ...alt, blocks: bits } };
        disk = unwrap(setEntry(disk, seg, entry), 'setEntry');
      }
      v += n;
    }
  }
  // The next snapshot: settle every alternate, freeze every primary.
  const settle: { segment: number; entry: EntrySpec }[] = [];
  for (let seg = 0; seg < disk.segmentCount; seg++) {
    const e = entryAt(disk, seg);
    if (e.alternate !== null) settle.push({ segment: seg, entry: { location: { lun: e.alternate.lun, start: e.alternate.start }, noWrite: true } });
    else if (e.location !== null && !e.noWrite && !e.zero) settle.push({ segment: seg, entry: { ...e, noWrite: true } });
  }
  const snap2 = unwrap(setEntries(disk, settle), 'setEntries');
  writes.sort((a, b) => a[0] - b[0]);
  let written = 0;
  let end = 0;
  for (const [s, e] of writes) {
    if (e > end) written += e - Math.max(s, end);
    end = Math.max(end, e);
  }
  return { snap1, disk, snap2, written };
};

/**
 * The naive comparison: each segment's entries read whole, then every block decided on its own
 * under both tables. Returns the blocks reported changed.
 */
const naive = (older: MappingTable, newer: MappingTable): number => {
  const sb = newer.segmentBlocks;
  let changed = 0;
  for (let s = 0; s < newer.segmentCount; s++) {
    const en = entryAt(newer, s);
    if (s >= older.segmentCount) {
      changed += sb;
      continue;
    }
    const eo = entryAt(older, s);
    const frozen =
      eo.noWrite && en.noWrite && eo.location !== null && en.location !== null && eo.location.lun === en.location.lun && eo.location.start === en.location.start;
    for (let k = 0; k < sb; k++) {
      // 0 unreadable, 1 zero, 2 primary, 3 alternate: the decision table, block by block.
      const o = eo.invalid || eo.error ? 0 : eo.alternate !== null && B.has(eo.alternate.blocks, k) ? 3 : eo.zero ? 1 : 2;
      const n = en.invalid || en.error ? 0 : en.alternate !== null && B.has(en.alternate.blocks, k) ? 3 : en.zero ? 1 : 2;
      if (!((o === 1 && n === 1) || (o === 2 && n === 2 && frozen))) changed++;
    }
  }
  return changed;
};

const total = (ranges: ReadonlyArray<ChangedRange>): number => ranges.reduce((n, r) => n + r.length, 0);

const ms = (f: () => number) => (): number => {
  const t0 = now();
  consume(f());
  return now() - t0;
};

/** Times one pair against the naive comparison, after checking that they agree. */
const compare = (o: BenchOptions, name: string, h: History, target: boolean): Result => {
  const report = unwrap(changedBlocksCounted(h.snap1, h.snap2), 'changedBlocks');
  if (naive(h.snap1, h.snap2) !== total(report.ranges)) throw new Error(`bench: ${name}: changedBlocks and the naive comparison disagree`);
  o.log(`${name}: ${h.written.toLocaleString('en-US')} blocks written; ${report.chunksSkipped} chunks skipped whole, ${report.chunksCompared} compared`);
  const r = interleave(
    o.rounds,
    ms(() => unwrap(changedBlocksCounted(h.snap1, h.snap2), 'changedBlocks').ranges.length),
    ms(() => naive(h.snap1, h.snap2)),
  );
  return result(
    {
      name,
      unit: 'ms/comparison',
      value: median(r.subject),
      baseline: 'per-block comparison of the two tables',
      baselineValue: median(r.baseline),
      ratio: medianRatio(r, (s, b) => b / s),
    },
    target ? { direction: 'atLeast', bound: 20, ratioIs: 'speedup' } : null,
  );
};

export const changedBlocksWorkload: Workload = {
  name: 'changed-blocks',
  title: 'changedBlocks between two snapshots vs the naive per-block comparison; over-approximation',
  run(o: BenchOptions): Result[] {
    const h = history(o, 100);
    const reported = total(unwrap(changedBlocksCounted(h.snap1, h.snap2), 'changedBlocks').ranges);
    const toDisk = total(unwrap(changedBlocksCounted(h.snap1, h.disk), 'changedBlocks').ranges);
    if (naive(h.snap1, h.disk) !== toDisk) throw new Error('bench: changedBlocks and the naive comparison disagree (snapshot to disk)');
    return [
      compare(o, 'changed-blocks', h, true),
      // Few changes: most chunks are shared and skipped whole.
      compare(o, 'changed-blocks-sparse', history(o, 10_000), false),
      result(
        { name: 'changed-blocks-overapprox-snapshot', unit: 'blocks', value: reported, baseline: 'blocks truly written', baselineValue: h.written, ratio: reported / h.written },
        null,
      ),
      result(
        { name: 'changed-blocks-overapprox-disk', unit: 'blocks', value: toDisk, baseline: 'blocks truly written', baselineValue: h.written, ratio: toDisk / h.written },
        null,
      ),
    ];
  },
};
