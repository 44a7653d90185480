/**
 * 4. Updating one entry of the big table with `setEntry` vs immer `produce` replacing one
 * element of an array of plain entry objects (the same entries). Each update builds on the
 * previous result, at a random segment. Target: at least 1,000x faster.
 */
import { produce } from 'immer';
import { createPrng } from '../../src/adapters/prng.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { setEntry, type MappingTable } from '../../src/table/table.js';
import {
  benchPlainEntries,
  benchTable,
  FREE_LUN,
  interleave,
  median,
  medianRatio,
  nsPerOp,
  result,
  SEGMENT_BLOCKS,
  unwrap,
  type BenchOptions,
  type PlainEntry,
  type Result,
  type Workload,
} from '../lib.js';

export const setEntryWorkload: Workload = {
  name: 'set-entry',
  title: 'setEntry on the chunked table vs immer produce on an array of plain entries',
  run(o: BenchOptions): Result[] {
    let table: MappingTable = benchTable(o);
    let plain: readonly PlainEntry[] = benchPlainEntries(o);
    const prng = createPrng(o.seed + 4);
    const n = o.segments;
    let moves = 0;
    /** The same change for both: segment `s` moves to a fresh place on the free LUN. */
    const next = (): [segment: number, spec: EntrySpec, entry: PlainEntry] => {
      const s = prng.int(n);
      const start = (moves++ % n) * SEGMENT_BLOCKS;
      return [
        s,
        { location: { lun: FREE_LUN, start } },
        { location: { lun: FREE_LUN, start }, invalid: false, noWrite: false, zero: false, error: false, alternate: null },
      ];
    };
    const subjectOps = o.quick ? 2_000 : 20_000;
    const baselineOps = o.quick ? 5 : 8;
    const subject = (): number =>
      nsPerOp(subjectOps, () => {
        for (let i = 0; i < subjectOps; i++) {
          const [s, spec] = next();
          table = unwrap(setEntry(table, s, spec), 'setEntry');
        }
      }) / 1000;
    const baseline = (): number =>
      nsPerOp(baselineOps, () => {
        for (let i = 0; i < baselineOps; i++) {
          const [s, , entry] = next();
          plain = produce(plain, (draft) => {
            draft[s] = entry;
          });
        }
      }) / 1000;
    const r = interleave(o.rounds, subject, baseline);
    return [
      result(
        {
          name: 'set-entry',
          unit: 'µs/update',
          value: median(r.subject),
          baseline: 'immer produce, array of plain entries',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => b / s),
        },
        { direction: 'atLeast', bound: 1000, ratioIs: 'speedup' },
      ),
    ];
  },
};
