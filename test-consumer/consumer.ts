// Consumer type test: only type-checked (tsc --noEmit), under moduleResolution node16 (as an ES
// module, since the test project is "type": "module"; scripts/consumer-test.sh also checks a copy
// named consumer.cts, which resolves through the "require" condition) and bundler. It exercises the root and both
// subpaths, and pins a few public types so that a declaration regression fails the check.
import { createTable, translate, type IoRequest, type MappingTable, type Piece, type TranslateFailure } from 'vdisk-map';
import { createCluster, type SimConfig, type SimResult } from 'vdisk-map/sim';
import { referenceTranslate, type TableArbOptions } from 'vdisk-map/testing';

export function run(): { pieces: number; ios: number } {
  const built = createTable({
    segmentBlocks: 10,
    entries: [{ location: { lun: 1, start: 0 } }, { location: { lun: 2, start: 0 }, noWrite: true }],
  });
  if (built._tag === 'Left') throw new Error(built.left.map((e) => e.message).join('; '));
  const table: MappingTable = built.right;

  const request: IoRequest = { op: 'read', start: 0, length: 20 };
  const result = translate(table, request);
  if (result._tag === 'Left') {
    const failure: TranslateFailure = result.left;
    throw new Error(failure.type);
  }
  const pieces: ReadonlyArray<Piece> = result.right;
  const reference = referenceTranslate(table, request);
  if (reference._tag !== result._tag) throw new Error('reference disagrees');

  const config: SimConfig = { seed: 1, agents: 2, disks: [{ id: 'vd1', segmentBlocks: 8, segmentCount: 8 }], luns: { 1: 512 } };
  const sim: SimResult = createCluster(config).run({ ios: 20 });
  const options: TableArbOptions = {};
  void options;
  return { pieces: pieces.length, ios: sim.summary.iosCompleted };
}

// @ts-expect-error: a request needs an op
export const badRequest: IoRequest = { start: 0, length: 1 };
