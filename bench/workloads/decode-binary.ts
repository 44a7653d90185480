/**
 * 9. Decoding the binary form of the big table (`decodeTableBinary`: length and CRC-32C checks,
 * copy into the records, validate every record and alternate) vs `decodeTable` of the same
 * table's JSON document, already parsed (the baseline leaves `JSON.parse` out, so it is the
 * cheapest the JSON form gets). Target: at least 20x faster. Also the size of the binary form
 * of a table without alternates (target: at most 17 bytes per segment; the JSON text for
 * comparison) and, reported only, of the standard table.
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeTableBinary, encodeTableBinary } from '../../src/table/binary-codec.js';
import { decodeTable, encodeTable, encodeTableJson } from '../../src/table/codec.js';
import { tablesEqual } from '../../src/table/table.js';
import {
  benchTable,
  consume,
  generateDataset,
  interleave,
  libraryTable,
  median,
  medianRatio,
  now,
  result,
  type BenchOptions,
  type Result,
  type Workload,
} from '../lib.js';

export const decodeBinaryWorkload: Workload = {
  name: 'decode-binary',
  title: 'decodeTableBinary of the big table vs decodeTable of its (parsed) JSON document',
  run(o: BenchOptions): Result[] {
    const table = benchTable(o);
    const bytes = encodeTableBinary(table);
    const check = decodeTableBinary(bytes);
    if (E.isLeft(check) || !tablesEqual(check.right, table)) throw new Error('bench: decodeTableBinary does not give the table back');
    o.log(`decode-binary: ${(bytes.length / 1e6).toFixed(1)} MB binary, ${table.segmentCount.toLocaleString('en-US')} segments`);
    const rounds = o.quick ? o.rounds : Math.max(o.rounds, 7);
    const binary = (): number => {
      const t0 = now();
      const t = decodeTableBinary(bytes);
      const ms = now() - t0;
      if (E.isLeft(t)) throw new Error(`bench: decodeTableBinary failed: ${t.left[0]?.message}`);
      consume(t.right.segmentCount);
      return ms;
    };
    // The document is built afresh each round (untimed) and dropped after it, so that it does not
    // stay live and make every garbage collection during the binary rounds trace a million objects.
    const json = (): number => {
      const doc = encodeTable(table);
      const t0 = now();
      const t = decodeTable(doc);
      const ms = now() - t0;
      if (E.isLeft(t)) throw new Error(`bench: decodeTable failed: ${t.left[0]?.message}`);
      consume(t.right.segmentCount);
      return ms;
    };
    const r = interleave(rounds, binary, json);

    const plain = libraryTable(generateDataset(o.segments, o.seed, { alternate: 0, zero: 0.01, noWrite: 0.05 }));
    const plainBytes = encodeTableBinary(plain).length / plain.segmentCount;
    const plainJson = Buffer.byteLength(encodeTableJson(plain)) / plain.segmentCount;
    const jsonBytes = Buffer.byteLength(encodeTableJson(table)) / table.segmentCount;
    return [
      result(
        {
          name: 'decode-binary',
          unit: 'ms/table',
          value: median(r.subject),
          baseline: 'decodeTable of the parsed JSON document',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => b / s),
        },
        { direction: 'atLeast', bound: 20, ratioIs: 'speedup' },
      ),
      result(
        {
          name: 'decode-binary-size',
          unit: 'bytes/segment',
          value: plainBytes,
          baseline: 'JSON text, no alternates',
          baselineValue: plainJson,
          ratio: plainJson / plainBytes,
        },
        { direction: 'atMost', bound: 17, ratioIs: 'bytes/segment', on: 'value' },
      ),
      result(
        {
          name: 'decode-binary-size-mix',
          unit: 'bytes/segment',
          value: bytes.length / table.segmentCount,
          baseline: 'JSON text, standard mix',
          baselineValue: jsonBytes,
          ratio: jsonBytes / (bytes.length / table.segmentCount),
        },
        null,
      ),
    ];
  },
};
