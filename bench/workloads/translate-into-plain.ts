/**
 * 1b. `translateInto` where translation has the least to do beyond the raw baseline: a table
 * without alternates (1% `zero`, 5% `noWrite`, the rest plain) and requests of 1 to 64 blocks
 * that lie inside one segment (70% reads), vs the raw baseline on the same table and requests.
 * Target: at most 1.75x the baseline's time.
 */
import { PieceBuffer, translateInto } from '../../src/translate/translate.js';
import {
  cached,
  consume,
  createPrng,
  generateDataset,
  interleave,
  libraryTable,
  median,
  medianRatio,
  nsPerOp,
  RawBuffer,
  rawTable,
  result,
  runRaw,
  SEGMENT_BLOCKS,
  type BenchOptions,
  type Requests,
  type Result,
  type Workload,
} from '../lib.js';

/** The standard mix without alternates. */
export const NO_ALTERNATES = { alternate: 0, zero: 0.01, noWrite: 0.05 } as const;

/** `count` requests of 1 to 64 blocks, each inside one segment, 70% reads. */
export const oneSegmentRequests = (count: number, segmentCount: number, seed: number): Requests => {
  const prng = createPrng(seed);
  const op = new Uint8Array(count);
  const start = new Float64Array(count);
  const length = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const len = 1 + prng.int(64);
    op[i] = prng.next() < 0.7 ? 0 : 1;
    length[i] = len;
    start[i] = prng.int(segmentCount) * SEGMENT_BLOCKS + prng.int(SEGMENT_BLOCKS - len + 1);
  }
  return { count, op, start, length };
};

export const translateIntoPlainWorkload: Workload = {
  name: 'translate-into-plain',
  title: 'translateInto vs raw, table without alternates, requests inside one segment',
  run(o: BenchOptions): Result[] {
    const ds = cached('plain-dataset', () => generateDataset(o.segments, o.seed, NO_ALTERNATES));
    const table = libraryTable(ds);
    const raw = rawTable(ds);
    const rq = oneSegmentRequests(o.quick ? 50_000 : 500_000, o.segments, o.seed + 2);
    const buf = new PieceBuffer(64);
    const rawBuf = new RawBuffer();
    // Made once, not per round (as the baseline's loop, bench/lib.ts rawRound).
    const round = (): void => {
      let acc = 0;
      for (let i = 0; i < rq.count; i++) acc += translateInto(table, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count;
      consume(acc);
    };
    const subject = (): number => nsPerOp(rq.count, round);
    const r = interleave(o.rounds, subject, () => runRaw(raw, rq, rawBuf));
    return [
      result(
        {
          name: 'translate-into-plain',
          unit: 'ns/request',
          value: median(r.subject),
          baseline: 'raw flat-table arithmetic',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => s / b),
        },
        { direction: 'atMost', bound: 1.75, ratioIs: 'time/baseline' },
      ),
    ];
  },
};
