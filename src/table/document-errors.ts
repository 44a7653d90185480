/**
 * The errors of the document decoders: paths inside a document (`entries[12].alternate.blocks`),
 * bounded renderings of values that may be hostile, and the error budget. Nothing here trusts the
 * value it describes: rendering or reading one never throws.
 */
import { show, type ValidationError } from '../errors.js';

/**
 * Most errors {@link decodeTable} returns: enough to act on, and it stops reading once it has
 * them, so even a huge broken input is rejected quickly.
 *
 * @example
 * const result = decodeTable(JSON.parse(text));
 * if (E.isLeft(result) && result.left.length === MAX_DECODE_ERRORS) console.warn('more errors not shown');
 */
export const MAX_DECODE_ERRORS = 100;

/** @internal */
export const hasOwn = Object.prototype.hasOwnProperty;

/** @internal */
export const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** @internal Path of `key` inside `parent` (`''` is the document itself): `a.b`, or `a["odd key"]`. */
export const keyPath = (parent: string, key: string): string =>
  IDENTIFIER.test(key) ? (parent === '' ? key : `${parent}.${key}`) : `${parent}[${JSON.stringify(key)}]`;

/** @internal Path of entry `s`, or of `field` inside it. */
export const entryPath = (s: number, field: string): string =>
  field === '' ? `entries[${s}]` : field.startsWith('[') ? `entries[${s}]${field}` : `entries[${s}].${field}`;

const MAX_MESSAGE = 400;

/** {@link show}, but bounded and never throwing, whatever the value. */
const describe = (value: unknown): string => {
  try {
    if (typeof value === 'string' && value.length > 80) return `${JSON.stringify(value.slice(0, 77))}...`;
    const text = show(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return 'an unreadable value';
  }
};

/** @internal Why reading a value threw, without trusting the thrown value either. */
export const reason = (thrown: unknown): string => {
  try {
    if (thrown instanceof Error) return String(thrown.message).slice(0, 120);
    if (!isComplex(thrown)) return `it threw ${describe(thrown)}`;
  } catch {
    // fall through
  }
  return 'it threw a non-Error value';
};

/** @internal The error of `value` at path `field`, which must meet `requirement`. */
export const makeError = (field: string, value: unknown, requirement: string, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field === '' ? 'the document' : field} ${requirement}, got ${describe(value)}`;
  return segment === undefined ? { field, value, message } : { segment, field, value, message };
};

/** @internal The error of a value at path `field` whose reading threw. */
export const unreadable = (field: string, thrown: unknown, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field === '' ? 'the document' : field} could not be read (${reason(thrown)})`;
  return segment === undefined ? { field, value: undefined, message } : { segment, field, value: undefined, message };
};

/** @internal Moves an error of `validateEntry` (whose fields are relative to the entry) under `entries[s]`. */
export const underEntry = (e: ValidationError): ValidationError => {
  const s = e.segment;
  if (s === undefined) return e;
  const field = entryPath(s, e.field === 'entry' ? '' : e.field);
  const prefix = `segment ${s}: ${e.field}`;
  let message = e.message.startsWith(prefix) ? `segment ${s}: ${field}${e.message.slice(prefix.length)}` : e.message;
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE - 3)}...`;
  return { segment: s, field, value: e.value, message };
};

/** @internal */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** @internal True for values whose rendering or reading could run user code (proxies, getters, toJSON...). */
export const isComplex = (v: unknown): boolean => (typeof v === 'object' && v !== null) || typeof v === 'function';
