import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiskModel } from '../../src/sim/disk-model.js';

describe('DiskModel', () => {
  it('expects the last acknowledged write of a block, zeros before any', () => {
    const m = new DiskModel(8);
    const seen0 = m.readStarted(0, 8);
    expect(m.checkRead(0, new Float64Array(8), seen0)).toBeUndefined();
    m.writeStarted(2, 3);
    m.writeAcknowledged(2, 3, 7);
    const seen = m.readStarted(0, 8);
    expect(m.checkRead(0, [0, 0, 7, 7, 7, 0, 0, 0], seen)).toBeUndefined();
    expect(m.checkRead(0, [0, 0, 7, 9, 7, 0, 0, 0], seen)).toEqual({ block: 3, expected: 7, got: 9 });
  });

  it('does not judge blocks written during the read, after a failed write, or after overlapping writes', () => {
    const m = new DiskModel(4);
    const seen = m.readStarted(0, 4);
    m.writeStarted(0, 1);
    m.writeAcknowledged(0, 1, 5);
    expect(m.checkRead(0, [123, 0, 0, 0], seen)).toBeUndefined(); // block 0 changed during the read
    m.writeStarted(1, 1);
    m.writeFailed(1, 1);
    expect(m.isCertain(1)).toBe(false);
    m.writeStarted(2, 1);
    m.writeStarted(2, 1);
    m.writeAcknowledged(2, 1, 8);
    m.writeAcknowledged(2, 1, 9);
    expect(m.isCertain(2)).toBe(false);
    m.writeStarted(2, 1);
    m.writeAcknowledged(2, 1, 10);
    expect(m.isCertain(2)).toBe(true);
    expect(m.values[2]).toBe(10);
  });

  it('agrees with a per-block reference for sequential (non-overlapping) histories', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(15), fc.integer({ min: 1, max: 4 }), fc.boolean()), { maxLength: 40 }), (ops) => {
        const m = new DiskModel(20);
        const ref = new Array<number | null>(20).fill(0);
        ops.forEach(([start, length, ok], i) => {
          m.writeStarted(start, length);
          if (ok) m.writeAcknowledged(start, length, i + 1);
          else m.writeFailed(start, length);
          for (let b = start; b < start + length; b++) ref[b] = ok ? i + 1 : null;
        });
        for (let b = 0; b < 20; b++) {
          expect(m.isCertain(b)).toBe(ref[b] !== null);
          if (ref[b] !== null) expect(m.values[b]).toBe(ref[b]);
        }
      }),
    );
  });
});
