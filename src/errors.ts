/**
 * Errors are values: every constructor and decoder in vdisk-map returns
 * `Either<ValidationError[], T>` instead of throwing.
 */
import * as E from 'fp-ts/lib/Either.js';

/**
 * One reason why an input was rejected. `field` is a dotted path inside the input
 * (`entries[3].alternate.blocks`), `value` the offending value as it was given.
 *
 * @example
 * const e: ValidationError = { segment: 3, field: 'location.lun', value: -1, message: 'segment 3: location.lun must be a non-negative safe integer, got -1' };
 */
export interface ValidationError {
  /** The segment the error concerns, when it concerns one. */
  readonly segment?: number;
  readonly field: string;
  readonly value: unknown;
  readonly message: string;
}

/** Short, unambiguous rendering of a value for an error message. Never throws, whatever the value. */
export const show = (value: unknown): string => {
  try {
    if (typeof value === 'string') return value.length > 80 ? `${JSON.stringify(value.slice(0, 77))}...` : JSON.stringify(value);
    if (typeof value === 'bigint') return `${value}n`;
    if (value === undefined) return 'undefined';
    if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
    if (typeof value === 'boolean' || value === null) return String(value);
    if (typeof value === 'symbol') return value.toString();
    if (typeof value === 'function') return 'a function';
    const text = JSON.stringify(value);
    if (text !== undefined) return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    // a proxy, a throwing getter or toJSON, a cycle, a BigInt inside: fall through
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return 'an unreadable value';
  }
};

/** Why reading a value threw, without trusting the thrown value either. */
export const thrownReason = (thrown: unknown): string => {
  try {
    if (thrown instanceof Error) return String(thrown.message).slice(0, 120);
  } catch {
    // fall through
  }
  return `it threw ${typeof thrown === 'object' || typeof thrown === 'function' ? 'a non-Error value' : show(thrown)}`;
};

/** The error for an input that could not even be read (a getter or a proxy trap threw). */
export const unreadableError = (field: string, thrown: unknown, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field} could not be read (${thrownReason(thrown)})`;
  return segment === undefined ? { field, value: undefined, message } : { segment, field, value: undefined, message };
};

/**
 * Runs `f`, turning anything it throws into a `Left` naming `field`: the last line of defence of
 * an entry point whose input may be a proxy or carry throwing getters. Validation proper happens
 * inside `f`; this only keeps the "never throws" promise for inputs that cannot be read at all.
 */
export const guarded = <A>(field: string, f: () => E.Either<ValidationError[], A>): E.Either<ValidationError[], A> => {
  try {
    return f();
  } catch (thrown) {
    return E.left([unreadableError(field, thrown)]);
  }
};

export const validationError = (field: string, value: unknown, requirement: string, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field} ${requirement}, got ${show(value)}`;
  return segment === undefined ? { field, value, message } : { segment, field, value, message };
};

/** Non-negative safe integer: block numbers, LUN ids, counts. */
export const isBlockNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Collects an error when `value` is not a non-negative safe integer. */
export const checkBlockNumber = (
  errors: ValidationError[],
  field: string,
  value: unknown,
  segment?: number,
): value is number => {
  if (isBlockNumber(value)) return true;
  errors.push(validationError(field, value, 'must be a non-negative safe integer', segment));
  return false;
};
