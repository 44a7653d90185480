// Consumer smoke test (CommonJS): the root, vdisk-map/sim and vdisk-map/testing through `require`.
const assert = require('node:assert/strict');
const { bitmap, createTable, formatTable, translate } = require('vdisk-map');
const { createCluster, traceToTimeline } = require('vdisk-map/sim');
const { DiskModel, referenceTranslate } = require('vdisk-map/testing');

const built = createTable({
  segmentBlocks: 10,
  entries: [
    { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
    { location: { lun: 2, start: 0 }, noWrite: true },
    { location: { lun: 1, start: 10 } },
  ],
});
assert.equal(built._tag, 'Right', 'createTable');
const table = built.right;
assert.match(formatTable(table), /\S/);

const read = translate(table, { op: 'read', start: 0, length: 10 });
assert.equal(read._tag, 'Right', 'read translates');
assert.deepEqual(read, referenceTranslate(table, { op: 'read', start: 0, length: 10 }));
assert.equal(read.right.reduce((n, p) => n + p.length, 0), 10);

const write = translate(table, { op: 'write', start: 12, length: 1 });
assert.equal(write._tag, 'Left');
assert.equal(write.left.type, 'fault');
assert.equal(write.left.faults[0].reason, 'no-write');

const bits = bitmap.fromOffsets(10, [2, 7, 8]);
assert.equal(bits._tag, 'Right');
assert.equal(bitmap.format(bits.right), '2,7-8');
assert.equal(typeof DiskModel, 'function');

const result = createCluster({
  seed: 7,
  agents: 2,
  disks: [{ id: 'vd1', segmentBlocks: 8, segmentCount: 16 }],
  luns: { 1: 1024, 2: 1024 },
  trace: true,
}).run({ ios: 50 });
assert.equal(result.violation, null, JSON.stringify(result.violation));
assert.ok(result.summary.iosCompleted > 0);
assert.match(traceToTimeline(result.trace), /\S/);

console.log(`cjs ok: ${read.right.length} pieces, ${result.summary.iosCompleted} simulated I/Os`);
