/**
 * In-memory adapters for tests and simulation: block storage, table persistence, a message
 * network and a clock, all deterministic (every random choice comes from a seeded PRNG) and all
 * with the failure injection a simulator needs.
 *
 * Each storage and persistence call takes effect atomically at the moment it is made and its
 * promise settles on a later microtask; rejections are `Error`s with messages that name the
 * operation and the address. Injected failures are {@link InjectedFault}s, so a simulator can
 * tell them from bugs.
 */
import * as E from 'fp-ts/lib/Either.js';
import { isBlockNumber, show, validationError, type ValidationError } from '../errors.js';
import type { AgentId, DiskId, EntryChange } from '../protocol/messages.js';
import { decodeTable, encodeTable, TABLE_FORMAT, TABLE_VERSION } from '../table/codec.js';
import { MAX_LUN, type LunSizes } from '../table/entry.js';
import { entryAt, resizeTable, setEntries, type MappingTable } from '../table/table.js';
import { createPrng, type Prng } from './prng.js';
import type { BlockStorage, Clock, PersistedState, PersistRecord, TablePersistence, TimerHandle, Transport } from './types.js';

/**
 * The error of a failure that was injected on purpose (failNext, a failure rate, a bad block).
 *
 * @example
 * storage.read(1, 0, 1).catch((e) => e instanceof InjectedFault); // true after failNext
 */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

const isRate = (x: unknown): x is number => typeof x === 'number' && x >= 0 && x <= 1;

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

// =============================================================================================
// Block storage
// =============================================================================================

/**
 * The storage operations, for failure injection and listeners.
 *
 * @example
 * const op: StorageOp = 'copy';
 * storage.failNext({ op, count: 1 }); // the next background copy fails
 */
export type StorageOp = 'read' | 'write' | 'copy' | 'writeZeros';

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
 * Fail the next `count` operations that match (`lun`: the LUN, or either LUN of a copy; `op`:
 * the operation). Nothing of a failed operation is applied.
 *
 * @example
 * storage.failNext({ lun: 1, op: 'write', count: 2 });
 */
export interface FailSpec {
  readonly count: number;
  readonly lun?: number;
  readonly op?: StorageOp;
}

/**
 * Options of {@link createMemoryStorage}. `failureRate` fails that fraction of all operations at
 * random, from the PRNG seeded with `seed` (default 0).
 *
 * @example
 * const options: MemoryStorageOptions = { blockSize: 512, luns: { 1: 1000, 2: 1000 }, failureRate: 0.01, seed: 7 };
 */
export interface MemoryStorageOptions {
  readonly blockSize: number;
  readonly luns: LunSizes;
  readonly failureRate?: number;
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
  /** Called synchronously for every write, copy and writeZeros as it is applied. Returns an unsubscribe function. */
  onWrite(listener: (event: StorageEvent) => void): () => void;
  /** Called synchronously for every read as it is served. Returns an unsubscribe function. */
  onRead(listener: (event: StorageEvent) => void): () => void;
  /** The current content, synchronously, with no failure injection and no listeners. */
  peek(lun: number, start: number, length: number): E.Either<ValidationError[], Uint8Array>;
}

/**
 * Block storage in memory: every declared LUN starts as zeros; only written blocks take memory.
 * Left when the options are malformed.
 *
 * @example
 * const storage = createMemoryStorage({ blockSize: 4, luns: { 1: 100 } }); // Right(storage)
 * // await storage.write(1, 0, new Uint8Array([1, 2, 3, 4])); await storage.read(1, 0, 2) -> 1,2,3,4,0,0,0,0
 */
export const createMemoryStorage = (options: MemoryStorageOptions): E.Either<ValidationError[], MemoryStorage> => {
  const errors: ValidationError[] = [];
  if (typeof options !== 'object' || options === null) return E.left([validationError('options', options, 'must be an object { blockSize, luns }')]);
  const { blockSize, failureRate = 0, seed = 0 } = options;
  if (!(isBlockNumber(blockSize) && blockSize > 0)) errors.push(validationError('blockSize', blockSize, 'must be a positive safe integer'));
  const sizes = readLunSizes(errors, 'luns', options.luns);
  if (!isRate(failureRate)) errors.push(validationError('failureRate', failureRate, 'must be a number from 0 to 1'));
  if (typeof seed !== 'number' || !Number.isFinite(seed)) errors.push(validationError('seed', seed, 'must be a finite number'));
  if (errors.length > 0) return E.left(errors);

  // Blocks are never mutated once stored, so copies can share them.
  const data = new Map<number, Map<number, Uint8Array>>([...sizes.keys()].map((lun) => [lun, new Map()]));
  const bad = new Map<number, Set<number>>();
  const rules: { count: number; lun?: number; op?: StorageOp }[] = [];
  const writeListeners = new Set<(e: StorageEvent) => void>();
  const readListeners = new Set<(e: StorageEvent) => void>();
  const prng = createPrng(seed);

  const where = (lun: number, start: number, length: number): string =>
    length === 1 ? `LUN ${lun} block ${start}` : `LUN ${lun} blocks ${start}..${start + length - 1}`;

  /** The reason an address is unusable, or undefined. */
  const addressProblem = (lun: unknown, start: unknown, length: unknown): string | undefined => {
    if (typeof lun !== 'number' || !sizes.has(lun)) return `LUN ${show(lun)} does not exist (LUNs: ${sortedIds(sizes)})`;
    if (!isBlockNumber(start)) return `start must be a non-negative safe integer, got ${show(start)}`;
    if (!(isBlockNumber(length) && length > 0)) return `length must be a positive safe integer, got ${show(length)}`;
    const size = sizes.get(lun)!;
    if (start + length > size) return `${where(lun, start, length)} ends past the end of LUN ${lun} (${size} blocks)`;
    return undefined;
  };

  const badBlock = (lun: number, start: number, length: number): number | undefined => {
    const set = bad.get(lun);
    if (set === undefined) return undefined;
    if (length <= set.size) {
      for (let k = start; k < start + length; k++) if (set.has(k)) return k;
      return undefined;
    }
    let first: number | undefined;
    for (const k of set) if (k >= start && k < start + length && (first === undefined || k < first)) first = k;
    return first;
  };

  /** Throws the injected fault that applies to this operation, if any. */
  const inject = (op: StorageOp, what: string, ranges: ReadonlyArray<readonly [number, number, number]>): void => {
    for (const [lun, start, length] of ranges) {
      const k = badBlock(lun, start, length);
      if (k !== undefined) throw new InjectedFault(`${what} failed: LUN ${lun} block ${k} is marked bad`);
    }
    const i = rules.findIndex((r) => (r.op === undefined || r.op === op) && (r.lun === undefined || ranges.some(([lun]) => lun === r.lun)));
    if (i >= 0) {
      const rule = rules[i]!;
      rule.count--;
      if (rule.count <= 0) rules.splice(i, 1);
      throw new InjectedFault(`${what} failed: injected fault (failNext)`);
    }
    if (prng.chance(failureRate)) throw new InjectedFault(`${what} failed: injected fault (failureRate ${failureRate})`);
  };

  const readBlocks = (lun: number, start: number, length: number): Uint8Array => {
    const out = new Uint8Array(length * blockSize);
    const blocks = data.get(lun)!;
    for (let k = 0; k < length; k++) {
      const b = blocks.get(start + k);
      if (b !== undefined) out.set(b, k * blockSize);
    }
    return out;
  };

  const emit = (listeners: Set<(e: StorageEvent) => void>, event: StorageEvent): void => {
    for (const l of [...listeners]) l(event);
  };

  const storage: MemoryStorage = {
    blockSize,
    luns: sizes,

    async read(lun, start, length) {
      const what = `read of ${show(length)} blocks from LUN ${show(lun)} at ${show(start)}`;
      const problem = addressProblem(lun, start, length);
      if (problem !== undefined) throw new RangeError(`${what}: ${problem}`);
      inject('read', what, [[lun, start, length]]);
      const out = readBlocks(lun, start, length);
      emit(readListeners, { op: 'read', lun, start, length });
      return out;
    },

    async write(lun, start, bytes) {
      if (!(bytes instanceof Uint8Array)) throw new TypeError(`write to LUN ${show(lun)} at ${show(start)}: data must be a Uint8Array, got ${show(bytes)}`);
      const length = bytes.length / blockSize;
      const what = `write of ${bytes.length} bytes to LUN ${show(lun)} at ${show(start)}`;
      if (!Number.isInteger(length) || length === 0)
        throw new RangeError(`${what}: data must be a positive whole number of ${blockSize}-byte blocks`);
      const problem = addressProblem(lun, start, length);
      if (problem !== undefined) throw new RangeError(`${what}: ${problem}`);
      inject('write', what, [[lun, start, length]]);
      const blocks = data.get(lun)!;
      for (let k = 0; k < length; k++) blocks.set(start + k, bytes.slice(k * blockSize, (k + 1) * blockSize));
      emit(writeListeners, { op: 'write', lun, start, length });
    },

    async copy(from, to, length) {
      const what = `copy of ${show(length)} blocks from ${show(from)} to ${show(to)}`;
      const bad1 = typeof from === 'object' && from !== null ? addressProblem(from.lun, from.start, length) : 'source must be { lun, start }';
      if (bad1 !== undefined) throw new RangeError(`${what}: source: ${bad1}`);
      const bad2 = typeof to === 'object' && to !== null ? addressProblem(to.lun, to.start, length) : 'destination must be { lun, start }';
      if (bad2 !== undefined) throw new RangeError(`${what}: destination: ${bad2}`);
      inject('copy', what, [
        [from.lun, from.start, length],
        [to.lun, to.start, length],
      ]);
      // Read the whole source first, so overlapping ranges copy as if through a buffer.
      const src = data.get(from.lun)!;
      const blocks = Array.from({ length }, (_, k) => src.get(from.start + k));
      const dst = data.get(to.lun)!;
      blocks.forEach((b, k) => (b === undefined ? dst.delete(to.start + k) : dst.set(to.start + k, b)));
      emit(writeListeners, { op: 'copy', lun: to.lun, start: to.start, length, from: { lun: from.lun, start: from.start } });
    },

    async writeZeros(lun, start, length) {
      const what = `writeZeros of ${show(length)} blocks to LUN ${show(lun)} at ${show(start)}`;
      const problem = addressProblem(lun, start, length);
      if (problem !== undefined) throw new RangeError(`${what}: ${problem}`);
      inject('writeZeros', what, [[lun, start, length]]);
      const blocks = data.get(lun)!;
      if (length <= blocks.size) for (let k = start; k < start + length; k++) blocks.delete(k);
      else for (const k of [...blocks.keys()]) if (k >= start && k < start + length) blocks.delete(k);
      emit(writeListeners, { op: 'writeZeros', lun, start, length });
    },

    failNext(spec) {
      const errs: ValidationError[] = [];
      if (typeof spec !== 'object' || spec === null) return E.left([validationError('spec', spec, 'must be an object { count, lun?, op? }')]);
      if (!(isBlockNumber(spec.count) && spec.count > 0)) errs.push(validationError('count', spec.count, 'must be a positive safe integer'));
      if (spec.lun !== undefined && !sizes.has(spec.lun)) errs.push(validationError('lun', spec.lun, `must be one of the declared LUNs (${sortedIds(sizes)})`));
      if (spec.op !== undefined && !['read', 'write', 'copy', 'writeZeros'].includes(spec.op))
        errs.push(validationError('op', spec.op, "must be 'read', 'write', 'copy' or 'writeZeros'"));
      if (errs.length > 0) return E.left(errs);
      rules.push({ count: spec.count, ...(spec.lun === undefined ? {} : { lun: spec.lun }), ...(spec.op === undefined ? {} : { op: spec.op }) });
      return E.right(undefined);
    },

    markBad(extent) {
      const problem =
        typeof extent === 'object' && extent !== null ? addressProblem(extent.lun, extent.start, extent.length) : 'it must be { lun, start, length }';
      if (problem !== undefined) return E.left([validationError('extent', extent, `must be a valid extent (${problem})`)]);
      let set = bad.get(extent.lun);
      if (set === undefined) bad.set(extent.lun, (set = new Set()));
      for (let k = extent.start; k < extent.start + extent.length; k++) set.add(k);
      return E.right(undefined);
    },

    clearBad() {
      bad.clear();
      rules.length = 0;
    },

    onWrite(listener) {
      writeListeners.add(listener);
      return () => void writeListeners.delete(listener);
    },

    onRead(listener) {
      readListeners.add(listener);
      return () => void readListeners.delete(listener);
    },

    peek(lun, start, length) {
      const problem = addressProblem(lun, start, length);
      if (problem !== undefined) return E.left([validationError('address', { lun, start, length }, `must be readable (${problem})`)]);
      return E.right(readBlocks(lun, start, length));
    },
  };
  return E.right(storage);
};

// =============================================================================================
// Table persistence
// =============================================================================================

/**
 * Failure injection for {@link MemoryPersistence}: the next `count` calls of `op` (default
 * `'save'`) reject. With `applied: true` a failing save is applied first and only its
 * acknowledgement is lost, as when a write reaches the disk but the reply does not.
 *
 * @example
 * persistence.failNext(1, { applied: true });
 */
export interface PersistFailOptions {
  readonly op?: 'save' | 'load';
  readonly applied?: boolean;
}

/**
 * {@link TablePersistence} in memory. Its state outlives any controller: hand the same object to
 * a restarted controller and `load` returns what the old one saved.
 *
 * @example
 * const p = createMemoryPersistence();
 * await p.save({ type: 'saveTable', disk: 'vol', table: doc });
 * (await p.load()).tables; // [{ disk: 'vol', table: doc }]
 */
export interface MemoryPersistence extends TablePersistence {
  /**
   * Makes the next `count` calls of `options.op` (default `save`) reject with an
   * {@link InjectedFault}; see {@link PersistFailOptions}. Left when `count` is not a positive
   * safe integer or `op` is unknown.
   */
  failNext(count: number, options?: PersistFailOptions): E.Either<ValidationError[], void>;
  /** The durable state right now, synchronously (no failure injection). */
  peek(): PersistedState;
  /** The stored table of `disk`, decoded, if any. */
  table(disk: DiskId): MappingTable | undefined;
  /** Called synchronously with each record as it becomes durable. Returns an unsubscribe function. */
  onSave(listener: (record: PersistRecord) => void): () => void;
}

const MAX_REPORTED = 5;

const describeErrors = (errors: ReadonlyArray<ValidationError>): string => {
  const shown = errors.slice(0, MAX_REPORTED).map((e) => e.message);
  return errors.length > MAX_REPORTED ? `${shown.join('; ')}; and ${errors.length - MAX_REPORTED} more` : shown.join('; ');
};

/** The entries of `changes`, validated as table entries, with errors named `changes[i].entry...`. */
const decodeChanges = (changes: ReadonlyArray<EntryChange>, segmentBlocks: number): E.Either<string, MappingTable> => {
  const decoded = decodeTable({
    format: TABLE_FORMAT,
    version: TABLE_VERSION,
    segmentBlocks,
    segmentCount: changes.length,
    generation: 0,
    entries: changes.map((c) => (typeof c === 'object' && c !== null ? c.entry : undefined)),
  });
  if (E.isRight(decoded)) return decoded;
  return E.left(describeErrors(decoded.left.map((e) => ({ ...e, message: e.message.replace(/entries\[(\d+)\]/g, 'changes[$1].entry').replace(/^segment \d+: /, '') }))));
};

/**
 * Table persistence in memory, applying each record to decoded tables (so updates copy only the
 * chunks they touch). Refuses, with a clear error and without any change: an `updateTable` whose
 * `fromGeneration` is not the stored generation (or whose `generation` is not above it), updates,
 * deletions and attachments of a disk with no stored table, and malformed tables or entries.
 *
 * @example
 * const persistence = createMemoryPersistence();
 * await persistence.save({ type: 'updateTable', disk: 'vol', fromGeneration: 9, generation: 10, changes: [] });
 * // rejects: 'updateTable for disk "vol": no table is stored for this disk'
 */
export const createMemoryPersistence = (): MemoryPersistence => {
  const tables = new Map<DiskId, MappingTable>();
  const attachments = new Map<DiskId, AgentId[]>();
  const rules: { count: number; op: 'save' | 'load'; applied: boolean }[] = [];
  const listeners = new Set<(record: PersistRecord) => void>();

  const takeRule = (op: 'save' | 'load'): { applied: boolean } | undefined => {
    const i = rules.findIndex((r) => r.op === op);
    if (i < 0) return undefined;
    const rule = rules[i]!;
    rule.count--;
    if (rule.count <= 0) rules.splice(i, 1);
    return rule;
  };

  /** Applies a record; returns the reason it cannot be applied, or undefined. */
  const apply = (record: PersistRecord): string | undefined => {
    if (typeof record !== 'object' || record === null) return `a record must be an object, got ${show(record)}`;
    const what = `${show(record.type)} for disk ${show(record.disk)}`;
    if (typeof record.disk !== 'string') return `${what}: disk must be a string`;
    switch (record.type) {
      case 'saveTable': {
        const decoded = decodeTable(record.table);
        if (E.isLeft(decoded)) return `${what}: the table document is invalid: ${describeErrors(decoded.left)}`;
        tables.set(record.disk, decoded.right);
        return undefined;
      }
      case 'updateTable': {
        const stored = tables.get(record.disk);
        if (stored === undefined) return `${what}: no table is stored for this disk`;
        if (record.fromGeneration !== stored.generation)
          return `${what}: the stored table is at generation ${stored.generation}, but the update is from generation ${show(record.fromGeneration)} (a lost or reordered update)`;
        if (!(isBlockNumber(record.generation) && record.generation > stored.generation))
          return `${what}: generation must be a safe integer above ${stored.generation}, got ${show(record.generation)}`;
        if (!Array.isArray(record.changes)) return `${what}: changes must be an array, got ${show(record.changes)}`;
        let table = stored;
        if (record.segmentCount !== undefined) {
          const resized = resizeTable(table, record.segmentCount, { zero: true }, { generation: record.generation });
          if (E.isLeft(resized)) return `${what}: ${describeErrors(resized.left)}`;
          table = resized.right;
        }
        const entries = decodeChanges(record.changes, table.segmentBlocks);
        if (E.isLeft(entries)) return `${what}: ${entries.left}`;
        const updated = setEntries(
          table,
          record.changes.map((c, i) => ({ segment: c.segment, entry: entryAt(entries.right, i) })),
          { generation: record.generation },
        );
        if (E.isLeft(updated)) return `${what}: ${describeErrors(updated.left).replace(/updates\[/g, 'changes[')}`;
        tables.set(record.disk, updated.right);
        return undefined;
      }
      case 'deleteTable':
        if (!tables.has(record.disk)) return `${what}: no table is stored for this disk`;
        tables.delete(record.disk);
        attachments.delete(record.disk);
        return undefined;
      case 'attachments': {
        if (!tables.has(record.disk)) return `${what}: no table is stored for this disk`;
        const agents = record.agents;
        if (!Array.isArray(agents) || !agents.every((a) => typeof a === 'string')) return `${what}: agents must be an array of strings, got ${show(agents)}`;
        if (agents.length === 0) attachments.delete(record.disk);
        else attachments.set(record.disk, [...agents]);
        return undefined;
      }
      default:
        return `unknown record type ${show((record as { type: unknown }).type)} (expected saveTable, updateTable, deleteTable or attachments)`;
    }
  };

  const peek = (): PersistedState => ({
    tables: [...tables.keys()].sort().map((disk) => ({ disk, table: encodeTable(tables.get(disk)!) })),
    attachments: [...attachments.keys()].sort().map((disk) => ({ disk, agents: [...attachments.get(disk)!] })),
  });

  return {
    async save(record) {
      const rule = takeRule('save');
      if (rule !== undefined && !rule.applied) throw new InjectedFault(`save of ${show(record?.type)} for disk ${show(record?.disk)} failed: injected fault (nothing was saved)`);
      const problem = apply(record);
      if (problem !== undefined) throw new Error(`persistence refused ${problem}`);
      // The caller may reuse its record; listeners get their own copy.
      if (listeners.size > 0) {
        const copy = structuredClone(record);
        for (const l of [...listeners]) l(copy);
      }
      if (rule !== undefined) throw new InjectedFault(`save of ${show(record.type)} for disk ${show(record.disk)} failed: injected fault (the record was saved, the acknowledgement lost)`);
    },
    async load() {
      if (takeRule('load') !== undefined) throw new InjectedFault('load failed: injected fault');
      return peek();
    },
    failNext(count, options = {}) {
      const errs: ValidationError[] = [];
      if (!(isBlockNumber(count) && count > 0)) errs.push(validationError('count', count, 'must be a positive safe integer'));
      const op = options.op ?? 'save';
      if (op !== 'save' && op !== 'load') errs.push(validationError('options.op', op, "must be 'save' or 'load'"));
      if (errs.length > 0) return E.left(errs);
      rules.push({ count, op, applied: options.applied === true });
      return E.right(undefined);
    },
    peek,
    table: (disk) => tables.get(disk),
    onSave(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
};

// =============================================================================================
// Network
// =============================================================================================

/**
 * Options of {@link createMemoryNetwork}. `dropRate` and `duplicateRate` are probabilities per
 * sent message. `maxDelay` bounds reordering: a message is overtaken by at most that many
 * younger messages before it is delivered (0: first in, first out; default: unbounded).
 *
 * @example
 * const options: MemoryNetworkOptions = { seed: 42, dropRate: 0.05, duplicateRate: 0.05, maxDelay: 8 };
 */
export interface MemoryNetworkOptions {
  readonly seed: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  readonly maxDelay?: number;
}

/**
 * A message in flight. `id` increases with each copy sent.
 *
 * @example
 * network.inFlight().map((e: Envelope) => `${e.from}->${e.to}`);
 */
export interface Envelope {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly message: unknown;
}

/**
 * What one {@link MemoryNetwork.step} did: delivered the envelope, or lost it (the receiver is
 * cut off, has no live endpoint or no handler, or the sender was cut off meanwhile).
 *
 * @example
 * const d = network.step(); if (d?.delivered === false) console.log('lost', d.id);
 */
export interface Delivery extends Envelope {
  readonly delivered: boolean;
}

/**
 * Counters since the network was created. `dropped`: at send (drop rate, partition, dead
 * endpoint); `lost`: at delivery; `duplicated`: extra copies made.
 *
 * @example
 * const { sent, delivered } = network.stats();
 */
export interface NetworkStats {
  readonly sent: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly delivered: number;
  readonly lost: number;
}

/**
 * An in-memory network whose deliveries happen only when the caller asks, in an order chosen by
 * a seeded PRNG: the same seed and the same calls give the same run.
 *
 * @example
 * const controller = network.transport<ControllerMessage, AgentMessage>('controller');
 * const agent = network.transport<AgentMessage, ControllerMessage>('a1');
 * network.deliverAll();
 */
export interface MemoryNetwork {
  /**
   * The endpoint of `peer`. Asking again for the same peer models a restart: the previous
   * endpoint dies (its handlers get nothing more, its sends are dropped).
   */
  transport<Out = unknown, In = unknown>(peer: string): Transport<Out, In>;
  /** Delivers (or loses) one message in flight; undefined when none is. */
  step(): Delivery | undefined;
  /** Runs up to `count` steps (default 1); returns how many ran. */
  deliver(count?: number): number;
  /** Runs steps until nothing is in flight or `limit` steps ran (default 1,000,000); returns how many ran. */
  deliverAll(limit?: number): number;
  /** Number of messages in flight. */
  pending(): number;
  /** The messages in flight, oldest first (the messages themselves are not copies: do not mutate). */
  inFlight(): ReadonlyArray<Envelope>;
  /** Partitions `peer` from everyone: messages from or to it are dropped, including those in flight when they come up. */
  cut(peer: string): void;
  /** Ends a partition made with `cut`; messages dropped meanwhile stay lost. */
  heal(peer: string): void;
  /** Whether `peer` is partitioned by `cut`. */
  isCut(peer: string): boolean;
  /** A copy of the counters since the network was created. */
  stats(): NetworkStats;
}

/**
 * A deterministic in-memory network. Messages are `structuredClone`d on send, so peers never
 * share mutable values; `send` throws only when a message cannot be cloned (functions, class
 * instances with private state), which is a bug in the sender, not a network condition.
 * Left when the options are malformed.
 *
 * @example
 * const network = createMemoryNetwork({ seed: 1, dropRate: 0.1 }); // Right(network)
 */
export const createMemoryNetwork = (options: MemoryNetworkOptions): E.Either<ValidationError[], MemoryNetwork> => {
  if (typeof options !== 'object' || options === null) return E.left([validationError('options', options, 'must be an object { seed, ... }')]);
  const { seed, dropRate = 0, duplicateRate = 0, maxDelay = Infinity } = options;
  const errors: ValidationError[] = [];
  if (typeof seed !== 'number' || !Number.isFinite(seed)) errors.push(validationError('seed', seed, 'must be a finite number'));
  if (!isRate(dropRate)) errors.push(validationError('dropRate', dropRate, 'must be a number from 0 to 1'));
  if (!isRate(duplicateRate)) errors.push(validationError('duplicateRate', duplicateRate, 'must be a number from 0 to 1'));
  if (!(maxDelay === Infinity || isBlockNumber(maxDelay))) errors.push(validationError('maxDelay', maxDelay, 'must be a non-negative integer or Infinity'));
  if (errors.length > 0) return E.left(errors);

  const prng: Prng = createPrng(seed);
  interface Flight extends Envelope {
    overtaken: number;
  }
  const flight: Flight[] = []; // oldest first
  let nextId = 0;
  const endpoints = new Map<string, { handlers: ((from: string, message: unknown) => void)[] }>();
  const cutPeers = new Set<string>();
  const stats = { sent: 0, dropped: 0, duplicated: 0, delivered: 0, lost: 0 };

  const step = (): Delivery | undefined => {
    if (flight.length === 0) return undefined;
    // A message overtaken maxDelay times goes next (the oldest such); otherwise any, at random.
    let k = flight.findIndex((f) => f.overtaken >= maxDelay);
    if (k < 0) k = prng.int(flight.length);
    const f = flight[k]!;
    flight.splice(k, 1);
    for (let i = 0; i < k; i++) flight[i]!.overtaken++;
    const endpoint = endpoints.get(f.to);
    const delivered = endpoint !== undefined && endpoint.handlers.length > 0 && !cutPeers.has(f.to) && !cutPeers.has(f.from);
    const delivery: Delivery = { id: f.id, from: f.from, to: f.to, message: f.message, delivered };
    if (!delivered) {
      stats.lost++;
      return delivery;
    }
    stats.delivered++;
    endpoint.handlers.forEach((h, i) => h(f.from, i === 0 ? f.message : structuredClone(f.message)));
    return delivery;
  };

  const network: MemoryNetwork = {
    transport<Out, In>(peer: string): Transport<Out, In> {
      const me = { handlers: [] as ((from: string, message: unknown) => void)[] };
      endpoints.set(peer, me);
      const alive = (): boolean => endpoints.get(peer) === me;
      return {
        send(to, message) {
          stats.sent++;
          const copy = structuredClone(message);
          if (!alive() || cutPeers.has(peer) || cutPeers.has(to) || prng.chance(dropRate)) {
            stats.dropped++;
            return;
          }
          flight.push({ id: nextId++, from: peer, to, message: copy, overtaken: 0 });
          if (prng.chance(duplicateRate)) {
            stats.duplicated++;
            flight.push({ id: nextId++, from: peer, to, message: structuredClone(copy), overtaken: 0 });
          }
        },
        onMessage(handler) {
          if (alive()) me.handlers.push(handler as (from: string, message: unknown) => void);
        },
      };
    },
    step,
    deliver(count = 1) {
      let n = 0;
      while (n < count && step() !== undefined) n++;
      return n;
    },
    deliverAll(limit = 1_000_000) {
      let n = 0;
      while (n < limit && step() !== undefined) n++;
      return n;
    },
    pending: () => flight.length,
    inFlight: () => flight.map(({ id, from, to, message }) => ({ id, from, to, message })),
    cut: (peer) => void cutPeers.add(peer),
    heal: (peer) => void cutPeers.delete(peer),
    isCut: (peer) => cutPeers.has(peer),
    stats: () => ({ ...stats }),
  };
  return E.right(network);
};

// =============================================================================================
// Clock
// =============================================================================================

/**
 * A {@link Clock} that moves only when told to.
 *
 * @example
 * clock.setTimer(10, () => console.log('fired at', clock.now()));
 * clock.advance(25); // prints "fired at 10"; now() is 25
 */
export interface ManualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in due order (ties
   * in the order they were set), each with `now()` at its due time; timers set by callbacks fire
   * too when they fall due in the window. Returns the new time; Left for a negative or
   * non-finite `ms`, or when called from a timer callback.
   */
  advance(ms: number): E.Either<ValidationError[], number>;
  /** Jumps to the next due timer and fires it (with any due at the same time); false when none is set. */
  runNext(): boolean;
  /** Number of timers set and not yet fired or cleared. */
  pending(): number;
  /** When the next timer falls due, if any. */
  nextDue(): number | undefined;
}

interface Timer extends TimerHandle {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
}

/**
 * A manual clock starting at `start` (default 0). Left when `start` is not a finite number.
 *
 * @example
 * const clock = createManualClock(1000); // Right(clock) with now() === 1000
 */
export const createManualClock = (start = 0): E.Either<ValidationError[], ManualClock> => {
  if (typeof start !== 'number' || !Number.isFinite(start)) return E.left([validationError('start', start, 'must be a finite number')]);
  let now = start;
  let seq = 0;
  let running = false;
  // Kept sorted by (due, seq); timer counts in simulations are small, so insertion is linear.
  const timers: Timer[] = [];

  const fireDue = (until: number): void => {
    running = true;
    try {
      while (timers.length > 0 && timers[0]!.due <= until) {
        const t = timers.shift()!;
        now = Math.max(now, t.due);
        t.callback();
      }
    } finally {
      running = false;
    }
  };

  const clock: ManualClock = {
    now: () => now,
    setTimer(ms, callback) {
      const delay = typeof ms === 'number' && ms > 0 ? ms : 0;
      const timer: Timer = { _tag: 'TimerHandle', due: now + delay, seq: seq++, callback };
      let i = timers.length;
      while (i > 0 && timers[i - 1]!.due > timer.due) i--;
      timers.splice(i, 0, timer);
      return timer;
    },
    clearTimer(handle) {
      const i = timers.indexOf(handle as Timer);
      if (i >= 0) timers.splice(i, 1);
    },
    advance(ms) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
        return E.left([validationError('ms', ms, 'must be a finite non-negative number')]);
      if (running) return E.left([validationError('ms', ms, 'cannot be advanced from inside a timer callback')]);
      const target = now + ms;
      fireDue(target);
      now = target;
      return E.right(now);
    },
    runNext() {
      const first = timers[0];
      if (first === undefined || running || !Number.isFinite(first.due)) return false;
      fireDue(first.due);
      return true;
    },
    pending: () => timers.length,
    nextDue: () => timers[0]?.due,
  };
  return E.right(clock);
};
