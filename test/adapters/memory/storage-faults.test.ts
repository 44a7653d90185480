/**
 * Tests for the fault kinds of src/adapters/memory/storage.ts that let an operation land in
 * full or in part while it reports failure, or hang: lostAck, partial, hang (late or aborted).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/adapters/memory/clock.js';
import { InjectedFault } from '../../../src/adapters/memory/injection.js';
import { createMemoryStorage } from '../../../src/adapters/memory/storage.js';
import { leftErrors, rejection, right } from './helpers.js';

const BS = 4;
const block = (v: number, n = 1): Uint8Array => new Uint8Array(n * BS).fill(v);

describe('memory storage: faults that land or hang', () => {
  it('refuses malformed fault options with errors naming the field and the value', () => {
    const errs = leftErrors(createMemoryStorage({ blockSize: BS, luns: { 1: 8 }, lostAckRate: 2, partialWriteRate: -1, hangRate: 0.5, maxHang: 0 }));
    expect(errs.map((e) => e.field).sort()).toEqual(['clock', 'lostAckRate', 'maxHang', 'partialWriteRate']);
    expect(errs.find((e) => e.field === 'lostAckRate')!.message).toContain('2');
    expect(errs.find((e) => e.field === 'clock')!.message).toContain('hangRate 0.5');
    const s = right(createMemoryStorage({ blockSize: BS, luns: { 1: 8 } }));
    expect(leftErrors(s.failNext({ count: 1, mode: 'torn' as never }))[0]!.message).toContain('torn');
  });

  it('lostAck: the write, copy or writeZeros is applied in full, then rejects with an InjectedFault', async () => {
    const s = right(createMemoryStorage({ blockSize: BS, luns: { 1: 8 } }));
    right(s.failNext({ count: 1, op: 'write', mode: 'lostAck' }));
    expect(await rejection(s.write(1, 0, block(7, 3)))).toBeInstanceOf(InjectedFault);
    expect(right(s.peek(1, 0, 3))).toEqual(block(7, 3));
    right(s.failNext({ count: 1, op: 'copy', mode: 'lostAck' }));
    expect(await rejection(s.copy({ lun: 1, start: 0 }, { lun: 1, start: 4 }, 3))).toBeInstanceOf(InjectedFault);
    expect(right(s.peek(1, 4, 3))).toEqual(block(7, 3));
    right(s.failNext({ count: 1, op: 'writeZeros', mode: 'lostAck' }));
    await rejection(s.writeZeros(1, 0, 2));
    expect(right(s.peek(1, 0, 3))).toEqual(new Uint8Array([...block(0, 2), ...block(7)]));
    // A read cannot land: it fails as a plain failure.
    right(s.failNext({ count: 1, op: 'read', mode: 'lostAck' }));
    await rejection(s.read(1, 0, 1));
    expect(s.injected().rejected).toBe(4);
  });

  it('partial: a multi-block write or copy applies a non-empty strict prefix, then rejects; a single block fails whole', () =>
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 8 }), fc.integer(), async (n, seed) => {
        const s = right(createMemoryStorage({ blockSize: BS, luns: { 1: 16 }, partialWriteRate: 1, seed }));
        await rejection(s.write(1, 0, block(5, n)));
        const landed = [...Array(n).keys()].filter((k) => right(s.peek(1, k, 1))[0] === 5).length;
        expect(landed).toBeGreaterThanOrEqual(1);
        expect(landed).toBeLessThan(n);
        expect(right(s.peek(1, 0, landed))).toEqual(block(5, landed)); // a prefix
        await rejection(s.copy({ lun: 1, start: 0 }, { lun: 1, start: 8 }, n));
        expect(right(s.peek(1, 8, 1))).toEqual(block(5));
        expect(right(s.peek(1, 8 + n - 1, 1))).toEqual(block(0)); // never written: either way zeros
        right(s.failNext({ count: 1, mode: 'partial' }));
        await rejection(s.write(1, 15, block(9)));
        expect(right(s.peek(1, 15, 1))).toEqual(block(0));
      }),
      { numRuns: 30 },
    ));

  it('hang: an operation is performed late, within maxHang on the clock, or aborted after maxHang with nothing applied', async () => {
    const clock = right(createManualClock(0));
    const s = right(createMemoryStorage({ blockSize: BS, luns: { 1: 64 }, hangRate: 1, maxHang: 40, clock, seed: 3 }));
    const outcomes = { late: 0, aborted: 0 };
    for (let k = 0; k < 20; k++) {
      let settled: 'ok' | Error | null = null;
      s.write(1, k, block(k + 1)).then(
        () => (settled = 'ok'),
        (e: Error) => (settled = e),
      );
      for (let i = 0; i < 10; i++) await Promise.resolve();
      expect(settled).toBeNull();
      expect(right(s.peek(1, k, 1))).toEqual(block(0)); // nothing yet
      right(clock.advance(40));
      for (let i = 0; i < 10; i++) await Promise.resolve();
      expect(settled).not.toBeNull();
      if (settled === 'ok') {
        outcomes.late++;
        expect(right(s.peek(1, k, 1))).toEqual(block(k + 1));
      } else {
        outcomes.aborted++;
        expect(settled).toBeInstanceOf(InjectedFault);
        expect(right(s.peek(1, k, 1))).toEqual(block(0));
      }
    }
    expect(outcomes.late).toBeGreaterThan(0);
    expect(outcomes.aborted).toBeGreaterThan(0);
    expect(s.injected()).toEqual({ rejected: outcomes.aborted, hung: 20 });
  });
});
