/**
 * A `TablePersistence` on etcd: the controller's tables as keys per chunk of segments, a small
 * header key per disk, fenced by the leadership key of the controller that writes
 * (docs/design.md#adapter-contracts; the layout and its limits are in ./README.md).
 *
 * Keys, under `prefix` (default `vdisk/`):
 *
 *   disk/<disk>/h                      header: geometry, generation, attachments, and for each
 *                                      chunk the version and part count that hold it
 *   disk/<disk>/c/<ver>/<chunk>/<part> one part (at most `partBytes`) of a chunk of
 *                                      `chunkSegments` entries, encoded by ./chunk-codec.ts
 *   controller/epoch                   the controller epoch, raised by each new leader
 *   controller/generation-floor        the generation floor deletions raise (absent: 0), written
 *                                      in the transaction that deletes the disk
 *
 * (`<disk>` is URI-encoded; `<ver>`, `<chunk>` and `<part>` are fixed-width hex so keys sort.)
 *
 * A save writes changed chunks under a new version the header does not reference yet, then
 * flips the header, so a reader at any revision sees a whole table of one generation. When
 * everything fits in one etcd transaction (`txnBytes`, `txnOps`, well under etcd's 1.5 MiB and
 * 128 operations) it is one transaction; otherwise the new chunks go first in as many
 * transactions as needed and the header flip last. Superseded chunks are deleted in the flip or
 * after it; whatever a failure leaves behind is unreferenced and removed by
 * {@link EtcdTableStore.collectGarbage}.
 *
 * Every transaction compares the fence (the leadership key's create revision) when one is
 * given, and the flip also compares each header's mod revision with the one this store last
 * saw: a deposed controller, or a second writer, can never change a table.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Etcd3 } from 'etcd3';
import {
  decodeTable,
  encodeEntry,
  encodeTable,
  getEntry,
  type EntryDocument,
  type MappingTable,
  type PersistedState,
  type PersistRecord,
  type TableDocument,
  type TablePersistence,
} from '../../../src/index.js';
import { applyUpdate } from './apply-record.js';
import {
  bytesOf,
  chunkCount,
  deleteKey,
  deletePrefix,
  deleteRange,
  headerProblem,
  keysOf,
  pack as packOps,
  parseDiskKey,
  prefixEnd,
  put,
  type Header,
  type Op,
} from './etcd-layout.js';
import { decodeChunk, encodeChunk } from './chunk-codec.js';

/**
 * The leadership a store writes under: every transaction requires `key` to exist with this
 * create revision (a decimal string, as etcd reports revisions).
 *
 * @example
 * const fence: Fence = { key: 'vdisk/leader/694d7a1c2b3f0a05', createRevision: '42' };
 */
export interface Fence {
  readonly key: string;
  readonly createRevision: string;
}

/**
 * Options of {@link createEtcdTableStore}. `fence` is a fixed fence or a function giving the
 * current one (null: not the leader, every write is refused without being tried).
 *
 * @example
 * const options: EtcdTableStoreOptions = { prefix: 'cluster1/', fence: () => election.fence() };
 */
export interface EtcdTableStoreOptions {
  readonly prefix?: string;
  readonly fence?: Fence | (() => Fence | null);
  /** Segments per chunk key (default 4096). */
  readonly chunkSegments?: number;
  /** Largest value written (default 256 KiB); a larger chunk is split in parts. */
  readonly partBytes?: number;
  /** Budget of one transaction in bytes of keys and values (default 1 MiB; etcd refuses 1.5 MiB). */
  readonly txnBytes?: number;
  /** Budget of one transaction in operations (default 100; etcd refuses more than 128). */
  readonly txnOps?: number;
  /** Keys read per range request by `load` (default 128: at most 32 MiB of 256 KiB parts). */
  readonly pageKeys?: number;
}

/**
 * How the last successful save went, for measurements.
 *
 * @example
 * store.lastSave() // { transactions: 1, bytes: 812, atomic: true }
 */
export interface SaveStats {
  /** Transactions up to and including the header flip. */
  readonly transactions: number;
  /** Bytes of keys and values written. */
  readonly bytes: number;
  /** True when the whole group commit was one transaction. */
  readonly atomic: boolean;
}

/**
 * The etcd table store: a `TablePersistence` plus group commits, the controller epoch and
 * garbage collection.
 *
 * @example
 * const store = createEtcdTableStore(client, { fence: () => election.fence() });
 * const epoch = await store.raiseControllerEpoch();
 * const state = await store.load();
 */
export interface EtcdTableStore extends TablePersistence {
  /** Makes `records` durable together (one group commit), in order, after every earlier save. */
  saveBatch(records: ReadonlyArray<PersistRecord>): Promise<void>;
  /** Raises the controller epoch by one under the fence; resolves with the new epoch. */
  raiseControllerEpoch(): Promise<number>;
  /** The stored controller epoch (0 when none was ever raised). */
  controllerEpoch(): Promise<number>;
  /** Deletes chunk keys no header references (left by failed saves); resolves with how many. */
  collectGarbage(): Promise<number>;
  lastSave(): SaveStats | null;
}

/** What the store knows of one disk as stored. */
interface DiskView {
  readonly header: Header;
  readonly modRevision: string;
  /** The table as loaded or saved; one of the two is always there. */
  doc: TableDocument | null;
  table: MappingTable | null;
}

/** A disk as a group commit leaves it. */
interface Pending {
  readonly base: DiskView | undefined;
  table: MappingTable | null; // null: deleted
  agents: ReadonlyArray<string>;
  dropping: ReadonlyArray<string>;
  /** Chunks to write (all of them after a saveTable). */
  dirty: Set<number>;
  rewritten: boolean;
  headerOnly: boolean;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const describeErrors = (errors: ReadonlyArray<{ message: string }>): string => errors.map((e) => e.message).join('; ');

/**
 * A table store over an etcd client. The client is the caller's: the store never closes it.
 *
 * @example
 * const client = new Etcd3({ hosts: ['127.0.0.1:2379'] });
 * const store = createEtcdTableStore(client, { prefix: 'vdisk/' });
 * await store.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
 */
export const createEtcdTableStore = (client: Etcd3, options: EtcdTableStoreOptions = {}): EtcdTableStore => {
  const prefix = options.prefix ?? 'vdisk/';
  const chunkSegments = options.chunkSegments ?? 4096;
  const partBytes = options.partBytes ?? 256 * 1024;
  const txnBytes = options.txnBytes ?? 1024 * 1024;
  const txnOps = options.txnOps ?? 100;
  const pageKeys = options.pageKeys ?? 128;
  const fenceOption = options.fence;
  const { diskRoot, epochKey, floorKey, diskKey, headerKey, chunksOf, versionPrefix, chunkPrefix, partKey } = keysOf(prefix);

  /** The stored disks as this store last saw them; null after a failure: reload before writing. */
  let known: Map<string, DiskView> | null = null;
  /** The stored generation floor as this store last saw it (read with `known`). */
  let knownFloor = 0;
  let stats: SaveStats | null = null;
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };

  const currentFence = (): Fence | null | undefined => {
    if (fenceOption === undefined) return undefined;
    return typeof fenceOption === 'function' ? fenceOption() : fenceOption;
  };

  const fenceCompare = (fence: Fence | undefined) =>
    fence === undefined ? [] : [{ key: Buffer.from(fence.key), target: 'Create' as const, result: 'Equal' as const, create_revision: fence.createRevision }];

  /** Why a transaction's comparisons failed, in words. */
  const explainFailure = async (fence: Fence | undefined, headers: ReadonlyArray<readonly [string, string]>): Promise<string> => {
    if (fence !== undefined) {
      const r = await client.kv.range({ key: Buffer.from(fence.key) });
      const kv = r.kvs[0];
      if (kv === undefined || kv.create_revision !== fence.createRevision)
        return `leadership lost: the leadership key ${fence.key} (created at revision ${fence.createRevision}) ${kv === undefined ? 'is gone (its lease expired or was revoked)' : `was re-created at revision ${kv.create_revision}`}; this controller is deposed and may not write`;
    }
    for (const [key, mod] of headers) {
      const r = await client.kv.range({ key: Buffer.from(key) });
      const now = r.kvs[0]?.mod_revision ?? '0';
      if (now !== mod) return `the header ${key} changed under this store (expected mod revision ${mod}, found ${now}): another writer`;
    }
    return 'a comparison failed, but the fence and the headers look unchanged now';
  };

  /** Runs one transaction; resolves with its revision, rejects when its comparisons fail. */
  const txn = async (ops: ReadonlyArray<Op>, fence: Fence | undefined, headers: ReadonlyArray<readonly [string, string]>): Promise<string> => {
    const compare = [
      ...fenceCompare(fence),
      ...headers.map(([key, mod]) =>
        mod === '0'
          ? { key: Buffer.from(key), target: 'Create' as const, result: 'Equal' as const, create_revision: '0' }
          : { key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: mod },
      ),
    ];
    const res = await client.kv.txn({ compare, success: ops.map((o) => o.request), failure: [] });
    if (!res.succeeded) throw new Error(`etcd refused the transaction: ${await explainFailure(fence, headers)}`);
    return res.header.revision;
  };

  const pack = (ops: ReadonlyArray<Op>): Op[][] => packOps(ops, txnOps, txnBytes);

  // -------------------------------------------------------------------------------------------
  // Loading

  interface Snapshot {
    readonly disks: Map<string, DiskView>;
    /** Chunk keys that no header references. */
    readonly garbage: string[];
  }

  /** Every key under the disk root at one revision, page by page. */
  const readAll = async (): Promise<Array<{ key: string; value: Buffer; mod: string }>> => {
    const out: Array<{ key: string; value: Buffer; mod: string }> = [];
    const end = prefixEnd(Buffer.from(diskRoot));
    let start = Buffer.from(diskRoot);
    let revision: string | undefined;
    for (;;) {
      const res = await client.kv.range({ key: start, range_end: end, limit: pageKeys, ...(revision === undefined ? {} : { revision }) });
      revision ??= res.header.revision;
      for (const kv of res.kvs) out.push({ key: kv.key.toString(), value: kv.value, mod: kv.mod_revision });
      if (!res.more || res.kvs.length === 0) return out;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  };

  /** `readAll`, started again (at most 3 times) when etcd compacted its revision meanwhile. */
  const readConsistent = async (): Promise<Array<{ key: string; value: Buffer; mod: string }>> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await readAll();
      } catch (e) {
        if (attempt >= 3 || !/compacted/.test(errorText(e))) throw e;
      }
    }
  };

  const readSnapshot = async (): Promise<Snapshot> => {
    const kvs = await readConsistent();
    const headers = new Map<string, { header: Header; mod: string }>();
    const parts = new Map<string, Buffer>(); // "<enc>/<ver>/<chunk>/<part>" -> value
    const partKeys = new Map<string, string>();
    for (const { key, value, mod } of kvs) {
      const named = parseDiskKey(diskRoot, key);
      if (named.kind === 'header') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(value.toString());
        } catch (e) {
          throw new Error(`etcd table store: header ${key} is not JSON: ${errorText(e)}`);
        }
        const problem = headerProblem(parsed);
        if (problem !== undefined) throw new Error(`etcd table store: header ${key} is malformed: ${problem}`);
        headers.set(named.enc, { header: parsed as Header, mod });
      } else if (named.kind === 'part') {
        const id = `${named.enc}/${named.ver}/${named.chunk}/${named.part}`;
        parts.set(id, value);
        partKeys.set(id, key);
      }
    }
    const disks = new Map<string, DiskView>();
    const used = new Set<string>();
    for (const [enc, { header, mod }] of headers) {
      const disk = decodeURIComponent(enc);
      const entries: EntryDocument[] = [];
      for (let ci = 0; ci < header.versions.length; ci++) {
        const pieces: Buffer[] = [];
        for (let p = 0; p < header.parts[ci]!; p++) {
          const id = `${enc}/${header.versions[ci]}/${ci}/${p}`;
          const piece = parts.get(id);
          if (piece === undefined) throw new Error(`etcd table store: disk ${JSON.stringify(disk)} chunk ${ci}: part ${p} of version ${header.versions[ci]} is missing`);
          pieces.push(piece);
          used.add(id);
        }
        const decoded = decodeChunk(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces), header.segmentBlocks);
        if (E.isLeft(decoded)) throw new Error(`etcd table store: disk ${JSON.stringify(disk)} chunk ${ci}: ${decoded.left}`);
        const expected = Math.min(header.chunkSegments, header.segmentCount - ci * header.chunkSegments);
        if (decoded.right.length !== expected)
          throw new Error(`etcd table store: disk ${JSON.stringify(disk)} chunk ${ci} holds ${decoded.right.length} entries, expected ${expected}`);
        for (const e of decoded.right) entries.push(e);
      }
      const doc: TableDocument = {
        format: 'vdisk-map/table',
        version: 1,
        segmentBlocks: header.segmentBlocks,
        segmentCount: header.segmentCount,
        generation: header.generation,
        entries,
      };
      disks.set(disk, { header, modRevision: mod, doc, table: null });
    }
    const garbage = [...partKeys].filter(([id]) => !used.has(id)).map(([, key]) => key);
    return { disks, garbage };
  };

  const readFloor = async (): Promise<number> => {
    const kv = (await client.kv.range({ key: Buffer.from(floorKey) })).kvs[0];
    if (kv === undefined) return 0;
    const floor = Number(kv.value.toString());
    if (!Number.isSafeInteger(floor) || floor < 0) throw new Error(`etcd table store: ${floorKey} holds ${JSON.stringify(kv.value.toString())}, not a generation floor`);
    return floor;
  };

  const stateOf = (disks: ReadonlyMap<string, DiskView>, floor: number): PersistedState => {
    const names = [...disks.keys()].sort();
    const droppingOf = (disk: string): ReadonlyArray<string> => disks.get(disk)!.header.dropping ?? [];
    return {
      tables: names.map((disk) => {
        const v = disks.get(disk)!;
        return { disk, table: v.doc ?? encodeTable(v.table!) };
      }),
      attachments: names
        .filter((d) => disks.get(d)!.header.agents.length > 0 || droppingOf(d).length > 0)
        .map((disk) => ({ disk, agents: [...disks.get(disk)!.header.agents], ...(droppingOf(disk).length > 0 ? { dropping: [...droppingOf(disk)] } : {}) })),
      ...(floor > 0 ? { generationFloor: floor } : {}),
    };
  };

  const entryDoc = (table: MappingTable, segment: number): EntryDocument => {
    const e = getEntry(table, segment);
    if (E.isLeft(e)) throw new Error(`segment ${segment}: ${describeErrors(e.left)}`);
    return encodeEntry(e.right);
  };

  /** The decoded table of a stored disk (decoded on first use: a restore need not pay for it). */
  const tableOf = (disk: string, view: DiskView): E.Either<string, MappingTable> => {
    if (view.table !== null) return E.right(view.table);
    const decoded = decodeTable(view.doc);
    if (E.isLeft(decoded)) return E.left(`the stored table of disk ${JSON.stringify(disk)} is invalid: ${describeErrors(decoded.left)}`);
    view.table = decoded.right;
    return E.right(decoded.right);
  };

  // -------------------------------------------------------------------------------------------
  // Saving

  /** Applies `records` to what is stored; Left with the reason when one must be refused. */
  const plan = (stored: ReadonlyMap<string, DiskView>, records: ReadonlyArray<PersistRecord>): E.Either<string, Map<string, Pending>> => {
    const work = new Map<string, Pending>();
    const pendingOf = (disk: string): E.Either<string, Pending> => {
      const have = work.get(disk);
      if (have !== undefined) return E.right(have);
      const base = stored.get(disk);
      let table: MappingTable | null = null;
      if (base !== undefined) {
        const t = tableOf(disk, base);
        if (E.isLeft(t)) return t;
        table = t.right;
      }
      const p: Pending = { base, table, agents: base?.header.agents ?? [], dropping: base?.header.dropping ?? [], dirty: new Set(), rewritten: false, headerOnly: true };
      work.set(disk, p);
      return E.right(p);
    };
    for (const record of records) {
      if (typeof record !== 'object' || record === null) return E.left(`a record must be an object, got ${String(record)}`);
      const what = `${JSON.stringify(record.type)} for disk ${JSON.stringify(record.disk)}`;
      if (typeof record.disk !== 'string') return E.left(`${what}: disk must be a string`);
      const p = pendingOf(record.disk);
      if (E.isLeft(p)) return p;
      const d = p.right;
      switch (record.type) {
        case 'saveTable': {
          const decoded = decodeTable(record.table);
          if (E.isLeft(decoded)) return E.left(`${what}: the table document is invalid: ${describeErrors(decoded.left)}`);
          d.table = decoded.right;
          d.rewritten = true;
          d.headerOnly = false;
          break;
        }
        case 'updateTable': {
          if (d.table === null) return E.left(`${what}: no table is stored for this disk`);
          const before = d.table;
          const updated = applyUpdate(before, record);
          if (E.isLeft(updated)) return updated;
          d.table = updated.right;
          d.headerOnly = false;
          // A freeze (a snapshot) changed every chunk with a located segment: all are written.
          if (record.freeze === true) for (let ci = 0; ci < chunkCount(before.segmentCount, chunkSegments); ci++) d.dirty.add(ci);
          for (const c of record.changes) d.dirty.add(Math.floor(c.segment / chunkSegments));
          if (record.segmentCount !== undefined && record.segmentCount !== before.segmentCount) {
            // The chunk that held the old end changes size, and every chunk after it is new.
            const from = Math.floor(Math.min(before.segmentCount, record.segmentCount) / chunkSegments);
            for (let ci = from; ci < chunkCount(record.segmentCount, chunkSegments); ci++) d.dirty.add(ci);
          }
          break;
        }
        case 'cloneTable': {
          // A snapshot: the source's table as the records before this one leave it.
          if (typeof record.source !== 'string' || record.source === record.disk) return E.left(`${what}: source must name another disk, got ${JSON.stringify(record.source)}`);
          const source = pendingOf(record.source);
          if (E.isLeft(source)) return source;
          if (source.right.table === null) return E.left(`${what}: no table is stored for source ${JSON.stringify(record.source)}`);
          d.table = source.right.table;
          d.rewritten = true;
          d.headerOnly = false;
          break;
        }
        case 'deleteTable':
          if (d.table === null) return E.left(`${what}: no table is stored for this disk`);
          if (record.generationFloor !== undefined && !(Number.isSafeInteger(record.generationFloor) && record.generationFloor >= 0))
            return E.left(`${what}: generationFloor must be a non-negative safe integer when present, got ${JSON.stringify(record.generationFloor)}`);
          d.table = null;
          d.agents = [];
          d.dropping = [];
          d.dirty.clear();
          d.rewritten = false;
          d.headerOnly = false;
          break;
        case 'attachments': {
          if (d.table === null) return E.left(`${what}: no table is stored for this disk`);
          const agents = record.agents;
          if (!Array.isArray(agents) || !agents.every((a) => typeof a === 'string')) return E.left(`${what}: agents must be an array of strings`);
          const dropping = record.dropping ?? [];
          if (!Array.isArray(dropping) || !dropping.every((a) => typeof a === 'string')) return E.left(`${what}: dropping must be an array of strings when present`);
          d.agents = [...agents];
          d.dropping = [...dropping];
          break;
        }
        default:
          return E.left(`unknown record type ${JSON.stringify((record as { type: unknown }).type)} (expected saveTable, updateTable, cloneTable, deleteTable or attachments)`);
      }
    }
    return E.right(work);
  };

  /** The parts of chunk `ci` of `table` (entry by entry: faster than `encodeTable` of the whole). */
  const chunkParts = (table: MappingTable, ci: number): Buffer[] => {
    const from = ci * chunkSegments;
    const to = Math.min(from + chunkSegments, table.segmentCount);
    const docs: EntryDocument[] = [];
    for (let s = from; s < to; s++) docs.push(entryDoc(table, s));
    const bytes = encodeChunk(docs, table.segmentBlocks);
    const parts: Buffer[] = [];
    for (let off = 0; off < bytes.length || parts.length === 0; off += partBytes) parts.push(Buffer.from(bytes.buffer, bytes.byteOffset + off, Math.min(partBytes, bytes.length - off)));
    return parts;
  };

  interface Written {
    readonly disk: string;
    readonly header: Header | null;
    readonly table: MappingTable | null;
  }

  /** The operations that take one disk from what is stored to `p`. */
  interface DiskOps {
    readonly staged: Op[]; // new chunk versions, invisible until the flip
    readonly flip: Op[]; // the header (or the whole disk's deletion)
    readonly cleanup: Op[]; // superseded chunk versions
    readonly written: Written;
  }

  const opsForDisk = (disk: string, p: Pending): DiskOps => {
    const base = p.base;
    const ops: DiskOps = { staged: [], flip: [], cleanup: [], written: { disk, header: null, table: null } };
    if (p.table === null) {
      if (base !== undefined) ops.flip.push(deletePrefix(diskKey(disk)));
      return ops;
    }
    const table = p.table;
    const n = chunkCount(table.segmentCount, chunkSegments);
    const fresh = p.rewritten || base === undefined || base.header.chunkSegments !== chunkSegments;
    // Chunks are only ever written under a version above every one a header references.
    const seq = (base?.header.seq ?? 0) + (p.headerOnly && !fresh ? 0 : 1);
    const versions: number[] = [];
    const partCounts: number[] = [];
    for (let ci = 0; ci < n; ci++) {
      if (!fresh && !p.dirty.has(ci) && ci < base!.header.versions.length) {
        versions.push(base!.header.versions[ci]!);
        partCounts.push(base!.header.parts[ci]!);
        continue;
      }
      const parts = chunkParts(table, ci);
      parts.forEach((value, i) => ops.staged.push(put(partKey(disk, seq, ci, i), value)));
      versions.push(seq);
      partCounts.push(parts.length);
    }
    if (base !== undefined) {
      if (fresh) ops.cleanup.push(deleteRange(chunksOf(disk), versionPrefix(disk, seq))); // every older version at once
      else
        base.header.versions.forEach((ver, ci) => {
          if (ci >= n || versions[ci] !== ver) ops.cleanup.push(deletePrefix(chunkPrefix(disk, ver, ci)));
        });
    }
    const header: Header = {
      format: 'vdisk-map/etcd-disk',
      version: 1,
      segmentBlocks: table.segmentBlocks,
      segmentCount: table.segmentCount,
      generation: table.generation,
      chunkSegments,
      seq,
      versions,
      parts: partCounts,
      agents: [...p.agents],
      ...(p.dropping.length > 0 ? { dropping: [...p.dropping] } : {}),
    };
    ops.flip.push(put(headerKey(disk), JSON.stringify(header)));
    return { ...ops, written: { disk, header, table } };
  };

  /**
   * Runs a save's operations: the staged chunks in as few transactions as the budgets allow, the
   * last of them together with the flip when it fits (so a save that fits is one transaction),
   * then the flip with as much of the cleanup as fits, then the rest of the cleanup (best effort:
   * what is left is unreferenced). Resolves with the flip's revision and the transactions up to it.
   */
  const commit = async (
    staged: ReadonlyArray<Op>,
    flip: ReadonlyArray<Op>,
    cleanup: ReadonlyArray<Op>,
    fence: Fence | undefined,
    compares: ReadonlyArray<readonly [string, string]>,
  ): Promise<{ revision: string; transactions: number }> => {
    if (flip.length > txnOps || bytesOf(flip) > txnBytes)
      throw new Error(`etcd table store: the headers of this group commit (${flip.length} operations, ${bytesOf(flip)} bytes) do not fit one transaction (${txnOps} operations, ${txnBytes} bytes): nothing was written`);
    const before = pack(staged);
    let finalOps = [...flip];
    const last = before[before.length - 1];
    if (last !== undefined && last.length + flip.length <= txnOps && bytesOf(last) + bytesOf(flip) <= txnBytes) finalOps = [...before.pop()!, ...flip];
    let bytes = bytesOf(finalOps);
    let i = 0;
    while (i < cleanup.length && finalOps.length < txnOps && bytes + cleanup[i]!.bytes <= txnBytes) {
      bytes += cleanup[i]!.bytes;
      finalOps.push(cleanup[i++]!);
    }
    for (const batch of before) await txn(batch, fence, []);
    const revision = await txn(finalOps, fence, compares);
    for (const batch of pack(cleanup.slice(i))) {
      try {
        await txn(batch, fence, []);
      } catch {
        break; // unreferenced keys: collectGarbage removes them later
      }
    }
    return { revision, transactions: before.length + 1 };
  };

  const saveLocked = async (records: ReadonlyArray<PersistRecord>): Promise<void> => {
    const fence = currentFence();
    if (fence === null) throw new Error('etcd table store: this controller is not the leader: nothing was written');
    if (known === null) [known, knownFloor] = [(await readSnapshot()).disks, await readFloor()];
    const planned = plan(known, records);
    if (E.isLeft(planned)) throw new Error(`etcd table store refused ${planned.left}`);
    const disks = [...planned.right].map(([disk, p]) => opsForDisk(disk, p));
    const staged = disks.flatMap((d) => d.staged);
    // A deletion's floor goes in the transaction that deletes the disk (the flip); it only grows.
    let floor = knownFloor;
    for (const r of records) if (r.type === 'deleteTable' && r.generationFloor !== undefined) floor = Math.max(floor, r.generationFloor);
    const flip = [...disks.flatMap((d) => d.flip), ...(floor > knownFloor ? [put(floorKey, String(floor))] : [])];
    const compares = [...planned.right].map(([disk, p]) => [headerKey(disk), p.base?.modRevision ?? '0'] as const);
    const { revision, transactions } = await commit(staged, flip, disks.flatMap((d) => d.cleanup), fence, compares);
    for (const { written: w } of disks) {
      if (w.header === null) known.delete(w.disk);
      else known.set(w.disk, { header: w.header, modRevision: revision, doc: null, table: w.table });
    }
    knownFloor = floor;
    stats = { transactions, bytes: bytesOf(staged) + bytesOf(flip), atomic: transactions === 1 };
  };

  const saveBatch = (records: ReadonlyArray<PersistRecord>): Promise<void> =>
    serial(async () => {
      if (records.length === 0) return;
      try {
        await saveLocked(records);
      } catch (e) {
        known = null; // the save may have landed in part or whole: read the truth before the next one
        throw e instanceof Error ? e : new Error(errorText(e));
      }
    });

  const readEpoch = async (): Promise<{ epoch: number; mod: string }> => {
    const r = await client.kv.range({ key: Buffer.from(epochKey) });
    const kv = r.kvs[0];
    if (kv === undefined) return { epoch: 0, mod: '0' };
    const epoch = Number(kv.value.toString());
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new Error(`etcd table store: ${epochKey} holds ${JSON.stringify(kv.value.toString())}, not an epoch`);
    return { epoch, mod: kv.mod_revision };
  };

  return {
    save: (record) => saveBatch([record]),
    saveBatch,
    load: () =>
      serial(async () => {
        try {
          const snapshot = await readSnapshot();
          const floor = await readFloor();
          [known, knownFloor] = [snapshot.disks, floor];
          return stateOf(snapshot.disks, floor);
        } catch (e) {
          known = null;
          throw e;
        }
      }),
    raiseControllerEpoch: () =>
      serial(async () => {
        const fence = currentFence();
        if (fence === null) throw new Error('etcd table store: this controller is not the leader: the controller epoch was not raised');
        const { epoch, mod } = await readEpoch();
        await txn([put(epochKey, String(epoch + 1))], fence ?? undefined, [[epochKey, mod]]);
        return epoch + 1;
      }),
    controllerEpoch: async () => (await readEpoch()).epoch,
    collectGarbage: () =>
      serial(async () => {
        const fence = currentFence();
        if (fence === null) throw new Error('etcd table store: this controller is not the leader: no garbage was collected');
        const snapshot = await readSnapshot();
        known = snapshot.disks;
        for (const batch of pack(snapshot.garbage.map(deleteKey))) await txn(batch, fence ?? undefined, []);
        return snapshot.garbage.length;
      }),
    lastSave: () => stats,
  };
};
