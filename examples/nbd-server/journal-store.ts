/**
 * A journaled controller store: a reference `TablePersistence` (docs/design.md#adapter-contracts).
 *
 * - Every record is appended to `journal-<n>.log` as a frame: 4-byte length, 4-byte CRC-32C of
 *   the payload, the payload (the record as JSON).
 * - Records saved while a write is in flight are written together and made durable with one
 *   `fdatasync` (group commit); each `save` resolves when its group is durable.
 * - At load, the last checkpoint is read and the journal replayed; a torn or corrupt tail (a
 *   crash in the middle of an append) is cut off with a warning, since no `save` of it resolved.
 * - After `compactEvery` records, the whole state is written to `checkpoint` (a single frame,
 *   via a temporary file, `fsync` and `rename`) and a fresh journal started, so start-up time
 *   stays bounded. The checkpoint holds each table in its binary form (`encodeTableBinary`,
 *   16 bytes a segment without alternates, checksummed) after a small JSON header; checkpoints
 *   of the first format (the whole state as one JSON document) are still read.
 * - A failed append or sync makes the store refuse everything after it: whether the bytes
 *   reached the disk is unknown, so the process must restart and reload (fail-stop).
 *
 * Records are validated before they are appended (an `updateTable` whose `fromGeneration` does
 * not match is refused), by applying them to the library's in-memory store first.
 */
import { crc32c } from '@aws-crypto/crc32c';
import { open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { createMemoryPersistence, decodeTableBinary, encodeTable, encodeTableBinary, type MappingTable, type PersistedState, type PersistRecord, type TablePersistence } from '../../src/index.js';

export interface JournalStore extends TablePersistence {
  /** The durable state right now (synchronously), e.g. for `ctl check`. */
  peek(): PersistedState;
  /** Writes a checkpoint and starts a new journal now. */
  compact(): Promise<void>;
  close(): Promise<void>;
}

export interface JournalOptions {
  /** Records between checkpoints (default 4096). */
  readonly compactEvery?: number;
  /** Told about a torn or corrupt tail that was cut off at load. */
  readonly warn?: (message: string) => void;
  /** Only read the state: nothing is cut off, created or deleted, and `save` rejects. */
  readonly readOnly?: boolean;
}

const FRAME_HEADER = 8;
/** A frame longer than this is corruption, not a record. */
const MAX_FRAME = 256 << 20;
const CHECKPOINT = 'checkpoint';
const CHECKPOINT_FORMAT = 'vdisk-map-nbd/checkpoint';

const journalName = (n: number): string => `journal-${n}.log`;

/** One frame: length, CRC-32C, payload. */
export const encodeFrame = (payload: Uint8Array): Buffer => {
  const b = Buffer.alloc(FRAME_HEADER + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeUInt32BE(crc32c(payload), 4);
  b.set(payload, FRAME_HEADER);
  return b;
};

/**
 * The frames of `bytes` that are whole and intact, and where the good part ends; `problem`
 * says what is wrong with what follows, if anything does.
 */
export const decodeFrames = (bytes: Uint8Array): { frames: Uint8Array[]; goodBytes: number; problem: string | null } => {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < b.length) {
    if (at + FRAME_HEADER > b.length) return { frames, goodBytes: at, problem: `a frame header at byte ${at} is cut short (${b.length - at} of ${FRAME_HEADER} bytes)` };
    const length = b.readUInt32BE(at);
    if (length > MAX_FRAME) return { frames, goodBytes: at, problem: `the frame at byte ${at} claims ${length} bytes` };
    if (at + FRAME_HEADER + length > b.length) return { frames, goodBytes: at, problem: `the frame at byte ${at} is cut short (${b.length - at - FRAME_HEADER} of ${length} bytes)` };
    const payload = b.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
    if (crc32c(payload) !== b.readUInt32BE(at + 4)) return { frames, goodBytes: at, problem: `the frame at byte ${at} fails its CRC-32C` };
    frames.push(payload);
    at += FRAME_HEADER + length;
  }
  return { frames, goodBytes: at, problem: null };
};

const syncDir = async (dir: string): Promise<void> => {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
};

/**
 * A checkpoint's payload, second format: the magic, a 4-byte length, a JSON header (journal
 * number, attachments, and each table's disk and byte length), then the tables' binary forms in
 * header order. The first format was the JSON document `{ format, journal, state }` alone.
 */
const CHECKPOINT_MAGIC = Buffer.from('VDMCKPT2', 'ascii');

interface CheckpointHeader {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: 2;
  readonly journal: number;
  /** Each entry may list `dropping` agents (absent in checkpoints written before: none). */
  readonly attachments: PersistedState['attachments'];
  readonly tables: ReadonlyArray<{ readonly disk: string; readonly bytes: number }>;
  /** `PersistedState.generationFloor` (absent in checkpoints written before, or when 0). */
  readonly generationFloor?: number;
}

/** A checkpoint as loaded: the journal to replay after it, and the state. */
interface Checkpoint {
  readonly journal: number;
  readonly state: PersistedState;
}

/** The payload of a checkpoint of `tables`, `attachments` and the generation floor, naming `journal` as the one to replay after it. */
export const encodeCheckpoint = (journal: number, tables: ReadonlyArray<{ disk: string; table: MappingTable }>, attachments: PersistedState['attachments'], generationFloor = 0): Buffer => {
  const binaries = tables.map(({ table }) => encodeTableBinary(table));
  const header: CheckpointHeader = {
    format: CHECKPOINT_FORMAT,
    version: 2,
    journal,
    attachments,
    tables: tables.map(({ disk }, i) => ({ disk, bytes: binaries[i]!.length })),
    ...(generationFloor > 0 ? { generationFloor } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([CHECKPOINT_MAGIC, length, json, ...binaries]);
};

/** Decodes a checkpoint payload of either format; `where` names it in errors. */
export const decodeCheckpoint = (payload: Uint8Array, where: string): Checkpoint => {
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  if (b.length >= CHECKPOINT_MAGIC.length && b.subarray(0, CHECKPOINT_MAGIC.length).equals(CHECKPOINT_MAGIC)) return decodeBinaryCheckpoint(b, where);
  let doc: { format?: unknown; journal?: unknown; state?: PersistedState };
  try {
    doc = JSON.parse(b.toString('utf8')) as typeof doc;
  } catch (e) {
    throw new Error(`${where} is neither a binary checkpoint nor JSON: ${(e as Error).message}`);
  }
  if (doc.format !== CHECKPOINT_FORMAT || typeof doc.journal !== 'number' || typeof doc.state !== 'object' || doc.state === null)
    throw new Error(`${where} is not a ${CHECKPOINT_FORMAT} document`);
  return { journal: doc.journal, state: doc.state };
};

const decodeBinaryCheckpoint = (b: Buffer, where: string): Checkpoint => {
  const at = CHECKPOINT_MAGIC.length;
  if (b.length < at + 4) throw new Error(`${where}: the header length is cut short (${b.length} bytes)`);
  const headerBytes = b.readUInt32BE(at);
  if (at + 4 + headerBytes > b.length) throw new Error(`${where}: the header claims ${headerBytes} bytes, ${b.length - at - 4} are there`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(b.subarray(at + 4, at + 4 + headerBytes).toString('utf8')) as CheckpointHeader;
  } catch (e) {
    throw new Error(`${where}: the header is not JSON: ${(e as Error).message}`);
  }
  if (header?.format !== CHECKPOINT_FORMAT || header.version !== 2 || typeof header.journal !== 'number' || !Array.isArray(header.tables) || !Array.isArray(header.attachments))
    throw new Error(`${where}: the header is not a ${CHECKPOINT_FORMAT} version 2 header: ${JSON.stringify(header).slice(0, 200)}`);
  let offset = at + 4 + headerBytes;
  const tables: PersistedState['tables'][number][] = [];
  for (const [i, t] of header.tables.entries()) {
    if (typeof t?.disk !== 'string' || !Number.isSafeInteger(t.bytes) || t.bytes < 0 || offset + t.bytes > b.length)
      throw new Error(`${where}: table ${i} of the header (${JSON.stringify(t)}) does not fit the ${b.length - offset} bytes left`);
    const decoded = decodeTableBinary(b.subarray(offset, offset + t.bytes));
    if (E.isLeft(decoded)) throw new Error(`${where}: the table of disk ${JSON.stringify(t.disk)} does not decode: ${decoded.left.map((x) => x.message).join('; ')}`);
    // The store below keeps tables as documents (a `saveTable` record carries one).
    tables.push({ disk: t.disk, table: encodeTable(decoded.right) });
    offset += t.bytes;
  }
  if (offset !== b.length) throw new Error(`${where}: ${b.length - offset} bytes follow the last table`);
  const floor = header.generationFloor;
  if (floor !== undefined && !(Number.isSafeInteger(floor) && floor >= 0)) throw new Error(`${where}: generationFloor must be a non-negative safe integer, got ${JSON.stringify(floor)}`);
  return { journal: header.journal, state: { tables, attachments: header.attachments, ...(floor !== undefined && floor > 0 ? { generationFloor: floor } : {}) } };
};

const readCheckpoint = async (dir: string): Promise<Checkpoint | null> => {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, CHECKPOINT));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  // The checkpoint is renamed into place whole: any damage is corruption, not a torn write.
  const { frames, problem } = decodeFrames(bytes);
  if (problem !== null || frames.length !== 1) throw new Error(`${join(dir, CHECKPOINT)} is corrupt: ${problem ?? `${frames.length} frames, expected 1`}`);
  return decodeCheckpoint(frames[0]!, join(dir, CHECKPOINT));
};

/** Reads the persisted state of `dir` without opening it for writing (for offline checks). */
export const readJournalState = async (dir: string, warn: (message: string) => void = () => undefined): Promise<PersistedState> => {
  const store = await openJournalStore(dir, { warn, readOnly: true });
  const state = store.peek();
  await store.close();
  return state;
};

/**
 * Opens the store in `dir` (created when empty): loads the checkpoint, replays the journal,
 * cuts off a torn tail.
 *
 * @example
 * const store = await openJournalStore('/var/lib/vdisk', { warn: (m) => log.warn(m) });
 * const controller = await createController({ ...adapters, persistence: store });
 */
export const openJournalStore = async (dir: string, options: JournalOptions = {}): Promise<JournalStore> => {
  const compactEvery = options.compactEvery ?? 4096;
  const warn = options.warn ?? (() => undefined);
  const readOnly = options.readOnly === true;
  const memory = createMemoryPersistence();

  const checkpoint = await readCheckpoint(dir);
  let journal = checkpoint?.journal ?? 0;
  if (checkpoint !== null) {
    for (const { disk, table } of checkpoint.state.tables) await memory.save({ type: 'saveTable', disk, table });
    for (const a of checkpoint.state.attachments) await memory.save({ type: 'attachments', disk: a.disk, agents: a.agents, ...(a.dropping === undefined ? {} : { dropping: a.dropping }) });
  }
  // The floor the checkpoint holds (no record sets it in the store below): the journal's
  // `deleteTable` records raise the store's own, and the state is the higher of the two.
  const checkpointFloor = checkpoint?.state.generationFloor ?? 0;
  const withFloor = (state: PersistedState): PersistedState => {
    const floor = Math.max(checkpointFloor, state.generationFloor ?? 0);
    return floor > 0 ? { ...state, generationFloor: floor } : state;
  };
  const peekState = (): PersistedState => withFloor(memory.peek());

  const path = join(dir, journalName(journal));
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    bytes = Buffer.alloc(0);
  }
  const { frames, goodBytes, problem } = decodeFrames(bytes);
  for (const [i, frame] of frames.entries()) {
    let record: PersistRecord;
    try {
      record = JSON.parse(Buffer.from(frame).toString('utf8')) as PersistRecord;
    } catch (e) {
      throw new Error(`${path}: record ${i} passes its CRC but is not JSON: ${(e as Error).message}`);
    }
    // A record that passed its CRC was validated before it was written: refusing it now means the
    // files do not belong together (a lost checkpoint, a foreign journal). Start-up stops here.
    await memory.save(record).catch((e: unknown) => {
      throw new Error(`${path}: record ${i} cannot be replayed: ${(e as Error).message}`);
    });
  }
  let records = frames.length;

  if (readOnly) {
    if (problem !== null) warn(`${path}: ignoring a torn or corrupt tail after byte ${goodBytes}: ${problem}`);
    return {
      save: () => Promise.reject(new Error('the store is open read-only')),
      load: () => memory.load().then(withFloor),
      peek: peekState,
      compact: () => Promise.reject(new Error('the store is open read-only')),
      close: async () => undefined,
    };
  }

  let fh: FileHandle = await open(path, 'a+').then(async (h) => (await h.close(), open(path, 'r+')));
  if (problem !== null) {
    warn(`${path}: cutting off a torn or corrupt tail after byte ${goodBytes} (${bytes.length - goodBytes} bytes): ${problem}`);
    await fh.truncate(goodBytes);
    await fh.datasync();
  }
  let position = goodBytes;
  // Journals older than the checkpoint are no longer needed.
  for (const name of await readdir(dir)) {
    const m = /^journal-(\d+)\.log$/.exec(name);
    if (m !== null && Number(m[1]) !== journal) await unlink(join(dir, name)).catch(() => undefined);
  }

  let failed: Error | null = null;
  let closed = false;
  /** Records applied to `memory` whose frames are not queued yet. */
  let applying = 0;
  let applyChain: Promise<unknown> = Promise.resolve();
  let pending: { frame: Buffer; resolve: () => void; reject: (e: Error) => void }[] = [];
  let writing = false;

  const writeCheckpoint = async (state: PersistedState): Promise<void> => {
    const next = journal + 1;
    const tables = state.tables.map(({ disk }) => ({ disk, table: memory.table(disk)! }));
    const payload = encodeCheckpoint(next, tables, state.attachments, state.generationFloor);
    const tmp = join(dir, `${CHECKPOINT}.tmp`);
    const out = await open(tmp, 'w');
    try {
      await out.writeFile(encodeFrame(payload));
      await out.sync();
    } finally {
      await out.close();
    }
    const nextPath = join(dir, journalName(next));
    const nextHandle = await open(nextPath, 'w+');
    await nextHandle.sync();
    await rename(tmp, join(dir, CHECKPOINT));
    await syncDir(dir);
    // From here on the new checkpoint and journal are the truth; the old journal is garbage.
    await fh.close();
    const old = join(dir, journalName(journal));
    [fh, journal, position, records] = [nextHandle, next, 0, 0];
    await unlink(old).catch(() => undefined);
  };

  const writer = async (): Promise<void> => {
    if (writing) return;
    writing = true;
    try {
      while (pending.length > 0 && failed === null) {
        const batch = pending;
        pending = [];
        try {
          const data = Buffer.concat(batch.map((p) => p.frame));
          for (let done = 0; done < data.length; ) done += (await fh.write(data, done, data.length - done, position + done)).bytesWritten;
          await fh.datasync();
          position += data.length;
          records += batch.length;
          for (const p of batch) p.resolve();
        } catch (e) {
          failed = new Error(`journal ${journalName(journal)} write failed; the store refuses further records until restarted: ${(e as Error).message}`);
          for (const p of [...batch, ...pending]) p.reject(failed);
          pending = [];
          return;
        }
        // Compact between groups, when every applied record is durable: the checkpoint then holds
        // exactly what the old journal held.
        if (records >= compactEvery && pending.length === 0 && applying === 0) {
          try {
            await writeCheckpoint(peekState());
          } catch (e) {
            warn(`compaction failed, the journal keeps growing: ${(e as Error).message}`);
          }
        }
      }
    } finally {
      writing = false;
    }
  };

  return {
    save(record) {
      if (closed) return Promise.reject(new Error('the store is closed'));
      if (failed !== null) return Promise.reject(failed);
      let frame: Buffer;
      try {
        frame = encodeFrame(Buffer.from(JSON.stringify(record), 'utf8'));
      } catch (e) {
        return Promise.reject(new Error(`record cannot be serialized: ${(e as Error).message}`));
      }
      applying++;
      const applied = applyChain.then(() => memory.save(record));
      applyChain = applied.catch(() => undefined);
      return applied.then(
        () =>
          new Promise<void>((resolve, reject) => {
            applying--;
            if (failed !== null) return reject(failed);
            pending.push({ frame, resolve, reject });
            void writer();
          }),
        (e: unknown) => {
          applying--;
          throw e;
        },
      );
    },
    load() {
      if (failed !== null) return Promise.reject(failed);
      return memory.load().then(withFloor);
    },
    peek: peekState,
    async compact() {
      await applyChain;
      while (writing || pending.length > 0) await new Promise((r) => setTimeout(r, 1));
      if (failed !== null) throw failed;
      writing = true;
      try {
        await writeCheckpoint(peekState());
      } finally {
        writing = false;
      }
      if (pending.length > 0) void writer();
    },
    async close() {
      closed = true;
      while (writing) await new Promise((r) => setTimeout(r, 1));
      await fh.close().catch(() => undefined);
    },
  };
};
