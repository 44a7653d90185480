/**
 * Shared machinery of the benchmarks: timing, medians, interleaved rounds, results, and the
 * seeded data every workload measures on (tables, requests, bitmaps).
 *
 * Every benchmark measures vdisk-map (the "subject") and a baseline in the same process, on the
 * same data, in alternating rounds (subject first on even rounds, baseline first on odd ones,
 * so neither always runs on a warmer or colder heap), and reports medians.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createPrng, type Prng } from '../src/adapters/prng.js';
import * as B from '../src/bitmap/bitmap.js';
import type { Bitmap } from '../src/bitmap/bitmap.js';
import type { EntrySpec } from '../src/table/entry.js';
import { createTable, type MappingTable } from '../src/table/table.js';

export { createPrng, type Prng };

// ---------------------------------------------------------------------------------------------
// Results

/** How the ratio is compared with its target. */
export type Direction = 'atMost' | 'atLeast';

/** One row of the report, exactly as written to `--json`. */
export interface Result {
  readonly name: string;
  /** Unit of `value` and `baselineValue`. */
  readonly unit: string;
  /** The subject's figure (median over rounds). */
  readonly value: number;
  /** What the subject is compared with. */
  readonly baseline: string;
  readonly baselineValue: number;
  /** Median over rounds of the per-round ratio; what it means is in `target`. */
  readonly ratio: number;
  /** E.g. `time <= 2x baseline`, or null when the figure is only reported. */
  readonly target: string | null;
  /** Null when there is no target. */
  readonly pass: boolean | null;
}

/** A target on the ratio (or, with `on: 'value'`, on the value): `atMost` 2 means "<= 2". */
export interface Target {
  readonly direction: Direction;
  readonly bound: number;
  /** What is compared, for the target text: `time/baseline`, `speedup`, `bytes/segment`... */
  readonly ratioIs: string;
  /** Defaults to `ratio`. */
  readonly on?: 'ratio' | 'value';
}

export const result = (
  fields: Omit<Result, 'target' | 'pass'>,
  target: Target | null,
): Result => ({
  ...fields,
  target: target === null ? null : `${target.ratioIs} ${target.direction === 'atMost' ? '<=' : '>='} ${target.bound}`,
  pass: target === null ? null : check(target, target.on === 'value' ? fields.value : fields.ratio),
});

const check = (t: Target, x: number): boolean => (t.direction === 'atMost' ? x <= t.bound : x >= t.bound);

// ---------------------------------------------------------------------------------------------
// Options and workloads

export interface BenchOptions {
  /** Small sizes and few rounds: a smoke test that only checks the benchmarks run. */
  readonly quick: boolean;
  /** Segments of the big tables (1,048,576; 65,536 in quick mode). */
  readonly segments: number;
  /** Alternating rounds of subject and baseline. */
  readonly rounds: number;
  readonly seed: number;
  /** Progress lines (stderr), so stdout stays the report. */
  readonly log: (line: string) => void;
}

export interface Workload {
  /** Short name, used by the name filter of `bench/run.ts`. */
  readonly name: string;
  readonly title: string;
  run(options: BenchOptions): Promise<Result[]> | Result[];
}

// ---------------------------------------------------------------------------------------------
// Timing

/** Milliseconds, high resolution. */
export const now = (): number => performance.now();

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Keeps results alive so that the optimizer cannot drop the work that produced them. */
export let sink = 0;
export const consume = (x: number): void => {
  sink = (sink + x) | 0;
};

export interface Rounds {
  /** One figure per round, from `subject()`. */
  readonly subject: number[];
  readonly baseline: number[];
}

/**
 * Runs `subject` and `baseline` once each as warm-up, then `rounds` times each, alternating which
 * goes first. Each call returns its own figure (usually nanoseconds per operation).
 */
export const interleave = (rounds: number, subject: () => number, baseline: () => number): Rounds => {
  subject();
  baseline();
  const out: Rounds = { subject: [], baseline: [] };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      out.subject.push(subject());
      out.baseline.push(baseline());
    } else {
      out.baseline.push(baseline());
      out.subject.push(subject());
    }
  }
  return out;
};

/** Median of the per-round ratios `f(subject[r], baseline[r])`. */
export const medianRatio = (r: Rounds, f: (subject: number, baseline: number) => number): number =>
  median(r.subject.map((s, i) => f(s, r.baseline[i]!)));

/** Nanoseconds per operation of `n` operations done by `body`. */
export const nsPerOp = (n: number, body: () => void): number => {
  const t0 = now();
  body();
  return ((now() - t0) * 1e6) / n;
};

export const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) g();
};

export const unwrap = <A>(e: E.Either<unknown, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`bench: ${what} failed: ${JSON.stringify(e.left).slice(0, 500)}`);
  return e.right;
};

// ---------------------------------------------------------------------------------------------
// Data: bitmaps

/**
 * A bitmap of `size` blocks built the way a real one is, by host writes of 1 to 64 blocks at
 * random offsets (each write sets a run), until about `density` of the blocks are set. So its
 * runs are write-sized, as in a copy-on-write or zero-allocation alternate.
 */
export const writtenBitmap = (prng: Prng, size: number, density: number): Bitmap => {
  const words = new Uint32Array((size + 31) >>> 5);
  const want = Math.round(density * size);
  let set = 0;
  const ranges: { start: number; length: number }[] = [];
  // Bounded: near density 1 the last few holes are found by chance, so stop after enough tries.
  for (let tries = 0; set < want && tries < 64 * size; tries++) {
    const length = 1 + prng.int(Math.min(64, size));
    const start = prng.int(size - length + 1);
    ranges.push({ start, length });
    for (let k = start; k < start + length; k++) {
      const w = k >>> 5;
      const bit = 1 << (k & 31);
      if ((words[w]! & bit) === 0) {
        words[w] = (words[w]! | bit) >>> 0;
        set++;
      }
    }
  }
  return unwrap(B.fromRanges(size, ranges), 'fromRanges');
};

/** A bitmap of `size` blocks whose bits are independently set with probability `density` (noise: runs of ~2 blocks). */
export const noiseBitmap = (prng: Prng, size: number, density: number): Bitmap => {
  const offsets: number[] = [];
  for (let k = 0; k < size; k++) if (prng.next() < density) offsets.push(k);
  return unwrap(B.fromOffsets(size, offsets), 'fromOffsets');
};

// ---------------------------------------------------------------------------------------------
// Data: tables

export const SEGMENT_BLOCKS = 256;

/** Segment kinds of a generated table (exclusive). */
export const KIND_PLAIN = 0;
export const KIND_ALTERNATE = 1;
export const KIND_ZERO = 2;
export const KIND_NO_WRITE = 3;

/** LUNs of generated tables: primaries on 1..4, alternates on 5..8, LUN 9 empty (free space). */
export const PRIMARY_LUNS = 4;
export const ALTERNATE_LUN_BASE = 5;
export const FREE_LUN = 9;

/**
 * A generated table, as plain columns, from which each implementation builds its own
 * representation. Per segment: about 10% have an alternate with a random-density written
 * bitmap, 1% are `zero`, 5% are `noWrite`, the rest plain (the kinds are exclusive). Primaries
 * are spread over LUNs 1..4 in a random order (a permutation), so neighbouring segments are not
 * physically contiguous; alternates sit on LUNs 5..8.
 */
export interface Dataset {
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  readonly kind: Uint8Array;
  readonly lun: Uint32Array;
  readonly start: Float64Array;
  /** Index into `alternates`, or -1. */
  readonly altIndex: Int32Array;
  readonly alternates: ReadonlyArray<{ readonly lun: number; readonly start: number; readonly blocks: Bitmap }>;
  /** Blocks per LUN needed to hold every extent (LUNs 1..8). */
  readonly lunSizes: Readonly<Record<number, number>>;
}

export interface DatasetMix {
  readonly alternate: number;
  readonly zero: number;
  readonly noWrite: number;
}

export const STANDARD_MIX: DatasetMix = { alternate: 0.1, zero: 0.01, noWrite: 0.05 };

export const generateDataset = (segmentCount: number, seed: number, mix: DatasetMix = STANDARD_MIX): Dataset => {
  const prng = createPrng(seed);
  const sb = SEGMENT_BLOCKS;
  const perm = new Uint32Array(segmentCount);
  for (let i = 0; i < segmentCount; i++) perm[i] = i;
  for (let i = segmentCount - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const kind = new Uint8Array(segmentCount);
  const lun = new Uint32Array(segmentCount);
  const start = new Float64Array(segmentCount);
  const altIndex = new Int32Array(segmentCount).fill(-1);
  const alternates: { lun: number; start: number; blocks: Bitmap }[] = [];
  for (let s = 0; s < segmentCount; s++) {
    const r = prng.next();
    const p = perm[s]!;
    lun[s] = 1 + (p % PRIMARY_LUNS);
    start[s] = Math.floor(p / PRIMARY_LUNS) * sb;
    if (r < mix.alternate) {
      kind[s] = KIND_ALTERNATE;
      const i = alternates.length;
      altIndex[s] = i;
      alternates.push({
        lun: ALTERNATE_LUN_BASE + (i % PRIMARY_LUNS),
        start: Math.floor(i / PRIMARY_LUNS) * sb,
        blocks: writtenBitmap(prng, sb, prng.next()),
      });
    } else if (r < mix.alternate + mix.zero) {
      kind[s] = KIND_ZERO;
    } else if (r < mix.alternate + mix.zero + mix.noWrite) {
      kind[s] = KIND_NO_WRITE;
    }
  }
  const lunSizes: Record<number, number> = {};
  for (let l = 0; l < PRIMARY_LUNS; l++) {
    lunSizes[1 + l] = Math.ceil(segmentCount / PRIMARY_LUNS) * sb;
    lunSizes[ALTERNATE_LUN_BASE + l] = Math.max(1, Math.ceil(alternates.length / PRIMARY_LUNS)) * sb;
  }
  return { segmentBlocks: sb, segmentCount, kind, lun, start, altIndex, alternates, lunSizes };
};

/** The library's entry spec of segment `s` (zero segments have no primary). */
export const entrySpec = (ds: Dataset, s: number): EntrySpec => {
  switch (ds.kind[s]) {
    case KIND_ZERO:
      return { zero: true };
    case KIND_NO_WRITE:
      return { location: { lun: ds.lun[s]!, start: ds.start[s]! }, noWrite: true };
    case KIND_ALTERNATE:
      return { location: { lun: ds.lun[s]!, start: ds.start[s]! }, alternate: ds.alternates[ds.altIndex[s]!]! };
    default:
      return { location: { lun: ds.lun[s]!, start: ds.start[s]! } };
  }
};

export const libraryTable = (ds: Dataset): MappingTable =>
  unwrap(createTable({ segmentBlocks: ds.segmentBlocks, segmentCount: ds.segmentCount, entries: (s) => entrySpec(ds, s) }), 'createTable');

/** The raw baseline's table: one flat pair of columns, no flags, no bitmaps. */
export interface RawTable {
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  readonly lun: Uint32Array;
  readonly start: Float64Array;
}

export const rawTable = (ds: Dataset): RawTable => ({
  segmentBlocks: ds.segmentBlocks,
  segmentCount: ds.segmentCount,
  lun: ds.lun.slice(),
  start: ds.start.slice(),
});

/** The naive baseline's entry: a plain object, with the bitmap as one byte per block. */
export interface PlainEntry {
  location: { lun: number; start: number } | null;
  invalid: boolean;
  noWrite: boolean;
  zero: boolean;
  error: boolean;
  alternate: { lun: number; start: number; blocks: Uint8Array } | null;
}

export const plainEntry = (ds: Dataset, s: number): PlainEntry => {
  const k = ds.kind[s];
  let alternate: PlainEntry['alternate'] = null;
  if (k === KIND_ALTERNATE) {
    const a = ds.alternates[ds.altIndex[s]!]!;
    const blocks = new Uint8Array(ds.segmentBlocks);
    for (let b = 0; b < ds.segmentBlocks; b++) blocks[b] = (a.blocks.words[b >>> 5]! >>> (b & 31)) & 1;
    alternate = { lun: a.lun, start: a.start, blocks };
  }
  return {
    location: k === KIND_ZERO ? null : { lun: ds.lun[s]!, start: ds.start[s]! },
    invalid: false,
    noWrite: k === KIND_NO_WRITE,
    zero: k === KIND_ZERO,
    error: false,
    alternate,
  };
};

export const plainEntries = (ds: Dataset): PlainEntry[] => {
  const out: PlainEntry[] = [];
  for (let s = 0; s < ds.segmentCount; s++) out.push(plainEntry(ds, s));
  return out;
};

// ---------------------------------------------------------------------------------------------
// Data: requests

/** Host requests as columns: `op` 0 = read, 1 = write. */
export interface Requests {
  readonly count: number;
  readonly op: Uint8Array;
  readonly start: Float64Array;
  readonly length: Uint8Array;
}

/** `count` requests of 1 to 64 blocks at uniformly random virtual addresses, 70% reads. */
export const generateRequests = (count: number, diskBlocks: number, seed: number): Requests => {
  const prng = createPrng(seed);
  const op = new Uint8Array(count);
  const start = new Float64Array(count);
  const length = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const len = 1 + prng.int(64);
    op[i] = prng.next() < 0.7 ? 0 : 1;
    length[i] = len;
    start[i] = prng.int(diskBlocks - len + 1);
  }
  return { count, op, start, length };
};

// ---------------------------------------------------------------------------------------------
// Lazily built data, shared by the parts of one workload (each workload runs in its own process)

const cache = new Map<string, unknown>();

/** Builds `make()` once per key. */
export const cached = <T>(key: string, make: () => T): T => {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key) as T;
};

export const dataset = (o: BenchOptions): Dataset => cached(`dataset:${o.segments}:${o.seed}`, () => generateDataset(o.segments, o.seed));

// ---------------------------------------------------------------------------------------------
// Formatting

/** A number with 3 significant digits (more for big integers), thousands separated. */
export const fmt = (x: number): string => {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
};

// ---------------------------------------------------------------------------------------------
// The raw translation baseline (workloads translate-into and translate)

/** Output of {@link rawTranslate}: one piece per segment touched, as columns. */
export class RawBuffer {
  count = 0;
  readonly virtualStart = new Float64Array(16);
  readonly length = new Float64Array(16);
  readonly lun = new Uint32Array(16);
  readonly start = new Float64Array(16);
}

/**
 * Only the arithmetic and typed-array loads of translation through a flat table: split at
 * segment boundaries and map each part to its primary. No flags, no bitmaps, no validation.
 * Requests of at most 64 blocks touch at most 2 segments, so the buffer never grows.
 */
export const rawTranslate = (t: RawTable, start: number, length: number, out: RawBuffer): number => {
  out.count = 0;
  const sb = t.segmentBlocks;
  const end = start + length;
  let segment = Math.floor(start / sb);
  let base = segment * sb;
  let v = start;
  while (v < end) {
    const segmentEnd = Math.min(end, base + sb);
    const i = out.count++;
    out.virtualStart[i] = v;
    out.length[i] = segmentEnd - v;
    out.lun[i] = t.lun[segment]!;
    out.start[i] = t.start[segment]! + (v - base);
    v = segmentEnd;
    segment++;
    base += sb;
  }
  return out.count;
};

/** Requests per round of the translation workloads. */
export const translationRequests = (o: BenchOptions): Requests =>
  cached(`requests:${o.segments}:${o.seed}:${o.quick}`, () => generateRequests(o.quick ? 50_000 : 500_000, o.segments * SEGMENT_BLOCKS, o.seed + 1));

export const benchTable = (o: BenchOptions): MappingTable => cached(`table:${o.segments}:${o.seed}`, () => libraryTable(dataset(o)));

/** The big table's entries as plain objects (the naive and immer baselines). */
export const benchPlainEntries = (o: BenchOptions): PlainEntry[] => cached(`plain:${o.segments}:${o.seed}`, () => plainEntries(dataset(o)));

export const benchRawTable = (o: BenchOptions): RawTable => cached(`raw:${o.segments}:${o.seed}`, () => rawTable(dataset(o)));

/** The raw baseline over every request: nanoseconds per request. */
export const runRaw = (t: RawTable, rq: Requests, out: RawBuffer): number => nsPerOp(rq.count, () => rawRound(t, rq, out));

/**
 * One round of the raw baseline. A function made once, not a closure made per round: V8 compiled
 * a loop inside a closure created afresh for each round two times slower here (53 ms against 24 ms
 * per 500,000 requests), and the translation workloads' subjects the same way, which hid most of
 * what either side costs (bench/README.md, translation targets). A real caller's loop is long-lived.
 */
const rawRound = (t: RawTable, rq: Requests, out: RawBuffer): void => {
  let acc = 0;
  for (let i = 0; i < rq.count; i++) acc += rawTranslate(t, rq.start[i]!, rq.length[i]!, out);
  consume(acc);
};
