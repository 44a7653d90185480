/**
 * 1. Allocation-free translation (`translateInto` with a reused `PieceBuffer`) vs the raw
 * baseline: the arithmetic and typed-array loads of a flat table, without flags or bitmaps.
 * Target: at most 2x the baseline's time.
 */
import { PieceBuffer, translateInto } from '../../src/translate/translate.js';
import {
  benchRawTable,
  benchTable,
  consume,
  interleave,
  median,
  medianRatio,
  nsPerOp,
  RawBuffer,
  result,
  runRaw,
  translationRequests,
  type BenchOptions,
  type Result,
  type Workload,
} from '../lib.js';

export const translateIntoWorkload: Workload = {
  name: 'translate-into',
  title: 'translateInto (reused PieceBuffer) vs raw flat-table arithmetic',
  run(o: BenchOptions): Result[] {
    const table = benchTable(o);
    const raw = benchRawTable(o);
    const rq = translationRequests(o);
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
          name: 'translate-into',
          unit: 'ns/request',
          value: median(r.subject),
          baseline: 'raw flat-table arithmetic',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => s / b),
        },
        { direction: 'atMost', bound: 2, ratioIs: 'time/baseline' },
      ),
    ];
  },
};
