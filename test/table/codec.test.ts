/**
 * Tests of src/table/codec.ts: round trips, stability of the text, and a decoder that never
 * throws and always points at the offending value, whatever it is fed.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { ValidationError } from '../../src/errors.js';
import {
  decodeEntry,
  decodeTable,
  decodeTableJson,
  encodeTable,
  encodeTableJson,
  MAX_DECODE_ERRORS,
  TABLE_FORMAT,
  TABLE_VERSION,
  type TableDocument,
} from '../../src/table/codec.js';
import { createTable, getEntry, tablesEqual, withGeneration, type MappingTable } from '../../src/table/table.js';
import { tableArb } from '../../src/testing/arbitraries.js';

type Result<T> = E.Either<ValidationError[], T>;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const right = <T>(e: Result<T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left.slice(0, 5).map((x) => x.message))}`);
  return e.right;
};

/** The errors of a Left, after checking the shape every error must have. */
const left = <T>(e: Result<T>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  expect(e.left.length).toBeGreaterThan(0);
  expect(e.left.length).toBeLessThanOrEqual(MAX_DECODE_ERRORS);
  for (const err of e.left) expectWellFormed(err);
  return e.left;
};

const expectWellFormed = (err: ValidationError): void => {
  expect(typeof err.field).toBe('string');
  expect(typeof err.message).toBe('string');
  expect(err.message.length).toBeGreaterThan(0);
  if (err.field !== '') expect(err.message).toContain(err.field);
  const m = /^entries\[(\d+)\]/.exec(err.field);
  if (m) expect(err.segment).toBe(Number(m[1]));
  else expect(err.segment).toBeUndefined();
};

/** A decoder call that must not throw; returns its result. */
const safeDecode = (value: unknown): Result<MappingTable> => {
  let result: Result<MappingTable> | undefined;
  expect(() => {
    result = decodeTable(value);
  }).not.toThrow();
  expect(result === undefined ? undefined : result._tag).toMatch(/^(Left|Right)$/);
  if (E.isLeft(result!)) for (const err of result.left) expectWellFormed(err);
  return result!;
};

const sameTable = (a: MappingTable, b: MappingTable): boolean =>
  tablesEqual(a, b) && a.generation === b.generation && a.segmentBlocks === b.segmentBlocks && a.segmentCount === b.segmentCount;

/** A deep, plain copy of a document (what a reader would get from the JSON text). */
const clone = <T>(doc: T): T => JSON.parse(JSON.stringify(doc)) as T;

const tableWithGenerationArb = fc
  .tuple(tableArb(), fc.oneof(fc.constant(0), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)))
  .map(([t, g]) => right(withGeneration(t, g)));

const smallDoc = (): TableDocument => ({
  format: TABLE_FORMAT,
  version: TABLE_VERSION,
  segmentBlocks: 10,
  segmentCount: 3,
  generation: 7,
  entries: [
    { location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 10, blocks: '2,7-8' } },
    { location: { lun: 2, start: 0 } },
    { zero: true },
  ],
});

/** Errors of decoding `smallDoc()` after `edit` changed a copy of it. */
const errorsOf = (edit: (doc: any) => void, options = {}): ValidationError[] => {
  const doc = clone(smallDoc());
  edit(doc);
  return left(decodeTable(doc, options));
};

// ----- paths, in the codec's notation: `a.b[3]["odd key"]` ----------------------------------

type Step = string | number;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const renderPath = (steps: ReadonlyArray<Step>): string =>
  steps
    .map((s, i) =>
      typeof s === 'number' ? `[${s}]` : IDENT.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`,
    )
    .join('');

const parsePath = (path: string): Step[] => {
  const steps: Step[] = [];
  const token = /^(?:\.?([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;
  let rest = path;
  while (rest !== '') {
    const m = token.exec(rest);
    if (!m) throw new Error(`unparsable path ${JSON.stringify(path)} at ${JSON.stringify(rest)}`);
    steps.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
    rest = rest.slice(m[0].length);
  }
  return steps;
};

const isContainer = (v: unknown): v is Record<string | number, unknown> => typeof v === 'object' && v !== null;

/** Whether `steps` leads to an own property of `doc`; `parent` also accepts a missing last step. */
const resolves = (doc: unknown, steps: ReadonlyArray<Step>, allowMissingLast: boolean): boolean => {
  let at: unknown = doc;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (!isContainer(at)) return false;
    if (!Object.prototype.hasOwnProperty.call(at, step)) return allowMissingLast && i === steps.length - 1;
    at = at[step];
  }
  return true;
};

/** Every path of a plain JSON document, the document itself included. */
const allPaths = (doc: unknown, prefix: Step[] = [], out: Step[][] = []): Step[][] => {
  out.push(prefix);
  if (Array.isArray(doc)) doc.forEach((v, i) => allPaths(v, [...prefix, i], out));
  else if (isContainer(doc)) for (const k of Object.keys(doc)) allPaths(doc[k], [...prefix, k], out);
  return out;
};

const getAt = (doc: unknown, steps: ReadonlyArray<Step>): unknown =>
  steps.reduce<unknown>((at, s) => (isContainer(at) ? at[s] : undefined), doc);

/** A copy of `doc` with the value at `steps` replaced by `f(old)` (`DELETE` removes it). */
const DELETE = Symbol('delete');
const updateAt = (doc: unknown, steps: ReadonlyArray<Step>, f: (old: unknown) => unknown): unknown => {
  if (steps.length === 0) return f(doc);
  const [head, ...rest] = steps as [Step, ...Step[]];
  const copy: any = Array.isArray(doc) ? doc.slice() : { ...(doc as object) };
  const next = updateAt(copy[head], rest, f);
  if (next === DELETE) delete copy[head];
  else copy[head] = next;
  return copy;
};

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

describe('encodeTable', () => {
  it('writes the documented form, keys in a fixed order, false flags and null locations omitted', () => {
    const doc = smallDoc();
    const table = right(createTable({
      segmentBlocks: 10,
      generation: 7,
      entries: [
        { location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 10, blocks: [8, 2, 7] } },
        { location: { lun: 2, start: 0 }, invalid: false, zero: false },
        { location: null, zero: true, alternate: null },
      ],
    }));
    expect(encodeTable(table)).toStrictEqual(doc);
    expect(encodeTableJson(table)).toBe(
      '{"format":"vdisk-map/table","version":1,"segmentBlocks":10,"segmentCount":3,"generation":7,"entries":[' +
        '{"location":{"lun":1,"start":0},"noWrite":true,"alternate":{"lun":2,"start":10,"blocks":"2,7-8"}},' +
        '{"location":{"lun":2,"start":0}},' +
        '{"zero":true}]}',
    );
  });

  it('writes every flag in order, and an empty bitmap as the empty string', () => {
    const table = right(createTable({
      segmentBlocks: 3,
      entries: [{ location: { lun: 0, start: 3 }, invalid: true, noWrite: true, zero: true, error: true, alternate: { lun: 4, start: 0, blocks: [] } }],
    }));
    expect(JSON.stringify(encodeTable(table).entries)).toBe(
      '[{"location":{"lun":0,"start":3},"invalid":true,"noWrite":true,"zero":true,"error":true,"alternate":{"lun":4,"start":0,"blocks":""}}]',
    );
  });

  it('is stable: the same table always gives the same text, with keys in the documented order', () => {
    const entryOrder = ['location', 'invalid', 'noWrite', 'zero', 'error', 'alternate'];
    fc.assert(
      fc.property(tableWithGenerationArb, (t) => {
        const doc = encodeTable(t);
        expect(encodeTableJson(t)).toBe(encodeTableJson(t));
        expect(JSON.stringify(encodeTable(t))).toBe(JSON.stringify(doc));
        expect(Object.keys(doc)).toEqual(['format', 'version', 'segmentBlocks', 'segmentCount', 'generation', 'entries']);
        expect(doc.entries).toHaveLength(t.segmentCount);
        for (const e of doc.entries) {
          const keys = Object.keys(e);
          expect(keys).toEqual(entryOrder.filter((k) => keys.includes(k)));
          for (const flag of ['invalid', 'noWrite', 'zero', 'error'] as const) expect(e[flag]).not.toBe(false);
          expect(e.location).not.toBeNull();
          expect(e.alternate).not.toBeNull();
          if (e.location) expect(Object.keys(e.location)).toEqual(['lun', 'start']);
          if (e.alternate) {
            expect(Object.keys(e.alternate)).toEqual(['lun', 'start', 'blocks']);
            expect(typeof e.alternate.blocks).toBe('string');
          }
        }
        // A plain JSON value: the text reads back as a deep-equal value.
        expect(JSON.parse(JSON.stringify(doc))).toStrictEqual(doc);
        // A decoded table writes the very same text again: the text is canonical.
        expect(encodeTableJson(right(decodeTableJson(encodeTableJson(t))))).toBe(encodeTableJson(t));
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

describe('round trips', () => {
  it('decodeTable(encodeTable(t)) equals t, generation and geometry included', () => {
    fc.assert(fc.property(tableWithGenerationArb, (t) => sameTable(right(decodeTable(encodeTable(t))), t)));
  });

  it('the JSON text round-trips too', () => {
    fc.assert(fc.property(tableWithGenerationArb, (t) => sameTable(right(decodeTableJson(encodeTableJson(t))), t)));
  });

  it('an empty table round-trips', () => {
    const t = right(createTable({ segmentBlocks: 5, entries: [] }));
    expect(encodeTableJson(t)).toBe('{"format":"vdisk-map/table","version":1,"segmentBlocks":5,"segmentCount":0,"generation":0,"entries":[]}');
    expect(sameTable(right(decodeTableJson(encodeTableJson(t))), t)).toBe(true);
  });

  it('a large table, over several chunks, round-trips', () => {
    const n = 3000;
    const t = right(
      createTable({
        segmentBlocks: 40,
        segmentCount: n,
        generation: 12,
        entries: (s) =>
          s % 11 === 0
            ? { location: { lun: 1, start: s * 40 }, noWrite: true, alternate: { lun: 2, start: s * 40, blocks: [s % 40, 39, 0] } }
            : s % 7 === 0
              ? { zero: true, alternate: { lun: 3, start: s * 40, blocks: [] } }
              : s % 5 === 0
                ? { invalid: true, error: true }
                : { location: { lun: s % 4, start: s * 40 } },
      }),
    );
    const text = encodeTableJson(t);
    const back = right(decodeTableJson(text));
    expect(sameTable(back, t)).toBe(true);
    expect(encodeTableJson(back)).toBe(text);
    expect(right(getEntry(back, 2992)).alternate?.blocks.toString()).toBe(`0,32,39`);
    expect(right(getEntry(back, 2999))).toMatchObject({ location: { lun: 3, start: 2999 * 40 }, zero: false });
  });

  it('checks LUN sizes when they are given', () => {
    const doc = smallDoc();
    expect(E.isRight(decodeTable(doc, { lunSizes: { 1: 10, 2: 20 } }))).toBe(true);
    const errors = left(decodeTable(doc, { lunSizes: new Map([[1, 9], [2, 19]]) }));
    expect(errors.map((e) => e.field)).toEqual(['entries[0].location', 'entries[0].alternate']);
    expect(left(decodeTable(doc, { lunSizes: { 1: 10 } }))).toMatchObject([{ field: 'entries[0].alternate.lun', value: 2 }, { field: 'entries[1].location.lun', value: 2 }]);
    expect(errors[0]!.segment).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Handcrafted bad documents
// ---------------------------------------------------------------------------------------------

describe('decodeTable errors', () => {
  it('rejects anything but a document object at the root', () => {
    for (const v of [undefined, null, 0, 'x', [], [smallDoc()], () => smallDoc(), 10n, Symbol('doc')]) {
      const [e] = left(safeDecode(v));
      expect(e!.field).toBe('');
      expect(e!.value).toBe(v);
      expect(e!.message).toMatch(/^the document must be a table document/);
    }
  });

  it('rejects an unknown format or version before anything else', () => {
    expect(errorsOf((d) => (d.format = 'vdisk-map/tables'))).toMatchObject([{ field: 'format', value: 'vdisk-map/tables' }]);
    expect(errorsOf((d) => (d.version = 4))).toMatchObject([{ field: 'version', value: 4 }]);
    expect(errorsOf((d) => (d.version = '1'))).toMatchObject([{ field: 'version', value: '1' }]);
    expect(errorsOf((d) => delete d.format)).toMatchObject([{ field: 'format', value: undefined, message: 'format is required, got undefined' }]);
    // Even with broken entries, only the format is reported: nothing else can be read without it.
    expect(errorsOf((d) => ((d.format = 'other'), (d.entries = 5)))).toMatchObject([{ field: 'format' }]);
  });

  it('names unknown keys, wherever they are', () => {
    const errors = errorsOf((d) => {
      d.extra = 1;
      d.entries[0].location.lnu = 3;
      d.entries[0].alternate.bits = '1';
      d.entries[2]['odd key'] = true;
    });
    expect(errors.map((e) => e.field)).toEqual(['extra', 'entries[0].location.lnu', 'entries[0].alternate.bits', 'entries[2]["odd key"]']);
    expect(errors[0]!.message).toContain('is not a key of a table document');
    expect(errors[1]).toMatchObject({ segment: 0, value: 3 });
    expect(errors[1]!.message).toContain('expected lun, start');
  });

  it('checks segmentCount against the entries', () => {
    expect(errorsOf((d) => (d.segmentCount = 4))).toMatchObject([{ field: 'segmentCount', value: 4, message: 'segmentCount must equal the number of entries, 3, got 4' }]);
    expect(errorsOf((d) => (d.segmentCount = -1))).toMatchObject([{ field: 'segmentCount', value: -1 }]);
  });

  it('checks the header', () => {
    expect(errorsOf((d) => (d.segmentBlocks = 0)).map((e) => e.field)).toEqual(['segmentBlocks']);
    expect(errorsOf((d) => (d.generation = 1.5)).map((e) => e.field)).toEqual(['generation']);
    expect(errorsOf((d) => (d.entries = {})).map((e) => e.field)).toEqual(['entries']);
    expect(errorsOf((d) => delete d.generation)).toMatchObject([{ field: 'generation', message: 'generation is required, got undefined' }]);
    // A bad generation does not hide the entries' errors.
    expect(errorsOf((d) => ((d.generation = -1), (d.entries[1].location.lun = -1))).map((e) => e.field)).toEqual(['generation', 'entries[1].location.lun']);
  });

  it('points at the exact field of an entry, with its segment and value', () => {
    expect(errorsOf((d) => (d.entries[0].alternate.blocks = '2,12'))).toMatchObject([
      { segment: 0, field: 'entries[0].alternate.blocks', value: '2,12' },
    ]);
    expect(errorsOf((d) => (d.entries[0].alternate.blocks = '2,12'))[0]!.message).toMatch(/^segment 0: entries\[0\]\.alternate\.blocks must be the text of a bitmap of 10 blocks/);
    expect(errorsOf((d) => (d.entries[0].alternate.blocks = [2, 7, 8]))).toMatchObject([{ field: 'entries[0].alternate.blocks', value: [2, 7, 8] }]);
    expect(errorsOf((d) => delete d.entries[0].alternate.blocks)).toMatchObject([{ field: 'entries[0].alternate.blocks', value: undefined }]);
    expect(errorsOf((d) => (d.entries[1].location.lun = -1))).toMatchObject([
      { segment: 1, field: 'entries[1].location.lun', value: -1, message: 'segment 1: entries[1].location.lun must be a non-negative safe integer, got -1' },
    ]);
    expect(errorsOf((d) => (d.entries[0].alternate.start = 'x'))).toMatchObject([{ segment: 0, field: 'entries[0].alternate.start', value: 'x' }]);
    expect(errorsOf((d) => (d.entries[1].noWrite = 'yes'))).toMatchObject([{ segment: 1, field: 'entries[1].noWrite', value: 'yes' }]);
    expect(errorsOf((d) => (d.entries[2] = {}))).toMatchObject([{ segment: 2, field: 'entries[2].location', message: expect.stringContaining('is required') }]);
    expect(errorsOf((d) => (d.entries[2] = [{ zero: true }]))).toMatchObject([{ segment: 2, field: 'entries[2]' }]);
    expect(errorsOf((d) => (d.entries[2].location = 5))).toMatchObject([{ segment: 2, field: 'entries[2].location', value: 5 }]);
    expect(errorsOf((d) => (d.entries[2].alternate = 'x'))).toMatchObject([{ segment: 2, field: 'entries[2].alternate', value: 'x' }]);
  });

  it('accepts explicit false flags and null locations', () => {
    const t = right(decodeTable({ ...smallDoc(), entries: [{ location: { lun: 1, start: 0 }, invalid: false, alternate: null }, { location: null, zero: true }, { zero: true, error: false }] }));
    expect(right(getEntry(t, 0))).toMatchObject({ invalid: false, alternate: null });
  });

  it('reports entries in document order and reports several problems of one entry', () => {
    const errors = errorsOf((d) => {
      d.entries[2].bogus = 1;
      d.entries[0].location.start = -5;
      d.entries[0].alternate.blocks = 'x';
    });
    expect(errors.map((e) => e.field)).toEqual(['entries[0].alternate.blocks', 'entries[0].location.start', 'entries[2].bogus']);
  });

  it('reads only own properties: inherited keys and holes do not count', () => {
    const inherited = Object.create({ location: { lun: 1, start: 0 } }) as object;
    expect(errorsOf((d) => (d.entries[1] = inherited))).toMatchObject([{ field: 'entries[1].location' }]);
    const sparse = clone(smallDoc()).entries as unknown[];
    delete sparse[1];
    Object.setPrototypeOf(sparse, Object.assign(Object.create(Array.prototype) as object, { 1: { zero: true } }));
    expect(left(safeDecode({ ...smallDoc(), entries: sparse }))).toMatchObject([{ field: 'entries[1]', value: undefined }]);
    const header = Object.create(smallDoc()) as object;
    expect(left(safeDecode(header))[0]!.field).toBe('format');
  });

  it('reports values that cannot be read, at their path, and never throws', () => {
    const throwing = (path: string[]) => {
      const doc: any = clone(smallDoc());
      const parent = path.slice(0, -1).reduce((at, k) => at[k], doc);
      Object.defineProperty(parent, path[path.length - 1]!, { enumerable: true, get: () => { throw new Error('boom'); } });
      return doc;
    };
    expect(left(safeDecode(throwing(['entries', '1', 'location', 'lun'])))).toMatchObject([
      { segment: 1, field: 'entries[1].location.lun', message: 'segment 1: entries[1].location.lun could not be read (boom)' },
    ]);
    expect(left(safeDecode(throwing(['entries', '0', 'alternate'])))).toMatchObject([{ segment: 0, field: 'entries[0].alternate' }]);
    expect(left(safeDecode(throwing(['entries', '0', 'alternate', 'blocks'])))).toMatchObject([{ segment: 0, field: 'entries[0].alternate.blocks' }]);
    expect(left(safeDecode(throwing(['entries', '1', 'odd key'])))).toMatchObject([{ segment: 1, field: 'entries[1]["odd key"]' }]);
    expect(left(safeDecode(throwing(['odd key'])))).toMatchObject([{ field: '["odd key"]' }]);
    const strange: any = clone(smallDoc());
    Object.defineProperty(strange.entries[2], 'zero', { enumerable: true, get: () => { throw 'nope'; } });
    expect(left(safeDecode(strange))).toMatchObject([{ field: 'entries[2].zero', message: 'segment 2: entries[2].zero could not be read (it threw "nope")' }]);
    expect(left(safeDecode(throwing(['entries', '2'])))).toMatchObject([{ segment: 2, field: 'entries[2]' }]);
    expect(left(safeDecode(throwing(['entries'])))).toMatchObject([{ field: 'entries' }]);
    expect(left(safeDecode(throwing(['version'])))).toMatchObject([{ field: 'version' }]);
    // Later entries are still checked after an unreadable one.
    const doc = throwing(['entries', '0', 'noWrite']);
    doc.entries[2].error = 'no';
    expect(left(safeDecode(doc)).map((e) => e.field)).toEqual(['entries[0].noWrite', 'entries[2].error']);
  });

  it('survives proxies, revoked proxies, thrown non-errors, cycles, BigInt and symbols', () => {
    const hostile = new Proxy({}, {
      get: () => { throw 'nope'; },
      ownKeys: () => { throw { toString: () => { throw new Error('worse'); } }; },
      getOwnPropertyDescriptor: () => { throw new Error('no'); },
      getPrototypeOf: () => { throw new Error('no'); },
      has: () => { throw new Error('no'); },
    });
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const cyclic: any = { location: { lun: 1, start: 0 } };
    cyclic.location.self = cyclic;
    const values: unknown[] = [hostile, revoked, cyclic, 1n, Symbol('s'), { toJSON: () => { throw new Error('x'); } }];
    for (const v of values) {
      left(safeDecode(v));
      left(safeDecode({ ...smallDoc(), entries: [v, v, v] }));
      left(safeDecode({ ...smallDoc(), segmentCount: 1, entries: [{ location: v, noWrite: v }] }));
      left(safeDecode({ ...smallDoc(), segmentCount: 1, entries: [{ location: { lun: v, start: 0 }, alternate: { lun: 1, start: v, blocks: v } }] }));
      left(safeDecode({ ...smallDoc(), [String(typeof v)]: v, generation: v }));
    }
    const errors = left(safeDecode({ ...smallDoc(), segmentCount: 1, entries: [{ location: { lun: revoked, start: 0 } }] }));
    expect(errors[0]!.field).toBe('entries[0].location.lun');
    expect(left(safeDecode(revoked))).toMatchObject([{ field: '' }]);
  });

  it('stops after a bounded number of errors, quickly, even for a million entries of garbage', () => {
    const n = 1_000_000;
    const garbage = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? { location: { lun: -i, start: 0 }, extra: i } : 'junk'));
    const t0 = performance.now();
    const errors = left(safeDecode({ ...smallDoc(), segmentCount: n, entries: garbage }));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(errors).toHaveLength(MAX_DECODE_ERRORS);
    // The first errors of the document, in order.
    expect(errors.slice(0, 4).map((e) => e.field)).toEqual(['entries[0].extra', 'entries[1]', 'entries[2].extra', 'entries[2].location.lun']);
    const segments = errors.map((e) => e.segment!);
    expect(segments).toEqual([...segments].sort((a, b) => a - b));
    // Errors the table constructor alone finds are bounded too.
    const allNegative = Array.from({ length: n }, (_, i) => ({ location: { lun: -1, start: i } }));
    expect(left(safeDecode({ ...smallDoc(), segmentCount: n, entries: allNegative }))).toHaveLength(MAX_DECODE_ERRORS);
    // And so are unknown keys of the document itself.
    const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]));
    expect(left(safeDecode({ ...smallDoc(), ...wide }))).toHaveLength(MAX_DECODE_ERRORS);
  });
});

describe('decodeTableJson', () => {
  it('returns Left on malformed JSON or a non-string', () => {
    for (const text of ['', '{', '{"format":', 'undefined', '{"a":1,}']) {
      const [e] = left(decodeTableJson(text));
      expect(e).toMatchObject({ field: '', value: text });
      expect(e!.message).toMatch(/^the document is not valid JSON/);
    }
    expect(left(decodeTableJson(42 as unknown as string))).toMatchObject([{ field: '', value: 42 }]);
    expect(left(decodeTableJson('[]'))).toMatchObject([{ field: '' }]);
    expect(left(decodeTableJson('null'))).toMatchObject([{ field: '' }]);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.constantFrom(...'{}[],:"0123456789tfn'.split('')).chain((c) => fc.string({ unit: fc.constant(c) }))), (text) => {
        expect(() => decodeTableJson(text)).not.toThrow();
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Garbage and mutations
// ---------------------------------------------------------------------------------------------

const anythingArb = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withObjectString: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
});

const garbageArb = fc.oneof(anythingArb, fc.jsonValue(), fc.constantFrom(-1, 1.5, NaN, Infinity, '', '0-1', 2 ** 53, null, [], {}, true, false));

describe('decodeTable on garbage', () => {
  it('never throws and returns Left for fc.anything()', () => {
    fc.assert(fc.property(anythingArb, (v) => E.isLeft(safeDecode(v))));
  });

  it('never throws and returns Left for fc.jsonValue()', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => E.isLeft(safeDecode(v))));
  });

  it('never throws for a valid header over garbage entries', () => {
    fc.assert(
      fc.property(fc.array(garbageArb, { maxLength: 20 }), fc.integer({ min: 1, max: 20 }), (entries, segmentBlocks) => {
        safeDecode({ format: TABLE_FORMAT, version: TABLE_VERSION, segmentBlocks, segmentCount: entries.length, generation: 0, entries });
      }),
    );
  });

  it('mutated valid documents never throw, and every error points at a path of the document', () => {
    const mutationArb = fc.oneof(
      fc.record({ kind: fc.constant('replace' as const), garbage: garbageArb }),
      fc.record({ kind: fc.constant('delete' as const) }),
      fc.record({ kind: fc.constant('add' as const), key: fc.oneof(fc.string(), fc.constantFrom('lun', 'zero', 'blocks', 'extra', '__proto__', 'a b')), garbage: garbageArb }),
    );
    fc.assert(
      fc.property(tableArb({ segmentCount: fc.integer({ min: 1, max: 6 }) }), fc.nat(), mutationArb, (t, pick, mutation) => {
        const doc = clone(encodeTable(t));
        const paths = allPaths(doc);
        const target = paths[pick % paths.length]!;
        let mutated: unknown;
        if (mutation.kind === 'replace') mutated = updateAt(doc, target, () => mutation.garbage);
        else if (mutation.kind === 'delete') mutated = target.length === 0 ? undefined : updateAt(doc, target, () => DELETE);
        else {
          const old = getAt(doc, target);
          if (!isContainer(old) || Array.isArray(old)) return; // only objects take keys
          mutated = updateAt(doc, target, (o) => {
            const copy = { ...(o as object) };
            Object.defineProperty(copy, mutation.key, { value: mutation.garbage, enumerable: true, configurable: true, writable: true });
            return copy;
          });
        }
        const result = safeDecode(mutated);
        if (E.isRight(result)) {
          // Whatever was accepted is a table the codec writes and reads back unchanged.
          expect(sameTable(right(decodeTable(encodeTable(result.right))), result.right)).toBe(true);
          return;
        }
        for (const err of result.left) {
          const steps = parsePath(err.field);
          expect(renderPath(steps)).toBe(err.field);
          // The path exists, or names a required key that is missing from an existing object.
          if (!resolves(mutated, steps, err.value === undefined || err.message.includes('is required'))) throw new Error(`error at a path not in the document: ${err.message}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('unknown keys added anywhere are rejected and named', () => {
    fc.assert(
      fc.property(tableArb({ segmentCount: fc.integer({ min: 1, max: 4 }) }), fc.nat(), fc.string({ minLength: 1 }), (t, pick, key) => {
        const doc = clone(encodeTable(t));
        const objects = allPaths(doc).filter((p) => {
          const v = getAt(doc, p);
          return isContainer(v) && !Array.isArray(v);
        });
        const target = objects[pick % objects.length]!;
        const old = getAt(doc, target) as Record<string, unknown>;
        if (Object.prototype.hasOwnProperty.call(old, key)) return;
        const mutated = updateAt(doc, target, (o) => {
          const copy = { ...(o as object) };
          Object.defineProperty(copy, key, { value: 1, enumerable: true, configurable: true, writable: true });
          return copy;
        });
        const errors = left(safeDecode(mutated));
        expect(errors.map((e) => e.field)).toContain(renderPath([...target, key]));
      }),
    );
  });
});

describe('decodeEntry never throws on its geometry arguments', () => {
  it('refuses a segment that is a symbol or a null-prototype object, naming it', () => {
    for (const segment of [Object.create(null), Symbol('s'), -1, 1.5, '3']) {
      const errors = left(decodeEntry(null, 10, segment as never));
      expect(errors.map((e) => e.field)).toEqual(['segment']);
      expect(errors[0]!.message).toMatch(/^segment must be a non-negative safe integer, got /);
    }
    const entry = decodeEntry(null, 10, 4);
    expect(E.isLeft(entry) && entry.left.map((e) => [e.field, e.segment])).toEqual([['entry', 4]]);
  });
});
