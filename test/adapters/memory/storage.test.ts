/**
 * Tests for src/adapters/memory/storage.ts: storage against a naive per-block model, failure
 * injection, listeners and refusals.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InjectedFault } from '../../../src/adapters/memory/injection.js';
import { createMemoryStorage, type MemoryStorage, type StorageEvent } from '../../../src/adapters/memory/storage.js';
import { leftErrors, rejection, right } from './helpers.js';

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

describe('volatile write cache and power loss (docs/design.md#ordering-rules)', () => {
  type Op = { type: 'write'; lun: 1 | 2; start: number; value: number; length: number } | { type: 'flush'; lun: 1 | 2 } | { type: 'power' };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ type: fc.constant('write' as const), lun: fc.constantFrom(1 as const, 2 as const), start: fc.integer({ min: 0, max: 9 }), value: fc.integer({ min: 1, max: 255 }), length: fc.integer({ min: 1, max: 3 }) }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('flush' as const), lun: fc.constantFrom(1 as const, 2 as const) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('power' as const) }) },
  );

  it('a block reads its last flushed content or one written since, never anything else; a flush after a loss of unflushed writes rejects', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), fc.integer(), async (ops, seed) => {
        const storage = right(createMemoryStorage({ blockSize: BS, luns: LUNS, seed }));
        // Model per block: the floor (flushed) and every value written since.
        const floor = new Map<string, number>();
        const since = new Map<string, number[]>();
        const dirty = new Set<number>();
        const lost = new Set<number>();
        for (const op of ops) {
          if (op.type === 'write') {
            const length = Math.min(op.length, LUNS[op.lun] - op.start);
            await storage.write(op.lun, op.start, new Uint8Array(length * BS).fill(op.value));
            for (let k = op.start; k < op.start + length; k++) since.set(`${op.lun}:${k}`, [...(since.get(`${op.lun}:${k}`) ?? []), op.value]);
            dirty.add(op.lun);
          } else if (op.type === 'flush') {
            if (lost.has(op.lun)) {
              await expect(storage.flush(op.lun)).rejects.toThrow(/flush of LUN .* failed: the write cache was lost/);
              lost.delete(op.lun);
              continue;
            }
            await storage.flush(op.lun);
            for (const [key, values] of since) if (key.startsWith(`${op.lun}:`)) floor.set(key, values[values.length - 1]!);
            for (const key of [...since.keys()]) if (key.startsWith(`${op.lun}:`)) since.delete(key);
            dirty.delete(op.lun);
          } else {
            storage.powerLoss();
            for (const lun of [1, 2] as const) {
              for (let k = 0; k < LUNS[lun]; k++) {
                const key = `${lun}:${k}`;
                const got = right(storage.peek(lun, k, 1))[0]!;
                const allowed = [floor.get(key) ?? 0, ...(since.get(key)?.slice(-8) ?? [])];
                expect(allowed, `LUN ${lun} block ${k}`).toContain(got);
                // What survived is now durable.
                floor.set(key, got);
                since.delete(key);
              }
              if (dirty.has(lun)) lost.add(lun);
            }
            dirty.clear();
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('tears multi-block writes: some blocks land and some do not, over seeds', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const storage = right(createMemoryStorage({ blockSize: 1, luns: { 1: 4 }, seed }));
      await storage.write(1, 0, new Uint8Array([1, 1, 1, 1]));
      storage.powerLoss();
      outcomes.add([...right(storage.peek(1, 0, 4))].join(''));
    }
    expect(outcomes.has('1111')).toBe(true);
    expect(outcomes.has('0000')).toBe(true);
    expect([...outcomes].some((o) => o.includes('0') && o.includes('1'))).toBe(true);
  });

  it('a power loss fails the next flush of every connection that wrote, not just the first to flush', async () => {
    const storage = right(createMemoryStorage({ blockSize: 1, luns: { 1: 4 } }));
    const other = storage.connect();
    await storage.write(1, 0, new Uint8Array([1]));
    await other.write(1, 1, new Uint8Array([2]));
    storage.powerLoss();
    await expect(storage.flush(1)).rejects.toThrow(/write cache was lost/);
    await expect(other.flush(1)).rejects.toThrow(/write cache was lost/);
    await storage.flush(1); // reported once per connection
    // Flushed writes survive any power loss.
    await storage.write(1, 2, new Uint8Array([3]));
    await storage.flush(1);
    storage.powerLoss();
    expect(right(storage.peek(1, 2, 1))[0]).toBe(3);
  });
});
