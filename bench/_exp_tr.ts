import { translateInto, PieceBuffer } from '../src/translate/translate.js';
import { generateDataset, libraryTable, rawTable, rawTranslate, RawBuffer, generateRequests, nsPerOp, consume, SEGMENT_BLOCKS } from './lib.js';
const N = Number(process.argv[2] ?? 1 << 20);
const ds = generateDataset(N, 20240601);
const ds0 = generateDataset(N, 20240601, { alternate: 0, zero: 0.01, noWrite: 0.05 });
const t = libraryTable(ds), t0 = libraryTable(ds0), raw = rawTable(ds);
const rq = generateRequests(500_000, N * SEGMENT_BLOCKS, 20240602);
const buf = new PieceBuffer(64), rb = new RawBuffer();
const runT = (tab: typeof t) => () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += translateInto(tab, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf) + buf.count; consume(acc); });
const runR = () => nsPerOp(rq.count, () => { let acc = 0; for (let i = 0; i < rq.count; i++) acc += rawTranslate(raw, rq.start[i]!, rq.length[i]!, rb); consume(acc); });
for (let r = 0; r < 5; r++) {
  const a = runT(t)(), b = runT(t0)(), c = runR();
  console.log(`tr ${a.toFixed(0)} noalt ${b.toFixed(0)} raw ${c.toFixed(1)}  ratios ${(a / c).toFixed(2)} ${(b / c).toFixed(2)}`);
}
{
  // requests touching an alternate segment
  let n = 0, pieces = 0, alt = 0;
  for (let i = 0; i < rq.count; i++) {
    const s0 = Math.floor(rq.start[i]! / 256), s1 = Math.floor((rq.start[i]! + rq.length[i]! - 1) / 256);
    const touches = ds.kind[s0] === 1 || ds.kind[s1] === 1;
    if (touches) { n++; translateInto(t, rq.op[i] === 1 ? 'write' : 'read', rq.start[i]!, rq.length[i]!, buf); pieces += buf.count; }
  }
  console.log('requests touching alt', n, 'avg pieces', (pieces / n).toFixed(2));
}
