/**
 * Failure injection shared by the in-memory adapters.
 */

/**
 * The error of a failure that was injected on purpose (failNext, a failure rate, a bad block),
 * so that a simulator can tell it from a bug.
 *
 * @example
 * storage.read(1, 0, 1).catch((e) => e instanceof InjectedFault); // true after failNext
 */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

/** A probability: a number from 0 to 1. */
export const isRate = (x: unknown): x is number => typeof x === 'number' && x >= 0 && x <= 1;
