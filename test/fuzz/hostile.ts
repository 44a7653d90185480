/**
 * Hostile inputs for the fuzz suite: `fc.anything()` plus values that are well-typed enough to
 * get past a first `typeof` check and then break naive code (proxies and getters that throw,
 * sparse arrays, BigInt, NaN, -0, symbols, null-prototype, frozen and cyclic objects, huge
 * numbers), and a way to plant them inside otherwise well-formed inputs.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import type { ValidationError } from '../../src/errors.js';

/** Runs per property: enough to hit each hostile value several times, small enough to stay fast. */
export const RUNS = 150;

const boom = (): never => {
  throw new TypeError('boom');
};

/** A proxy whose every trap throws. */
export const trapProxy = (): object =>
  new Proxy(
    {},
    {
      get: boom,
      has: boom,
      ownKeys: boom,
      getOwnPropertyDescriptor: boom,
      getPrototypeOf: boom,
      set: boom,
      defineProperty: boom,
      deleteProperty: boom,
    },
  );

/** An object whose `key` (and every listed key) is a getter that throws. */
export const throwingGetters = (...keys: string[]): object => {
  const o = {};
  for (const k of keys) Object.defineProperty(o, k, { get: boom, enumerable: true });
  return o;
};

/** An array-looking proxy that lies about its length and throws on element reads. */
export const lyingArray = (): unknown[] =>
  new Proxy([] as unknown[], {
    get: (target, key) => (key === 'length' ? 2 ** 31 : key === Symbol.iterator ? boom() : typeof key === 'string' && /^\d+$/.test(key) ? boom() : Reflect.get(target, key)),
  });

/** A getter that answers a valid value first and garbage afterwards. */
export const flipFlop = (good: unknown, bad: unknown): { readonly value: unknown } => {
  let n = 0;
  return {
    get value() {
      return n++ === 0 ? good : bad;
    },
  };
};

const cyclic = (): object => {
  const o: Record<string, unknown> = { lun: 1, start: 0 };
  o.self = o;
  return o;
};

/** Fresh hostile values (some are stateful, so they are built per use). */
export const hostileValues = (): unknown[] => [
  undefined,
  null,
  NaN,
  -0,
  Infinity,
  -Infinity,
  2 ** 53,
  -(2 ** 53),
  Number.MAX_VALUE,
  1e300,
  0.5,
  -1,
  2 ** 32,
  2 ** 32 - 1,
  10n,
  -1n,
  Symbol('hostile'),
  Symbol.iterator,
  '',
  '0',
  '1e3',
  'x'.repeat(10_000),
  true,
  () => 1,
  Object.create(null),
  Object.freeze({ lun: 1, start: 0 }),
  Object.freeze([1, 2, 3]),
  [],
  [, 3], // eslint-disable-line no-sparse-arrays
  new Array(5),
  Object.assign(new Array(3), { 1: 1 }),
  { length: 3, 0: 1 },
  cyclic(),
  trapProxy(),
  lyingArray(),
  throwingGetters('lun', 'start', 'blocks', 'location', 'alternate', 'zero', 'segment', 'entry', 'type', 'epoch', 'disk', 'generation', 'segmentBlocks', 'segmentCount', 'entries', 'size', 'words', 'op', 'length', 'variant', 'changes', 'table', 'faultId', 'ioId', 'now'),
  { valueOf: boom, toString: boom },
  { toJSON: boom },
  new Uint32Array(4),
  new Map([[1, 2]]),
  new Date(NaN),
  /re/,
  new Error('an error as input'),
  Promise.resolve(1),
];

/**
 * Stands for hostile value `i` inside generated inputs: fast-check itself inspects the values it
 * generates (it looks for a clone method), which a trap proxy would not survive, so the values
 * are built by {@link materialize} inside the property instead.
 */
class Hostile {
  constructor(readonly i: number) {}
  toString(): string {
    return `hostile#${this.i}`;
  }
}

/** One hostile value (see {@link materialize}), or anything fast-check can build. */
export const hostileArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: fc.anything({ withBigInt: true, withNullPrototype: true, withSparseArray: true, withTypedArray: true, withBoxedValues: true }) },
  { weight: 3, arbitrary: fc.nat(hostileValues().length - 1).map((i) => new Hostile(i)) },
);

/** The input with every `Hostile` stand-in (at any depth of plain arrays and objects) built. */
export const materialize = (v: unknown): unknown => {
  if (v instanceof Hostile) return hostileValues()[v.i];
  if (Array.isArray(v)) return v.some((x) => x instanceof Hostile || typeof x === 'object') ? v.map(materialize) : v;
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = materialize(x);
    return out;
  }
  return v;
};

/** `fc.property` over materialized inputs. */
export const hostileProperty = (...args: [...arbs: fc.Arbitrary<unknown>[], body: (...values: unknown[]) => void]): fc.IPropertyWithHooks<unknown[]> => {
  const body = args[args.length - 1] as (...values: unknown[]) => void;
  const arbs = args.slice(0, -1) as fc.Arbitrary<unknown>[];
  return fc.property(fc.tuple(...arbs), (values) => {
    body(...values.map(materialize));
  }) as unknown as fc.IPropertyWithHooks<unknown[]>;
};

/**
 * A well-formed `template` with some of its fields (at any depth) replaced by hostile values:
 * inputs that pass the first checks and fail deeper down.
 */
export const plant = (template: unknown): fc.Arbitrary<unknown> => {
  if (typeof template !== 'object' || template === null) return fc.oneof({ weight: 3, arbitrary: fc.constant(template) }, { weight: 1, arbitrary: hostileArb });
  if (Array.isArray(template)) {
    return fc.oneof({ weight: 3, arbitrary: fc.tuple(...template.map(plant)) }, { weight: 1, arbitrary: hostileArb });
  }
  const keys = Object.keys(template);
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const k of keys) rec[k] = plant((template as Record<string, unknown>)[k]);
  return fc.oneof({ weight: 4, arbitrary: keys.length === 0 ? fc.constant({}) : fc.record(rec) }, { weight: 1, arbitrary: hostileArb });
};

/** Calls `f`, failing the test if it throws anything at all. */
export const noThrow = <A>(f: () => A): A => {
  try {
    return f();
  } catch (thrown) {
    return expect.fail(`threw ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)}`);
  }
};

/** A `Left` is a non-empty list of errors, each naming its field in its message. */
export const expectErrors = (errors: unknown): void => {
  expect(Array.isArray(errors)).toBe(true);
  const list = errors as ValidationError[];
  expect(list.length).toBeGreaterThan(0);
  for (const e of list) {
    expect(typeof e.field).toBe('string');
    expect(typeof e.message).toBe('string');
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.message.length).toBeLessThan(2000);
    // The message names the field (the document itself has the empty path).
    if (e.field !== '') expect(e.message).toContain(e.field.split(/[.[]/)[0]!);
  }
};

/** Either a `Left` of well-formed errors or a `Right` that satisfies `valid`. */
export const expectEither = <A>(result: E.Either<unknown, A>, valid: (a: A) => boolean): void => {
  expect(result === null || typeof result !== 'object' ? result : result._tag).toMatch(/^(Left|Right)$/);
  if (E.isLeft(result)) expectErrors(result.left);
  else expect(valid(result.right)).toBe(true);
};
