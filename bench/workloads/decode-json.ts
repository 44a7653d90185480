/**
 * 8. Decoding the JSON form of the big table (`decodeTableJson`: parse, validate every entry,
 * build the chunked table) vs `JSON.parse` of the same text alone. No target: the time and the
 * ratio are reported.
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeTableJson, encodeTableJson } from '../../src/table/codec.js';
import { benchTable, consume, interleave, median, medianRatio, now, result, type BenchOptions, type Result, type Workload } from '../lib.js';

export const decodeJsonWorkload: Workload = {
  name: 'decode-json',
  title: 'decodeTableJson of the big table vs JSON.parse of the same text',
  run(o: BenchOptions): Result[] {
    const text = encodeTableJson(benchTable(o));
    o.log(`decode-json: document of ${(text.length / 1e6).toFixed(1)} MB`);
    const rounds = o.quick ? o.rounds : Math.min(o.rounds, 5);
    const decode = (): number => {
      const t0 = now();
      const t = decodeTableJson(text);
      const ms = now() - t0;
      if (E.isLeft(t)) throw new Error(`bench: decodeTableJson failed: ${t.left[0]?.message}`);
      consume(t.right.segmentCount);
      return ms;
    };
    const parse = (): number => {
      const t0 = now();
      const v = JSON.parse(text) as { entries: unknown[] };
      const ms = now() - t0;
      consume(v.entries.length);
      return ms;
    };
    const r = interleave(rounds, decode, parse);
    return [
      result(
        {
          name: 'decode-json',
          unit: 'ms/table',
          value: median(r.subject),
          baseline: 'JSON.parse of the same text',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => s / b),
        },
        null,
      ),
    ];
  },
};
