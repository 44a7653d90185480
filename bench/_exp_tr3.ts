import { generateDataset, libraryTable, rawTable, rawTranslate, RawBuffer, generateRequests, nsPerOp, consume, SEGMENT_BLOCKS } from './lib.js';
import { PieceBuffer, translateInto } from '../src/translate/translate.js';
import type { MappingTable } from '../src/table/table.js';
const N = Number(process.argv[2] ?? 1 << 20);
const ds0 = generateDataset(N, 20240601, { alternate: 0, zero: 0.01, noWrite: 0.05 });
const t0 = libraryTable(ds0), raw = rawTable(ds0);
const rq = generateRequests(500_000, N * SEGMENT_BLOCKS, 20240602);
const rb = new RawBuffer(); const buf = new PieceBuffer(64);
const fastA = (table: MappingTable, op: string, start: number, length: number, out: PieceBuffer): number => {
  out.count = 0; out.failureCount = 0;
  const sb = table.segmentBlocks;
  const end = start + length;
  const write = op === 'write';
  const segment = Math.floor(start / sb);
  const segmentBase = segment * sb;
  if (end <= segmentBase + sb && length > 0) {
    const rec = table.chunks[segment >>> 10]!.rec;
    const r = (segment & 1023) * 4;
    const flags = rec[r]! & (write ? 0xff : 0xff & ~2);
    if (flags === 16) {
      out.kind[0] = 0; out.marks[0] = 0; out.virtualStart[0] = start; out.length[0] = length;
      out.lun[0] = rec[r + 1]!; out.start[0] = rec[r + 2]! + rec[r + 3]! * 4294967296 + (start - segmentBase);
      out.count = 1; return 0;
    }
  }
  return 5;
};
const fastB = (table: MappingTable, op: string, start: number, length: number, out: PieceBuffer): number => {
  out.count = 0; out.failureCount = 0;
  if (!(Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(length) && length >= 0) || (op !== 'read' && op !== 'write')) return 4;
  const sb = table.segmentBlocks;
  const end = start + length;
  if (end > table.segmentCount * sb) return 3;
  return fastA(table, op, start, length, out);
};
const run = (f: typeof fastA) => () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += f(t0, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count; consume(acc); });
const rawT = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += rawTranslate(raw, rq.start[i]!, rq.length[i]!, rb); consume(acc); });
for (let r = 0; r < 5; r++) console.log(`rawT ${rawT().toFixed(1)} fastA ${run(fastA)().toFixed(1)} fastB ${run(fastB)().toFixed(1)} tr ${run(translateInto as any)().toFixed(1)}`);
const flat = new Uint32Array(N * 4); t0.chunks.forEach((c, ci) => flat.set(c.rec, ci * 4096));
const inBase = new Uint8Array(t0.chunks.length).fill(1);
const T = { ...t0, base: flat, inBase } as any;
const fastFlat = (table: any, op: string, start: number, length: number, out: PieceBuffer): number => {
  out.count = 0; out.failureCount = 0;
  const sb = table.segmentBlocks;
  const end = start + length;
  const write = op === 'write';
  const segment = Math.floor(start / sb);
  const segmentBase = segment * sb;
  if (end <= segmentBase + sb && length > 0) {
    const ci = segment >>> 10;
    let rec: Uint32Array, r: number;
    if (table.inBase[ci] === 1) { rec = table.base; r = segment * 4; } else { rec = table.chunks[ci].rec; r = (segment & 1023) * 4; }
    const flags = rec[r]! & (write ? 0xff : 0xff & ~2);
    if (flags === 16) {
      out.kind[0] = 0; out.marks[0] = 0; out.virtualStart[0] = start; out.length[0] = length;
      out.lun[0] = rec[r + 1]!; out.start[0] = rec[r + 2]! + rec[r + 3]! * 4294967296 + (start - segmentBase);
      out.count = 1; return 0;
    }
  }
  return 5;
};
const runF = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += fastFlat(T, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count; consume(acc); });
for (let r = 0; r < 5; r++) console.log(`rawT ${rawT().toFixed(1)} fastA ${run(fastA)().toFixed(1)} fastFlat ${runF().toFixed(1)}`);
const rawRec = (table: any, start: number, length: number, out: RawBuffer): number => {
  out.count = 0;
  const sb = table.segmentBlocks;
  const end = start + length;
  let segment = Math.floor(start / sb);
  let base = segment * sb;
  let v = start;
  const rec = table.base as Uint32Array;
  while (v < end) {
    const segmentEnd = Math.min(end, base + sb);
    const i = out.count++;
    out.virtualStart[i] = v;
    out.length[i] = segmentEnd - v;
    out.lun[i] = rec[segment * 4 + 1]!;
    out.start[i] = rec[segment * 4 + 2]! + (v - base);
    v = segmentEnd; segment++; base += sb;
  }
  return out.count;
};
const runRR = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += rawRec(T, rq.start[i]!, rq.length[i]!, rb); consume(acc); });
const runOnlyOp = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += fastFlat(T, 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count; consume(acc); });
for (let r = 0; r < 5; r++) console.log(`rawT ${rawT().toFixed(1)} rawRec ${runRR().toFixed(1)} fastFlat ${runF().toFixed(1)} fastFlatReadsOnly ${runOnlyOp().toFixed(1)}`);
