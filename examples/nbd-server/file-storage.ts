/**
 * File-backed LUNs: one sparse file per LUN, positional reads and writes through a FileHandle,
 * and `flush(lun)` = `fdatasync`. A reference `BlockStorage` (docs/design.md#adapter-contracts)
 * a product can copy; every failure rejects with an Error that names the LUN and the range.
 *
 * Writes land in the page cache: they are durable only after `flush`. The controller's copies
 * and zero-fills are made durable before they resolve, because the records that will reference
 * their targets are persisted right after them.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlockStorage } from '../../src/index.js';

export interface FileStorage extends BlockStorage {
  /** Makes every completed write to `lun` durable (`fdatasync`). */
  flush(lun: number): Promise<void>;
  /** Flushes every LUN. */
  flushAll(): Promise<void>;
  /** LUN ids and their sizes in blocks. */
  readonly luns: ReadonlyMap<number, number>;
  close(): Promise<void>;
}

/** Bytes the zero-fill writes at a time. */
const ZERO_CHUNK = 1 << 20;

export const lunPath = (dir: string, lun: number): string => join(dir, `lun-${lun}.img`);

/**
 * Opens (creating when missing) one file per LUN in `dir`, each `blocks * blockSize` bytes,
 * sparse.
 *
 * @example
 * const storage = await openFileStorage('/var/lib/vdisk', 4096, new Map([[1, 1 << 20], [2, 1 << 20]]));
 * await storage.write(1, 0, new Uint8Array(4096).fill(7));
 * await storage.flush(1);
 */
export const openFileStorage = async (dir: string, blockSize: number, luns: ReadonlyMap<number, number>): Promise<FileStorage> => {
  const handles = new Map<number, FileHandle>();
  try {
    for (const [lun, blocks] of luns) {
      const fh = await open(lunPath(dir, lun), 'a+').then(async (h) => {
        await h.close(); // 'a+' only creates; positional writes need 'r+'
        return open(lunPath(dir, lun), 'r+');
      });
      handles.set(lun, fh);
      const { size } = await fh.stat();
      if (size < blocks * blockSize) await fh.truncate(blocks * blockSize);
    }
  } catch (e) {
    for (const h of handles.values()) await h.close().catch(() => undefined);
    throw e;
  }

  const handle = (lun: number, start: number, length: number, what: string): FileHandle => {
    const fh = handles.get(lun);
    const blocks = luns.get(lun);
    if (fh === undefined || blocks === undefined) throw new Error(`${what}: LUN ${lun} does not exist (LUNs: ${[...luns.keys()].join(', ')})`);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > blocks)
      throw new Error(`${what}: blocks ${start}+${length} are outside LUN ${lun} (${blocks} blocks)`);
    return fh;
  };

  const readAll = async (fh: FileHandle, buffer: Uint8Array, position: number): Promise<void> => {
    for (let done = 0; done < buffer.length; ) {
      const { bytesRead } = await fh.read(buffer, done, buffer.length - done, position + done);
      if (bytesRead === 0) return; // past the end of a sparse file: zeros
      done += bytesRead;
    }
  };
  const writeAll = async (fh: FileHandle, data: Uint8Array, position: number): Promise<void> => {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  };

  const storage: FileStorage = {
    blockSize,
    luns,
    async read(lun, start, length) {
      const fh = handle(lun, start, length, `read of ${length} blocks`);
      const buffer = new Uint8Array(length * blockSize);
      await readAll(fh, buffer, start * blockSize);
      return buffer;
    },
    async write(lun, start, data) {
      if (data.length === 0 || data.length % blockSize !== 0) throw new Error(`write to LUN ${lun} at block ${start}: ${data.length} bytes is not a positive number of ${blockSize}-byte blocks`);
      const fh = handle(lun, start, data.length / blockSize, `write of ${data.length / blockSize} blocks`);
      await writeAll(fh, data, start * blockSize);
    },
    async copy(from, to, length) {
      handle(from.lun, from.start, length, 'copy source');
      const target = handle(to.lun, to.start, length, 'copy target');
      // Read whole first, so overlapping ranges are safe.
      const data = await storage.read(from.lun, from.start, length);
      await writeAll(target, data, to.start * blockSize);
      // Replaced by the controller's flush before persisting, once BlockStorage.flush lands in the library.
      await target.datasync();
    },
    async writeZeros(lun, start, length) {
      const fh = handle(lun, start, length, `zero-fill of ${length} blocks`);
      const zeros = new Uint8Array(Math.min(ZERO_CHUNK, length * blockSize));
      for (let done = 0; done < length * blockSize; done += zeros.length) {
        const n = Math.min(zeros.length, length * blockSize - done);
        await writeAll(fh, zeros.subarray(0, n), start * blockSize + done);
      }
      // Replaced by the controller's flush before persisting, once BlockStorage.flush lands in the library.
      await fh.datasync();
    },
    async flush(lun) {
      const fh = handles.get(lun);
      if (fh === undefined) throw new Error(`flush: LUN ${lun} does not exist`);
      await fh.datasync();
    },
    async flushAll() {
      await Promise.all([...handles.values()].map((h) => h.datasync()));
    },
    async close() {
      for (const h of handles.values()) await h.close().catch(() => undefined);
      handles.clear();
    },
  };
  return storage;
};
