/**
 * A clock that moves only when told to, for tests and simulation.
 */
import * as E from 'fp-ts/lib/Either.js';
import { guarded, validationError, type ValidationError } from '../../errors.js';
import type { Clock, TimerHandle } from '../types.js';

/**
 * A {@link Clock} that moves only when told to.
 *
 * @example
 * clock.setTimer(10, () => console.log('fired at', clock.now()));
 * clock.advance(25); // prints "fired at 10"; now() is 25
 */
export interface ManualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in due order (ties
   * in the order they were set), each with `now()` at its due time; timers set by callbacks fire
   * too when they fall due in the window. Returns the new time; Left for a negative or
   * non-finite `ms`, or when called from a timer callback.
   */
  advance(ms: number): E.Either<ValidationError[], number>;
  /** Jumps to the next due timer and fires it (with any due at the same time); false when none is set. */
  runNext(): boolean;
  /** Number of timers set and not yet fired or cleared. */
  pending(): number;
  /** When the next timer falls due, if any. */
  nextDue(): number | undefined;
}

interface Timer extends TimerHandle {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
}

/**
 * A manual clock starting at `start` (default 0). Left when `start` is not a finite number.
 *
 * @example
 * const clock = createManualClock(1000); // Right(clock) with now() === 1000
 */
export const createManualClock = (start = 0): E.Either<ValidationError[], ManualClock> => guarded('start', () => buildClock(start));

const buildClock = (start: number): E.Either<ValidationError[], ManualClock> => {
  if (typeof start !== 'number' || !Number.isFinite(start)) return E.left([validationError('start', start, 'must be a finite number')]);
  let now = start;
  let seq = 0;
  let running = false;
  // Kept sorted by (due, seq); timer counts in simulations are small, so insertion is linear.
  const timers: Timer[] = [];

  const fireDue = (until: number): void => {
    running = true;
    try {
      while (timers.length > 0 && timers[0]!.due <= until) {
        const t = timers.shift()!;
        now = Math.max(now, t.due);
        t.callback();
      }
    } finally {
      running = false;
    }
  };

  const clock: ManualClock = {
    now: () => now,
    setTimer(ms, callback) {
      const delay = typeof ms === 'number' && ms > 0 ? ms : 0;
      const timer: Timer = { _tag: 'TimerHandle', due: now + delay, seq: seq++, callback };
      let i = timers.length;
      while (i > 0 && timers[i - 1]!.due > timer.due) i--;
      timers.splice(i, 0, timer);
      return timer;
    },
    clearTimer(handle) {
      const i = timers.indexOf(handle as Timer);
      if (i >= 0) timers.splice(i, 1);
    },
    advance(ms) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
        return E.left([validationError('ms', ms, 'must be a finite non-negative number')]);
      if (running) return E.left([validationError('ms', ms, 'cannot be advanced from inside a timer callback')]);
      const target = now + ms;
      fireDue(target);
      now = target;
      return E.right(now);
    },
    runNext() {
      const first = timers[0];
      if (first === undefined || running || !Number.isFinite(first.due)) return false;
      fireDue(first.due);
      return true;
    },
    pending: () => timers.length,
    nextDue: () => timers[0]?.due,
  };
  return E.right(clock);
};

/**
 * A {@link Clock} on real time: `now()` is milliseconds since the clock was made, timers are the
 * platform's `setTimeout`. With a network in `delivery: 'auto'` mode it lets runtimes run by
 * themselves, as in production: `await agent.write(...)` finishes without the caller moving time
 * or delivering messages. Pending timers keep a Node process alive until the runtimes stop.
 *
 * @example
 * const clock = createRealClock();
 * const controller = await createController({ storage, transport, persistence, clock, allocator });
 */
export const createRealClock = (): Clock => {
  const g = globalThis as unknown as {
    setTimeout: (f: () => void, ms: number) => unknown;
    clearTimeout: (handle: unknown) => void;
    performance?: { now(): number };
  };
  const read = (): number => (g.performance !== undefined ? g.performance.now() : Date.now());
  const origin = read();
  const handles = new WeakMap<TimerHandle, unknown>();
  return {
    now: () => read() - origin,
    setTimer(ms, callback) {
      const handle: TimerHandle = { _tag: 'TimerHandle' };
      const delay = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : 0;
      handles.set(handle, g.setTimeout(callback, delay));
      return handle;
    },
    clearTimer(handle) {
      if (typeof handle !== 'object' || handle === null) return;
      const h = handles.get(handle);
      if (h !== undefined) g.clearTimeout(h);
      handles.delete(handle);
    },
  };
};
