/**
 * Physical space allocation on LUNs: a persistent first-fit allocator over free ranges.
 *
 * An {@link Allocator} is an immutable value; every change returns a new allocator and leaves the
 * old one usable (the controller keeps the allocator next to the tables it describes, and a
 * rejected step simply keeps the old value). Callers may supply their own implementation of the
 * interface; {@link createAllocator} gives the default one.
 *
 * Per LUN, the free ranges are kept sorted by start in small chunks (a two-level sorted array,
 * like the mapping table's L1/L2). A change copies the chunk list and the one or two chunks it
 * touches, never the whole free list, so tens of thousands of small allocations and releases
 * stay cheap even when the free space is badly fragmented. Each chunk remembers its largest
 * range, so first-fit skips whole chunks of holes that are too small.
 */
import * as E from 'fp-ts/lib/Either.js';
import { isBlockNumber, show, validationError, type ValidationError } from '../errors.js';
import { MAX_LUN, type LunSizes } from '../table/entry.js';

/**
 * `length` blocks of LUN `lun` from block `start`.
 *
 * @example
 * const extent: Extent = { lun: 1, start: 20, length: 10 }; // blocks 20..29 of LUN 1
 */
export interface Extent {
  readonly lun: number;
  readonly start: number;
  readonly length: number;
}

/**
 * No LUN (the preferred one included) has `length` contiguous free blocks.
 *
 * @example
 * const e: NoSpaceError = { type: 'no-space', length: 10, message: 'no LUN has 10 contiguous free blocks (...)' };
 */
export interface NoSpaceError {
  readonly type: 'no-space';
  readonly length: number;
  readonly message: string;
}

/**
 * The request itself was malformed (a length that is not a positive safe integer, an
 * undeclared preferred LUN).
 *
 * @example
 * const e: InvalidAllocationError = { type: 'invalid', errors: [validationError('length', 0, 'must be a positive safe integer')], message: '...' };
 */
export interface InvalidAllocationError {
  readonly type: 'invalid';
  readonly errors: ReadonlyArray<ValidationError>;
  readonly message: string;
}

/**
 * Why {@link Allocator.allocate} failed: `'no-space'` is an expected outcome the caller handles
 * by policy (fail the I/O, mark the disk full); `'invalid'` is a bug in the caller.
 *
 * @example
 * const why = (e: AllocationError) => (e.type === 'no-space' ? 'full' : e.errors.map((x) => x.message).join('; '));
 */
export type AllocationError = NoSpaceError | InvalidAllocationError;

/**
 * An immutable allocator of LUN blocks. Every method leaves `this` unchanged.
 *
 * @example
 * const a0 = createAllocator({ 1: 100 });                     // Right(allocator)
 * const r = E.chainW((a: Allocator) => a.allocate(10))(a0);  // Right([a1, { lun: 1, start: 0, length: 10 }])
 * // a1.free(1) === 90; a0 still has 100 free blocks
 */
export interface Allocator {
  /**
   * The lowest-addressed free range of `length` blocks (first fit), on `preferLun` when it has
   * one, otherwise on the first LUN in ascending id that has one.
   */
  allocate(length: number, preferLun?: number): E.Either<AllocationError, [Allocator, Extent]>;
  /** Marks an allocated extent free again, merging it with free neighbours. Left if any block of it is free already or it is not inside a declared LUN. */
  release(extent: Extent): E.Either<ValidationError[], Allocator>;
  /** Marks a specific extent used (rebuilding from tables after a restart). Left if any block of it is not free. */
  reserve(extent: Extent): E.Either<ValidationError[], Allocator>;
  /** Free blocks on `lun` (0 for an undeclared LUN), or on all LUNs. */
  free(lun?: number): number;
  /** Every maximal free range, sorted by LUN then start. */
  freeExtents(): ReadonlyArray<Extent>;
  /** Every declared LUN with its size and free blocks, by ascending id. */
  lunSpace(): ReadonlyArray<{ readonly lun: number; readonly size: number; readonly free: number }>;
}

// ---------------------------------------------------------------------------------------------
// Free ranges of one LUN: sorted, half-open [start, end), never adjacent, in chunks.
// ---------------------------------------------------------------------------------------------

/** Target ranges per chunk: chunks hold CHUNK/4 .. 2*CHUNK ranges (fewer only when alone). */
const CHUNK = 64;

interface Chunk {
  readonly starts: ReadonlyArray<number>;
  readonly ends: ReadonlyArray<number>;
  /** Length of the chunk's largest range. */
  readonly max: number;
}

interface LunState {
  readonly size: number;
  readonly free: number;
  readonly chunks: ReadonlyArray<Chunk>;
}

/** Position of a range: chunk `c`, index `j` inside it. */
interface Pos {
  readonly c: number;
  readonly j: number;
}

const makeChunk = (starts: number[], ends: number[]): Chunk => {
  let max = 0;
  for (let j = 0; j < starts.length; j++) max = Math.max(max, ends[j]! - starts[j]!);
  return { starts, ends, max };
};

/** Largest index whose value is <= x, or -1. */
const lastAtMost = (values: ReadonlyArray<number>, x: number): number => {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
};

/** The last range starting at or before `x`, or null. O(log n). */
const locate = (chunks: ReadonlyArray<Chunk>, x: number): Pos | null => {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (chunks[mid]!.starts[0]! <= x) lo = mid + 1;
    else hi = mid;
  }
  const c = lo - 1;
  return c < 0 ? null : { c, j: lastAtMost(chunks[c]!.starts, x) };
};

/** The range after `p` (the first range when `p` is null), or null. */
const after = (chunks: ReadonlyArray<Chunk>, p: Pos | null): Pos | null => {
  if (p === null) return chunks.length > 0 ? { c: 0, j: 0 } : null;
  if (p.j + 1 < chunks[p.c]!.starts.length) return { c: p.c, j: p.j + 1 };
  return p.c + 1 < chunks.length ? { c: p.c + 1, j: 0 } : null;
};

const startAt = (chunks: ReadonlyArray<Chunk>, p: Pos): number => chunks[p.c]!.starts[p.j]!;
const endAt = (chunks: ReadonlyArray<Chunk>, p: Pos): number => chunks[p.c]!.ends[p.j]!;

/**
 * Replaces `remove` (0 or 1) ranges at `p` by `insert` (sorted, fitting between the neighbours),
 * copying only chunk `p.c` (and a neighbour it merges with) and the chunk list. Keeps chunk sizes
 * in bounds so both levels stay short.
 */
const splice = (chunks: ReadonlyArray<Chunk>, p: Pos, remove: 0 | 1, insert: ReadonlyArray<readonly [number, number]>): Chunk[] => {
  if (chunks.length === 0) {
    return insert.length === 0 ? [] : [makeChunk(insert.map((r) => r[0]), insert.map((r) => r[1]))];
  }
  const old = chunks[p.c]!;
  const starts = old.starts.slice();
  const ends = old.ends.slice();
  starts.splice(p.j, remove, ...insert.map((r) => r[0]));
  ends.splice(p.j, remove, ...insert.map((r) => r[1]));
  const out = chunks.slice();
  const n = starts.length;
  if (n === 0) {
    out.splice(p.c, 1);
  } else if (n > 2 * CHUNK) {
    const half = n >>> 1;
    out.splice(p.c, 1, makeChunk(starts.slice(0, half), ends.slice(0, half)), makeChunk(starts.slice(half), ends.slice(half)));
  } else if (n < CHUNK / 4 && chunks.length > 1) {
    // Merge a small chunk into a neighbour so fragmentation cannot leave many tiny chunks.
    const other = p.c + 1 < chunks.length ? p.c + 1 : p.c - 1;
    const o = chunks[other]!;
    if (o.starts.length + n <= CHUNK) {
      const first = Math.min(p.c, other);
      const merged =
        other > p.c
          ? makeChunk([...starts, ...o.starts], [...ends, ...o.ends])
          : makeChunk([...o.starts, ...starts], [...o.ends, ...ends]);
      out.splice(first, 2, merged);
    } else {
      out[p.c] = makeChunk(starts, ends);
    }
  } else {
    out[p.c] = makeChunk(starts, ends);
  }
  return out;
};

/**
 * Range `j` of chunk `c` now starts at `start` (still before its end): the usual allocation, which
 * leaves the chunk's size, and its ends, as they were. Only the starts are copied (the ends are
 * shared: chunks are never changed in place), with no splice and no re-balancing.
 */
const shrinkFront = (chunks: ReadonlyArray<Chunk>, c: number, j: number, start: number): Chunk[] => {
  const old = chunks[c]!;
  const starts = old.starts.slice();
  const shrunk = old.ends[j]! - starts[j]!;
  starts[j] = start;
  // The largest range is unchanged unless this was it.
  const max = shrunk < old.max ? old.max : makeChunk(starts, old.ends as number[]).max;
  const out = chunks.slice();
  out[c] = { starts, ends: old.ends, max };
  return out;
};

const largestRange = (state: LunState): number => state.chunks.reduce((m, c) => Math.max(m, c.max), 0);

/** First fit on one LUN: the start of the allocated range and the new state, or null. */
const allocateIn = (state: LunState, length: number): [LunState, number] | null => {
  const chunks = state.chunks;
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    if (chunk.max < length) continue;
    for (let j = 0; j < chunk.starts.length; j++) {
      const s = chunk.starts[j]!;
      const e = chunk.ends[j]!;
      if (e - s < length) continue;
      const next = e - s === length ? splice(chunks, { c, j }, 1, []) : shrinkFront(chunks, c, j, s + length);
      return [{ size: state.size, free: state.free - length, chunks: next }, s];
    }
  }
  return null;
};

/** "block 3 of it is" / "blocks 3..5 of it are", for error messages. */
const blocksOfIt = (from: number, to: number): string => (from === to ? `block ${from} of it is` : `blocks ${from}..${to} of it are`);

/** Frees [s, e) on a LUN; Left(requirement) when part of it is free already. */
const releaseIn = (state: LunState, s: number, e: number): E.Either<string, LunState> => {
  const chunks = state.chunks;
  const p = locate(chunks, s);
  if (p !== null && endAt(chunks, p) > s) return E.left(`must be wholly allocated to be released, but ${blocksOfIt(s, Math.min(endAt(chunks, p), e) - 1)} already free`);
  const n = after(chunks, p);
  if (n !== null && startAt(chunks, n) < e)
    return E.left(`must be wholly allocated to be released, but ${blocksOfIt(startAt(chunks, n), Math.min(endAt(chunks, n), e) - 1)} already free`);
  const mergeLeft = p !== null && endAt(chunks, p) === s;
  const mergeRight = n !== null && startAt(chunks, n) === e;
  let next: Chunk[];
  if (mergeLeft && mergeRight) {
    const left = startAt(chunks, p);
    const right = endAt(chunks, n);
    // Two steps, re-locating by start: the first splice may move chunk boundaries.
    const without = splice(chunks, n, 1, []);
    next = splice(without, locate(without, left)!, 1, [[left, right]]);
  } else if (mergeLeft) {
    next = splice(chunks, p, 1, [[startAt(chunks, p), e]]);
  } else if (mergeRight) {
    next = splice(chunks, n!, 1, [[s, endAt(chunks, n!)]]);
  } else {
    next = splice(chunks, p === null ? { c: 0, j: 0 } : { c: p.c, j: p.j + 1 }, 0, [[s, e]]);
  }
  return E.right({ size: state.size, free: state.free + (e - s), chunks: next });
};

/** Marks [s, e) used on a LUN; Left(requirement) when part of it is not free. */
const reserveIn = (state: LunState, s: number, e: number): E.Either<string, LunState> => {
  const chunks = state.chunks;
  const p = locate(chunks, s);
  if (p === null || endAt(chunks, p) < e) {
    const used = p === null || endAt(chunks, p) <= s ? s : endAt(chunks, p);
    return E.left(`must be wholly free to be reserved, but block ${used} of it is in use`);
  }
  const rs = startAt(chunks, p);
  const re = endAt(chunks, p);
  const pieces: [number, number][] = [];
  if (rs < s) pieces.push([rs, s]);
  if (e < re) pieces.push([e, re]);
  return E.right({ size: state.size, free: state.free - (e - s), chunks: splice(chunks, p, 1, pieces) });
};

// ---------------------------------------------------------------------------------------------
// The allocator value
// ---------------------------------------------------------------------------------------------

const describeExtent = (x: Extent): string => `LUN ${x.lun} blocks ${x.start}..${x.start + x.length - 1}`;

class RangeAllocator implements Allocator {
  constructor(
    /** LUN ids, ascending. */
    private readonly order: ReadonlyArray<number>,
    private readonly luns: ReadonlyMap<number, LunState>,
    private readonly total: number,
  ) {
    Object.freeze(this);
  }

  private with(lun: number, state: LunState, delta: number): RangeAllocator {
    const luns = new Map(this.luns);
    luns.set(lun, state);
    return new RangeAllocator(this.order, luns, this.total + delta);
  }

  allocate(length: number, preferLun?: number): E.Either<AllocationError, [Allocator, Extent]> {
    const validLength = isBlockNumber(length) && length > 0;
    if (!validLength || (preferLun !== undefined && !this.luns.has(preferLun))) {
      const errors: ValidationError[] = [];
      if (!validLength) errors.push(validationError('length', length, 'must be a positive safe integer'));
      if (preferLun !== undefined && !this.luns.has(preferLun))
        errors.push(validationError('preferLun', preferLun, `must be one of the declared LUNs (${this.order.join(', ')})`));
      return E.left({ type: 'invalid', errors, message: errors.map((x) => x.message).join('; ') });
    }
    if (preferLun !== undefined) {
      const got = this.allocateOn(preferLun, length);
      if (got !== null) return E.right(got);
    }
    for (const lun of this.order) {
      if (lun === preferLun) continue;
      const got = this.allocateOn(lun, length);
      if (got !== null) return E.right(got);
    }
    const largest = this.order.reduce((m, lun) => Math.max(m, largestRange(this.luns.get(lun)!)), 0);
    return E.left({
      type: 'no-space',
      length,
      message: `no LUN has ${length} contiguous free blocks (largest free range: ${largest} blocks; ${this.total} blocks free in total)`,
    });
  }

  /** First fit on `lun` (a declared LUN), or null. */
  private allocateOn(lun: number, length: number): [Allocator, Extent] | null {
    const state = this.luns.get(lun)!;
    if (state.free < length) return null; // a full LUN is passed over without looking at its ranges
    const got = allocateIn(state, length);
    return got === null ? null : [this.with(lun, got[0], -length), { lun, start: got[1], length }];
  }

  /** Validates an extent against the declared LUNs; returns its LUN state or pushes errors. */
  private check(extent: unknown, errors: ValidationError[]): LunState | undefined {
    if (typeof extent !== 'object' || extent === null) {
      errors.push(validationError('extent', extent, 'must be an object { lun, start, length }'));
      return undefined;
    }
    const { lun, start, length } = extent as Record<string, unknown>;
    const state = typeof lun === 'number' ? this.luns.get(lun) : undefined;
    if (state === undefined) errors.push(validationError('extent.lun', lun, `must be one of the declared LUNs (${this.order.join(', ')})`));
    if (!isBlockNumber(start)) errors.push(validationError('extent.start', start, 'must be a non-negative safe integer'));
    if (!(isBlockNumber(length) && length > 0)) errors.push(validationError('extent.length', length, 'must be a positive safe integer'));
    if (errors.length > 0 || state === undefined) return undefined;
    if ((start as number) + (length as number) > state.size) {
      errors.push(validationError('extent', extent, `must lie inside LUN ${lun as number} of ${state.size} blocks`));
      return undefined;
    }
    return state;
  }

  private change(extent: Extent, op: (s: LunState, start: number, end: number) => E.Either<string, LunState>, sign: 1 | -1): E.Either<ValidationError[], Allocator> {
    const errors: ValidationError[] = [];
    const state = this.check(extent, errors);
    if (state === undefined) return E.left(errors);
    const result = op(state, extent.start, extent.start + extent.length);
    if (E.isLeft(result)) return E.left([validationError('extent', extent, `(${describeExtent(extent)}) ${result.left}`)]);
    return E.right(this.with(extent.lun, result.right, sign * extent.length));
  }

  release(extent: Extent): E.Either<ValidationError[], Allocator> {
    return this.change(extent, releaseIn, 1);
  }

  reserve(extent: Extent): E.Either<ValidationError[], Allocator> {
    return this.change(extent, reserveIn, -1);
  }

  free(lun?: number): number {
    if (lun === undefined) return this.total;
    return this.luns.get(lun)?.free ?? 0;
  }

  lunSpace(): ReadonlyArray<{ readonly lun: number; readonly size: number; readonly free: number }> {
    return this.order.map((lun) => {
      const state = this.luns.get(lun)!;
      return { lun, size: state.size, free: state.free };
    });
  }

  freeExtents(): ReadonlyArray<Extent> {
    const out: Extent[] = [];
    for (const lun of this.order) {
      for (const chunk of this.luns.get(lun)!.chunks) {
        for (let j = 0; j < chunk.starts.length; j++) {
          const start = chunk.starts[j]!;
          out.push({ lun, start, length: chunk.ends[j]! - start });
        }
      }
    }
    return out;
  }
}

/**
 * An allocator with every block of every declared LUN free. `lunSizes` maps LUN id to size in
 * blocks (a size of 0 is allowed: the LUN never has space). Left when a LUN id or size is not a
 * non-negative safe integer (or a LUN id exceeds the 32-bit limit of tables).
 *
 * @example
 * createAllocator({ 1: 1000, 2: 500 })                 // Right(allocator with 1500 free blocks)
 * createAllocator(new Map([[1, -5]]))                  // Left([{ field: 'lunSizes[1]', ... }])
 */
export const createAllocator = (lunSizes: LunSizes): E.Either<ValidationError[], Allocator> => {
  const errors: ValidationError[] = [];
  const pairs: [unknown, unknown][] =
    lunSizes instanceof Map
      ? [...lunSizes.entries()]
      : typeof lunSizes === 'object' && lunSizes !== null
        ? Object.entries(lunSizes).map(([k, v]) => [/^(0|[1-9][0-9]*)$/.test(k) ? Number(k) : k, v])
        : [];
  if (!(lunSizes instanceof Map) && (typeof lunSizes !== 'object' || lunSizes === null))
    errors.push(validationError('lunSizes', lunSizes, 'must be a Map or a record from LUN id to size in blocks'));
  const luns = new Map<number, LunState>();
  let total = 0;
  for (const [lun, size] of pairs) {
    const okLun = isBlockNumber(lun) && lun <= MAX_LUN;
    if (!okLun) errors.push(validationError('lunSizes', lun, `must have LUN ids that are integers from 0 to ${MAX_LUN}`));
    if (!isBlockNumber(size)) errors.push(validationError(`lunSizes[${show(lun)}]`, size, 'must be a non-negative safe integer (blocks)'));
    if (!okLun || !isBlockNumber(size)) continue;
    const chunks = size > 0 ? [makeChunk([0], [size])] : [];
    luns.set(lun as number, { size, free: size, chunks });
    total += size;
  }
  if (errors.length > 0) return E.left(errors);
  const order = [...luns.keys()].sort((a, b) => a - b);
  return E.right(new RangeAllocator(order, luns, total));
};
