/**
 * The durability model's rollback rule: a disk being rolled back may, after a power loss, hold
 * whatever the snapshot may hold as well as its own values, and nothing else; and the zeros of a
 * discard or write-zeroes count as a write.
 */
import { describe, expect, it } from 'vitest';
import { DurabilityModel } from '../../src/sim/durability-model.js';

/** A model of `blocks` blocks where block 0 was written with `value` and flushed by writer w. */
const flushedAt = (blocks: number, value: number, seq: number): DurabilityModel => {
  const m = new DurabilityModel(blocks);
  const w = m.writeStarted(0, 1, value, seq);
  m.writeEnded(w, true, seq + 1, 'w', false);
  m.flushed('w', seq + 2);
  return m;
};

describe('DurabilityModel.allowRollbackTo', () => {
  it('adds what the snapshot may hold to what the disk may hold, and nothing more', () => {
    const snapshot = flushedAt(2, 7, 1);
    const disk = flushedAt(2, 9, 10);
    expect(disk.accepts(0, 7)).toBe(false); // the flush of 9 guaranteed it: 7 cannot come back
    disk.allowRollbackTo(snapshot);
    expect(disk.accepts(0, 7)).toBe(true);
    expect(disk.accepts(0, 9)).toBe(true);
    expect(disk.accepts(0, 0)).toBe(false); // neither ever held zeros there after the flushes
    expect(disk.accepts(1, 0)).toBe(true);
    expect(disk.accepts(1, 5)).toBe(false);
    // A later guaranteed write does not take the snapshot's values away (the rollback's commit
    // may land after it).
    const w = disk.writeStarted(0, 1, 11, 20);
    disk.writeEnded(w, true, 21, 'w', true);
    expect(disk.accepts(0, 7)).toBe(true);
    expect(disk.accepts(0, 11)).toBe(true);
  });

  it('a snapshot the run does not model (null), or blocks past a smaller one, may hold anything', () => {
    const disk = flushedAt(3, 9, 1);
    disk.allowRollbackTo(flushedAt(1, 7, 1));
    expect(disk.accepts(1, 123)).toBe(true);
    expect(disk.isUncertain(1)).toBe(true);
    expect(disk.accepts(0, 123)).toBe(false);
    const other = flushedAt(2, 9, 1);
    other.allowRollbackTo(null);
    expect(other.accepts(0, 123)).toBe(true);
    expect(other.copy().accepts(1, 456)).toBe(true);
  });
});

describe('DurabilityModel with the zeros of a discard or write-zeroes', () => {
  it('a flushed discard guarantees its zeros, and a flushed write after it rules them out', () => {
    const m = new DurabilityModel(4);
    const w = m.writeStarted(0, 2, 7, 1);
    m.writeEnded(w, true, 2, 'a0#1', false);
    m.flushed('a0#1', 3);
    // A discard of block 0, acknowledged: its zeros may survive, the 7 too until a flush.
    const z = m.writeStarted(0, 1, 0, 4);
    m.writeEnded(z, true, 5, 'a0#1', false);
    expect([m.accepts(0, 0), m.accepts(0, 7)]).toEqual([true, true]);
    m.flushed('a0#1', 6);
    expect([m.accepts(0, 0), m.accepts(0, 7), m.accepts(1, 0)]).toEqual([true, false, false]);
    // A write issued after the discard finished, then flushed: a zero entry must not erase it.
    const later = m.writeStarted(0, 1, 9, 7);
    m.writeEnded(later, true, 8, 'a0#1', false);
    m.flushed('a0#1', 9);
    expect([m.accepts(0, 9), m.accepts(0, 0)]).toEqual([true, false]);
  });
});
