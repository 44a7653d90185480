/**
 * The runtimes end to end, with the public API only: one controller and two agents in one
 * process (in-memory adapters that run by themselves), a disk written through one agent and read
 * through the other, a snapshot, a migration, and restarts of an agent and of the controller.
 * Exits non-zero on the first mismatch.
 *
 *   npm run demo
 */
import { createLocalCluster, type AdminRequest, type AdminResult } from '../src/index.js';

const cluster = await createLocalCluster({ agents: ['a1', 'a2'], luns: { 1: 4096, 2: 4096 }, blockSize: 512 });
const { blockSize } = cluster.storage;
let failures = 0;

const check = (what: string, ok: boolean): void => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};
/** An admin request; `admin` never rejects: a refusal is `{ ok: false, error }`. */
const admin = async (request: AdminRequest): Promise<void> => {
  const result: AdminResult = await cluster.controller.admin(request);
  check(`${request.type} ${'disk' in request ? request.disk : ''}${result.ok ? '' : `: ${result.error}`}`, result.ok);
};
const blocks = (n: number, value: number): Uint8Array => new Uint8Array(n * blockSize).fill(value);
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

try {
  await admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 16 });
  await admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
  await admin({ type: 'attachAgent', disk: 'vol', agent: 'a2' });

  // Write through a1, read through a2.
  await cluster.agent('a1').write('vol', 4, blocks(8, 1));
  check('a2 reads what a1 wrote', same(await cluster.agent('a2').read('vol', 4, 8), blocks(8, 1)));

  // A snapshot keeps the disk as it was; reading it needs an agent attached to the snapshot.
  await admin({ type: 'snapshot', disk: 'vol', snapshot: 'vol@1' });
  await admin({ type: 'attachAgent', disk: 'vol@1', agent: 'a2' });
  await cluster.agent('a1').write('vol', 4, blocks(2, 2));
  check('the disk has the new data', same(await cluster.agent('a2').read('vol', 4, 3), new Uint8Array([...blocks(2, 2), ...blocks(1, 1)])));
  check('the snapshot kept the old data', same(await cluster.agent('a2').read('vol@1', 4, 3), blocks(3, 1)));

  // Move every located segment of the disk to LUN 2; the data follows.
  await admin({ type: 'migrate', disk: 'vol', lun: 2 });
  check('reads after the migration', same(await cluster.agent('a1').read('vol', 4, 3), new Uint8Array([...blocks(2, 2), ...blocks(1, 1)])));

  // An agent restarts (a new life, a higher epoch): it recovers its tables from the controller.
  cluster.restartAgent('a2');
  check('a restarted agent reads the disk', same(await cluster.agent('a2').read('vol', 4, 3), new Uint8Array([...blocks(2, 2), ...blocks(1, 1)])));

  // The controller restarts on the same store: the tables survive, agents carry on.
  await cluster.restartController();
  await cluster.agent('a2').write('vol', 0, blocks(1, 3));
  check('after a controller restart, a1 reads what a2 wrote', same(await cluster.agent('a1').read('vol', 0, 1), blocks(1, 3)));
  check('and the snapshot is unchanged', same(await cluster.agent('a2').read('vol@1', 4, 3), blocks(3, 1)));

  // Refusals are values that say what was wrong.
  const refused = await cluster.controller.admin({ type: 'migrate', disk: 'vol', segments: 'abc' as never, lun: 2 });
  check(`a malformed request is refused (${refused.ok ? 'accepted!' : refused.error})`, !refused.ok);
} catch (e) {
  console.error('FAIL', e);
  failures++;
} finally {
  cluster.stop();
}
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('runtime example: every check passed');
