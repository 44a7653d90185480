/**
 * 3b. `translate` vs the naive per-block translator on large requests, 256 to 4,096 blocks (1 to
 * 17 segments of 256 blocks), on the standard table, 70% reads: where per-block work dominates
 * and the per-request costs that both pay matter little. Target: `translate` at least 20x faster.
 */
import * as E from 'fp-ts/lib/Either.js';
import { translate, type IoRequest } from '../../src/translate/translate.js';
import {
  benchPlainEntries,
  benchTable,
  consume,
  createPrng,
  interleave,
  median,
  medianRatio,
  nsPerOp,
  result,
  SEGMENT_BLOCKS,
  type BenchOptions,
  type Result,
  type Workload,
} from '../lib.js';
import { checkAgreement, naiveTranslate } from './translate-naive.js';

/** `count` requests of 256 to 4,096 blocks at uniformly random virtual addresses, 70% reads. */
export const largeRequests = (count: number, diskBlocks: number, seed: number): IoRequest[] => {
  const prng = createPrng(seed);
  const out: IoRequest[] = [];
  for (let i = 0; i < count; i++) {
    const length = 256 + prng.int(4096 - 256 + 1);
    const op = prng.next() < 0.7 ? 'read' : 'write';
    out.push({ op, start: prng.int(diskBlocks - length + 1), length });
  }
  return out;
};

export const translateNaiveLargeWorkload: Workload = {
  name: 'translate-naive-large',
  title: 'translate vs naive per-block translation, requests of 256 to 4,096 blocks',
  run(o: BenchOptions): Result[] {
    const table = benchTable(o);
    const entries = benchPlainEntries(o);
    const reqs = largeRequests(o.quick ? 2_000 : 20_000, o.segments * SEGMENT_BLOCKS, o.seed + 3);
    checkAgreement(o, entries, reqs);
    const time = (f: (r: IoRequest) => number) => (): number =>
      nsPerOp(reqs.length, () => {
        let acc = 0;
        for (let i = 0; i < reqs.length; i++) acc += f(reqs[i]!);
        consume(acc);
      });
    const subject = time((q) => {
      const res = translate(table, q);
      return E.isRight(res) ? res.right.length : 1000;
    });
    const naive = time((q) => {
      const res = naiveTranslate(entries, SEGMENT_BLOCKS, q);
      return res.type === 'ok' ? res.pieces.length : 1000;
    });
    const r = interleave(o.rounds, subject, naive);
    return [
      result(
        {
          name: 'translate-naive-large',
          unit: 'ns/request',
          value: median(r.subject),
          baseline: 'naive per-block, plain objects',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => b / s),
        },
        { direction: 'atLeast', bound: 20, ratioIs: 'speedup' },
      ),
    ];
  },
};
