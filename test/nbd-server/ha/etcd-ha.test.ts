/**
 * Tests of the HA control plane on a real 3-member etcd cluster (started here, on free
 * 127.0.0.1 ports, and stopped in afterAll): the etcd table store against the in-memory store,
 * a real controller's records saved and restored, split saves that fail half way, a deposed
 * leader that cannot write, member failures, and a 1,048,576-segment table.
 *
 * Without etcd the suite is skipped with a message, unless VDISK_REQUIRE_ETCD=1 (CI), where it
 * fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAgent,
  createAllocator,
  createController,
  createManualClock,
  createMemoryNetwork,
  createMemoryPersistence,
  type ControllerRuntime,
  createTable,
  decodeTable,
  encodeTable,
  tablesEqual,
  type EntryChange,
  type EntryDocument,
  type PersistedState,
  type PersistRecord,
  type TablePersistence,
} from '../../../src/index.js';
import { entrySpecArb, tableArb } from '../../../src/testing.js';
import { connectEtcd } from '../../../examples/nbd-server/ha/etcd-client.js';
import { createEtcdTableStore, type EtcdTableStoreOptions, type Fence } from '../../../examples/nbd-server/ha/etcd-store.js';
import { createCandidate, currentLeader } from '../../../examples/nbd-server/ha/election.js';
import { controlPlaneStatus, formatStatus } from '../../../examples/nbd-server/ha/status.js';
import { etcdRequired, findEtcd, startEtcdCluster, type EtcdCluster } from '../../../examples/nbd-server/ha/local-cluster.js';
import { groupCommits } from '../../../examples/nbd-server/ha/group-commit.js';
import { runHaController, type Leadership } from '../../../examples/nbd-server/ha/ha-controller.js';
import { BLOCK_SIZE, LUNS, newStorage, right, startSystem } from './system.js';

const etcd = findEtcd();
const required = etcdRequired();
if (etcd === null && !required)
  console.warn('etcd is not installed: the HA tests on etcd are skipped (apt-get install etcd-server; CI sets VDISK_REQUIRE_ETCD=1 and requires them)');

describe('etcd availability', () => {
  it.runIf(etcd === null && required)('etcd must be installed when VDISK_REQUIRE_ETCD=1', () => {
    throw new Error('VDISK_REQUIRE_ETCD=1 but no etcd binary is on PATH (apt-get install etcd-server)');
  });
  it.runIf(etcd !== null || !required)('finds etcd, or may skip without it', () => {
    expect(etcd === null ? !required : etcd.length > 0).toBe(true);
  });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles `p` or gives up after `ms`: 'pending' when it has not settled by then. */
const within = async <T>(p: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; error: Error } | 'pending'> =>
  Promise.race([
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error: error instanceof Error ? error : new Error(String(error)) }),
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);

/** Every table of a persisted state decoded, for comparisons that ignore document details. */
const normal = (s: PersistedState) => ({
  tables: s.tables.map(({ disk, table }) => ({ disk, table: encodeTable(right(decodeTable(table))) })),
  attachments: s.attachments,
  generationFloor: s.generationFloor,
});

describe.skipIf(etcd === null)('HA control plane on a 3-member etcd cluster', () => {
  let cluster: EtcdCluster | undefined;
  let client: Etcd3;
  let prefixes = 0;
  const freshPrefix = (): string => `t${process.pid}-${++prefixes}/`;
  const clients: Etcd3[] = [];
  const children: ChildProcess[] = [];
  const newClient = (callTimeout = 3000): Etcd3 => {
    const c = connectEtcd(cluster!.endpoints, { callTimeout });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    cluster = await startEtcdCluster(etcd!);
    client = newClient();
  }, 60_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const c of clients) c.close();
    await cluster?.stop();
  }, 30_000);

  // -------------------------------------------------------------------------------------------

  it('agrees with the in-memory store on random record sequences, split transactions and multi-part chunks included', async () => {
    type Step =
      | { kind: 'save'; disk: number; table: ReturnType<typeof encodeTable> }
      | { kind: 'update'; disk: number; skew: number; changes: Array<{ at: number; spec: EntryDocument }>; resize: number | null }
      | { kind: 'delete'; disk: number; floor: number | null }
      | { kind: 'attach'; disk: number; agents: string[]; dropping: string[] };
    const segmentBlocks = 8;
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      tableArb({ segmentBlocks: fc.constant(segmentBlocks), segmentCount: fc.integer({ min: 1, max: 40 }) }).map((t) => ({ kind: 'save' as const, disk: 0, table: encodeTable(t) })),
      fc.record({
        kind: fc.constant('update' as const),
        disk: fc.nat(2),
        skew: fc.constantFrom(0, 0, 0, 0, -1, 1),
        changes: fc.array(
          fc.record({ at: fc.nat(), spec: entrySpecArb(segmentBlocks).map((s) => encodeTable(right(createTable({ segmentBlocks, entries: [s] }))).entries[0]!) }),
          { maxLength: 12 },
        ),
        resize: fc.option(fc.integer({ min: 0, max: 50 }), { nil: null }),
      }),
      fc.record({ kind: fc.constant('delete' as const), disk: fc.nat(2), floor: fc.option(fc.nat(40), { nil: null }) }),
      fc.record({
        kind: fc.constant('attach' as const),
        disk: fc.nat(2),
        agents: fc.array(fc.constantFrom('a1', 'a2', 'a3'), { maxLength: 3 }),
        dropping: fc.array(fc.constantFrom('a4', 'a5'), { maxLength: 2 }),
      }),
    );
    const withDisk = fc.tuple(stepArb, fc.nat(2)).map(([s, d]) => (s.kind === 'save' ? { ...s, disk: d } : s));
    await fc.assert(
      fc.asyncProperty(fc.array(withDisk, { minLength: 1, maxLength: 14 }), async (steps) => {
        const prefix = freshPrefix();
        // Tiny chunks and budgets: most saves need several transactions and several parts per chunk.
        const options: EtcdTableStoreOptions = { prefix, chunkSegments: 4, partBytes: 8, txnOps: 6, txnBytes: 600 };
        const store = createEtcdTableStore(client, options);
        const reference = createMemoryPersistence();
        for (const step of steps) {
          const disk = `d${step.disk}`;
          let record: PersistRecord;
          const stored = reference.table(disk);
          if (step.kind === 'save') record = { type: 'saveTable', disk, table: step.table };
          else if (step.kind === 'delete') record = { type: 'deleteTable', disk, ...(step.floor === null ? {} : { generationFloor: step.floor }) };
          else if (step.kind === 'attach') record = { type: 'attachments', disk, agents: step.agents, ...(step.dropping.length === 0 ? {} : { dropping: step.dropping }) };
          else {
            const count = step.resize ?? stored?.segmentCount ?? 1;
            const changes: EntryChange[] = count === 0 ? [] : step.changes.map((c) => ({ segment: c.at % count, entry: c.spec }));
            const from = (stored?.generation ?? 0) + step.skew;
            record = { type: 'updateTable', disk, fromGeneration: from, generation: from + 1, changes, ...(step.resize === null ? {} : { segmentCount: step.resize }) };
          }
          const expected = await within(reference.save(record), 1000);
          const got = await within(store.save(record), 10_000);
          expect(got !== 'pending' && got.ok).toBe(expected !== 'pending' && expected.ok);
        }
        expect(normal(await store.load())).toEqual(normal(reference.peek()));
        // A store that shares nothing with the writer reads the same, and nothing was left behind.
        const reader = createEtcdTableStore(newClientOnce(), options);
        expect(normal(await reader.load())).toEqual(normal(reference.peek()));
        expect(await store.collectGarbage()).toBe(0);
      }),
      { numRuns: 25 },
    );
  }, 90_000);

  let shared: Etcd3 | undefined;
  const newClientOnce = (): Etcd3 => (shared ??= newClient());

  it.each([false, true])('saves a real controller\'s records and a fresh controller restores the same tables (one transaction per group commit: %s)', async (grouped) => {
    const prefix = freshPrefix();
    const store = createEtcdTableStore(client, { prefix });
    const group = groupCommits(store);
    const inner: TablePersistence = grouped ? group.persistence : store;
    const saved: PersistRecord[] = [];
    const tee: TablePersistence = {
      save: async (r) => {
        await inner.save(r);
        saved.push(r);
      },
      load: () => inner.load(),
    };
    const sys = await startSystem(tee, newStorage(), grouped ? group.onCommand : undefined);
    try {
      await sys.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 16, segmentCount: 64 });
      await sys.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
      for (let i = 0; i < 12; i++) await sys.settle(sys.agent.write('vol', i * 37, new Uint8Array(3 * BLOCK_SIZE).fill(i + 1)));
      await sys.admin({ type: 'snapshot', disk: 'vol', snapshot: 'snap' });
      for (let i = 0; i < 6; i++) await sys.settle(sys.agent.write('vol', i * 53 + 5, new Uint8Array(2 * BLOCK_SIZE).fill(100 + i)));
      await sys.adminWhenIdle({ type: 'resize', disk: 'vol', segmentCount: 80 });
      expect(saved.some((r) => r.type === 'updateTable')).toBe(true);
      if (grouped) {
        // Every record went through a group commit, and some commits held several records.
        expect(group.stats().records).toBe(saved.length);
        expect(group.stats().commits).toBeLessThan(saved.length);
      }
      const before = sys.controller.state();
      sys.stop();

      const again = await startSystem(createEtcdTableStore(newClient(), { prefix }), sys.storage);
      try {
        const after = again.controller.state();
        expect([...after.disks.keys()].sort()).toEqual(['snap', 'vol']);
        for (const disk of ['vol', 'snap']) {
          expect(tablesEqual(after.disks.get(disk)!.committed, before.disks.get(disk)!.committed)).toBe(true);
          expect(after.disks.get(disk)!.agents).toEqual(before.disks.get(disk)!.agents);
        }
        // The restored controller serves the data written before.
        const data = await again.settle(again.agent.read('vol', 5 * 53 + 5, 2));
        expect([...data].every((b) => b === 105)).toBe(true);
      } finally {
        again.stop();
      }
    } finally {
      sys.stop();
    }
  }, 60_000);

  it('makes a group commit one transaction when it fits, and a split save that fails half way leaves the old table whole', async () => {
    const prefix = freshPrefix();
    const options: EtcdTableStoreOptions = { prefix, chunkSegments: 256, txnBytes: 4096, txnOps: 20 };
    const store = createEtcdTableStore(client, options);
    const small = right(createTable({ segmentBlocks: 8, segmentCount: 16, entries: () => ({ zero: true }) }));
    await store.saveBatch([
      { type: 'saveTable', disk: 'a', table: encodeTable(small) },
      { type: 'saveTable', disk: 'b', table: encodeTable(small) },
      { type: 'attachments', disk: 'a', agents: ['x'] },
    ]);
    expect(store.lastSave()).toMatchObject({ transactions: 1, atomic: true });

    // A 10,000-segment table with scattered locations: many chunks, more than one transaction.
    const scattered = (salt: number) =>
      right(createTable({ segmentBlocks: 8, segmentCount: 10_000, generation: salt, entries: (s) => ({ location: { lun: 1 + (s % 2), start: ((s * 7919 + salt) % 8000) * 8 } }) }));
    await store.save({ type: 'saveTable', disk: 'big', table: encodeTable(scattered(1)) });
    expect(store.lastSave()!.transactions).toBeGreaterThan(2);

    // The same save again, but the connection fails after two transactions.
    let calls = 0;
    const failing = {
      kv: {
        range: (req: never) => client.kv.range(req),
        txn: (req: never) => (++calls > 2 ? Promise.reject(new Error('connection lost (injected)')) : client.kv.txn(req)),
      },
    } as unknown as Etcd3;
    const broken = createEtcdTableStore(failing, options);
    await broken.load();
    await expect(broken.save({ type: 'saveTable', disk: 'big', table: encodeTable(scattered(2)) })).rejects.toThrow(/injected/);
    const reader = createEtcdTableStore(client, options);
    const state = await reader.load();
    const big = state.tables.find((t) => t.disk === 'big')!;
    expect(tablesEqual(right(decodeTable(big.table)), scattered(1))).toBe(true);
    expect(state.attachments).toEqual([{ disk: 'a', agents: ['x'] }]);
    // What the failed save staged is garbage; collecting it keeps every table.
    expect(await reader.collectGarbage()).toBeGreaterThan(0);
    expect(normal(await reader.load())).toEqual(normal(state));
    await reader.save({ type: 'saveTable', disk: 'big', table: encodeTable(scattered(3)) });
    expect(tablesEqual(right(decodeTable((await store.load()).tables.find((t) => t.disk === 'big')!.table)), scattered(3))).toBe(true);
  }, 60_000);

  it('reads and rewrites a disk saved with another chunk size, without touching the chunks it reads', async () => {
    const prefix = freshPrefix();
    const table = right(createTable({ segmentBlocks: 8, segmentCount: 40, entries: (s) => ({ location: { lun: 1, start: s * 8 } }) }));
    const old = createEtcdTableStore(client, { prefix, chunkSegments: 4, txnOps: 3 });
    await old.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
    const reference = createMemoryPersistence();
    await reference.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
    const records: PersistRecord[] = [
      { type: 'attachments', disk: 'vol', agents: ['a1'] },
      { type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, changes: [{ segment: 17, entry: { zero: true } }] },
    ];
    const current = createEtcdTableStore(client, { prefix, chunkSegments: 16, txnOps: 3 });
    for (const r of records) {
      await current.save(r);
      await reference.save(r);
    }
    expect(normal(await createEtcdTableStore(client, { prefix }).load())).toEqual(normal(reference.peek()));
    expect(await current.collectGarbage()).toBe(0);
  }, 30_000);

  it('saves and restores a 1,048,576-segment disk (times reported)', async () => {
    const prefix = freshPrefix();
    const store = createEtcdTableStore(client, { prefix });
    const segments = 1 << 20;
    const table = right(createTable({ segmentBlocks: 2048, segmentCount: segments, entries: (s) => ({ location: { lun: 1 + (s >>> 19), start: (s & ((1 << 19) - 1)) * 2048 } }) }));
    const doc = encodeTable(table);
    let t = performance.now();
    await store.save({ type: 'saveTable', disk: 'huge', table: doc });
    const saveMs = performance.now() - t;
    const saveStats = store.lastSave()!;
    t = performance.now();
    const changes: EntryChange[] = Array.from({ length: 64 }, (_, i) => ({ segment: i * 16_001, entry: { zero: true } }));
    await store.save({ type: 'updateTable', disk: 'huge', fromGeneration: 0, generation: 1, changes });
    const updateMs = performance.now() - t;
    const updateStats = store.lastSave()!;
    expect(updateStats).toMatchObject({ transactions: 1, atomic: true }); // 64 chunks and the header: one transaction
    t = performance.now();
    const loaded = await createEtcdTableStore(newClient(), { prefix }).load();
    const loadMs = performance.now() - t;
    t = performance.now();
    const back = right(decodeTable(loaded.tables[0]!.table));
    const decodeMs = performance.now() - t;
    const expected = right(decodeTable({ ...doc, generation: 1, entries: doc.entries.map((e, s) => (s % 16_001 === 0 && s / 16_001 < 64 ? { zero: true } : e)) }));
    expect(tablesEqual(back, expected)).toBe(true);
    console.log(
      `1,048,576 segments on etcd: save ${saveMs.toFixed(0)} ms (${saveStats.transactions} transactions, ${saveStats.bytes} bytes); ` +
        `update of 64 segments ${updateMs.toFixed(0)} ms (${updateStats.transactions} transaction, ${updateStats.bytes} bytes); ` +
        `load ${loadMs.toFixed(0)} ms + decodeTable ${decodeMs.toFixed(0)} ms`,
    );
  }, 120_000);

  // -------------------------------------------------------------------------------------------

  it('elects one leader; a deposed leader cannot change a table, and the new leader raises the controller epoch', async () => {
    const prefix = freshPrefix();
    const a = createCandidate(newClient(), { prefix, value: 'ctl-a', ttl: 2 });
    const b = createCandidate(newClient(), { prefix, value: 'ctl-b', ttl: 2 });
    const fenceA = await a.campaign();
    const bLeads = b.campaign();
    expect(await within(bLeads, 500)).toBe('pending');
    expect((await currentLeader(client, { prefix }))?.value).toBe('ctl-a');

    const storeA = createEtcdTableStore(client, { prefix, fence: () => a.fence() });
    expect(await storeA.raiseControllerEpoch()).toBe(1);
    const table = right(createTable({ segmentBlocks: 8, segmentCount: 8, entries: () => ({ zero: true }) }));
    await storeA.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });

    // A loses its lease without noticing (as if paused past it): etcd revokes it.
    let lostAt = 0;
    a.onLost(() => {
      lostAt = Date.now();
    });
    const leaseId = BigInt(`0x${fenceA.key.slice(fenceA.key.lastIndexOf('/') + 1)}`).toString();
    const revokedAt = Date.now();
    await client.leaseClient.leaseRevoke({ ID: leaseId });
    const fenceB = await bLeads;
    expect(fenceB.key).not.toBe(fenceA.key);
    const storeB = createEtcdTableStore(client, { prefix, fence: () => b.fence() });
    expect(await storeB.raiseControllerEpoch()).toBe(2);
    const before = await storeB.load();

    // A still holds its old fence: every write is refused by etcd, and nothing changes.
    const stale = createEtcdTableStore(client, { prefix, fence: fenceA });
    await expect(stale.save({ type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, changes: [{ segment: 0, entry: { zero: true, invalid: true } }] })).rejects.toThrow(
      /leadership lost/,
    );
    await expect(stale.save({ type: 'deleteTable', disk: 'vol' })).rejects.toThrow(/leadership lost/);
    await expect(stale.raiseControllerEpoch()).rejects.toThrow(/leadership lost/);
    expect(await storeB.load()).toEqual(before);
    expect(await storeB.controllerEpoch()).toBe(2);
    // A's own store is refused too, and A learns it lost within about a keepalive interval.
    await expect(storeA.save({ type: 'deleteTable', disk: 'vol' })).rejects.toThrow(/leadership lost|not the leader/);
    for (let i = 0; i < 50 && a.isLeader; i++) await sleep(100);
    expect(a.isLeader).toBe(false);
    expect(lostAt - revokedAt).toBeLessThan(2000 + 2000); // within the TTL plus a keepalive interval, with room for a loaded machine
    await expect(storeA.save({ type: 'deleteTable', disk: 'vol' })).rejects.toThrow(/not the leader/);

    // B writes, and resigning hands over at once.
    await storeB.save({ type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, changes: [] });
    const status = await controlPlaneStatus(client, { prefix });
    expect(status.leader?.value).toBe('ctl-b');
    expect(status.controllerEpoch).toBe(2);
    expect(status.members.filter((m) => m.reachable)).toHaveLength(3);
    expect(status.members.filter((m) => m.raftLeader)).toHaveLength(1);
    expect(formatStatus(status)).toMatch(/controller leader: ctl-b[\s\S]*controller epoch: 2[\s\S]*m1 .* up/);
    await b.resign();
    expect(await currentLeader(client, { prefix })).toBeNull();
  }, 30_000);

  /** A candidate in its own process (controller-process.ts), with its output as lines. */
  const spawnController = (prefix: string, name: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./controller-process.ts', import.meta.url)), cluster!.endpoints.join(','), prefix, name], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(child);
    const lines: string[] = [];
    let waiting: (() => void) | null = null;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      waiting?.();
    });
    const next = async (timeout: number): Promise<string> => {
      const deadline = Date.now() + timeout;
      while (lines.length === 0) {
        if (Date.now() > deadline) throw new Error(`${name} printed nothing within ${timeout} ms`);
        await new Promise<void>((r) => {
          waiting = r;
          setTimeout(r, 100);
        });
      }
      return lines.shift()!;
    };
    return { child, next, send: (line: string) => child.stdin!.write(`${line}\n`) };
  };

  it('a controller paused past its lease (SIGSTOP) is replaced, and once resumed cannot change a table', async () => {
    const prefix = freshPrefix();
    const a = spawnController(prefix, 'ctl-a');
    expect(await a.next(20_000)).toMatch(/^leader /);
    a.send('update vol 0'); // no table yet: refused by the store itself, nothing written
    expect(await a.next(10_000)).toMatch(/^refused .*no table is stored/);

    const b = createCandidate(newClient(), { prefix, value: 'ctl-b', ttl: 2 });
    const bLeads = b.campaign();
    process.kill(a.child.pid!, 'SIGSTOP');
    const pausedAt = Date.now();
    await bLeads;
    const failover = Date.now() - pausedAt;
    const storeB = createEtcdTableStore(client, { prefix, fence: () => b.fence() });
    await storeB.raiseControllerEpoch();
    const table = right(createTable({ segmentBlocks: 8, segmentCount: 4, entries: () => ({ zero: true }) }));
    await storeB.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
    const before = await storeB.load();

    process.kill(a.child.pid!, 'SIGCONT');
    a.send('update vol 0'); // a valid update, from a deposed controller
    expect(await a.next(10_000)).toMatch(/^refused .*leadership lost/);
    expect(await storeB.load()).toEqual(before);
    console.log(`failover after SIGSTOP of the leader: ${failover} ms (lease TTL 2 s)`);
    expect(failover).toBeLessThan(2000 + 3000);
    a.child.stdin!.end();
    await b.resign();
  }, 60_000);

  it('a standby takes over within the lease time when the leader is killed', async () => {
    const prefix = freshPrefix();
    const a = spawnController(prefix, 'ctl-a');
    expect(await a.next(20_000)).toMatch(/^leader /);
    const b = createCandidate(newClient(), { prefix, value: 'ctl-b', ttl: 2 });
    const bLeads = b.campaign();
    expect(await within(bLeads, 300)).toBe('pending');
    process.kill(a.child.pid!, 'SIGKILL');
    const diedAt = Date.now();
    await bLeads;
    const failover = Date.now() - diedAt;
    console.log(`failover after SIGKILL of the leader: ${failover} ms (lease TTL 2 s)`);
    expect(failover).toBeLessThan(2000 + 3000);
    expect((await currentLeader(client, { prefix }))?.value).toBe('ctl-b');
    await b.resign();
  }, 60_000);

  it('fails over from a crashed active controller to a standby, and the I/O held meanwhile completes', async () => {
    const prefix = freshPrefix();
    const storage = newStorage();
    const network = right(createMemoryNetwork({ seed: 5 }));
    const clock = right(createManualClock(0));
    const started: ControllerRuntime[] = [];
    // Both controllers answer on the peer id agents know: taking the endpoint over is the failover.
    const lead = async ({ store }: Leadership) => {
      const c = await createController(
        { storage, transport: network.transport('controller'), persistence: store, clock, allocator: right(createAllocator(LUNS)) },
        { tickInterval: 10, retryInterval: 100 },
      );
      started.push(c);
      return c;
    };
    const agent = createAgent({ storage, transport: network.transport('a1'), clock }, { agent: 'a1', epoch: 1, tickInterval: 10, faultTimeout: 100 });
    const settle = async <T,>(p: Promise<T>, timeout = 20_000): Promise<T> => {
      let done = false;
      const watched = p.finally(() => {
        done = true;
      });
      const deadline = Date.now() + timeout;
      while (!done) {
        if (Date.now() > deadline) throw new Error(`no progress within ${timeout} ms`);
        network.deliverAll();
        right(clock.advance(10));
        await sleep(1);
      }
      return watched;
    };
    const a = runHaController({ client: newClient(), prefix, value: 'ctl-a', ttl: 2 }, lead);
    const la = await a.leading;
    const b = runHaController({ client: newClient(), prefix, value: 'ctl-b', ttl: 2 }, lead);
    try {
      expect(la.epoch).toBe(1);
      const admin = async (r: Parameters<ControllerRuntime['admin']>[0]) => expect(await settle(started[0]!.admin(r))).toEqual({ ok: true });
      await admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 16, segmentCount: 32 });
      await admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
      await settle(agent.write('vol', 0, new Uint8Array(16 * BLOCK_SIZE).fill(1)));

      // A crashes: its keepalives stop, and its controller with them.
      a.candidate.abandon();
      expect(await a.ended).toMatch(/leadership lost/);
      expect(started[0]!.stopped).toBe(true);
      const crashedAt = Date.now();
      const held = agent.write('vol', 16, new Uint8Array(16 * BLOCK_SIZE).fill(2)); // a fault nobody answers yet
      await expect(settle(held, 1000)).rejects.toThrow(/no progress/); // held, not failed, while nobody leads
      const lb = await settle(b.leading, 20_000);
      const failover = Date.now() - crashedAt;
      expect(lb.epoch).toBe(2);
      await settle(held, 20_000);
      const completed = Date.now() - crashedAt;
      console.log(`failover with I/O held: standby led after ${failover} ms, the held write completed after ${completed} ms (lease TTL 2 s)`);
      const data = await settle(agent.read('vol', 0, 32));
      expect(data.subarray(0, 16 * BLOCK_SIZE).every((x) => x === 1)).toBe(true);
      expect(data.subarray(16 * BLOCK_SIZE).every((x) => x === 2)).toBe(true);
      expect((await controlPlaneStatus(client, { prefix })).leader?.value).toBe('ctl-b');
    } finally {
      agent.stop();
      await b.resign();
      for (const c of started) c.stop();
    }
  }, 60_000);

  // -------------------------------------------------------------------------------------------
  // Member failures: these run last, and leave every member running again.

  /** Index (0-based) of the member that leads raft now. */
  const raftLeader = async (): Promise<number> => {
    const status = await controlPlaneStatus(client, { prefix: 'none/' });
    const leader = status.members.find((m) => m.raftLeader);
    if (leader === undefined) throw new Error('no raft leader');
    return Number(leader.name.slice(1)) - 1;
  };

  it('goes on when one member (the raft leader) is killed, and holds faulted I/O without acknowledging it while two are down', async () => {
    const prefix = freshPrefix();
    const storeClient = newClient(1500);
    const sys = await startSystem(createEtcdTableStore(storeClient, { prefix }));
    const blocks = 16;
    const pattern = (i: number) => new Uint8Array(blocks * BLOCK_SIZE).fill(i);
    const acknowledged: number[] = [];
    try {
      await sys.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: blocks, segmentCount: 64 });
      await sys.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
      // Each write hits a zero segment: a fault the controller resolves by persisting a change.
      const write = async (i: number, timeout?: number) => {
        await sys.settle(sys.agent.write('vol', i * blocks, pattern(i + 1)), timeout);
        acknowledged.push(i);
      };
      for (let i = 0; i < 4; i++) await write(i);

      const first = await raftLeader();
      await cluster!.kill(first);
      const t0 = Date.now();
      for (let i = 4; i < 8; i++) await write(i, 30_000);
      const oneDownMs = Date.now() - t0;

      const second = (first + 1) % 3;
      await cluster!.kill(second);
      const held = sys.agent.write('vol', 8 * blocks, pattern(9));
      let settled = false;
      held.then(
        () => (settled = true),
        () => (settled = true),
      );
      // Without quorum the fault cannot be resolved: the write waits, not acknowledged.
      await expect(sys.settle(held, 4000)).rejects.toThrow(/no progress/);
      expect(settled).toBe(false);

      const back = Date.now();
      await cluster!.restart(first);
      await cluster!.restart(second);
      await sys.settle(held, 30_000);
      acknowledged.push(8);
      const resumedMs = Date.now() - back;
      console.log(`one member down: 4 faulted writes in ${oneDownMs} ms; two down: the held write completed ${resumedMs} ms after the members were started again`);
    } finally {
      sys.stop();
    }
    // Nothing acknowledged is lost: a fresh controller on the store serves every acknowledged write.
    const again = await startSystem(createEtcdTableStore(newClient(), { prefix }), sys.storage);
    try {
      for (const i of acknowledged) {
        const data = await again.settle(again.agent.read('vol', i * blocks, blocks));
        expect([...data].every((b) => b === i + 1)).toBe(true);
      }
      expect(acknowledged).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      again.stop();
    }
  }, 120_000);

  it('refuses a save while two members are down, and the save is then either wholly there or not at all', async () => {
    const prefix = freshPrefix();
    const store = createEtcdTableStore(newClient(1500), { prefix, chunkSegments: 64, txnOps: 4 });
    const t = (gen: number) => right(createTable({ segmentBlocks: 8, segmentCount: 1024, generation: gen, entries: (s) => ({ location: { lun: 1, start: ((s * 31 + gen) % 1024) * 8 } }) }));
    await store.save({ type: 'saveTable', disk: 'vol', table: encodeTable(t(0)) });
    expect(store.lastSave()!.transactions).toBeGreaterThan(1);
    await cluster!.kill(0);
    await cluster!.kill(1);
    try {
      const result = await within(store.save({ type: 'saveTable', disk: 'vol', table: encodeTable(t(1)) }), 20_000);
      expect(result !== 'pending' && !result.ok).toBe(true);
    } finally {
      await cluster!.restart(0);
      await cluster!.restart(1);
    }
    const loaded = right(decodeTable((await createEtcdTableStore(newClient(), { prefix }).load()).tables[0]!.table));
    expect(tablesEqual(loaded, t(0)) || tablesEqual(loaded, t(1))).toBe(true);
    // The store reads the truth again before its next save.
    await store.save({ type: 'saveTable', disk: 'vol', table: encodeTable(t(2)) });
    expect(tablesEqual(right(decodeTable((await store.load()).tables[0]!.table)), t(2))).toBe(true);
  }, 90_000);
});
