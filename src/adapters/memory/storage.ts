/**
 * Block storage in memory, for tests and simulation: deterministic (random failures come from a
 * seeded PRNG), with failure injection and observation hooks.
 *
 * Each call takes effect atomically at the moment it is made (a hung one: when it ends) and its
 * promise settles on a later microtask; rejections are `Error`s with messages that name the operation and the address.
 * Writes go through a volatile write cache per LUN: visible at once, durable once the LUN is
 * flushed; {@link MemoryStorage.powerLoss} drops or tears what was not (docs/design.md#ordering-rules).
 * Injected failures are {@link InjectedFault}s.
 */
import * as E from 'fp-ts/lib/Either.js';
import { guarded, isBlockNumber, show, validationError, type ValidationError } from '../../errors.js';
import { MAX_LUN, type LunSizes } from '../../table/entry.js';
import { createPrng, type Prng } from '../prng.js';
import type { BlockStorage, Clock } from '../types.js';
import { InjectedFault, isRate } from './injection.js';

const sortedIds = (m: ReadonlyMap<number, unknown>): string => [...m.keys()].sort((a, b) => a - b).join(', ');

/** LUN sizes as a Map, validated. */
const readLunSizes = (errors: ValidationError[], field: string, sizes: unknown): Map<number, number> => {
  const out = new Map<number, number>();
  let pairs: [unknown, unknown][];
  if (sizes instanceof Map) pairs = [...sizes.entries()];
  else if (typeof sizes === 'object' && sizes !== null)
    pairs = Object.entries(sizes).map(([k, v]) => [/^(0|[1-9][0-9]*)$/.test(k) ? Number(k) : k, v]);
  else {
    errors.push(validationError(field, sizes, 'must be a Map or a record from LUN id to size in blocks'));
    return out;
  }
  for (const [lun, size] of pairs) {
    if (!(isBlockNumber(lun) && lun <= MAX_LUN)) errors.push(validationError(field, lun, `must have LUN ids that are integers from 0 to ${MAX_LUN}`));
    else if (!isBlockNumber(size)) errors.push(validationError(`${field}[${lun}]`, size, 'must be a non-negative safe integer (blocks)'));
    else out.set(lun, size);
  }
  return out;
};



/**
 * The storage operations, for failure injection and listeners.
 *
 * @example
 * const op: StorageOp = 'copy';
 * storage.failNext({ op, count: 1 }); // the next background copy fails
 */
export type StorageOp = 'read' | 'write' | 'copy' | 'writeZeros' | 'flush';

/**
 * One operation that reached a LUN, reported to listeners when it is applied. For `copy`, `lun`
 * and `start` are the destination and `from` the source.
 *
 * @example
 * const e: StorageEvent = { op: 'copy', lun: 2, start: 100, length: 10, from: { lun: 1, start: 20 } };
 */
export interface StorageEvent {
  readonly op: StorageOp;
  readonly lun: number;
  readonly start: number;
  readonly length: number;
  readonly from?: { readonly lun: number; readonly start: number };
}

/**
 * How an injected failure takes effect: `'fail'` applies nothing; `'lostAck'` applies the whole
 * operation and then rejects; `'partial'` applies the first blocks of a multi-block write, copy
 * or writeZeros (a single block, or a read or flush, fails as `'fail'`).
 *
 * @example
 * storage.failNext({ op: 'write', count: 1, mode: 'lostAck' }); // the write lands, the caller sees an error
 */
export type FailMode = 'fail' | 'lostAck' | 'partial';

/**
 * Fail the next `count` operations that match (`lun`: the LUN, or either LUN of a copy; `op`:
 * the operation) as `mode` says (default `'fail'`: nothing of a failed operation is applied).
 *
 * @example
 * storage.failNext({ lun: 1, op: 'write', count: 2 });
 * storage.failNext({ op: 'copy', count: 1, mode: 'partial' });
 */
export interface FailSpec {
  readonly count: number;
  readonly lun?: number;
  readonly op?: StorageOp;
  readonly mode?: FailMode;
}

/**
 * Options of {@link createMemoryStorage}. Every rate is a probability per operation, drawn from
 * the PRNG seeded with `seed` (default 0), so a run is reproducible:
 * - `failureRate`: the operation fails and nothing of it is applied.
 * - `lostAckRate`: a write, copy or writeZeros is applied in full, then its promise rejects (the
 *   reply was lost).
 * - `partialWriteRate`: a multi-block write, copy or writeZeros applies only its first blocks
 *   (at least one, not all), then rejects.
 * - `hangRate`: the operation hangs on `clock`: it is performed late, after 1 to `maxHang` ms
 *   (default 100), or, half of the time, aborted: it rejects after `maxHang` ms, nothing applied.
 *   `clock` is required when `hangRate` is above 0.
 *
 * Docs/design.md#liveness lists which fault kinds these exercise on the runtimes.
 *
 * @example
 * const options: MemoryStorageOptions = { blockSize: 512, luns: { 1: 1000, 2: 1000 }, failureRate: 0.01, seed: 7 };
 * const hostile: MemoryStorageOptions = { blockSize: 512, luns: { 1: 1000 }, lostAckRate: 0.02, partialWriteRate: 0.02, hangRate: 0.02, maxHang: 40, clock };
 */
export interface MemoryStorageOptions {
  readonly blockSize: number;
  readonly luns: LunSizes;
  readonly failureRate?: number;
  readonly lostAckRate?: number;
  readonly partialWriteRate?: number;
  readonly hangRate?: number;
  readonly maxHang?: number;
  readonly clock?: Clock;
  readonly seed?: number;
}

/**
 * {@link BlockStorage} in memory, with failure injection and observation hooks.
 *
 * @example
 * storage.onWrite((e) => { if (isFrozen(e.lun, e.start, e.length)) violations.push(e); });
 */
export interface MemoryStorage extends BlockStorage {
  /** Declared LUN sizes in blocks. */
  readonly luns: ReadonlyMap<number, number>;
  /** Queues a failure rule; rules are consumed in the order they were added. */
  failNext(spec: FailSpec): E.Either<ValidationError[], void>;
  /** Every later operation touching these blocks fails, until {@link MemoryStorage.clearBad}. */
  markBad(extent: { readonly lun: number; readonly start: number; readonly length: number }): E.Either<ValidationError[], void>;
  /** Forgets every bad block and pending failure rule (the failure rate stays). */
  clearBad(): void;
  /**
   * How many operations have rejected with an {@link InjectedFault} so far, and how many hung
   * (late or aborted): lets a test allow a caller's failure only when storage caused it.
   *
   * @example
   * const before = storage.injected().rejected;
   * await agent.write('vol', 0, block).catch(() => expect(storage.injected().rejected).toBeGreaterThan(before));
   */
  injected(): { readonly rejected: number; readonly hung: number };
  /** Called synchronously for every write, copy and writeZeros as it is applied. Returns an unsubscribe function. */
  onWrite(listener: (event: StorageEvent) => void): () => void;
  /** Called synchronously for every read as it is served. Returns an unsubscribe function. */
  onRead(listener: (event: StorageEvent) => void): () => void;
  /** The current content, synchronously, with no failure injection and no listeners. */
  peek(lun: number, start: number, length: number): E.Either<ValidationError[], Uint8Array>;
  // --- durability (docs/design.md#ordering-rules) ---------------------------------------------
  /** Flushes the LUN's whole cache; rejects once per connection after a power loss took its unflushed writes. */
  flush(lun: number): Promise<void>;
  /**
   * Another connection to the same LUNs (for another runtime: a controller, an agent): same
   * content and cache, but its own record of what it wrote, so that a power loss fails the next
   * flush of each connection that had unflushed writes, not just of the first one to flush.
   *
   * @example
   * const agentStorage = storage.connect();
   * await agentStorage.write(1, 0, block); storage.powerLoss();
   * await agentStorage.flush(1); // rejects: the write may be lost
   */
  connect(): BlockStorage & { flush(lun: number): Promise<void> };
  /**
   * Power loss: every block written since its LUN was last flushed keeps its durable content or
   * any content written since, at random (a multi-block write may land in part); each connection
   * that had unflushed writes on a LUN gets its next flush of that LUN rejected. Returns how many
   * blocks changed.
   *
   * @example
   * await storage.write(1, 0, block);
   * storage.powerLoss(); // block 0 of LUN 1 is either zeros or `block`
   */
  powerLoss(): number;
}

type Listener = (event: StorageEvent) => void;

/** Everything behind one in-memory storage. */
interface StorageState {
  readonly blockSize: number;
  readonly sizes: ReadonlyMap<number, number>;
  readonly failureRate: number;
  readonly lostAckRate: number;
  readonly partialWriteRate: number;
  readonly hangRate: number;
  readonly maxHang: number;
  readonly clock: Clock | undefined;
  readonly counts: { rejected: number; hung: number };
  readonly prng: Prng;
  /** Written blocks by LUN and block number. Blocks are never mutated once stored, so copies can share them. */
  readonly data: Map<number, Map<number, Uint8Array>>;
  readonly bad: Map<number, Set<number>>;
  /** Pending failNext rules, oldest first. */
  readonly rules: { count: number; lun?: number; op?: StorageOp; mode: FailMode }[];
  readonly writeListeners: Set<Listener>;
  readonly readListeners: Set<Listener>;
  // Durability: a volatile write cache per LUN.
  /** Durable blocks by LUN (absent: zeros). */
  readonly durable: Map<number, Map<number, Uint8Array>>;
  /** Per LUN: block -> contents written since the LUN was last flushed (undefined: zeros), oldest first. */
  readonly cached: Map<number, Map<number, (Uint8Array | undefined)[]>>;
  /** Per connection: LUNs it wrote since it last flushed them, and LUNs whose next flush must fail. */
  readonly dirty: Map<number, Set<number>>;
  readonly lost: Map<number, Set<number>>;
}

const where = (lun: number, start: number, length: number): string =>
  length === 1 ? `LUN ${lun} block ${start}` : `LUN ${lun} blocks ${start}..${start + length - 1}`;

/** The reason an address is unusable, or undefined. */
const addressProblem = (sizes: ReadonlyMap<number, number>, lun: unknown, start: unknown, length: unknown): string | undefined => {
  if (typeof lun !== 'number' || !sizes.has(lun)) return `LUN ${show(lun)} does not exist (LUNs: ${sortedIds(sizes)})`;
  if (!isBlockNumber(start)) return `start must be a non-negative safe integer, got ${show(start)}`;
  if (!(isBlockNumber(length) && length > 0)) return `length must be a positive safe integer, got ${show(length)}`;
  const size = sizes.get(lun)!;
  if (start + length > size) return `${where(lun, start, length)} ends past the end of LUN ${lun} (${size} blocks)`;
  return undefined;
};

/** Throws a RangeError saying what is wrong with an address, if anything is. */
const checkAddress = (s: StorageState, what: string, lun: number, start: number, length: number): void => {
  const problem = addressProblem(s.sizes, lun, start, length);
  if (problem !== undefined) throw new RangeError(`${what}: ${problem}`);
};

/** The first bad block of an extent, if any. */
const firstBadBlock = (s: StorageState, lun: number, start: number, length: number): number | undefined => {
  const set = s.bad.get(lun);
  if (set === undefined) return undefined;
  if (length <= set.size) {
    for (let k = start; k < start + length; k++) if (set.has(k)) return k;
    return undefined;
  }
  let first: number | undefined;
  for (const k of set) if (k >= start && k < start + length && (first === undefined || k < first)) first = k;
  return first;
};

/** Throws an {@link InjectedFault}, counted. */
const reject = (s: StorageState, message: string): never => {
  s.counts.rejected++;
  throw new InjectedFault(message);
};

/**
 * The injected fault that applies to this operation, if any: a bad block, a failNext rule, one of
 * the rates. A `'fail'` is thrown here; `'lostAck'` and `'partial'` are returned for the caller to
 * apply (all of the operation, or its first blocks) before it calls {@link reject}. `length` is the
 * number of blocks the operation writes (0: it writes nothing, so every fault is a `'fail'`).
 */
const injectFault = (s: StorageState, op: StorageOp, what: string, ranges: ReadonlyArray<readonly [number, number, number]>, length = 0): 'lostAck' | 'partial' | undefined => {
  for (const [lun, start, len] of ranges) {
    const k = firstBadBlock(s, lun, start, len);
    if (k !== undefined) reject(s, `${what} failed: LUN ${lun} block ${k} is marked bad`);
  }
  const landed = (mode: FailMode, cause: string): 'lostAck' | 'partial' | undefined =>
    mode === 'lostAck' && length > 0 ? 'lostAck' : mode === 'partial' && length > 1 ? 'partial' : reject(s, `${what} failed: injected fault (${cause})`);
  const i = s.rules.findIndex((r) => (r.op === undefined || r.op === op) && (r.lun === undefined || ranges.some(([lun]) => lun === r.lun)));
  if (i >= 0) {
    const rule = s.rules[i]!;
    rule.count--;
    if (rule.count <= 0) s.rules.splice(i, 1);
    return landed(rule.mode, 'failNext');
  }
  if (s.prng.chance(s.failureRate)) reject(s, `${what} failed: injected fault (failureRate ${s.failureRate})`);
  if (length > 0 && s.prng.chance(s.lostAckRate)) return 'lostAck';
  if (length > 1 && s.prng.chance(s.partialWriteRate)) return 'partial';
  return undefined;
};

/** How many blocks of a `length`-block write land under `fault`. */
const landing = (s: StorageState, fault: 'lostAck' | 'partial' | undefined, length: number): number => (fault === 'partial' ? 1 + s.prng.int(length - 1) : length);

/** Rejects after an operation that landed (all or in part) but must report failure. */
const afterLanding = (s: StorageState, fault: 'lostAck' | 'partial' | undefined, what: string, landed: number): void => {
  if (fault === 'lostAck') reject(s, `${what} failed: injected fault (the operation was applied, its acknowledgement lost)`);
  if (fault === 'partial') reject(s, `${what} failed: injected fault (only its first ${landed} blocks were applied)`);
};

/** Sleeps `ms` on the storage's clock. */
const sleep = (clock: Clock, ms: number): Promise<void> => new Promise((resolve) => void clock.setTimer(ms, resolve));

/**
 * Runs `op` at once, or, at the hang rate, hung: performed after 1 to maxHang ms, or aborted
 * (rejected after maxHang ms, nothing applied).
 */
const maybeHung = async <T>(s: StorageState, what: string, op: () => Promise<T>): Promise<T> => {
  if (s.clock === undefined || !s.prng.chance(s.hangRate)) return op();
  s.counts.hung++;
  const late = s.prng.chance(0.5);
  const delay = late ? 1 + s.prng.int(s.maxHang) : s.maxHang;
  await sleep(s.clock, delay);
  return late ? op() : reject(s, `${what} failed: injected fault (hung for ${delay} ms, then aborted)`);
};

const readBlocks = (s: StorageState, lun: number, start: number, length: number): Uint8Array => {
  const out = new Uint8Array(length * s.blockSize);
  const blocks = s.data.get(lun)!;
  for (let k = 0; k < length; k++) {
    const b = blocks.get(start + k);
    if (b !== undefined) out.set(b, k * s.blockSize);
  }
  return out;
};

/** Notes blocks just written by connection `conn` in the LUN's volatile cache. */
const cacheWrite = (s: StorageState, conn: number, lun: number, start: number, length: number): void => {
  const blocks = s.data.get(lun)!;
  const cache = s.cached.get(lun)!;
  for (let k = start; k < start + length; k++) {
    const list = cache.get(k);
    if (list === undefined) cache.set(k, [blocks.get(k)]);
    else {
      // Bounded: a block rewritten many times between flushes keeps its last few contents as candidates.
      if (list.length >= 8) list.shift();
      list.push(blocks.get(k));
    }
  }
  let set = s.dirty.get(conn);
  if (set === undefined) s.dirty.set(conn, (set = new Set()));
  set.add(lun);
};

const emit = (listeners: Set<Listener>, event: StorageEvent): void => {
  for (const l of [...listeners]) l(event);
};

/** The {@link BlockStorage} operations, for connection `conn`. */
const blockOperations = (s: StorageState, conn = 0): BlockStorage & { flush(lun: number): Promise<void> } => ({
  blockSize: s.blockSize,

  read: (lun, start, length) => maybeHung(s, `read of ${show(length)} blocks from LUN ${show(lun)} at ${show(start)}`, async () => {
    const what = `read of ${show(length)} blocks from LUN ${show(lun)} at ${show(start)}`;
    checkAddress(s, what, lun, start, length);
    injectFault(s, 'read', what, [[lun, start, length]]);
    const out = readBlocks(s, lun, start, length);
    emit(s.readListeners, { op: 'read', lun, start, length });
    return out;
  }),

  write: (lun, start, bytes) => maybeHung(s, `write to LUN ${show(lun)} at ${show(start)}`, async () => {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`write to LUN ${show(lun)} at ${show(start)}: data must be a Uint8Array, got ${show(bytes)}`);
    const length = bytes.length / s.blockSize;
    const what = `write of ${bytes.length} bytes to LUN ${show(lun)} at ${show(start)}`;
    if (!Number.isInteger(length) || length === 0) throw new RangeError(`${what}: data must be a positive whole number of ${s.blockSize}-byte blocks`);
    checkAddress(s, what, lun, start, length);
    const fault = injectFault(s, 'write', what, [[lun, start, length]], length);
    const landed = landing(s, fault, length);
    const blocks = s.data.get(lun)!;
    for (let k = 0; k < landed; k++) blocks.set(start + k, bytes.slice(k * s.blockSize, (k + 1) * s.blockSize));
    cacheWrite(s, conn, lun, start, landed);
    emit(s.writeListeners, { op: 'write', lun, start, length: landed });
    afterLanding(s, fault, what, landed);
  }),

  copy: (from, to, length) => maybeHung(s, `copy of ${show(length)} blocks from ${show(from)} to ${show(to)}`, async () => {
    const what = `copy of ${show(length)} blocks from ${show(from)} to ${show(to)}`;
    const bad1 = typeof from === 'object' && from !== null ? addressProblem(s.sizes, from.lun, from.start, length) : 'source must be { lun, start }';
    if (bad1 !== undefined) throw new RangeError(`${what}: source: ${bad1}`);
    const bad2 = typeof to === 'object' && to !== null ? addressProblem(s.sizes, to.lun, to.start, length) : 'destination must be { lun, start }';
    if (bad2 !== undefined) throw new RangeError(`${what}: destination: ${bad2}`);
    const fault = injectFault(
      s,
      'copy',
      what,
      [
        [from.lun, from.start, length],
        [to.lun, to.start, length],
      ],
      length,
    );
    const landed = landing(s, fault, length);
    // Read the whole source first, so overlapping ranges copy as if through a buffer.
    const src = s.data.get(from.lun)!;
    const blocks = Array.from({ length: landed }, (_, k) => src.get(from.start + k));
    const dst = s.data.get(to.lun)!;
    blocks.forEach((b, k) => (b === undefined ? dst.delete(to.start + k) : dst.set(to.start + k, b)));
    cacheWrite(s, conn, to.lun, to.start, landed);
    emit(s.writeListeners, { op: 'copy', lun: to.lun, start: to.start, length: landed, from: { lun: from.lun, start: from.start } });
    afterLanding(s, fault, what, landed);
  }),

  writeZeros: (lun, start, length) => maybeHung(s, `writeZeros of ${show(length)} blocks to LUN ${show(lun)} at ${show(start)}`, async () => {
    const what = `writeZeros of ${show(length)} blocks to LUN ${show(lun)} at ${show(start)}`;
    checkAddress(s, what, lun, start, length);
    const fault = injectFault(s, 'writeZeros', what, [[lun, start, length]], length);
    const landed = landing(s, fault, length);
    const blocks = s.data.get(lun)!;
    if (landed <= blocks.size) for (let k = start; k < start + landed; k++) blocks.delete(k);
    else for (const k of [...blocks.keys()]) if (k >= start && k < start + landed) blocks.delete(k);
    cacheWrite(s, conn, lun, start, landed);
    emit(s.writeListeners, { op: 'writeZeros', lun, start, length: landed });
    afterLanding(s, fault, what, landed);
  }),

  // The whole LUN's cache is flushed (as SYNCHRONIZE CACHE does); the failure after a power loss is per connection.
  flush: (lun) => maybeHung(s, `flush of LUN ${show(lun)}`, async () => {
    const what = `flush of LUN ${show(lun)}`;
    if (typeof lun !== 'number' || !s.sizes.has(lun)) throw new RangeError(`${what}: LUN ${show(lun)} does not exist (LUNs: ${sortedIds(s.sizes)})`);
    injectFault(s, 'flush', what, [[lun, 0, 0]]); // bad blocks do not fail a flush; failNext and the failure rate do
    const lost = s.lost.get(conn);
    if (lost?.delete(lun) === true) throw new Error(`${what} failed: the write cache was lost (power loss) after writes of this connection completed; they may be gone`);
    const durable = s.durable.get(lun)!;
    const blocks = s.data.get(lun)!;
    const cache = s.cached.get(lun)!;
    for (const k of cache.keys()) {
      const b = blocks.get(k);
      if (b === undefined) durable.delete(k);
      else durable.set(k, b);
    }
    cache.clear();
    s.dirty.get(conn)?.delete(lun);
  }),
});

/** Power loss and connections. */
const durabilityControls = (s: StorageState, nextConn: { value: number }): Pick<MemoryStorage, 'connect' | 'powerLoss'> => ({
  connect: () => blockOperations(s, nextConn.value++),
  powerLoss() {
    let changed = 0;
    for (const [lun, cache] of s.cached) {
      const blocks = s.data.get(lun)!;
      const durable = s.durable.get(lun)!;
      for (const [k, contents] of cache) {
        const pick = s.prng.int(contents.length + 1);
        const b = pick === contents.length ? durable.get(k) : contents[pick];
        if (b !== blocks.get(k)) changed++;
        if (b === undefined) {
          blocks.delete(k);
          durable.delete(k);
        } else {
          blocks.set(k, b);
          durable.set(k, b);
        }
      }
      cache.clear();
    }
    for (const [conn, luns] of s.dirty) {
      let lost = s.lost.get(conn);
      if (lost === undefined) s.lost.set(conn, (lost = new Set()));
      for (const l of luns) lost.add(l);
    }
    s.dirty.clear();
    return changed;
  },
});

/** Failure injection: rules, bad blocks. */
const faultControls = (s: StorageState): Pick<MemoryStorage, 'failNext' | 'markBad' | 'clearBad' | 'injected'> => ({
  injected: () => ({ ...s.counts }),

  failNext(spec) {
    const errs: ValidationError[] = [];
    if (typeof spec !== 'object' || spec === null) return E.left([validationError('spec', spec, 'must be an object { count, lun?, op? }')]);
    if (!(isBlockNumber(spec.count) && spec.count > 0)) errs.push(validationError('count', spec.count, 'must be a positive safe integer'));
    if (spec.lun !== undefined && !s.sizes.has(spec.lun)) errs.push(validationError('lun', spec.lun, `must be one of the declared LUNs (${sortedIds(s.sizes)})`));
    if (spec.op !== undefined && !['read', 'write', 'copy', 'writeZeros', 'flush'].includes(spec.op))
      errs.push(validationError('op', spec.op, "must be 'read', 'write', 'copy', 'writeZeros' or 'flush'"));
    if (spec.mode !== undefined && !['fail', 'lostAck', 'partial'].includes(spec.mode)) errs.push(validationError('mode', spec.mode, "must be 'fail', 'lostAck' or 'partial'"));
    if (errs.length > 0) return E.left(errs);
    s.rules.push({ count: spec.count, mode: spec.mode ?? 'fail', ...(spec.lun === undefined ? {} : { lun: spec.lun }), ...(spec.op === undefined ? {} : { op: spec.op }) });
    return E.right(undefined);
  },

  markBad(extent) {
    const problem =
      typeof extent === 'object' && extent !== null ? addressProblem(s.sizes, extent.lun, extent.start, extent.length) : 'it must be { lun, start, length }';
    if (problem !== undefined) return E.left([validationError('extent', extent, `must be a valid extent (${problem})`)]);
    let set = s.bad.get(extent.lun);
    if (set === undefined) s.bad.set(extent.lun, (set = new Set()));
    for (let k = extent.start; k < extent.start + extent.length; k++) set.add(k);
    return E.right(undefined);
  },

  clearBad() {
    s.bad.clear();
    s.rules.length = 0;
  },
});

/** Listeners, and a look at the content that bypasses them. */
const observers = (s: StorageState): Pick<MemoryStorage, 'onWrite' | 'onRead' | 'peek'> => ({
  onWrite(listener) {
    s.writeListeners.add(listener);
    return () => void s.writeListeners.delete(listener);
  },

  onRead(listener) {
    s.readListeners.add(listener);
    return () => void s.readListeners.delete(listener);
  },

  peek(lun, start, length) {
    const problem = addressProblem(s.sizes, lun, start, length);
    if (problem !== undefined) return E.left([validationError('address', { lun, start, length }, `must be readable (${problem})`)]);
    return E.right(readBlocks(s, lun, start, length));
  },
});

/**
 * Block storage in memory: every declared LUN starts as zeros; only written blocks take memory.
 * Left when the options are malformed.
 *
 * @example
 * const storage = createMemoryStorage({ blockSize: 4, luns: { 1: 100 } }); // Right(storage)
 * // await storage.write(1, 0, new Uint8Array([1, 2, 3, 4])); await storage.read(1, 0, 2) -> 1,2,3,4,0,0,0,0
 */
export const createMemoryStorage = (options: MemoryStorageOptions): E.Either<ValidationError[], MemoryStorage> => guarded('options', () => buildStorage(options));

const buildStorage = (options: MemoryStorageOptions): E.Either<ValidationError[], MemoryStorage> => {
  const errors: ValidationError[] = [];
  if (typeof options !== 'object' || options === null) return E.left([validationError('options', options, 'must be an object { blockSize, luns }')]);
  const { blockSize, failureRate = 0, lostAckRate = 0, partialWriteRate = 0, hangRate = 0, maxHang = 100, clock, seed = 0 } = options;
  if (!(isBlockNumber(blockSize) && blockSize > 0)) errors.push(validationError('blockSize', blockSize, 'must be a positive safe integer'));
  const sizes = readLunSizes(errors, 'luns', options.luns);
  for (const [field, rate] of Object.entries({ failureRate, lostAckRate, partialWriteRate, hangRate }))
    if (!isRate(rate)) errors.push(validationError(field, rate, 'must be a number from 0 to 1'));
  if (!(isBlockNumber(maxHang) && maxHang > 0)) errors.push(validationError('maxHang', maxHang, 'must be a positive safe integer (ms)'));
  if (clock !== undefined && (typeof clock !== 'object' || clock === null || typeof clock.setTimer !== 'function'))
    errors.push(validationError('clock', clock, 'must be a Clock (with setTimer)'));
  else if (clock === undefined && isRate(hangRate) && hangRate > 0) errors.push(validationError('clock', clock, `must be given when hangRate is above 0 (got hangRate ${hangRate})`));
  if (typeof seed !== 'number' || !Number.isFinite(seed)) errors.push(validationError('seed', seed, 'must be a finite number'));
  if (errors.length > 0) return E.left(errors);
  const s: StorageState = {
    blockSize,
    sizes,
    failureRate,
    lostAckRate,
    partialWriteRate,
    hangRate,
    maxHang,
    clock,
    counts: { rejected: 0, hung: 0 },
    prng: createPrng(seed),
    data: new Map([...sizes.keys()].map((lun) => [lun, new Map()])),
    bad: new Map(),
    rules: [],
    writeListeners: new Set(),
    readListeners: new Set(),
    durable: new Map([...sizes.keys()].map((lun) => [lun, new Map()])),
    cached: new Map([...sizes.keys()].map((lun) => [lun, new Map()])),
    dirty: new Map(),
    lost: new Map(),
  };
  return E.right({ ...blockOperations(s), luns: sizes, ...faultControls(s), ...observers(s), ...durabilityControls(s, { value: 1 }) });
};
