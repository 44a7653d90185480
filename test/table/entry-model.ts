/**
 * The naive reference model of mapping entries, and the spec arbitraries (good and junk), shared
 * by the table and entry tests. An entry is
 * a plain object with the alternate's bitmap as a `boolean[]`, and validity is decided by an
 * independent re-statement of docs/design.md#mapping-entries.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../../src/bitmap/bitmap.js';
import type { ValidationError } from '../../src/errors.js';
import type { EntrySpec, LunSizes, MappingEntry } from '../../src/table/entry.js';
export type Result<T> = E.Either<ValidationError[], T>;

// ---------------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------------

export const MAX_SAFE = 2 ** 53 - 1;
export const MAX_LUN_ID = 2 ** 32 - 1;
export const MAX_SEGMENT_BLOCKS = 2 ** 24;

export interface MExtent {
  lun: number;
  start: number;
}
export interface MAlt {
  lun: number;
  start: number;
  bits: boolean[];
}
export interface MEntry {
  location: MExtent | null;
  invalid: boolean;
  noWrite: boolean;
  zero: boolean;
  error: boolean;
  alternate: MAlt | null;
}
/** An expected error. */
export interface Exp {
  segment?: number;
  field: string;
  value: unknown;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_SAFE;

/** Reads bit k straight from the words, independently of the bitmap module's accessors. */
export const bitsOf = (b: B.Bitmap): boolean[] => Array.from({ length: b.size }, (_, k) => ((b.words[k >>> 5]! >>> (k & 31)) & 1) === 1);

export const declaredSize = (sizes: LunSizes, lun: number): number | undefined => {
  if (sizes instanceof Map) return sizes.get(lun);
  return Object.prototype.hasOwnProperty.call(sizes, lun) ? (sizes as Record<number, number>)[lun] : undefined;
};

/** Naive validation of one entry spec: the model entry, or every expected error. */
export const naiveEntry = (
  spec: unknown,
  sb: number,
  segment: number | undefined,
  sizes?: LunSizes,
): { entry: MEntry | undefined; errors: Exp[] } => {
  const errors: Exp[] = [];
  const err = (field: string, value: unknown): void => {
    errors.push(segment === undefined ? { field, value } : { segment, field, value });
  };
  if (!isPlainObject(spec)) {
    err('entry', spec);
    return { entry: undefined, errors };
  }
  for (const f of ['invalid', 'noWrite', 'zero', 'error']) {
    const v = spec[f];
    if (v !== undefined && typeof v !== 'boolean') err(f, v);
  }
  const extent = (field: string, v: Record<string, unknown>): MExtent | undefined => {
    const lunOk = isNat(v.lun) && v.lun <= MAX_LUN_ID;
    const startOk = isNat(v.start);
    if (!lunOk) err(`${field}.lun`, v.lun);
    if (!startOk) err(`${field}.start`, v.start);
    if (!lunOk || !startOk) return undefined;
    const lun = v.lun as number;
    const start = v.start as number;
    // the last block, start + sb - 1, must be a safe integer
    if (MAX_SAFE - start < sb - 1) {
      err(`${field}.start`, start);
      return undefined;
    }
    if (sizes !== undefined) {
      const size = declaredSize(sizes, lun);
      if (size === undefined) {
        err(`${field}.lun`, lun);
        return undefined;
      }
      if (start + sb > size) {
        err(field, { lun, start });
        return undefined;
      }
    }
    return { lun, start };
  };
  let location: MExtent | null = null;
  const loc = spec.location;
  if (loc !== undefined && loc !== null) {
    if (!isPlainObject(loc)) err('location', loc);
    else location = extent('location', loc) ?? null;
  }
  let alternate: MAlt | null = null;
  const alt = spec.alternate;
  if (alt !== undefined && alt !== null) {
    if (!isPlainObject(alt)) err('alternate', alt);
    else {
      const ext = extent('alternate', alt);
      let bits: boolean[] | undefined;
      const blocks = alt.blocks;
      if (B.isBitmap(blocks)) {
        if (blocks.size === sb) bits = bitsOf(blocks);
        else err('alternate.blocks', blocks.size);
      } else if (!Array.isArray(blocks)) {
        err('alternate.blocks', blocks);
      } else {
        const out = new Array<boolean>(sb).fill(false);
        let ok = true;
        blocks.forEach((k: unknown, i) => {
          if (typeof k === 'number' && Number.isInteger(k) && k >= 0 && k < sb) out[k] = true;
          else {
            ok = false;
            err(`alternate.blocks[${i}]`, k);
          }
        });
        if (ok) bits = out;
      }
      if (ext !== undefined && bits !== undefined) alternate = { ...ext, bits };
    }
  }
  if (spec.invalid !== true && spec.zero !== true && (loc === undefined || loc === null)) err('location', loc ?? null);
  if (errors.length > 0) return { entry: undefined, errors };
  return {
    entry: {
      location,
      invalid: spec.invalid === true,
      noWrite: spec.noWrite === true,
      zero: spec.zero === true,
      error: spec.error === true,
      alternate,
    },
    errors,
  };
};

export const modelOf = (spec: unknown, sb: number, sizes?: LunSizes): MEntry => {
  const r = naiveEntry(spec, sb, 0, sizes);
  if (r.entry === undefined) throw new Error(`test bug: expected a valid spec, got ${JSON.stringify(r.errors)}`);
  return r.entry;
};

export const modelOfEntry = (e: MappingEntry): MEntry => ({
  location: e.location === null ? null : { lun: e.location.lun, start: e.location.start },
  invalid: e.invalid,
  noWrite: e.noWrite,
  zero: e.zero,
  error: e.error,
  alternate: e.alternate === null ? null : { lun: e.alternate.lun, start: e.alternate.start, bits: bitsOf(e.alternate.blocks) },
});

/** Naive deep equality of model entries. */
export const modelEq = (a: MEntry, b: MEntry): boolean => {
  if (a.invalid !== b.invalid || a.noWrite !== b.noWrite || a.zero !== b.zero || a.error !== b.error) return false;
  if ((a.location === null) !== (b.location === null)) return false;
  if (a.location !== null && b.location !== null && (a.location.lun !== b.location.lun || a.location.start !== b.location.start))
    return false;
  if ((a.alternate === null) !== (b.alternate === null)) return false;
  if (a.alternate !== null && b.alternate !== null) {
    if (a.alternate.lun !== b.alternate.lun || a.alternate.start !== b.alternate.start) return false;
    if (a.alternate.bits.length !== b.alternate.bits.length) return false;
    for (let k = 0; k < a.alternate.bits.length; k++) if (a.alternate.bits[k] !== b.alternate.bits[k]) return false;
  }
  return true;
};

/** A spec equivalent to a model entry, with the bitmap as offsets or as a fresh Bitmap. */
export const specOfModel = (m: MEntry, asBitmap: boolean): EntrySpec => {
  const offsets = m.alternate === null ? [] : m.alternate.bits.flatMap((x, k) => (x ? [k] : []));
  return {
    location: m.location === null ? null : { ...m.location },
    invalid: m.invalid,
    noWrite: m.noWrite,
    zero: m.zero,
    error: m.error,
    alternate:
      m.alternate === null
        ? null
        : {
            lun: m.alternate.lun,
            start: m.alternate.start,
            blocks: asBitmap ? right(B.fromOffsets(m.alternate.bits.length, offsets)) : offsets,
          },
  };
};

// ---------------------------------------------------------------------------------------------
// Assertion helpers
// ---------------------------------------------------------------------------------------------

export const right = <T>(e: Result<T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

export const left = <T>(e: Result<T>): ValidationError[] => {
  if (E.isRight(e)) throw new Error('expected Left, got Right');
  expect(e.left.length).toBeGreaterThan(0);
  for (const err of e.left) {
    expect(typeof err.field).toBe('string');
    expect(typeof err.message).toBe('string');
    expect(err.message).toContain(err.field);
    if ('segment' in err) expect(err.message).toContain(`segment ${err.segment}`);
  }
  return e.left;
};

export const valueKey = (v: unknown): string => {
  if (typeof v === 'number') return `number:${Object.is(v, -0) ? '-0' : String(v)}`;
  if (typeof v !== 'object' || v === null) return `${typeof v}:${String(v)}`;
  return `object:${JSON.stringify(v)}`;
};

export const normalize = (es: ReadonlyArray<Exp | ValidationError>) =>
  es
    .map((e) => ({ hasSegment: 'segment' in e && e.segment !== undefined, segment: e.segment, field: e.field, value: e.value }))
    .sort((a, b) => {
      const ka = `${a.segment ?? -1}|${a.field}|${valueKey(a.value)}`;
      const kb = `${b.segment ?? -1}|${b.field}|${valueKey(b.value)}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });

/** The errors are exactly the expected ones (as a multiset), with `segment` present exactly when expected. */
export const expectErrors = (actual: ReadonlyArray<ValidationError>, expected: ReadonlyArray<Exp>): void => {
  expect(normalize(actual)).toEqual(normalize(expected));
};

/** Whether an entry read from a table equals a model entry (bits read straight from the words). */
export const entryIs = (e: MappingEntry, m: MEntry): boolean => {
  if (e.invalid !== m.invalid || e.noWrite !== m.noWrite || e.zero !== m.zero || e.error !== m.error) return false;
  if ((e.location === null) !== (m.location === null)) return false;
  if (e.location !== null && m.location !== null && (e.location.lun !== m.location.lun || e.location.start !== m.location.start))
    return false;
  if ((e.alternate === null) !== (m.alternate === null)) return false;
  if (e.alternate !== null && m.alternate !== null) {
    const a = e.alternate;
    if (a.lun !== m.alternate.lun || a.start !== m.alternate.start || a.blocks.size !== m.alternate.bits.length) return false;
    for (let k = 0; k < a.blocks.size; k++) if ((((a.blocks.words[k >>> 5]! >>> (k & 31)) & 1) === 1) !== m.alternate.bits[k]) return false;
  }
  return true;
};

export const noThrow = <T>(f: () => T): T => {
  try {
    return f();
  } catch (e) {
    throw new Error(`must not throw, threw ${String(e)}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

export const DEFAULT_LUNS = [0, 1, 7, MAX_LUN_ID] as const;
export const JUNK_NUMBERS: unknown[] = [-1, -0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 60, '3', null, undefined, true, {}, [1]];
export const junkNumber = fc.constantFrom<unknown>(...JUNK_NUMBERS);
export const junkFlag = fc.constantFrom<unknown>(0, 1, 'true', 'false', null, {}, [], NaN);

export interface SpecOptions {
  readonly luns?: ReadonlyArray<number>;
  readonly maxStart?: number;
  /** Whether extents may start just below 2^53. */
  readonly top?: boolean;
}

export const extentArb = (sb: number, o: SpecOptions, bad: boolean): fc.Arbitrary<unknown> => {
  const lun = fc.constantFrom(...(o.luns ?? DEFAULT_LUNS));
  const starts: fc.WeightedArbitrary<number>[] = [{ arbitrary: fc.nat(o.maxStart ?? 1000), weight: 6 }];
  if (o.top !== false) starts.push({ arbitrary: fc.integer({ min: sb - 1, max: sb + 4 }).map((k) => MAX_SAFE - k), weight: 1 });
  const start = fc.oneof(...starts);
  if (!bad) return fc.record({ lun, start });
  const badLun = fc.oneof(lun, junkNumber, fc.constantFrom(2 ** 32, 2 ** 32 + 5, 2 ** 40));
  const badStart = fc.oneof(start, junkNumber, fc.integer({ min: 0, max: sb + 1 }).map((k) => MAX_SAFE - k));
  return fc.oneof(
    { arbitrary: fc.record({ lun: badLun, start: badStart }), weight: 4 },
    { arbitrary: fc.record({ lun: badLun, start: badStart }, { requiredKeys: [] }), weight: 1 },
    { arbitrary: fc.constantFrom<unknown>(5, 'x', [1, 2], true), weight: 1 },
  );
};

export const bitmapOfSize = (size: number): fc.Arbitrary<B.Bitmap> =>
  fc.array(fc.nat(size - 1), { maxLength: Math.min(size, 8) }).map((offs) => right(B.fromOffsets(size, offs)));

export const blocksArb = (sb: number, bad: boolean): fc.Arbitrary<unknown> => {
  const good = fc.oneof(bitmapOfSize(sb), fc.array(fc.nat(sb - 1), { maxLength: Math.min(sb + 3, 12) }));
  if (!bad) return good;
  return fc.oneof(
    { arbitrary: good, weight: 3 },
    {
      arbitrary: fc.array(fc.oneof(fc.nat(sb - 1), fc.constantFrom<unknown>(sb, sb + 10, -1, 1.5, NaN, '1', null)), { maxLength: 4 }),
      weight: 2,
    },
    { arbitrary: fc.integer({ min: 1, max: sb + 3 }).filter((n) => n !== sb).chain(bitmapOfSize), weight: 1 },
    { arbitrary: fc.constantFrom<unknown>('1', 5, null, {}, undefined, { size: sb, words: new Uint32Array(1) }), weight: 1 },
  );
};

export const alternateArb = (sb: number, o: SpecOptions, bad: boolean): fc.Arbitrary<unknown> => {
  const ext = extentArb(sb, o, bad);
  const rec = fc.tuple(ext, blocksArb(sb, bad)).map(([e, blocks]) => (isPlainObject(e) ? { ...e, blocks } : e));
  if (!bad) return rec;
  return fc.oneof({ arbitrary: rec, weight: 6 }, { arbitrary: fc.constantFrom<unknown>('x', 3, [], true), weight: 1 });
};

export const rawSpecArb = (sb: number, o: SpecOptions, bad: boolean) => {
  const flag = bad ? fc.oneof(fc.boolean(), fc.constant(undefined), junkFlag) : fc.oneof(fc.boolean(), fc.constant(undefined));
  return fc.record(
    {
      location: fc.oneof(
        { arbitrary: extentArb(sb, o, bad), weight: 4 },
        { arbitrary: fc.constant(null), weight: 1 },
        { arbitrary: fc.constant(undefined), weight: 1 },
      ),
      invalid: flag,
      noWrite: flag,
      zero: flag,
      error: flag,
      alternate: fc.oneof(
        { arbitrary: alternateArb(sb, o, bad), weight: 2 },
        { arbitrary: fc.constant(null), weight: 1 },
        { arbitrary: fc.constant(undefined), weight: 1 },
      ),
    },
    { requiredKeys: [] },
  );
};

/** Valid entry specs: omitted keys, offsets or Bitmap, luns up to 2^32-1, starts up to 2^53-sb. */
export const goodSpecArb = (sb: number, o: SpecOptions = {}): fc.Arbitrary<EntrySpec> =>
  rawSpecArb(sb, o, false).map((r) =>
    r.invalid !== true && r.zero !== true && (r.location === undefined || r.location === null) ? { ...r, zero: true } : r,
  ) as fc.Arbitrary<EntrySpec>;

/** Entry specs that are often invalid in one or several ways (and sometimes valid). */
export const anySpecArb = (sb: number, o: SpecOptions = {}): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: rawSpecArb(sb, o, true), weight: 8 },
    { arbitrary: goodSpecArb(sb, o), weight: 2 },
    { arbitrary: fc.constantFrom<unknown>(null, 5, 'x', [], undefined), weight: 1 },
  );

export const lunSizesArb = (luns: ReadonlyArray<number>, maxSize: number): fc.Arbitrary<LunSizes> =>
  fc
    .tuple(fc.subarray([...luns]), fc.array(fc.nat(maxSize), { minLength: luns.length, maxLength: luns.length }), fc.boolean())
    .map(([declared, sizes, asMap]) => {
      const pairs = declared.map((lun, i): [number, number] => [lun, sizes[i]!]);
      return asMap ? new Map(pairs) : (Object.fromEntries(pairs) as Record<number, number>);
    });

/** Small-domain specs, so that independently built equal entries and tables are common. */
export const tinySpecArb = (sb: number) => goodSpecArb(sb, { luns: [0, 1], maxStart: 1, top: false });
