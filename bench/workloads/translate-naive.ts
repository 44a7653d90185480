/**
 * 3. Translation vs a naive implementation: an array of plain entry objects (bitmaps as one
 * byte per block) and a decision per block, merging blocks into pieces as it goes.
 * Both return pieces as objects, so they do the same job; `translateInto` (no objects) is
 * reported beside it. Reported only: on requests of 1 to 64 blocks the per-request costs
 * dominate (the raw baseline is itself only about 20x faster than the naive translator); the
 * target is on large requests (`translate-naive-large`).
 */
import * as E from 'fp-ts/lib/Either.js';
import { PieceBuffer, translate, translateInto, type IoRequest } from '../../src/translate/translate.js';
import {
  benchPlainEntries,
  consume,
  interleave,
  median,
  medianRatio,
  nsPerOp,
  result,
  SEGMENT_BLOCKS,
  translationRequests,
  benchTable,
  type BenchOptions,
  type PlainEntry,
  type Result,
  type Workload,
} from '../lib.js';
import { requestObjects, runTranslate } from './translate.js';

export interface NaivePiece {
  kind: 'primary' | 'alternate' | 'zero';
  virtualStart: number;
  length: number;
  lun: number;
  start: number;
}

export type NaiveResult =
  | { type: 'ok'; pieces: NaivePiece[] }
  | { type: 'fault'; faults: { segment: number; reason: 'invalid' | 'zero' | 'no-write' }[] }
  | { type: 'error'; segments: number[] };

/** The decision table of docs/design.md#per-block-decision-table, evaluated block by block. */
export const naiveTranslate = (entries: PlainEntry[], segmentBlocks: number, request: IoRequest): NaiveResult => {
  const write = request.op === 'write';
  const pieces: NaivePiece[] = [];
  const faults: { segment: number; reason: 'invalid' | 'zero' | 'no-write' }[] = [];
  const errors: number[] = [];
  const end = request.start + request.length;
  for (let v = request.start; v < end; v++) {
    const segment = Math.floor(v / segmentBlocks);
    const k = v % segmentBlocks;
    const e = entries[segment]!;
    let reason: 'invalid' | 'zero' | 'no-write' | null = null;
    let kind: NaivePiece['kind'] = 'primary';
    let lun = 0;
    let start = 0;
    if (e.invalid) reason = 'invalid';
    else if (e.error) {
      if (errors[errors.length - 1] !== segment) errors.push(segment);
      continue;
    } else if (e.alternate !== null && e.alternate.blocks[k] === 1) {
      kind = 'alternate';
      lun = e.alternate.lun;
      start = e.alternate.start + k;
    } else if (e.zero) {
      if (write) reason = 'zero';
      else kind = 'zero';
    } else if (write && e.noWrite) reason = 'no-write';
    else {
      lun = e.location!.lun;
      start = e.location!.start + k;
    }
    if (reason !== null) {
      if (faults.length === 0 || faults[faults.length - 1]!.segment !== segment) faults.push({ segment, reason });
      continue;
    }
    const last = pieces[pieces.length - 1];
    if (
      last !== undefined &&
      last.kind === kind &&
      last.virtualStart + last.length === v &&
      (kind === 'zero' || (last.lun === lun && last.start + last.length === start))
    )
      last.length++;
    else pieces.push({ kind, virtualStart: v, length: 1, lun, start });
  }
  if (faults.length > 0) return { type: 'fault', faults };
  if (errors.length > 0) return { type: 'error', segments: errors };
  return { type: 'ok', pieces };
};

/** Both implementations must give the same answers, or the comparison means nothing. */
export const checkAgreement = (o: BenchOptions, entries: PlainEntry[], reqs: IoRequest[]): void => {
  const table = benchTable(o);
  for (let i = 0; i < Math.min(reqs.length, 20_000); i++) {
    const a = translate(table, reqs[i]!);
    const b = naiveTranslate(entries, SEGMENT_BLOCKS, reqs[i]!);
    const same = E.isRight(a)
      ? b.type === 'ok' &&
        a.right.length === b.pieces.length &&
        a.right.every((p, j) => {
          const q = b.pieces[j]!;
          return p.kind === q.kind && p.virtualStart === q.virtualStart && p.length === q.length && (p.kind === 'zero' || (p.lun === q.lun && p.start === q.start));
        })
      : a.left.type === 'fault'
        ? b.type === 'fault' && a.left.faults.length === b.faults.length && a.left.faults.every((f, j) => f.segment === b.faults[j]!.segment && f.reason === b.faults[j]!.reason)
        : b.type === 'error';
    if (!same) throw new Error(`bench: translate and the naive baseline disagree on ${JSON.stringify(reqs[i])}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
};

export const translateNaiveWorkload: Workload = {
  name: 'translate-naive',
  title: 'translate vs naive per-block translation over plain entry objects',
  run(o: BenchOptions): Result[] {
    const entries = benchPlainEntries(o);
    const reqs = requestObjects(o);
    checkAgreement(o, entries, reqs);
    const naive = (): number =>
      nsPerOp(reqs.length, () => {
        let acc = 0;
        for (let i = 0; i < reqs.length; i++) {
          const res = naiveTranslate(entries, SEGMENT_BLOCKS, reqs[i]!);
          acc += res.type === 'ok' ? res.pieces.length : 1000;
        }
        consume(acc);
      });
    const r = interleave(o.rounds, runTranslate(o), naive);
    const table = benchTable(o);
    const rq = translationRequests(o);
    const buf = new PieceBuffer(64);
    const into = (): number =>
      nsPerOp(rq.count, () => {
        let acc = 0;
        for (let i = 0; i < rq.count; i++) acc += translateInto(table, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count;
        consume(acc);
      });
    const r2 = interleave(o.rounds, into, naive);
    return [
      result(
        {
          name: 'translate-naive',
          unit: 'ns/request',
          value: median(r.subject),
          baseline: 'naive per-block, plain objects',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => b / s),
        },
        null,
      ),
      result(
        {
          name: 'translate-into-naive',
          unit: 'ns/request',
          value: median(r2.subject),
          baseline: 'naive per-block, plain objects',
          baselineValue: median(r2.baseline),
          ratio: medianRatio(r2, (s, b) => b / s),
        },
        null,
      ),
    ];
  },
};
