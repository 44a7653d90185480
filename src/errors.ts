/**
 * Errors are values: every constructor and decoder in vdisk-map returns
 * `Either<ValidationError[], T>` instead of throwing.
 */

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

/** Short, unambiguous rendering of a value for an error message. */
export const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
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
