/**
 * Translation of variable tables large enough to span several chunks, so that a request's first
 * segment is found through the boundary index's directory (src/table/segment-directory.ts) and
 * the one-segment short cut of src/translate/translate-into.ts is taken often: `translate` and
 * `translateInto` against the per-block reference translator, on every shape of lengths and at
 * the boundaries where an off-by-one would show (first and last segment of a chunk, segments of
 * one block, the last partial chunk, the first and last block of the disk, buckets of the
 * directory).
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createPrng, type Prng } from '../../src/adapters/prng.js';
import { freezeTable } from '../../src/table/freeze.js';
import { CHUNK_SIZE } from '../../src/table/layout.js';
import { segmentStartAt } from '../../src/table/segments.js';
import { setEntries, type MappingTable } from '../../src/table/table.js';
import { createVariableTable, splitSegment, type SegmentSpec } from '../../src/table/variable.js';
import { referenceTranslate } from '../../src/testing/reference.js';
import { PieceBuffer, piecesOf, STATUS_OK, translate, translateInto, type IoRequest, type Op, type Variant } from '../../src/translate/translate.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left).slice(0, 300)}`);
  return e.right;
};

/** Shapes of segment lengths: each a function of the segment number and a PRNG. */
const SHAPES = {
  /** Every segment one block: a bucket of the directory spans several segments. */
  ones: () => 1,
  /** Equal segments, as a uniform table. */
  equal: () => 16,
  /** Lengths of 1 to 70 blocks, a third of them 1. */
  mixed: (_s: number, p: Prng) => (p.chance(0.33) ? 1 : 1 + p.int(70)),
  /** Tiny segments with a few long ones: buckets holding many segments next to buckets inside one. */
  skewed: (_s: number, p: Prng) => (p.chance(0.01) ? 2000 + p.int(3000) : 1 + p.int(3)),
  /** Runs of equal lengths that change every so often. */
  runs: (s: number) => 1 + ((s >>> 6) % 9) * 7,
} as const;
type Shape = keyof typeof SHAPES;

/** A segment's entry: plain most of the time (the short cut), every other kind too. */
const entryOf = (p: Prng, length: number): SegmentSpec => {
  const location = { lun: 1 + p.int(3), start: p.int(1_000_000) };
  const alternate = () => {
    const blocks: number[] = [];
    for (let k = 0; k < length; k++) if (p.chance(0.4)) blocks.push(k);
    return { lun: 5 + p.int(2), start: p.int(1_000_000), blocks };
  };
  const x = p.next();
  if (x < 0.55) return { length, location };
  if (x < 0.65) return { length, location, noWrite: true };
  if (x < 0.75) return { length, location, noWrite: p.chance(0.5), alternate: alternate() };
  if (x < 0.8) return { length, zero: true };
  if (x < 0.85) return { length, zero: true, alternate: alternate() };
  if (x < 0.9) return { length, invalid: true };
  if (x < 0.95) return { length, location, error: true };
  return { length, location, noWrite: true, invalid: p.chance(0.5), error: p.chance(0.5) };
};

/** Physically contiguous neighbours now and then, so that pieces merge across segments. */
const specsOf = (shape: Shape, count: number, seed: number): SegmentSpec[] => {
  const p = createPrng(seed);
  const specs: SegmentSpec[] = [];
  for (let s = 0; s < count; s++) {
    const length = SHAPES[shape](s, p);
    const prev = specs[s - 1];
    if (prev?.location && !prev.alternate && !prev.zero && !prev.invalid && !prev.error && !prev.noWrite && p.chance(0.3))
      specs.push({ length, location: { lun: prev.location.lun, start: prev.location.start + prev.length } });
    else specs.push(entryOf(p, length));
  }
  return specs;
};

const tableOf = (shape: Shape, count: number, seed: number): MappingTable => right(createVariableTable({ entries: specsOf(shape, count, seed) }));

const blocksOf = (t: MappingTable): number => segmentStartAt(t, t.segmentCount);

/**
 * Requests at the places an off-by-one would show: around the first and last segment of every
 * chunk, the disk's first and last block, whole segments, one block of a segment, and a few
 * crossing many segments; then random ones.
 */
const requestsOf = (t: MappingTable, p: Prng, random: number): IoRequest[] => {
  const blocks = blocksOf(t);
  const out: IoRequest[] = [];
  const op = (): Op => (p.chance(0.5) ? 'write' : 'read');
  const add = (start: number, length: number) => {
    if (start >= 0 && length >= 0 && start + length <= blocks) out.push({ op: op(), start, length });
  };
  const segments = new Set<number>([0, 1, t.segmentCount - 2, t.segmentCount - 1]);
  for (let c = CHUNK_SIZE; c <= t.segmentCount; c += CHUNK_SIZE) for (const s of [c - 2, c - 1, c, c + 1]) segments.add(s);
  for (const s of segments) {
    if (s < 0 || s >= t.segmentCount) continue;
    const first = segmentStartAt(t, s);
    const length = segmentStartAt(t, s + 1) - first;
    add(first, length); // the whole segment
    add(first, 1); // its first block
    add(first + length - 1, 1); // its last block
    add(first + length - 1, 2); // across its end
    add(first - 1, 2); // across its start
    add(first + p.int(length), 1 + p.int(length)); // from inside it
    add(first, 0); // empty, at its start
  }
  add(blocks, 0); // empty, at the disk's end
  add(0, blocks); // the whole disk
  add(blocks - 1, 1);
  for (let i = 0; i < random; i++) {
    const start = p.int(blocks);
    add(start, p.chance(0.8) ? 1 + p.int(Math.min(64, blocks - start)) : p.int(blocks - start + 1));
  }
  return out;
};

const variants: readonly Variant[] = ['centralized', 'distributed'];

/** `translate` and `translateInto` both answer `request` over `t` as the reference does. */
const expectLikeReference = (t: MappingTable, request: IoRequest, buf: PieceBuffer): void => {
  for (const variant of variants) {
    const want = referenceTranslate(t, request, { variant });
    expect(translate(t, request, { variant }), `${request.op} ${request.start} +${request.length} (${variant})`).toStrictEqual(want);
    const status = translateInto(t, request.op, request.start, request.length, buf, variant);
    expect(status === STATUS_OK).toBe(E.isRight(want));
    if (E.isRight(want)) expect(piecesOf(buf)).toStrictEqual(want.right);
  }
};

describe('translation of variable tables of several chunks', () => {
  it('equals the reference on every shape of lengths, at chunk boundaries, one-block segments and the last partial chunk', () => {
    const buf = new PieceBuffer(1);
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(SHAPES) as Shape[])),
        // Several chunks, the last one partial (or, now and then, exactly full).
        fc.oneof(fc.integer({ min: CHUNK_SIZE + 1, max: 5 * CHUNK_SIZE }), fc.constantFrom(2 * CHUNK_SIZE, 3 * CHUNK_SIZE)),
        fc.integer(),
        (shape, count, seed) => {
          const t = tableOf(shape, count, seed);
          for (const request of requestsOf(t, createPrng(seed ^ 0x5bd1e995), 40)) expectLikeReference(t, request, buf);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('equals the reference with chunks out of the built-in record array and with frozen chunks (writes fault on the short cut)', () => {
    const buf = new PieceBuffer(1);
    fc.assert(
      fc.property(fc.constantFrom<Shape>('ones', 'mixed', 'equal'), fc.integer({ min: CHUNK_SIZE + 1, max: 4 * CHUNK_SIZE }), fc.integer(), (shape, count, seed) => {
        const p = createPrng(seed);
        const built = tableOf(shape, count, seed);
        // Rewrite a few segments as plain (their chunks are copied out of `flat`), then freeze.
        const updates = Array.from({ length: 4 }, () => {
          const segment = p.int(count);
          return { segment, entry: { location: { lun: 4, start: p.int(1000) } } };
        });
        const updated = right(setEntries(built, updates));
        const frozen = right(freezeTable(updated));
        const rewritten = right(setEntries(frozen, [{ segment: updates[0]!.segment, entry: { location: { lun: 3, start: 7 } } }]));
        expect(updated.segmentDirectory).toBe(built.segmentDirectory);
        expect(rewritten.segmentDirectory).toBe(built.segmentDirectory);
        for (const t of [updated, frozen, rewritten]) {
          const requests = requestsOf(t, createPrng(seed + 1), 20);
          for (const { segment } of updates) {
            const first = segmentStartAt(t, segment);
            requests.push({ op: 'write', start: first, length: 1 }, { op: 'read', start: first, length: segmentStartAt(t, segment + 1) - first });
          }
          for (const request of requests) expectLikeReference(t, request, buf);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('answers hand-derived pieces and faults around a chunk boundary, in the last partial chunk and at the disk\'s end', () => {
    // Segments 0..299 of 3 blocks, plain on LUN 1 at 100 * s; segment 256 (first of chunk 1)
    // noWrite, segment 299 (the last, in a partial chunk) zero.
    const entries: SegmentSpec[] = Array.from({ length: 300 }, (_, s) =>
      s === 299 ? { length: 3, zero: true } : { length: 3, location: { lun: 1, start: 100 * s }, noWrite: s === 256 },
    );
    const t = right(createVariableTable({ entries }));
    const buf = new PieceBuffer(1);
    const piece = (virtualStart: number, length: number, start: number) => ({ kind: 'primary', virtualStart, length, lun: 1, start });
    expect(translate(t, { op: 'write', start: 255 * 3 + 1, length: 2 })).toStrictEqual(E.right([piece(766, 2, 25501)]));
    expect(translate(t, { op: 'read', start: 256 * 3, length: 3 })).toStrictEqual(E.right([piece(768, 3, 25600)]));
    expect(translate(t, { op: 'write', start: 256 * 3 + 2, length: 1 })).toStrictEqual(E.left({ type: 'fault', faults: [{ segment: 256, reason: 'no-write' }] }));
    expect(translate(t, { op: 'read', start: 257 * 3 - 1, length: 2 })).toStrictEqual(E.right([piece(770, 1, 25602), piece(771, 1, 25700)]));
    expect(translate(t, { op: 'read', start: 299 * 3, length: 3 })).toStrictEqual(E.right([{ kind: 'zero', virtualStart: 897, length: 3 }]));
    expect(translate(t, { op: 'write', start: 298 * 3, length: 3 })).toStrictEqual(E.right([piece(894, 3, 29800)]));
    expect(translateInto(t, 'read', 900, 0, buf)).toBe(STATUS_OK); // empty, at the disk's end
    expect(buf.count).toBe(0);
    expect(translate(t, { op: 'read', start: 899, length: 2 })).toStrictEqual(E.left(expect.objectContaining({ type: 'out-of-range', diskBlocks: 900 })));
  });

  it('translates a split table like the reference: the split makes a new boundary index and directory', () => {
    const buf = new PieceBuffer(1);
    fc.assert(
      fc.property(fc.integer({ min: CHUNK_SIZE, max: 3 * CHUNK_SIZE }), fc.integer(), (count, seed) => {
        const t = tableOf('mixed', count, seed);
        const p = createPrng(seed);
        // Split a segment of at least 2 blocks near a chunk boundary.
        let s = Math.min(count - 1, CHUNK_SIZE - 1 + p.int(3));
        while (s > 0 && segmentStartAt(t, s + 1) - segmentStartAt(t, s) < 2) s--;
        const length = segmentStartAt(t, s + 1) - segmentStartAt(t, s);
        if (length < 2) return;
        const u = right(splitSegment(t, s, 1 + p.int(length - 1)));
        expect(u.segmentDirectory).not.toBe(t.segmentDirectory);
        for (const request of requestsOf(u, p, 20)) expectLikeReference(u, request, buf);
      }),
      { numRuns: 10 },
    );
  });
});

describe('bitmaps of variable tables', () => {
  it('reads a long segment whose alternate bitmap is stored apart, through the short cut of its neighbours', () => {
    // 2,000-block segment between plain ones: bitmaps are always stored apart in variable tables.
    const blocks = Array.from({ length: 2000 }, (_, k) => k).filter((k) => (k & 4) !== 0 || k % 97 === 0);
    const entries: SegmentSpec[] = [
      ...Array.from({ length: 300 }, (_, s): SegmentSpec => ({ length: 1, location: { lun: 1, start: s } })),
      { length: 2000, location: { lun: 2, start: 0 }, noWrite: true, alternate: { lun: 3, start: 0, blocks } },
      ...Array.from({ length: 10 }, (_, s): SegmentSpec => ({ length: 1, location: { lun: 1, start: 300 + s } })),
    ];
    const t = right(createVariableTable({ entries }));
    const buf = new PieceBuffer(1);
    const p = createPrng(7);
    for (const request of requestsOf(t, p, 60)) expectLikeReference(t, request, buf);
  });
});
