/**
 * Tests for src/adapters/memory/clock.ts: timers fire in due order, at their due time.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/adapters/memory/clock.js';
import { leftErrors, right } from './helpers.js';

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
