/**
 * Measures the etcd table store against the in-memory store (the baseline, measured in the same
 * run): saving and restoring a 1,048,576-segment disk, and fault resolutions per second of a
 * controller and an agent whose every write faults on a zero segment (one at a time, and 64 at
 * once, where group commits batch them).
 *
 *   npx tsx examples/nbd-server/ha/measure.ts [etcd://HOST:PORT,...]
 *
 * Without an address it starts a local 3-member cluster (etcd on PATH) and stops it afterwards.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  createAgent,
  createAllocator,
  createController,
  createMemoryNetwork,
  createMemoryPersistence,
  createMemoryStorage,
  createTable,
  encodeTable,
  type Clock,
  type TablePersistence,
  type TimerHandle,
} from '../../../src/index.js';
import { connectEtcd, parseEtcdUrl } from './etcd-client.js';
import { createEtcdTableStore } from './etcd-store.js';
import { findEtcd, startEtcdCluster, type EtcdCluster } from './local-cluster.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

/** Wall-clock time for the runtimes. */
const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (ms, callback) => setTimeout(callback, ms) as unknown as TimerHandle,
  clearTimer: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};

const ms = (t0: number): number => performance.now() - t0;

/** Save, load and controller restore of a 1,048,576-segment disk. */
const tableFigures = async (name: string, make: () => TablePersistence) => {
  const segments = 1 << 20;
  const table = right(createTable({ segmentBlocks: 2048, segmentCount: segments, entries: (s) => ({ location: { lun: 1 + (s >>> 19), start: (s & ((1 << 19) - 1)) * 2048 } }) }));
  const doc = encodeTable(table);
  const writer = make();
  let t = performance.now();
  await writer.save({ type: 'saveTable', disk: 'huge', table: doc });
  const save = ms(t);
  const reader = make() === writer ? writer : make();
  t = performance.now();
  await reader.load();
  const load = ms(t);
  // Restore: a controller loading the store and taking the table in (`restored`).
  const luns = { 1: 2 ** 30, 2: 2 ** 30 };
  const network = right(createMemoryNetwork({ seed: 1 }));
  t = performance.now();
  const controller = await createController(
    { storage: right(createMemoryStorage({ blockSize: 8, luns: { 1: 8, 2: 8 } })), transport: network.transport('controller'), persistence: make(), clock: realClock, allocator: right(createAllocator(luns)) },
    { retryInterval: 100 },
  );
  while (!controller.state().ready) await new Promise((r) => setImmediate(r));
  const restore = ms(t);
  controller.stop();
  return { name, save, load, restore };
};

/** Fault resolutions per second: `total` writes, each to a zero segment, `parallel` at a time. */
const faultFigures = async (name: string, persistence: TablePersistence, total: number, parallel: number) => {
  const blocks = 8;
  const luns = { 1: 1 << 20, 2: 1 << 20 };
  const storage = right(createMemoryStorage({ blockSize: 64, luns }));
  const network = right(createMemoryNetwork({ seed: 3 }));
  const controller = await createController(
    { storage, transport: network.transport('controller'), persistence, clock: realClock, allocator: right(createAllocator(luns)) },
    { retryInterval: 200 },
  );
  const agent = createAgent({ storage, transport: network.transport('a1'), clock: realClock }, { agent: 'a1', epoch: 1, faultTimeout: 500 });
  let done = false;
  const pump = (async () => {
    while (!done) {
      network.deliverAll();
      await new Promise((r) => setImmediate(r));
    }
  })();
  const disk = `vol-${parallel}`;
  const admin = async (r: Parameters<typeof controller.admin>[0]) => {
    const result = await controller.admin(r);
    if (!result.ok) throw new Error(result.error);
  };
  await admin({ type: 'createDisk', disk, segmentBlocks: blocks, segmentCount: total });
  await admin({ type: 'attachAgent', disk, agent: 'a1' });
  const data = new Uint8Array(64).fill(1);
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) await agent.write(disk, next++ * blocks, data);
    }),
  );
  const seconds = ms(t) / 1000;
  done = true;
  await pump;
  agent.stop();
  controller.stop();
  return { name, parallel, perSecond: total / seconds };
};

const main = async (): Promise<void> => {
  let cluster: EtcdCluster | null = null;
  let hosts: string[];
  const url = process.argv[2];
  if (url !== undefined) hosts = right(parseEtcdUrl(url));
  else {
    const etcd = findEtcd();
    if (etcd === null) throw new Error('no etcd on PATH: install etcd-server or pass etcd://HOST:PORT');
    cluster = await startEtcdCluster(etcd);
    hosts = [...cluster.endpoints];
  }
  const client = connectEtcd(hosts);
  try {
    const memory = createMemoryPersistence();
    const prefix = `measure-${Date.now()}/`;
    const rows = [await tableFigures('memory', () => memory), await tableFigures('etcd', () => createEtcdTableStore(client, { prefix: `${prefix}t/` }))];
    console.log('1,048,576-segment disk (ms): store | save | load | controller restore');
    for (const r of rows) console.log(`  ${r.name.padEnd(6)} | ${r.save.toFixed(0)} | ${r.load.toFixed(0)} | ${r.restore.toFixed(0)}`);
    console.log(`  ratio etcd/memory: save ${(rows[1]!.save / rows[0]!.save).toFixed(1)}, load ${(rows[1]!.load / rows[0]!.load).toFixed(1)}, restore ${(rows[1]!.restore / rows[0]!.restore).toFixed(1)}`);
    console.log('fault resolutions per second: store | 1 at a time | 64 at a time');
    const f = [];
    for (const [name, make] of [
      ['memory', () => createMemoryPersistence()],
      ['etcd', () => createEtcdTableStore(client, { prefix: `${prefix}f${f.length}/` })],
    ] as const) {
      const one = await faultFigures(name, make(), 200, 1);
      const many = await faultFigures(name, make(), 2000, 64);
      f.push({ name, one: one.perSecond, many: many.perSecond });
      console.log(`  ${name.padEnd(6)} | ${one.perSecond.toFixed(0)} | ${many.perSecond.toFixed(0)}`);
    }
    console.log(`  ratio etcd/memory: ${(f[1]!.one / f[0]!.one).toFixed(3)} one at a time, ${(f[1]!.many / f[0]!.many).toFixed(3)} 64 at a time`);
  } finally {
    client.close();
    await cluster?.stop();
  }
};

await main();
