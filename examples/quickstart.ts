/**
 * Quick start: the three-segment reference table, printed, and a few translations through it.
 *
 *   npm run demo
 */
import * as E from 'fp-ts/lib/Either.js';
import { createTable, formatTable, translate, type IoRequest, type MappingTable } from '../src/index.js';

// 10 blocks per segment. Segment 0 lives on LUN 1, blocks 0-9, except blocks 2, 7 and 8, which
// live at its alternate on LUN 2, blocks 10-19. Segment 1 is frozen (no-write) on LUN 2, blocks
// 0-9. Segment 2 lives on LUN 1, blocks 10-19.
const built = createTable({
  segmentBlocks: 10,
  entries: [
    { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
    { location: { lun: 2, start: 0 }, noWrite: true },
    { location: { lun: 1, start: 10 } },
  ],
});

if (E.isLeft(built)) {
  for (const e of built.left) console.error(e.message);
  process.exit(1);
}
const table: MappingTable = built.right;

console.log('Mapping table (generation %d):\n', table.generation);
console.log(formatTable(table));

const show = (request: IoRequest): void => {
  const label = `${request.op} blocks ${request.start}-${request.start + request.length - 1}`;
  const result = translate(table, request);
  console.log(`\n${label}:`);
  if (E.isRight(result)) {
    for (const p of result.right) {
      const where = p.kind === 'zero' ? 'zeros, no I/O' : `LUN ${p.lun} blocks ${p.start}-${p.start! + p.length - 1}`;
      console.log(`  virtual ${p.virtualStart}-${p.virtualStart + p.length - 1} -> ${p.kind.padEnd(9)} ${where}`);
    }
  } else if (result.left.type === 'fault') {
    for (const f of result.left.faults)
      console.log(`  FAULT: segment ${f.segment} (${f.reason}); the agent parks the I/O and asks the controller`);
  } else {
    console.log(`  FAILED: ${JSON.stringify(result.left)}`);
  }
};

show({ op: 'read', start: 0, length: 10 }); // primary and alternate pieces interleaved
show({ op: 'read', start: 5, length: 20 }); // crosses three segments
show({ op: 'write', start: 7, length: 2 }); // both blocks already at the alternate: no fault
show({ op: 'write', start: 12, length: 3 }); // segment 1 is no-write: faults
