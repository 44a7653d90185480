import { generateDataset, libraryTable, rawTable, rawTranslate, RawBuffer, generateRequests, nsPerOp, consume, SEGMENT_BLOCKS } from './lib.js';
import { translateInto, PieceBuffer } from '../src/translate/translate.js';
const N = Number(process.argv[2] ?? 1 << 20);
const ds0 = generateDataset(N, 20240601, { alternate: 0, zero: 0.01, noWrite: 0.05 });
const t0 = libraryTable(ds0), raw = rawTable(ds0);
const rq = generateRequests(500_000, N * SEGMENT_BLOCKS, 20240602);
const rb = new RawBuffer(); const buf = new PieceBuffer(64);
// flat record array of the whole table, for comparison
const flat = new Uint32Array(N * 4); t0.chunks.forEach((c, ci) => flat.set(c.rec, ci * 4096));
const loadsChunk = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) { const seg = Math.floor(rq.start[i]! / 256); const c = t0.chunks[seg >>> 10]!; const r = (seg & 1023) * 4; acc += c.rec[r]! + c.rec[r + 1]! + c.rec[r + 2]!; } consume(acc); });
const loadsFlat = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) { const seg = Math.floor(rq.start[i]! / 256); const r = seg * 4; acc += flat[r]! + flat[r + 1]! + flat[r + 2]!; } consume(acc); });
const loadsRaw = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) { const seg = Math.floor(rq.start[i]! / 256); acc += raw.lun[seg]! + raw.start[seg]!; } consume(acc); });
const rawT = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += rawTranslate(raw, rq.start[i]!, rq.length[i]!, rb); consume(acc); });
const tr = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += translateInto(t0, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count; consume(acc); });
for (let r = 0; r < 5; r++) console.log(`chunkLoads ${loadsChunk().toFixed(1)} flatLoads ${loadsFlat().toFixed(1)} rawLoads ${loadsRaw().toFixed(1)} rawT ${rawT().toFixed(1)} trNoAlt ${tr().toFixed(1)}`);
const recs = t0.chunks.map((c) => c.rec);
const loadsRecs = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) { const seg = Math.floor(rq.start[i]! / 256); const rec = recs[seg >>> 10]!; const r = (seg & 1023) * 4; acc += rec[r]! + rec[r + 1]! + rec[r + 2]!; } consume(acc); });
// 4096-seg chunks
const big: Uint32Array[] = []; for (let i = 0; i < N / 4096; i++) big.push(flat.slice(i * 4096 * 4, (i + 1) * 4096 * 4));
const loadsBig = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) { const seg = Math.floor(rq.start[i]! / 256); const rec = big[seg >>> 12]!; const r = (seg & 4095) * 4; acc += rec[r]! + rec[r + 1]! + rec[r + 2]!; } consume(acc); });
for (let r = 0; r < 5; r++) console.log(`chunkLoads ${loadsChunk().toFixed(1)} recs ${loadsRecs().toFixed(1)} big4096 ${loadsBig().toFixed(1)} flatLoads ${loadsFlat().toFixed(1)} rawLoads ${loadsRaw().toFixed(1)}`);
