/**
 * 2. `translate` (pieces as objects, wrapped in an `Either`) vs the same raw baseline as
 * translate-into. Target: at most 3x the baseline's time.
 */
import * as E from 'fp-ts/lib/Either.js';
import { translate, type IoRequest } from '../../src/translate/translate.js';
import {
  benchRawTable,
  benchTable,
  cached,
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
  type Requests,
  type Result,
  type Workload,
} from '../lib.js';

/** The requests as the objects `translate` takes (built once: they are the caller's input). */
export const requestObjects = (o: BenchOptions): IoRequest[] =>
  cached(`requestObjects:${o.segments}:${o.seed}:${o.quick}`, () => {
    const rq: Requests = translationRequests(o);
    const out: IoRequest[] = [];
    for (let i = 0; i < rq.count; i++) out.push({ op: rq.op[i] === 1 ? 'write' : 'read', start: rq.start[i]!, length: rq.length[i]! });
    return out;
  });

/** `translate` over every request: nanoseconds per request. */
export const runTranslate = (o: BenchOptions): (() => number) => {
  const table = benchTable(o);
  const reqs = requestObjects(o);
  // Made once, not per round (as the baseline's loop, bench/lib.ts rawRound).
  const round = (): void => {
    let acc = 0;
    for (let i = 0; i < reqs.length; i++) {
      const res = translate(table, reqs[i]!);
      acc += E.isRight(res) ? res.right.length : 1000;
    }
    consume(acc);
  };
  return () => nsPerOp(reqs.length, round);
};

export const translateWorkload: Workload = {
  name: 'translate',
  title: 'translate (objects, Either) vs raw flat-table arithmetic',
  run(o: BenchOptions): Result[] {
    const raw = benchRawTable(o);
    const rq = translationRequests(o);
    const rawBuf = new RawBuffer();
    const r = interleave(o.rounds, runTranslate(o), () => runRaw(raw, rq, rawBuf));
    return [
      result(
        {
          name: 'translate',
          unit: 'ns/request',
          value: median(r.subject),
          baseline: 'raw flat-table arithmetic',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => s / b),
        },
        { direction: 'atMost', bound: 3, ratioIs: 'time/baseline' },
      ),
    ];
  },
};
