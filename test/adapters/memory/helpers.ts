/**
 * Assertions shared by the tests of the in-memory adapters.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import type { ValidationError } from '../../../src/errors.js';

export const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

/** The errors of a Left, each of which must name its field. */
export const leftErrors = <A>(e: E.Either<ValidationError[], A>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  for (const err of e.left) expect(err.message).toContain(err.field);
  return e.left;
};

/** The rejection of a promise that must reject. */
export const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected the promise to reject');
};
