/**
 * Tests for src/translate/translate.ts: the decision table of
 * docs/design.md#per-block-decision-table written out by
 * hand, equivalence with the naive reference translator of src/testing/reference.ts, the shape
 * of the pieces, the reusable PieceBuffer, and the failure paths.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { Bitmap } from '../../src/bitmap/bitmap.js';
import * as B from '../../src/bitmap/bitmap.js';
import { show } from '../../src/errors.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { CHUNK_SIZE, createTable, getEntry, resizeTable, setEntries, type MappingTable } from '../../src/table/table.js';
import { bitmapArb, entrySpecArb, grainedTableArb, layoutTableArb, requestArb, tableAndRequestArb } from '../../src/testing/arbitraries.js';
import { referenceBlockDecision, referenceTranslate } from '../../src/testing/reference.js';
import {
  PieceBuffer,
  REASON_ERROR,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_INVALID_REQUEST,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
  piecesOf,
  translate,
  translateInto,
  type FaultReason,
  type IoRequest,
  type Op,
  type Piece,
  type TranslateFailure,
  type Variant,
} from '../../src/translate/translate.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Result = E.Either<TranslateFailure, Piece[]>;

const VARIANTS: readonly Variant[] = ['centralized', 'distributed'];

const mustTable = (spec: Parameters<typeof createTable>[0]): MappingTable => {
  const t = createTable(spec);
  if (E.isLeft(t)) throw new Error(`bad test table: ${JSON.stringify(t.left)}`);
  return t.right;
};

const bitmap = (size: number, offsets: number[]): Bitmap => {
  const b = B.fromOffsets(size, offsets);
  if (E.isLeft(b)) throw new Error('bad test bitmap');
  return b.right;
};

const REASON_CODE: Record<FaultReason, number> = { invalid: REASON_INVALID, 'no-write': REASON_NO_WRITE, zero: REASON_ZERO };

/** The failure columns of a buffer as [segment, reason code] pairs. */
const failuresOf = (buf: PieceBuffer): [number, number][] =>
  Array.from({ length: buf.failureCount }, (_, j) => [buf.failureSegment[j]!, buf.failureReason[j]!]);

/** Checks that `translateInto` left in `buf`, with `status`, exactly what `expected` says. */
const expectBufferMatches = (status: number, buf: PieceBuffer, expected: Result): void => {
  if (E.isRight(expected)) {
    expect(status).toBe(STATUS_OK);
    expect(buf.failureCount).toBe(0);
    expect(piecesOf(buf)).toStrictEqual(expected.right);
    return;
  }
  const f = expected.left;
  expect(buf.count).toBe(0);
  switch (f.type) {
    case 'fault':
      expect(status).toBe(STATUS_FAULT);
      expect(failuresOf(buf)).toStrictEqual(f.faults.map((x) => [x.segment, REASON_CODE[x.reason]]));
      break;
    case 'error':
      expect(status).toBe(STATUS_ERROR);
      expect(failuresOf(buf)).toStrictEqual(f.segments.map((s) => [s, REASON_ERROR]));
      break;
    case 'out-of-range':
      expect(status).toBe(STATUS_OUT_OF_RANGE);
      break;
    case 'invalid-request':
      expect(status).toBe(STATUS_INVALID_REQUEST);
      break;
  }
};

/** True when two consecutive pieces could have been one. */
const mergeable = (a: Piece, b: Piece): boolean =>
  a.kind === b.kind &&
  (a.marksAlternate === true) === (b.marksAlternate === true) &&
  a.virtualStart + a.length === b.virtualStart &&
  (a.kind === 'zero' || (a.lun === b.lun && a.start! + a.length === b.start));

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** True with probability 1/n (never when n is 0). */
const oneIn = (n: number): fc.Arbitrary<boolean> => (n === 0 ? fc.constant(false) : fc.integer({ min: 1, max: n }).map((x) => x === 1));

/**
 * Tables laid out so that neighbouring segments are often physically contiguous (primary of
 * segment s at `s * segmentBlocks` on LUN 0 or 1, alternate likewise on LUN 2 or 3), with
 * failing flags rare or absent, so that requests usually succeed and pieces must merge across
 * segment boundaries.
 */
const contiguousTableArb = (
  segmentBlocks: fc.Arbitrary<number> = fc.integer({ min: 1, max: 70 }),
  segmentCount: fc.Arbitrary<number> = fc.integer({ min: 1, max: 12 }),
): fc.Arbitrary<MappingTable> =>
  fc
    .tuple(segmentBlocks, segmentCount, fc.constantFrom(0, 2, 8, 40))
    .chain(([sb, n, rate]) =>
      fc
        .array(
          fc.record({
            invalid: oneIn(rate),
            error: oneIn(rate),
            zero: oneIn(rate === 0 ? 6 : rate),
            noWrite: fc.boolean(),
            dropLocation: fc.boolean(),
            lun: fc.constantFrom(0, 1),
            altLun: fc.constantFrom(2, 3),
            alternate: fc.option(bitmapArb(sb), { nil: null }),
          }),
          { minLength: n, maxLength: n },
        )
        .map((es) =>
          mustTable({
            segmentBlocks: sb,
            entries: es.map(
              (e, s): EntrySpec => ({
                invalid: e.invalid,
                error: e.error,
                zero: e.zero,
                noWrite: e.noWrite,
                location: e.zero && e.dropLocation ? null : { lun: e.lun, start: s * sb },
                alternate: e.alternate === null ? null : { lun: e.altLun, start: s * sb, blocks: e.alternate },
              }),
            ),
          }),
        ),
    );

const withRequest = (tables: fc.Arbitrary<MappingTable>): fc.Arbitrary<[MappingTable, IoRequest]> =>
  tables.chain((t) => requestArb(t.segmentCount * t.segmentBlocks).map((r): [MappingTable, IoRequest] => [t, r]));

const variantArb = fc.constantFrom<Variant>(...VARIANTS);

/** Many one-block segments at scattered places: requests need hundreds of pieces or faults. */
const manySegmentsArb = fc
  .tuple(fc.integer({ min: 100, max: 1500 }), fc.constantFrom(0, 3, 50))
  .chain(([n, rate]) =>
    fc
      .array(
        fc.record({
          invalid: oneIn(rate),
          error: oneIn(rate),
          zero: oneIn(rate === 0 ? 4 : rate),
          noWrite: fc.boolean(),
          location: fc.record({ lun: fc.constantFrom(0, 1, 2), start: fc.nat(5000) }),
          alternate: fc.option(fc.record({ lun: fc.constantFrom(0, 1, 2), start: fc.nat(5000), blocks: bitmapArb(1) }), { nil: null }),
        }),
        { minLength: n, maxLength: n },
      )
      .map((entries) => mustTable({ segmentBlocks: 1, entries })),
  );

/** Big segments whose bitmaps alternate every block or so: many runs per segment. */
const manyRunsArb = fc.integer({ min: 64, max: 300 }).chain((sb) =>
  fc
    .array(
      fc.record({
        location: fc.record({ lun: fc.constantFrom(0, 1), start: fc.nat(1000) }),
        noWrite: fc.boolean(),
        zero: oneIn(4),
        alternate: fc.record({
          lun: fc.constantFrom(2, 3),
          start: fc.nat(1000),
          blocks: fc
            .tuple(fc.integer({ min: 1, max: 3 }), fc.nat(2))
            .map(([period, phase]) => bitmap(sb, Array.from({ length: sb }, (_, k) => k).filter((k) => (k + phase) % (period + 1) === 0))),
        }),
      }),
      { minLength: 1, maxLength: 6 },
    )
    .map((entries) => mustTable({ segmentBlocks: sb, entries })),
);

// ---------------------------------------------------------------------------------------------
// The decision table, written out from docs/design.md#per-block-decision-table
// ---------------------------------------------------------------------------------------------

/**
 * P primary, A alternate, A* alternate marking the bit (distributed), Z zeros,
 * F:<reason> fault, ERR error.
 */
type Outcome = 'P' | 'A' | 'A*' | 'Z' | 'F:invalid' | 'F:no-write' | 'F:zero' | 'ERR';

/**
 * State: flags `inze` (invalid, noWrite, zero, error; `.` when clear), location `L` or `.`,
 * alternate `-` absent, `1` present with the block's bit set, `0` present with it clear.
 * Columns: read centralized, write centralized, read distributed, write distributed.
 */
const DECISION_TABLE: ReadonlyArray<readonly [state: string, rc: Outcome, wc: Outcome, rd: Outcome, wd: Outcome]> = [
  // plain primary
  ['.... L -', 'P', 'P', 'P', 'P'],
  ['.... L 1', 'A', 'A', 'A', 'A'],
  ['.... L 0', 'P', 'P', 'P', 'P'],
  // error
  ['...e L -', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['...e L 1', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['...e L 0', 'ERR', 'ERR', 'ERR', 'ERR'],
  // zero
  ['..z. L -', 'Z', 'F:zero', 'Z', 'F:zero'],
  ['..z. L 1', 'A', 'A', 'A', 'A'],
  ['..z. L 0', 'Z', 'F:zero', 'Z', 'F:zero'],
  ['..z. . -', 'Z', 'F:zero', 'Z', 'F:zero'],
  ['..z. . 1', 'A', 'A', 'A', 'A'],
  ['..z. . 0', 'Z', 'F:zero', 'Z', 'F:zero'],
  // zero + error
  ['..ze L -', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['..ze L 1', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['..ze L 0', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['..ze . -', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['..ze . 1', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['..ze . 0', 'ERR', 'ERR', 'ERR', 'ERR'],
  // noWrite
  ['.n.. L -', 'P', 'F:no-write', 'P', 'F:no-write'],
  ['.n.. L 1', 'A', 'A', 'A', 'A'],
  ['.n.. L 0', 'P', 'F:no-write', 'P', 'A*'],
  // noWrite + error
  ['.n.e L -', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.n.e L 1', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.n.e L 0', 'ERR', 'ERR', 'ERR', 'ERR'],
  // noWrite + zero: zero comes first
  ['.nz. L -', 'Z', 'F:zero', 'Z', 'F:zero'],
  ['.nz. L 1', 'A', 'A', 'A', 'A'],
  ['.nz. L 0', 'Z', 'F:zero', 'Z', 'F:zero'],
  ['.nz. . -', 'Z', 'F:zero', 'Z', 'F:zero'],
  ['.nz. . 1', 'A', 'A', 'A', 'A'],
  ['.nz. . 0', 'Z', 'F:zero', 'Z', 'F:zero'],
  // noWrite + zero + error
  ['.nze L -', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.nze L 1', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.nze L 0', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.nze . -', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.nze . 1', 'ERR', 'ERR', 'ERR', 'ERR'],
  ['.nze . 0', 'ERR', 'ERR', 'ERR', 'ERR'],
  // invalid beats everything
  ['i... L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i... L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i... L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i... . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i... . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i... . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i..e L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i..e L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i..e L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i..e . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i..e . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i..e . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.z. L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.z. L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.z. L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.z. . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.z. . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.z. . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.ze L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.ze L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.ze L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.ze . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.ze . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['i.ze . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.. L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.. L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.. L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.. . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.. . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.. . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.e L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.e L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.e L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.e . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.e . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['in.e . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inz. L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inz. L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inz. L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inz. . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inz. . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inz. . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inze L -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inze L 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inze L 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inze . -', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inze . 1', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
  ['inze . 0', 'F:invalid', 'F:invalid', 'F:invalid', 'F:invalid'],
];

describe('per-block decision table (docs/design.md#per-block-decision-table)', () => {
  // One segment of 40 blocks: primary LUN 1 at 100, alternate LUN 2 at 200. The tested block is
  // offset 2 (first bitmap word) or 37 (second word); with alternate `0`, every other bit is set.
  const SEGMENT_BLOCKS = 40;
  const PRIMARY = { lun: 1, start: 100 };
  const ALTERNATE = { lun: 2, start: 200 };

  const build = (state: string, offset: number): MappingTable => {
    const [i, n, z, e, , loc, , alt] = state;
    const others = Array.from({ length: SEGMENT_BLOCKS }, (_, k) => k).filter((k) => k !== offset);
    return mustTable({
      segmentBlocks: SEGMENT_BLOCKS,
      entries: [
        {
          invalid: i === 'i',
          noWrite: n === 'n',
          zero: z === 'z',
          error: e === 'e',
          location: loc === 'L' ? PRIMARY : null,
          alternate: alt === '-' ? null : { ...ALTERNATE, blocks: alt === '1' ? [offset] : others },
        },
      ],
    });
  };

  const expected = (outcome: Outcome, offset: number): Result => {
    const base = { virtualStart: offset, length: 1 };
    switch (outcome) {
      case 'P':
        return E.right([{ kind: 'primary', ...base, lun: PRIMARY.lun, start: PRIMARY.start + offset }]);
      case 'A':
        return E.right([{ kind: 'alternate', ...base, lun: ALTERNATE.lun, start: ALTERNATE.start + offset }]);
      case 'A*':
        return E.right([{ kind: 'alternate', ...base, lun: ALTERNATE.lun, start: ALTERNATE.start + offset, marksAlternate: true }]);
      case 'Z':
        return E.right([{ kind: 'zero', ...base }]);
      case 'ERR':
        return E.left({ type: 'error', segments: [0] });
      case 'F:invalid':
        return E.left({ type: 'fault', faults: [{ segment: 0, reason: 'invalid' }] });
      case 'F:no-write':
        return E.left({ type: 'fault', faults: [{ segment: 0, reason: 'no-write' }] });
      case 'F:zero':
        return E.left({ type: 'fault', faults: [{ segment: 0, reason: 'zero' }] });
    }
  };

  it('lists every legal state exactly once', () => {
    const legal: string[] = [];
    for (const i of ['.', 'i'])
      for (const n of ['.', 'n'])
        for (const z of ['.', 'z'])
          for (const e of ['.', 'e'])
            for (const loc of ['L', '.'])
              for (const alt of ['-', '1', '0'])
                if (loc === 'L' || i === 'i' || z === 'z') legal.push(`${i}${n}${z}${e} ${loc} ${alt}`);
    const listed = DECISION_TABLE.map(([state]) => state);
    expect(listed.length).toBe(84);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toStrictEqual([...legal].sort());
  });

  it('rejects the illegal states (no location, neither invalid nor zero)', () => {
    for (const noWrite of [false, true])
      for (const error of [false, true]) {
        const t = createTable({ segmentBlocks: 4, entries: [{ noWrite, error, location: null }] });
        expect(E.isLeft(t)).toBe(true);
      }
  });

  const cases = DECISION_TABLE.flatMap(([state, rc, wc, rd, wd]) =>
    [2, 37].flatMap((offset) => [
      { state, offset, op: 'read' as const, variant: 'centralized' as const, outcome: rc },
      { state, offset, op: 'write' as const, variant: 'centralized' as const, outcome: wc },
      { state, offset, op: 'read' as const, variant: 'distributed' as const, outcome: rd },
      { state, offset, op: 'write' as const, variant: 'distributed' as const, outcome: wd },
    ]),
  );

  it.each(cases)('$state $op $variant (block $offset) -> $outcome', ({ state, offset, op, variant, outcome }) => {
    const table = build(state, offset);
    const request: IoRequest = { op, start: offset, length: 1 };
    const want = expected(outcome, offset);
    expect(translate(table, request, { variant })).toStrictEqual(want);
    expect(referenceTranslate(table, request, { variant })).toStrictEqual(want);
    const buf = new PieceBuffer(1);
    expectBufferMatches(translateInto(table, op, offset, 1, buf, variant), buf, want);
    if (variant === 'centralized') expect(translate(table, request)).toStrictEqual(want); // the default
  });

  it('referenceBlockDecision agrees with the table', () => {
    const toOutcome = (d: ReturnType<typeof referenceBlockDecision>): Outcome =>
      d.kind === 'primary' ? 'P' : d.kind === 'zero' ? 'Z' : d.kind === 'error' ? 'ERR' : d.kind === 'fault' ? `F:${d.reason}` : d.marksAlternate ? 'A*' : 'A';
    for (const c of cases) {
      const entry = getEntry(build(c.state, c.offset), 0);
      if (E.isLeft(entry)) throw new Error('unreachable');
      expect(toOutcome(referenceBlockDecision(entry.right, c.offset, c.op, c.variant)), `${c.state} ${c.op} ${c.variant}`).toBe(c.outcome);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The reference example (docs/design.md#address-model, examples/quickstart.ts)
// ---------------------------------------------------------------------------------------------

describe('the reference example', () => {
  const table = mustTable({
    segmentBlocks: 10,
    entries: [
      { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
      { location: { lun: 2, start: 0 }, noWrite: true },
      { location: { lun: 1, start: 10 } },
    ],
  });

  it('reads blocks 0-29 as the hand-derived pieces', () => {
    const want: Piece[] = [
      { kind: 'primary', virtualStart: 0, length: 2, lun: 1, start: 0 },
      { kind: 'alternate', virtualStart: 2, length: 1, lun: 2, start: 12 },
      { kind: 'primary', virtualStart: 3, length: 4, lun: 1, start: 3 },
      { kind: 'alternate', virtualStart: 7, length: 2, lun: 2, start: 17 },
      { kind: 'primary', virtualStart: 9, length: 1, lun: 1, start: 9 },
      { kind: 'primary', virtualStart: 10, length: 10, lun: 2, start: 0 },
      { kind: 'primary', virtualStart: 20, length: 10, lun: 1, start: 10 },
    ];
    for (const variant of VARIANTS) {
      expect(translate(table, { op: 'read', start: 0, length: 30 }, { variant })).toStrictEqual(E.right(want));
      expect(referenceTranslate(table, { op: 'read', start: 0, length: 30 }, { variant })).toStrictEqual(E.right(want));
    }
  });

  it('faults a write to block 12 with no-write on segment 1, in both variants (no alternate)', () => {
    const want = E.left({ type: 'fault', faults: [{ segment: 1, reason: 'no-write' }] });
    for (const variant of VARIANTS) {
      expect(translate(table, { op: 'write', start: 12, length: 1 }, { variant })).toStrictEqual(want);
      expect(translate(table, { op: 'write', start: 12, length: 3 }, { variant })).toStrictEqual(want);
    }
  });

  it('writes blocks 7-8 to the alternate without a fault, and writes 0-29 fault only segment 1', () => {
    expect(translate(table, { op: 'write', start: 7, length: 2 })).toStrictEqual(
      E.right([{ kind: 'alternate', virtualStart: 7, length: 2, lun: 2, start: 17 }]),
    );
    expect(translate(table, { op: 'write', start: 0, length: 30 })).toStrictEqual(
      E.left({ type: 'fault', faults: [{ segment: 1, reason: 'no-write' }] }),
    );
    expect(translate(table, { op: 'write', start: 5, length: 5 })).toStrictEqual(
      E.right([
        { kind: 'primary', virtualStart: 5, length: 2, lun: 1, start: 5 },
        { kind: 'alternate', virtualStart: 7, length: 2, lun: 2, start: 17 },
        { kind: 'primary', virtualStart: 9, length: 1, lun: 1, start: 9 },
      ]),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------

describe('merging', () => {
  it('merges physically contiguous runs across segment boundaries, primary and alternate', () => {
    const table = mustTable({
      segmentBlocks: 4,
      entries: [
        { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 0, blocks: [3] } },
        { location: { lun: 1, start: 4 }, alternate: { lun: 2, start: 4, blocks: [0, 1] } },
        { location: { lun: 1, start: 8 } },
        { location: { lun: 3, start: 12 } },
      ],
    });
    expect(translate(table, { op: 'read', start: 0, length: 16 })).toStrictEqual(
      E.right([
        { kind: 'primary', virtualStart: 0, length: 3, lun: 1, start: 0 },
        { kind: 'alternate', virtualStart: 3, length: 3, lun: 2, start: 3 },
        { kind: 'primary', virtualStart: 6, length: 6, lun: 1, start: 6 },
        { kind: 'primary', virtualStart: 12, length: 4, lun: 3, start: 12 },
      ]),
    );
  });

  it('merges zero runs across segments but never zero with storage', () => {
    const table = mustTable({
      segmentBlocks: 4,
      entries: [
        { zero: true },
        { zero: true, location: { lun: 1, start: 500 } },
        { zero: true, alternate: { lun: 1, start: 4, blocks: [2] } },
      ],
    });
    expect(translate(table, { op: 'read', start: 1, length: 11 })).toStrictEqual(
      E.right([
        { kind: 'zero', virtualStart: 1, length: 9 },
        { kind: 'alternate', virtualStart: 10, length: 1, lun: 1, start: 6 },
        { kind: 'zero', virtualStart: 11, length: 1 },
      ]),
    );
  });

  it('keeps marking and non-marking alternate writes apart even when contiguous (distributed)', () => {
    const table = mustTable({
      segmentBlocks: 8,
      entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 200, blocks: [3] } }],
    });
    expect(translate(table, { op: 'write', start: 2, length: 3 }, { variant: 'distributed' })).toStrictEqual(
      E.right([
        { kind: 'alternate', virtualStart: 2, length: 1, lun: 2, start: 202, marksAlternate: true },
        { kind: 'alternate', virtualStart: 3, length: 1, lun: 2, start: 203 },
        { kind: 'alternate', virtualStart: 4, length: 1, lun: 2, start: 204, marksAlternate: true },
      ]),
    );
    expect(translate(table, { op: 'write', start: 2, length: 3 })).toStrictEqual(
      E.left({ type: 'fault', faults: [{ segment: 0, reason: 'no-write' }] }),
    );
    // Block 3 alone is already at the alternate: no fault in either variant.
    expect(translate(table, { op: 'write', start: 3, length: 1 })).toStrictEqual(
      E.right([{ kind: 'alternate', virtualStart: 3, length: 1, lun: 2, start: 203 }]),
    );
  });

  it('does not merge virtually adjacent pieces on the same LUN that are not physically contiguous', () => {
    const table = mustTable({
      segmentBlocks: 2,
      entries: [{ location: { lun: 1, start: 0 } }, { location: { lun: 1, start: 3 } }, { location: { lun: 1, start: 1 } }],
    });
    expect(translate(table, { op: 'read', start: 0, length: 6 })).toStrictEqual(
      E.right([
        { kind: 'primary', virtualStart: 0, length: 2, lun: 1, start: 0 },
        { kind: 'primary', virtualStart: 2, length: 2, lun: 1, start: 3 },
        { kind: 'primary', virtualStart: 4, length: 2, lun: 1, start: 1 },
      ]),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('translate against the reference translator', () => {
  it('equals referenceTranslate on random tables and requests', () => {
    fc.assert(
      fc.property(tableAndRequestArb(), variantArb, ([table, request], variant) => {
        expect(translate(table, request, { variant })).toStrictEqual(referenceTranslate(table, request, { variant }));
      }),
      { numRuns: 2000 },
    );
  });

  it('equals referenceTranslate on grained tables (one bit per grain, read as bit offset / grainBlocks), inline and stored apart', () => {
    const grainedAndRequest = (t: fc.Arbitrary<MappingTable>) => t.chain((table) => requestArb(table.segmentCount * table.segmentBlocks).map((r): [MappingTable, IoRequest] => [table, r]));
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 4, arbitrary: grainedAndRequest(grainedTableArb()) },
          { weight: 1, arbitrary: grainedAndRequest(grainedTableArb({ grainsPerSegment: fc.constantFrom(1025, 1100), grainBlocks: fc.constantFrom(2, 3), segmentCount: fc.integer({ min: 1, max: 3 }) })) },
        ),
        variantArb,
        ([table, request], variant) => {
          expect(translate(table, request, { variant })).toStrictEqual(referenceTranslate(table, request, { variant }));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads a grained alternate grain by grain (hand-derived)', () => {
    // 12 blocks per segment, grains of 3: bit 1 (blocks 3..5) and bit 3 (blocks 9..11) at the alternate.
    const table = mustTable({ segmentBlocks: 12, grainBlocks: 3, entries: [{ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 2, start: 100, blocks: [1, 3] } }] });
    const want: Piece[] = [
      { kind: 'primary', virtualStart: 1, length: 2, lun: 1, start: 1 },
      { kind: 'alternate', virtualStart: 3, length: 3, lun: 2, start: 103 },
      { kind: 'primary', virtualStart: 6, length: 3, lun: 1, start: 6 },
      { kind: 'alternate', virtualStart: 9, length: 2, lun: 2, start: 109 },
    ];
    expect(translate(table, { op: 'read', start: 1, length: 10 })).toStrictEqual(E.right(want));
    expect(referenceTranslate(table, { op: 'read', start: 1, length: 10 })).toStrictEqual(E.right(want));
    expect(translate(table, { op: 'write', start: 4, length: 1 })).toStrictEqual(E.right([{ kind: 'alternate', virtualStart: 4, length: 1, lun: 2, start: 104 }]));
    expect(translate(table, { op: 'write', start: 6, length: 1 })).toStrictEqual(E.left({ type: 'fault', faults: [{ segment: 0, reason: 'no-write' }] }));
  });

  it('equals referenceTranslate on segments of more than 1,024 blocks (bitmaps stored apart)', () => {
    fc.assert(
      fc.property(tableAndRequestArb({ segmentBlocks: fc.constantFrom(1025, 1100, 2048) }), variantArb, ([table, request], variant) => {
        expect(translate(table, request, { variant })).toStrictEqual(referenceTranslate(table, request, { variant }));
      }),
      { numRuns: 300 },
    );
  });

  it('equals referenceTranslate on updated and resized tables of several chunks (records in and out of the flat array)', () => {
    const MAX_LUN = 2 ** 32 - 1;
    const updatedArb = fc
      .tuple(
        fc.oneof({ arbitrary: fc.integer({ min: 1, max: 6 }), weight: 4 }, { arbitrary: fc.constantFrom(1025, 1100), weight: 1 }),
        fc.integer({ min: CHUNK_SIZE + 1, max: 3 * CHUNK_SIZE }),
        // Starts whose high 32 bits matter, up to the largest extent end allowed.
        fc.constantFrom(0, 2 ** 32 - 500, 2 ** 40, 2 ** 53 - 2 ** 22),
      )
      .chain(([sb, count, base]) =>
        fc.tuple(
          fc.constant(sb),
          fc.constant(count),
          fc.constant(base),
          // Mostly plain segments, which translation handles on its short path.
          fc.oneof(
            { arbitrary: fc.record({ location: fc.record({ lun: fc.constantFrom(1, MAX_LUN), start: fc.nat(1000) }) }), weight: 3 },
            { arbitrary: entrySpecArb(sb, { luns: [0, 2, MAX_LUN], maxStart: 1000 }), weight: 1 },
          ),
          fc.array(
            fc.record({ segment: fc.nat(count - 1), entry: entrySpecArb(sb, { luns: [0, 2, MAX_LUN], maxStart: 2 ** 53 - 1 - 2 * sb }) }),
            { maxLength: 6 },
          ),
          fc.option(fc.integer({ min: 1, max: 3 * CHUNK_SIZE }), { nil: undefined }),
        ),
      )
      .map(([sb, count, base, fill, updates, resizeTo]) => {
        // Each segment's primary at its own place, so that reading the wrong record shows.
        const at = (s: number): EntrySpec =>
          fill.location == null ? fill : { ...fill, location: { lun: fill.location.lun, start: base + fill.location.start + s * sb } };
        const built = createTable({ segmentBlocks: sb, segmentCount: count, entries: at });
        if (E.isLeft(built)) throw new Error(`the test built an invalid table: ${show(built.left)}`);
        const updated = setEntries(built.right, updates);
        if (E.isLeft(updated)) throw new Error(`the test made an invalid update: ${show(updated.left)}`);
        const resized = resizeTo === undefined ? updated : resizeTable(updated.right, resizeTo, at(count));
        if (E.isLeft(resized)) throw new Error(`the test made an invalid resize: ${show(resized.left)}`);
        const table = resized.right;
        return { table, touched: updates.map((u) => u.segment).filter((s) => s < table.segmentCount) };
      })
      .chain(({ table, touched }) =>
        // Requests start in or next to an updated segment, or anywhere.
        fc
          .tuple(fc.constantFrom(...touched, -1), fc.integer({ min: -8, max: 8 }), fc.integer({ min: 0, max: 3 * table.segmentBlocks }))
          .chain(([segment, shift, length]) => {
            const disk = table.segmentCount * table.segmentBlocks;
            const startArb = segment < 0 ? fc.nat(disk - 1) : fc.constant(Math.max(0, segment * table.segmentBlocks + shift));
            return startArb.map((start): [MappingTable, IoRequest] => [
              table,
              { op: 'write', start: Math.min(start, disk), length: Math.min(length, disk - Math.min(start, disk)) },
            ]);
          })
          .chain(([t, r]) => fc.constantFrom<Op>('read', 'write').map((op): [MappingTable, IoRequest] => [t, { ...r, op }])),
      );
    fc.assert(
      fc.property(updatedArb, variantArb, ([table, request], variant) => {
        expect(translate(table, request, { variant })).toStrictEqual(referenceTranslate(table, request, { variant }));
      }),
      { numRuns: 300 },
    );
  });

  it('equals referenceTranslate on physically contiguous tables (merges across segments)', () => {
    fc.assert(
      fc.property(withRequest(contiguousTableArb()), variantArb, ([table, request], variant) => {
        expect(translate(table, request, { variant })).toStrictEqual(referenceTranslate(table, request, { variant }));
      }),
      { numRuns: 2000 },
    );
  });

  it('equals referenceTranslate on disjoint layouts and on word-crossing segment sizes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          withRequest(layoutTableArb()),
          withRequest(contiguousTableArb(fc.constantFrom(31, 32, 33, 63, 64, 65, 97), fc.integer({ min: 1, max: 4 }))),
          withRequest(manyRunsArb),
        ),
        variantArb,
        ([table, request], variant) => {
          expect(translate(table, request, { variant })).toStrictEqual(referenceTranslate(table, request, { variant }));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('has every variety of outcome among its generated cases (the generators are not degenerate)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.oneof(tableAndRequestArb(), withRequest(contiguousTableArb())), variantArb, ([table, request], variant) => {
        const r = translate(table, request, { variant });
        if (E.isLeft(r)) seen.add(r.left.type);
        else for (const p of r.right) seen.add(p.marksAlternate ? 'marks' : p.kind);
      }),
      { numRuns: 500, seed: 42 },
    );
    expect([...seen].sort()).toStrictEqual(['alternate', 'error', 'fault', 'marks', 'primary', 'zero']);
  });
});

describe('shape of the pieces', () => {
  const checkShape = (table: MappingTable, request: IoRequest, variant: Variant): void => {
    const r = translate(table, request, { variant });
    if (E.isLeft(r)) {
      expect(['fault', 'error']).toContain(r.left.type);
      return;
    }
    const pieces = r.right;
    let v = request.start;
    for (const [n, p] of pieces.entries()) {
      expect(p.length).toBeGreaterThan(0);
      expect(Number.isSafeInteger(p.length)).toBe(true);
      expect(p.virtualStart).toBe(v);
      if (p.kind === 'zero') {
        expect('lun' in p || 'start' in p || 'marksAlternate' in p).toBe(false);
      } else {
        expect(Number.isSafeInteger(p.lun)).toBe(true);
        expect(Number.isSafeInteger(p.start)).toBe(true);
      }
      if (p.marksAlternate !== undefined) {
        expect(p.marksAlternate).toBe(true);
        expect(p.kind).toBe('alternate');
        expect(variant).toBe('distributed');
        expect(request.op).toBe('write');
      }
      const prev = pieces[n - 1];
      if (prev !== undefined) expect(mergeable(prev, p), `pieces ${n - 1} and ${n} could merge`).toBe(false);
      // Every block of the piece goes where its own decision says.
      for (let k = 0; k < p.length; k++) {
        const block = p.virtualStart + k;
        const entry = getEntry(table, Math.floor(block / table.segmentBlocks));
        if (E.isLeft(entry)) throw new Error('unreachable');
        const d = referenceBlockDecision(entry.right, block % table.segmentBlocks, request.op, variant);
        expect(d.kind).toBe(p.kind);
        if (d.kind === 'primary' || d.kind === 'alternate') {
          expect(d.lun).toBe(p.lun);
          expect(d.start).toBe(p.start! + k);
        }
        if (d.kind === 'alternate') expect(d.marksAlternate).toBe(p.marksAlternate === true);
      }
      v += p.length;
    }
    expect(v).toBe(request.start + request.length);
  };

  it('covers exactly [start, start+length) in order with maximal, non-empty pieces', () => {
    fc.assert(
      fc.property(fc.oneof(tableAndRequestArb(), withRequest(contiguousTableArb())), variantArb, ([table, request], variant) =>
        checkShape(table, request, variant),
      ),
      { numRuns: 1500 },
    );
  });
});

describe('translateInto with one reused PieceBuffer', () => {
  it('gives what translate (and the reference) gives, growing as needed', () => {
    const buf = new PieceBuffer(1);
    let maxPieces = 0;
    let maxFailures = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: tableAndRequestArb(), weight: 3 },
          { arbitrary: withRequest(contiguousTableArb()), weight: 3 },
          { arbitrary: withRequest(manySegmentsArb), weight: 2 },
          { arbitrary: withRequest(manyRunsArb), weight: 2 },
        ),
        variantArb,
        ([table, request], variant) => {
          const status = translateInto(table, request.op, request.start, request.length, buf, variant);
          maxPieces = Math.max(maxPieces, buf.count);
          maxFailures = Math.max(maxFailures, buf.failureCount);
          const expected = translate(table, request, { variant });
          expectBufferMatches(status, buf, expected);
          expect(expected).toStrictEqual(referenceTranslate(table, request, { variant }));
        },
      ),
      { numRuns: 600 },
    );
    // The run must actually have exercised growth of both column sets.
    expect(maxPieces).toBeGreaterThan(64);
    expect(maxFailures).toBeGreaterThan(64);
    expect(buf.kind.length).toBeGreaterThanOrEqual(maxPieces);
    expect(buf.failureSegment.length).toBeGreaterThanOrEqual(maxFailures);
  });

  it('clears stale pieces and failures between requests', () => {
    const table = mustTable({
      segmentBlocks: 1,
      entries: Array.from({ length: 200 }, (_, s): EntrySpec =>
        s >= 100 ? { invalid: true } : { location: { lun: s % 2, start: s * 7 } },
      ),
    });
    const buf = new PieceBuffer(2);
    const run = (op: 'read' | 'write', start: number, length: number) => {
      const status = translateInto(table, op, start, length, buf);
      expectBufferMatches(status, buf, translate(table, { op, start, length }));
      return status;
    };
    expect(run('read', 0, 100)).toBe(STATUS_OK);
    expect(buf.count).toBe(100);
    expect(run('read', 100, 100)).toBe(STATUS_FAULT);
    expect(buf.failureCount).toBe(100);
    expect(run('read', 5, 2)).toBe(STATUS_OK);
    expect(buf.count).toBe(2);
    expect(buf.failureCount).toBe(0);
    expect(run('read', 99, 2)).toBe(STATUS_FAULT);
    expect(failuresOf(buf)).toStrictEqual([[100, REASON_INVALID]]);
    expect(buf.count).toBe(0);
    expect(run('read', 0, 0)).toBe(STATUS_OK);
    expect(buf.count).toBe(0);
    expect(buf.failureCount).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

describe('failures', () => {
  // 3 segments of 10 blocks: 30 blocks.
  const table = mustTable({
    segmentBlocks: 10,
    entries: [{ location: { lun: 1, start: 0 } }, { location: { lun: 1, start: 10 } }, { location: { lun: 1, start: 20 } }],
  });

  it.each([
    { start: 25, length: 6 },
    { start: 30, length: 1 },
    { start: 31, length: 0 },
    { start: 0, length: 31 },
    { start: Number.MAX_SAFE_INTEGER, length: Number.MAX_SAFE_INTEGER },
  ])('out of range: start $start length $length', ({ start, length }) => {
    for (const op of ['read', 'write'] as const) {
      const want = {
        type: 'out-of-range',
        start,
        length,
        diskBlocks: 30,
        message: `request start ${start} length ${length} ends past the disk's 30 blocks`,
      };
      const r = translate(table, { op, start, length });
      expect(r).toStrictEqual(E.left(want));
      expect(referenceTranslate(table, { op, start, length })).toStrictEqual(E.left(want));
      expect(translateInto(table, op, start, length, new PieceBuffer())).toBe(STATUS_OUT_OF_RANGE);
    }
  });

  it('accepts a request that ends exactly at the end of the disk', () => {
    expect(translate(table, { op: 'read', start: 25, length: 5 })).toStrictEqual(
      E.right([{ kind: 'primary', virtualStart: 25, length: 5, lun: 1, start: 25 }]),
    );
  });

  it('takes -0 as a start and answers pieces that start at +0, on the short path and the general one', () => {
    for (const op of ['read', 'write'] as const) {
      expect(translate(table, { op, start: -0, length: 1 })).toStrictEqual(E.right([{ kind: 'primary', virtualStart: 0, length: 1, lun: 1, start: 0 }]));
      const crossing = translate(table, { op, start: -0, length: 15 });
      expect(crossing).toStrictEqual(E.right([{ kind: 'primary', virtualStart: 0, length: 15, lun: 1, start: 0 }]));
      expect(crossing).toStrictEqual(referenceTranslate(table, { op, start: -0, length: 15 }));
    }
  });

  const bad = (request: unknown): IoRequest => request as IoRequest;

  it.each([
    { request: { op: 'read', start: -1, length: 1 }, field: 'start', value: -1 },
    { request: { op: 'read', start: 1.5, length: 1 }, field: 'start', value: 1.5 },
    { request: { op: 'read', start: Number.NaN, length: 1 }, field: 'start', value: Number.NaN },
    { request: { op: 'read', start: Number.POSITIVE_INFINITY, length: 1 }, field: 'start', value: Number.POSITIVE_INFINITY },
    { request: { op: 'read', start: 2 ** 53, length: 0 }, field: 'start', value: 2 ** 53 },
    { request: { op: 'read', start: '3', length: 1 }, field: 'start', value: '3' },
    { request: { op: 'read', start: 0, length: -2 }, field: 'length', value: -2 },
    { request: { op: 'write', start: 0, length: 0.25 }, field: 'length', value: 0.25 },
    { request: { op: 'write', start: 0, length: Number.NaN }, field: 'length', value: Number.NaN },
    { request: { op: 'write', start: 0 }, field: 'length', value: undefined },
    { request: { op: 'erase', start: 0, length: 1 }, field: 'op', value: 'erase' },
    { request: { op: undefined, start: 0, length: 1 }, field: 'op', value: undefined },
    { request: { op: 'READ', start: 0, length: 1 }, field: 'op', value: 'READ' },
    { request: null, field: 'request', value: null },
    { request: 7, field: 'request', value: 7 },
  ])('invalid request: $field = $value', ({ request, field, value }) => {
    const r = translate(table, bad(request));
    if (E.isRight(r) || r.left.type !== 'invalid-request') throw new Error(`expected invalid-request, got ${JSON.stringify(r)}`);
    const e = r.left.errors.find((x) => x.field === field);
    expect(e).toBeDefined();
    expect(Object.is(e!.value, value)).toBe(true);
    expect(e!.message).toContain(field);
    expect(e!.message).toContain(show(value));
    expect(referenceTranslate(table, bad(request))).toStrictEqual(r);
    const req = (request ?? {}) as Record<string, unknown>;
    const status = translateInto(table, req.op as 'read', req.start as number, req.length as number, new PieceBuffer());
    expect(status).toBe(STATUS_INVALID_REQUEST);
  });

  it('reports every bad field of a request at once', () => {
    const r = translate(table, bad({ op: 'x', start: -1, length: Number.NaN }));
    if (E.isRight(r) || r.left.type !== 'invalid-request') throw new Error('expected invalid-request');
    expect(r.left.errors.map((e) => e.field)).toStrictEqual(['op', 'start', 'length']);
  });

  it('never throws, whatever the request, and agrees with the reference', () => {
    const field = <T>(good: fc.Arbitrary<T>) => fc.oneof(good, fc.anything(), fc.double(), fc.integer({ min: -3, max: 40 }));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ op: field(fc.constantFrom('read', 'write')), start: field(fc.nat(35)), length: field(fc.nat(35)) }),
          fc.anything(),
        ),
        variantArb,
        (request, variant) => {
          let r: Result | undefined;
          expect(() => {
            r = translate(table, bad(request), { variant });
          }).not.toThrow();
          expect(r).toStrictEqual(referenceTranslate(table, bad(request), { variant }));
        },
      ),
      { numRuns: 1000 },
    );
  });

  describe('faults take precedence over errors', () => {
    const mixed = mustTable({
      segmentBlocks: 10,
      entries: [
        { location: { lun: 1, start: 0 }, error: true },
        { invalid: true },
        { location: { lun: 1, start: 20 }, noWrite: true },
        { zero: true },
        { location: { lun: 1, start: 40 }, error: true },
        { location: { lun: 1, start: 50 } },
      ],
    });

    it.each(VARIANTS)('%s', (variant) => {
      const t = (op: 'read' | 'write', start: number, length: number) => translate(mixed, { op, start, length }, { variant });
      // A request touching an error segment and a faulting one faults, listing only the fault.
      expect(t('read', 5, 10)).toStrictEqual(E.left({ type: 'fault', faults: [{ segment: 1, reason: 'invalid' }] }));
      expect(t('write', 0, 60)).toStrictEqual(
        E.left({
          type: 'fault',
          faults: [
            { segment: 1, reason: 'invalid' },
            { segment: 2, reason: 'no-write' },
            { segment: 3, reason: 'zero' },
          ],
        }),
      );
      expect(t('write', 25, 20)).toStrictEqual(
        E.left({
          type: 'fault',
          faults: [
            { segment: 2, reason: 'no-write' },
            { segment: 3, reason: 'zero' },
          ],
        }),
      );
      // Without a fault, the error segments are listed once each.
      expect(t('read', 0, 10)).toStrictEqual(E.left({ type: 'error', segments: [0] }));
      expect(t('read', 20, 40)).toStrictEqual(E.left({ type: 'error', segments: [4] }));
      expect(t('read', 35, 25)).toStrictEqual(E.left({ type: 'error', segments: [4] }));
      // Reads of the noWrite and zero segments are fine.
      expect(t('read', 25, 10)).toStrictEqual(
        E.right([
          { kind: 'primary', virtualStart: 25, length: 5, lun: 1, start: 25 },
          { kind: 'zero', virtualStart: 30, length: 5 },
        ]),
      );
    });
  });

  it('returns Right([]) for a zero-length request anywhere inside or at the end of the disk', () => {
    const t = mustTable({
      segmentBlocks: 4,
      entries: [{ invalid: true }, { location: { lun: 1, start: 0 }, error: true }, { zero: true }, { location: { lun: 1, start: 0 }, noWrite: true }],
    });
    for (const variant of VARIANTS)
      for (const op of ['read', 'write'] as const)
        for (const start of [0, 1, 4, 6, 8, 13, 16]) {
          expect(translate(t, { op, start, length: 0 }, { variant })).toStrictEqual(E.right([]));
          expect(referenceTranslate(t, { op, start, length: 0 }, { variant })).toStrictEqual(E.right([]));
        }
  });
});

describe('bad arguments from untyped callers', () => {
  it('translate with null options behaves as with none', () => {
    const t = E.getOrElseW(() => { throw new Error('table'); })(createTable({ segmentBlocks: 4, entries: [{ location: { lun: 1, start: 0 } }] }));
    expect(translate(t, { op: 'read', start: 0, length: 2 }, null as never)).toEqual(translate(t, { op: 'read', start: 0, length: 2 }));
  });
});

describe('translate validates what it is given', () => {
  it('refuses an unknown variant and a value that is not a table, naming the field', () => {
    const t = E.getOrElseW(() => expect.fail('fixture'))(createTable({ segmentBlocks: 8, entries: [{ location: { lun: 1, start: 0 } }] })) as MappingTable;
    const bogus = translate(t, { op: 'read', start: 0, length: 1 }, { variant: 'bogus' as never });
    expect(bogus).toEqual(E.left({ type: 'invalid-request', errors: [expect.objectContaining({ field: 'options.variant', value: 'bogus' })] }));
    const notTable = translate({ segmentBlocks: 8 } as never, { op: 'read', start: 0, length: 1 });
    expect(E.isLeft(notTable) && notTable.left.type === 'invalid-request' && notTable.left.errors.map((e) => e.field)).toEqual(['table']);
  });
});
