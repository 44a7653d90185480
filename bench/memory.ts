/**
 * The memory measurement of workload 5, run in its own process so that the heap holds nothing
 * else and can be collected on demand:
 *
 *   node --expose-gc --import tsx bench/memory.ts SEGMENTS ROUNDS SEED
 *
 * Prints one JSON line: `{ table: number[], plain: number[] }`, the bytes per segment of each
 * representation in each round (heap plus array buffers, after full collections, minus the same
 * before building it). The table has no alternates (1% zero, 5% no-write segments).
 */
import { gc, generateDataset, libraryTable, plainEntries, type Dataset } from './lib.js';

if ((globalThis as { gc?: unknown }).gc === undefined) {
  process.stderr.write('bench/memory.ts needs node --expose-gc\n');
  process.exit(2);
}

const [segments, rounds, seed] = process.argv.slice(2).map(Number) as [number, number, number];

const used = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** Kept reachable while it is measured. */
export let keep: unknown = null;

const measure = (build: () => unknown): number => {
  keep = null;
  const before = used();
  keep = build();
  const after = used();
  keep = null;
  return (after - before) / segments;
};

const ds: Dataset = generateDataset(segments, seed, { alternate: 0, zero: 0.01, noWrite: 0.05 });
const table: number[] = [];
const plain: number[] = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    table.push(measure(() => libraryTable(ds)));
    plain.push(measure(() => plainEntries(ds)));
  } else {
    plain.push(measure(() => plainEntries(ds)));
    table.push(measure(() => libraryTable(ds)));
  }
}
process.stdout.write(`${JSON.stringify({ table, plain })}\n`);
