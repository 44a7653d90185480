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
 *   stays bounded.
 * - A failed append or sync makes the store refuse everything after it: whether the bytes
 *   reached the disk is unknown, so the process must restart and reload (fail-stop).
 *
 * Records are validated before they are appended (an `updateTable` whose `fromGeneration` does
 * not match is refused), by applying them to the library's in-memory store first.
 */
import { crc32c } from '@aws-crypto/crc32c';
import { open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryPersistence, type PersistedState, type PersistRecord, type TablePersistence } from '../../src/index.js';

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

const readCheckpoint = async (dir: string): Promise<{ journal: number; state: PersistedState } | null> => {
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
  const doc = JSON.parse(Buffer.from(frames[0]!).toString('utf8')) as { format?: unknown; journal?: unknown; state?: PersistedState };
  if (doc.format !== CHECKPOINT_FORMAT || typeof doc.journal !== 'number' || typeof doc.state !== 'object')
    throw new Error(`${join(dir, CHECKPOINT)} is not a ${CHECKPOINT_FORMAT} document`);
  return { journal: doc.journal, state: doc.state };
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
    for (const a of checkpoint.state.attachments) await memory.save({ type: 'attachments', disk: a.disk, agents: a.agents });
  }

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
      load: () => memory.load(),
      peek: () => memory.peek(),
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
    const payload = Buffer.from(JSON.stringify({ format: CHECKPOINT_FORMAT, journal: next, state }), 'utf8');
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
            await writeCheckpoint(memory.peek());
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
      return memory.load();
    },
    peek: () => memory.peek(),
    async compact() {
      await applyChain;
      while (writing || pending.length > 0) await new Promise((r) => setTimeout(r, 1));
      if (failed !== null) throw failed;
      writing = true;
      try {
        await writeCheckpoint(memory.peek());
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
