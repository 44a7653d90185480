/**
 * A controller candidate in its own process, for the tests that pause or kill it:
 *
 *   node --import tsx controller-process.ts ENDPOINTS PREFIX NAME
 *
 * It campaigns, prints `leader <fence key> <create revision>` once it leads, then for each
 * line `update DISK FROM` on stdin saves an update of DISK from generation FROM and prints
 * `saved` or `refused <reason>`. Its store keeps the fence it won with, so only etcd's
 * comparison can refuse a write once it is deposed. It exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import { connectEtcd } from '../../../examples/nbd-server/ha/etcd-client.js';
import { createCandidate } from '../../../examples/nbd-server/ha/election.js';
import { createEtcdTableStore } from '../../../examples/nbd-server/ha/etcd-store.js';

const [endpoints, prefix, name] = process.argv.slice(2);
if (endpoints === undefined || prefix === undefined || name === undefined) {
  console.error('usage: controller-process.ts ENDPOINTS PREFIX NAME');
  process.exit(2);
}
const client = connectEtcd(endpoints.split(','), { callTimeout: 3000 });
const candidate = createCandidate(client, { prefix, value: name, ttl: 2 });
const fence = await candidate.campaign();
const store = createEtcdTableStore(client, { prefix, fence });
console.log(`leader ${fence.key} ${fence.createRevision}`);

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, disk, from] = line.trim().split(/\s+/);
  if (cmd !== 'update' || disk === undefined || from === undefined) continue;
  try {
    const g = Number(from);
    await store.save({ type: 'updateTable', disk, fromGeneration: g, generation: g + 1, changes: [{ segment: 0, entry: { zero: true, invalid: true } }] });
    console.log('saved');
  } catch (e) {
    console.log(`refused ${e instanceof Error ? e.message : String(e)}`);
  }
}
client.close();
process.exit(0);
