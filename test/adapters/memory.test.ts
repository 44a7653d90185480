/**
 * Tests for src/adapters/memory.ts: storage against a naive per-block model, persistence round
 * trips and refusals, network determinism and fault rates, clock ordering.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  createManualClock,
  createMemoryNetwork,
  createMemoryPersistence,
  createMemoryStorage,
  InjectedFault,
  type Delivery,
  type MemoryStorage,
  type StorageEvent,
} from '../../src/adapters/memory.js';
import type { PersistRecord } from '../../src/adapters/types.js';
import type { ValidationError } from '../../src/errors.js';
import type { EntryChange } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable, resizeTable, setEntries, type MappingTable } from '../../src/table/table.js';
import { entrySpecArb, tableArb } from '../../src/testing/arbitraries.js';

const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

const leftErrors = <A>(e: E.Either<ValidationError[], A>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  for (const err of e.left) expect(err.message).toContain(err.field);
  return e.left;
};

/** The rejection of a promise that must reject. */
const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected the promise to reject');
};

// =============================================================================================
// Storage
// =============================================================================================

const BS = 4;
const LUNS = { 1: 20, 2: 12 } as const;

type StorageCmd =
  | { type: 'write'; lun: number; start: number; blocks: number[] }
  | { type: 'copy'; from: { lun: number; start: number }; to: { lun: number; start: number }; length: number }
  | { type: 'zeros'; lun: number; start: number; length: number }
  | { type: 'read'; lun: number; start: number; length: number };

const lunArb = fc.constantFrom(1, 2, 3); // 3 is undeclared
const startArb = fc.integer({ min: 0, max: 22 });
const lengthArb = fc.integer({ min: 0, max: 8 });

const storageCmdArb: fc.Arbitrary<StorageCmd> = fc.oneof(
  fc.record({ type: fc.constant('write' as const), lun: lunArb, start: startArb, blocks: fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 6 }) }),
  fc.record({
    type: fc.constant('copy' as const),
    from: fc.record({ lun: lunArb, start: startArb }),
    to: fc.record({ lun: lunArb, start: startArb }),
    length: lengthArb,
  }),
  fc.record({ type: fc.constant('zeros' as const), lun: lunArb, start: startArb, length: lengthArb }),
  fc.record({ type: fc.constant('read' as const), lun: lunArb, start: startArb, length: lengthArb }),
);

/** Model: per LUN, one byte value per block (every byte of a block written with the same value). */
type StorageModel = Map<number, number[]>;

const fits = (m: StorageModel, lun: number, start: number, length: number): boolean =>
  m.has(lun) && length > 0 && start + length <= m.get(lun)!.length;

const blockBytes = (values: ReadonlyArray<number>): Uint8Array => {
  const out = new Uint8Array(values.length * BS);
  values.forEach((v, k) => out.fill(v, k * BS, (k + 1) * BS));
  return out;
};

const newStorage = (): MemoryStorage => right(createMemoryStorage({ blockSize: BS, luns: LUNS }));

describe('memory storage', () => {
  it('matches a per-block model under random writes, copies, zeroing and reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(storageCmdArb, { maxLength: 40 }), async (cmds) => {
        const storage = newStorage();
        const m: StorageModel = new Map(Object.entries(LUNS).map(([l, n]) => [Number(l), new Array<number>(n).fill(0)]));
        const writes: StorageEvent[] = [];
        storage.onWrite((e) => writes.push(e));
        for (const cmd of cmds) {
          switch (cmd.type) {
            case 'write': {
              const p = storage.write(cmd.lun, cmd.start, blockBytes(cmd.blocks));
              if (fits(m, cmd.lun, cmd.start, cmd.blocks.length)) {
                await p;
                cmd.blocks.forEach((v, k) => (m.get(cmd.lun)![cmd.start + k] = v));
                expect(writes.at(-1)).toEqual({ op: 'write', lun: cmd.lun, start: cmd.start, length: cmd.blocks.length });
              } else {
                const e = await rejection(p);
                expect(e).not.toBeInstanceOf(InjectedFault);
                expect(e.message).toMatch(/write/);
              }
              break;
            }
            case 'copy': {
              const p = storage.copy(cmd.from, cmd.to, cmd.length);
              if (fits(m, cmd.from.lun, cmd.from.start, cmd.length) && fits(m, cmd.to.lun, cmd.to.start, cmd.length)) {
                await p;
                const src = m.get(cmd.from.lun)!.slice(cmd.from.start, cmd.from.start + cmd.length);
                src.forEach((v, k) => (m.get(cmd.to.lun)![cmd.to.start + k] = v));
                expect(writes.at(-1)).toEqual({ op: 'copy', lun: cmd.to.lun, start: cmd.to.start, length: cmd.length, from: cmd.from });
              } else {
                expect((await rejection(p)).message).toMatch(/copy/);
              }
              break;
            }
            case 'zeros': {
              const p = storage.writeZeros(cmd.lun, cmd.start, cmd.length);
              if (fits(m, cmd.lun, cmd.start, cmd.length)) {
                await p;
                for (let k = 0; k < cmd.length; k++) m.get(cmd.lun)![cmd.start + k] = 0;
              } else {
                expect((await rejection(p)).message).toMatch(/writeZeros/);
              }
              break;
            }
            case 'read': {
              const p = storage.read(cmd.lun, cmd.start, cmd.length);
              if (fits(m, cmd.lun, cmd.start, cmd.length)) {
                expect(await p).toEqual(blockBytes(m.get(cmd.lun)!.slice(cmd.start, cmd.start + cmd.length)));
              } else {
                expect((await rejection(p)).message).toMatch(/read/);
              }
              break;
            }
          }
        }
        // The whole content matches the model.
        for (const [lun, values] of m) expect(right(storage.peek(lun, 0, values.length))).toEqual(blockBytes(values));
      }),
      { numRuns: 200 },
    );
  });

  it('reads never-written blocks as zeros, and is not affected by later mutation of written or read buffers', async () => {
    const storage = newStorage();
    expect(await storage.read(1, 0, 2)).toEqual(new Uint8Array(2 * BS));
    const data = blockBytes([7, 8]);
    await storage.write(1, 3, data);
    data.fill(99);
    const got = await storage.read(1, 3, 2);
    expect(got).toEqual(blockBytes([7, 8]));
    got.fill(55);
    expect(await storage.read(1, 3, 2)).toEqual(blockBytes([7, 8]));
  });

  it('copies overlapping ranges as if through a buffer', async () => {
    const storage = newStorage();
    await storage.write(1, 0, blockBytes([1, 2, 3, 4]));
    await storage.copy({ lun: 1, start: 0 }, { lun: 1, start: 2 }, 4);
    expect(await storage.read(1, 0, 6)).toEqual(blockBytes([1, 2, 1, 2, 3, 4]));
  });

  it('rejects bad addresses with messages that name them', async () => {
    const storage = newStorage();
    expect((await rejection(storage.read(9, 0, 1))).message).toContain('LUN 9 does not exist (LUNs: 1, 2)');
    expect((await rejection(storage.read(2, 10, 3))).message).toContain('LUN 2 blocks 10..12 ends past the end of LUN 2 (12 blocks)');
    expect((await rejection(storage.write(1, 0, new Uint8Array(BS + 1)))).message).toContain(`whole number of ${BS}-byte blocks`);
    expect((await rejection(storage.write(1, 0, new Uint8Array(0)))).message).toContain('positive whole number');
    expect((await rejection(storage.writeZeros(1, -1, 1))).message).toContain('start must be a non-negative safe integer');
    expect((await rejection(storage.copy({ lun: 1, start: 0 }, { lun: 2, start: 11 }, 2))).message).toContain('destination');
  });

  it('fails the next matching operations, applying nothing of them', async () => {
    const storage = newStorage();
    right(storage.failNext({ lun: 2, op: 'write', count: 2 }));
    await storage.write(1, 0, blockBytes([5])); // other LUN: fine
    await storage.read(2, 0, 1); // other op: fine
    for (let i = 0; i < 2; i++) {
      const e = await rejection(storage.write(2, 0, blockBytes([6])));
      expect(e).toBeInstanceOf(InjectedFault);
      expect(e.message).toContain('injected fault');
    }
    expect(await storage.read(2, 0, 1)).toEqual(blockBytes([0]));
    await storage.write(2, 0, blockBytes([6]));
    expect(await storage.read(2, 0, 1)).toEqual(blockBytes([6]));
    right(storage.failNext({ count: 1, lun: 1 }));
    expect(await rejection(storage.copy({ lun: 2, start: 0 }, { lun: 1, start: 0 }, 1))).toBeInstanceOf(InjectedFault);
    expect(await storage.read(1, 0, 1)).toEqual(blockBytes([5]));
    leftErrors(storage.failNext({ count: 0 }));
    leftErrors(storage.failNext({ count: 1, lun: 7 }));
    leftErrors(storage.failNext({ count: 1, op: 'erase' as 'read' }));
  });

  it('fails every operation touching a bad block until cleared', async () => {
    const storage = newStorage();
    right(storage.markBad({ lun: 1, start: 5, length: 2 }));
    expect((await rejection(storage.read(1, 4, 2))).message).toContain('LUN 1 block 5 is marked bad');
    expect(await rejection(storage.copy({ lun: 2, start: 0 }, { lun: 1, start: 6 }, 1))).toBeInstanceOf(InjectedFault);
    await storage.read(1, 0, 5);
    storage.clearBad();
    await storage.read(1, 4, 2);
    leftErrors(storage.markBad({ lun: 1, start: 19, length: 2 }));
  });

  it('fails about failureRate of operations, deterministically per seed', async () => {
    const run = async (seed: number): Promise<boolean[]> => {
      const storage = right(createMemoryStorage({ blockSize: 1, luns: { 0: 10 }, failureRate: 0.2, seed }));
      const out: boolean[] = [];
      for (let i = 0; i < 2000; i++) out.push(await storage.read(0, 0, 1).then(() => true, () => false));
      return out;
    };
    const a = await run(5);
    expect(await run(5)).toEqual(a);
    const failures = a.filter((ok) => !ok).length;
    expect(failures).toBeGreaterThan(300);
    expect(failures).toBeLessThan(500);
  });

  it('reports writes to listeners, which can be removed', async () => {
    const storage = newStorage();
    const seen: StorageEvent[] = [];
    const reads: StorageEvent[] = [];
    const off = storage.onWrite((e) => seen.push(e));
    storage.onRead((e) => reads.push(e));
    await storage.writeZeros(2, 1, 3);
    await storage.read(2, 1, 1);
    off();
    await storage.write(2, 0, blockBytes([1]));
    expect(seen).toEqual([{ op: 'writeZeros', lun: 2, start: 1, length: 3 }]);
    expect(reads).toEqual([{ op: 'read', lun: 2, start: 1, length: 1 }]);
  });

  it('rejects malformed options', () => {
    expect(leftErrors(createMemoryStorage({ blockSize: 0, luns: {} })).map((e) => e.field)).toEqual(['blockSize']);
    expect(leftErrors(createMemoryStorage({ blockSize: 1, luns: { 1: -1 } })).map((e) => e.field)).toEqual(['luns[1]']);
    leftErrors(createMemoryStorage({ blockSize: 1, luns: {}, failureRate: 2 }));
    leftErrors(createMemoryStorage(null as never));
  });
});

// =============================================================================================
// Persistence
// =============================================================================================

const tableOf = (doc: { segmentBlocks: number; entries: object[]; generation?: number }): MappingTable =>
  right(createTable({ segmentBlocks: doc.segmentBlocks, entries: doc.entries, generation: doc.generation ?? 0 }));

/** Random updates of a table, as records plus the expected result. */
const updatesArb = (table: MappingTable) =>
  fc.array(
    fc.tuple(fc.nat(table.segmentCount - 1), entrySpecArb(table.segmentBlocks)),
    { maxLength: 6 },
  );

describe('memory persistence', () => {
  it('round-trips saved tables and attachments, and survives a "restart"', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tableArb(), { minLength: 1, maxLength: 4 }), async (tables) => {
        const p = createMemoryPersistence();
        for (const [i, t] of tables.entries()) await p.save({ type: 'saveTable', disk: `d${i}`, table: encodeTable(t) });
        await p.save({ type: 'attachments', disk: 'd0', agents: ['a2', 'a1'] });
        // A new controller loads the same object.
        const state = await p.load();
        expect(state.tables).toEqual(tables.map((t, i) => ({ disk: `d${i}`, table: encodeTable(t) })));
        expect(state.attachments).toEqual([{ disk: 'd0', agents: ['a2', 'a1'] }]);
      }),
      { numRuns: 50 },
    );
  });

  it('applies updateTable records like setEntries, and refuses generation gaps without changing anything', async () => {
    await fc.assert(
      fc.asyncProperty(
        tableArb().chain((t) => fc.tuple(fc.constant(t), updatesArb(t), fc.integer({ min: 1, max: 3 }))),
        async ([table, updates, step]) => {
          const p = createMemoryPersistence();
          await p.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
          const expected = right(setEntries(table, updates.map(([segment, entry]) => ({ segment, entry })), { generation: table.generation + step }));
          const changes: EntryChange[] = updates.map(([segment, entry]) => ({
            segment,
            entry: encodeTable(right(createTable({ segmentBlocks: table.segmentBlocks, entries: [entry] }))).entries[0]!,
          }));
          // A record from the wrong generation is refused, and nothing changes.
          const gap: PersistRecord = { type: 'updateTable', disk: 'vol', fromGeneration: table.generation + 1, generation: table.generation + 2, changes };
          const e = await rejection(p.save(gap));
          expect(e.message).toContain(`stored table is at generation ${table.generation}`);
          expect((await p.load()).tables[0]!.table).toEqual(encodeTable(table));
          await p.save({ type: 'updateTable', disk: 'vol', fromGeneration: table.generation, generation: table.generation + step, changes });
          expect((await p.load()).tables[0]!.table).toEqual(encodeTable(expected));
          // Replaying the same record (a duplicate) is refused too.
          await rejection(p.save({ type: 'updateTable', disk: 'vol', fromGeneration: table.generation, generation: table.generation + step, changes }));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('resizes on segmentCount, new segments zero, before applying changes', async () => {
    const p = createMemoryPersistence();
    const t = tableOf({ segmentBlocks: 10, entries: [{ location: { lun: 1, start: 0 } }, { location: { lun: 1, start: 10 } }] });
    await p.save({ type: 'saveTable', disk: 'vol', table: encodeTable(t) });
    await p.save({ type: 'updateTable', disk: 'vol', fromGeneration: 0, generation: 1, segmentCount: 4, changes: [{ segment: 3, entry: { location: { lun: 2, start: 0 } } }] });
    const expected = right(setEntries(right(resizeTable(t, 4, { zero: true })), [{ segment: 3, entry: { location: { lun: 2, start: 0 } } }], { generation: 1 }));
    expect((await p.load()).tables[0]!.table).toEqual(encodeTable(expected));
    expect(p.table('vol')?.segmentCount).toBe(4);
    await p.save({ type: 'updateTable', disk: 'vol', fromGeneration: 1, generation: 2, segmentCount: 1, changes: [] });
    expect((await p.load()).tables[0]!.table.entries).toEqual([{ location: { lun: 1, start: 0 } }]);
  });

  it('refuses malformed records with clear errors', async () => {
    const p = createMemoryPersistence();
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    expect((await rejection(p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 1, changes: [] }))).message).toContain(
      'no table is stored',
    );
    expect((await rejection(p.save({ type: 'deleteTable', disk: 'x' }))).message).toContain('no table is stored');
    expect((await rejection(p.save({ type: 'attachments', disk: 'x', agents: [] }))).message).toContain('no table is stored');
    expect((await rejection(p.save({ type: 'saveTable', disk: 'x', table: { ...doc, segmentBlocks: 0 } }))).message).toContain('segmentBlocks');
    expect((await rejection(p.save({ type: 'frob', disk: 'x' } as unknown as PersistRecord))).message).toContain('unknown record type');
    await p.save({ type: 'saveTable', disk: 'x', table: doc });
    const bad = await rejection(
      p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 1, changes: [{ segment: 0, entry: { location: { lun: -1, start: 0 } } }] }),
    );
    expect(bad.message).toContain('changes[0].entry.location.lun');
    const outside = await rejection(p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 1, changes: [{ segment: 5, entry: { zero: true } }] }));
    expect(outside.message).toContain('changes[0].segment');
    expect((await rejection(p.save({ type: 'updateTable', disk: 'x', fromGeneration: 0, generation: 0, changes: [] }))).message).toContain('above 0');
    expect((await p.load()).tables).toEqual([{ disk: 'x', table: doc }]);
  });

  it('deletes tables with their attachments; empty attachment lists vanish', async () => {
    const p = createMemoryPersistence();
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    await p.save({ type: 'saveTable', disk: 'a', table: doc });
    await p.save({ type: 'saveTable', disk: 'b', table: doc });
    await p.save({ type: 'attachments', disk: 'a', agents: ['x'] });
    await p.save({ type: 'attachments', disk: 'b', agents: ['y'] });
    await p.save({ type: 'attachments', disk: 'b', agents: [] });
    await p.save({ type: 'deleteTable', disk: 'a' });
    expect(await p.load()).toEqual({ tables: [{ disk: 'b', table: doc }], attachments: [] });
  });

  it('injects failures: before applying, after applying (lost ack), and on load', async () => {
    const p = createMemoryPersistence();
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    const saved: PersistRecord[] = [];
    p.onSave((r) => saved.push(r));
    right(p.failNext(1));
    expect(await rejection(p.save({ type: 'saveTable', disk: 'a', table: doc }))).toBeInstanceOf(InjectedFault);
    expect(p.peek().tables).toEqual([]);
    right(p.failNext(1, { applied: true }));
    const lost = await rejection(p.save({ type: 'saveTable', disk: 'a', table: doc }));
    expect(lost.message).toContain('acknowledgement lost');
    expect(p.peek().tables).toEqual([{ disk: 'a', table: doc }]);
    expect(saved).toEqual([{ type: 'saveTable', disk: 'a', table: doc }]);
    right(p.failNext(2, { op: 'load' }));
    await rejection(p.load());
    await rejection(p.load());
    expect((await p.load()).tables.length).toBe(1);
    leftErrors(p.failNext(0));
  });

  it('does not share state with the caller', async () => {
    const p = createMemoryPersistence();
    const agents = ['a1'];
    const doc = encodeTable(tableOf({ segmentBlocks: 4, entries: [{ zero: true }] }));
    await p.save({ type: 'saveTable', disk: 'a', table: doc });
    await p.save({ type: 'attachments', disk: 'a', agents });
    agents.push('a2');
    const loaded = await p.load();
    (loaded.attachments[0]!.agents as string[]).push('a3');
    expect((await p.load()).attachments).toEqual([{ disk: 'a', agents: ['a1'] }]);
  });
});

// =============================================================================================
// Network
// =============================================================================================

interface Ping {
  readonly n: number;
  readonly payload: { list: number[] };
}

/** Sends `count` messages from two senders to one receiver and records what arrives, in order. */
const runNetwork = (seed: number, count: number, options: { dropRate?: number; duplicateRate?: number; maxDelay?: number } = {}) => {
  const net = right(createMemoryNetwork({ seed, ...options }));
  const a = net.transport<Ping, Ping>('a');
  const b = net.transport<Ping, Ping>('b');
  const c = net.transport<Ping, Ping>('c');
  const got: [string, number][] = [];
  c.onMessage((from, m) => got.push([from, m.n]));
  const deliveries: Delivery[] = [];
  for (let i = 0; i < count; i++) {
    (i % 2 === 0 ? a : b).send('c', { n: i, payload: { list: [i] } });
    if (i % 3 === 0) {
      const d = net.step();
      if (d !== undefined) deliveries.push(d);
    }
  }
  for (let d = net.step(); d !== undefined; d = net.step()) deliveries.push(d);
  return { net, got, deliveries };
};

describe('memory network', () => {
  it('delivers in an order decided by the seed: same seed, same run', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const x = runNetwork(seed, 60, { dropRate: 0.1, duplicateRate: 0.1 });
        const y = runNetwork(seed, 60, { dropRate: 0.1, duplicateRate: 0.1 });
        expect(y.got).toEqual(x.got);
        expect(y.deliveries.map((d) => d.id)).toEqual(x.deliveries.map((d) => d.id));
        expect(y.net.stats()).toEqual(x.net.stats());
      }),
      { numRuns: 50 },
    );
    // And the seed matters.
    const orders = new Set([1, 2, 3, 4, 5].map((s) => JSON.stringify(runNetwork(s, 30).got)));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('reorders but, with no drops, delivers every message exactly once', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const { got, net } = runNetwork(seed, 50);
        expect(got.map(([, n]) => n).sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
        expect(net.stats()).toEqual({ sent: 50, dropped: 0, duplicated: 0, delivered: 50, lost: 0 });
      }),
      { numRuns: 50 },
    );
    // Reordering actually happens with the default (unbounded) delay.
    const { got } = runNetwork(9, 50);
    expect(got.map(([, n]) => n)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('bounds reordering by maxDelay (0 is first in, first out)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 5 }), (seed, maxDelay) => {
        const { deliveries } = runNetwork(seed, 80, { maxDelay });
        const ids = deliveries.map((d) => d.id);
        if (maxDelay === 0) expect(ids).toEqual([...ids].sort((p, q) => p - q));
        // Each message is overtaken by at most maxDelay younger ones.
        ids.forEach((id, i) => expect(ids.slice(0, i).filter((other) => other > id).length).toBeLessThanOrEqual(maxDelay));
      }),
      { numRuns: 50 },
    );
  });

  it('honours drop and duplicate rates roughly', () => {
    for (const seed of [1, 2, 3]) {
      const { net, got } = runNetwork(seed, 10_000, { dropRate: 0.2, duplicateRate: 0.1 });
      const s = net.stats();
      expect(s.sent).toBe(10_000);
      expect(s.dropped).toBeGreaterThan(1_700);
      expect(s.dropped).toBeLessThan(2_300);
      // Duplicates are drawn for the messages that were not dropped.
      expect(s.duplicated).toBeGreaterThan(600);
      expect(s.duplicated).toBeLessThan(1_000);
      expect(s.delivered).toBe(s.sent - s.dropped + s.duplicated);
      expect(got.length).toBe(s.delivered);
    }
  });

  it('clones messages on send: no shared mutable references between peers', () => {
    const net = right(createMemoryNetwork({ seed: 1 }));
    const a = net.transport<Ping, Ping>('a');
    const b = net.transport<Ping, Ping>('b');
    const seen: Ping[] = [];
    const seen2: Ping[] = [];
    b.onMessage((_, m) => seen.push(m));
    b.onMessage((_, m) => seen2.push(m));
    const m: Ping = { n: 1, payload: { list: [1] } };
    a.send('b', m);
    m.payload.list.push(2);
    net.deliverAll();
    expect(seen[0]).toEqual({ n: 1, payload: { list: [1] } });
    expect(seen[0]).not.toBe(m);
    expect(seen2[0]).toEqual(seen[0]);
    expect(seen2[0]).not.toBe(seen[0]);
  });

  it('drops traffic of a cut peer, including messages already in flight, until healed', () => {
    const net = right(createMemoryNetwork({ seed: 1 }));
    const a = net.transport<number, number>('a');
    const b = net.transport<number, number>('b');
    const got: number[] = [];
    b.onMessage((_, m) => got.push(m));
    a.onMessage((_, m) => got.push(-m));
    a.send('b', 1);
    net.cut('b');
    expect(net.isCut('b')).toBe(true);
    a.send('b', 2);
    b.send('a', 3);
    expect(net.pending()).toBe(1);
    const d = net.step();
    expect(d).toMatchObject({ from: 'a', to: 'b', message: 1, delivered: false });
    net.heal('b');
    a.send('b', 4);
    b.send('a', 5);
    expect(net.deliverAll()).toBe(2);
    expect(got.sort()).toEqual([-5, 4]);
    expect(net.stats()).toMatchObject({ sent: 5, dropped: 2, lost: 1, delivered: 2 });
  });

  it('models a restart: a new endpoint for a peer replaces the old one', () => {
    const net = right(createMemoryNetwork({ seed: 1 }));
    const a = net.transport<string, string>('a');
    const old = net.transport<string, string>('b');
    const got: string[] = [];
    old.onMessage((_, m) => got.push(`old:${m}`));
    a.send('b', 'x');
    const fresh = net.transport<string, string>('b');
    fresh.onMessage((_, m) => got.push(`new:${m}`));
    old.onMessage((_, m) => got.push(`old2:${m}`));
    old.send('a', 'from the dead');
    net.deliverAll();
    expect(got).toEqual(['new:x']);
    expect(net.stats().dropped).toBe(1);
    // Messages to a peer without an endpoint are lost.
    a.send('nobody', 'hello');
    expect(net.step()?.delivered).toBe(false);
  });

  it('lets handlers send while being delivered; deliverAll honours its limit', () => {
    const net = right(createMemoryNetwork({ seed: 3 }));
    const a = net.transport<number, number>('a');
    const b = net.transport<number, number>('b');
    a.onMessage((_, n) => a.send('b', n + 1));
    b.onMessage((_, n) => b.send('a', n + 1));
    a.send('b', 0);
    expect(net.deliverAll(100)).toBe(100);
    expect(net.pending()).toBe(1);
    expect(net.inFlight()[0]).toMatchObject({ message: 100 });
    expect(net.deliver(3)).toBe(3);
  });

  it('rejects malformed options', () => {
    leftErrors(createMemoryNetwork({ seed: Number.NaN }));
    expect(leftErrors(createMemoryNetwork({ seed: 1, dropRate: -0.1, duplicateRate: 1.5, maxDelay: 1.5 })).map((e) => e.field)).toEqual([
      'dropRate',
      'duplicateRate',
      'maxDelay',
    ]);
  });
});

// =============================================================================================
// Clock
// =============================================================================================

describe('manual clock', () => {
  it('fires due timers in time order (ties in order set), each at its due time', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 10 }), (delays, steps) => {
        const clock = right(createManualClock(1000));
        const fired: [number, number][] = [];
        delays.forEach((d, i) => clock.setTimer(d, () => fired.push([i, clock.now()])));
        let elapsed = 0;
        for (const s of steps) {
          elapsed += s;
          expect(right(clock.advance(s))).toBe(1000 + elapsed);
        }
        right(clock.advance(0)); // timers due now fire only when time is advanced, even by zero
        const expected = delays
          .map((d, i) => [i, 1000 + d] as [number, number])
          .filter(([, due]) => due <= 1000 + elapsed)
          .sort((p, q) => p[1] - q[1] || p[0] - q[0]);
        expect(fired).toEqual(expected);
        expect(clock.pending()).toBe(delays.length - expected.length);
      }),
    );
  });

  it('fires timers set by callbacks within the same advance, and honours clearTimer', () => {
    const clock = right(createManualClock());
    const log: string[] = [];
    const cleared = clock.setTimer(5, () => log.push('cleared'));
    clock.setTimer(10, () => {
      log.push(`a@${clock.now()}`);
      clock.setTimer(0, () => log.push(`b@${clock.now()}`));
      clock.setTimer(15, () => log.push(`c@${clock.now()}`));
      clock.setTimer(100, () => log.push('d'));
    });
    clock.clearTimer(cleared);
    clock.clearTimer(cleared); // twice: nothing
    right(clock.advance(30));
    expect(log).toEqual(['a@10', 'b@10', 'c@25']);
    expect(clock.now()).toBe(30);
    expect(clock.nextDue()).toBe(110);
    expect(clock.runNext()).toBe(true);
    expect(log.at(-1)).toBe('d');
    expect(clock.now()).toBe(110);
    expect(clock.runNext()).toBe(false);
  });

  it('treats negative and NaN delays as 0, and refuses bad advances', () => {
    const clock = right(createManualClock(5));
    const log: number[] = [];
    clock.setTimer(-3, () => log.push(1));
    clock.setTimer(Number.NaN, () => log.push(2));
    right(clock.advance(0));
    expect(log).toEqual([1, 2]);
    leftErrors(clock.advance(-1));
    leftErrors(clock.advance(Infinity));
    clock.setTimer(1, () => expect(E.isLeft(clock.advance(1))).toBe(true));
    right(clock.advance(1));
    leftErrors(createManualClock(Number.NaN));
  });
});
