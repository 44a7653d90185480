/**
 * The data path of a node: the NBD `Backend` over one agent runtime and the file-backed LUNs.
 * Byte ranges become block ranges here (unaligned edges are read, patched and written back), and
 * the storage semantics the library does not offer yet are filled in (see the comments marking
 * what replaces each).
 */
import { agentTable, type AgentRuntime, type MappingTable } from '../../src/index.js';
import { allocationExtents } from './allocation.js';
import type { ExportEntry } from './data-dir.js';
import type { FileStorage } from './file-storage.js';
import * as P from './protocol.js';
import { NbdError, type Backend, type ExportHandle, type ExportInfo } from './server.js';

/** Zeros written at a time by WRITE_ZEROES. */
const ZERO_CHUNK = 4 << 20;

export interface AgentSideOptions {
  readonly agent: AgentRuntime;
  readonly storage: FileStorage;
  readonly blockSize: number;
  /** The current export list. */
  readonly exports: () => Promise<ReadonlyArray<ExportEntry>>;
  /**
   * The freshest table of `disk` this process can see without I/O (the controller's committed
   * table in a single process; the agent's copy otherwise), or undefined.
   */
  readonly tableOf: (disk: string) => MappingTable | undefined;
}

/**
 * The exports of a node, served through `agent`.
 *
 * @example
 * const backend = createAgentBackend({ agent, storage, blockSize: 4096, exports: async () => config.exports, tableOf: (d) => agentTable(agent.state(), d) });
 */
export const createAgentBackend = (options: AgentSideOptions): Backend => {
  const { agent, storage, blockSize } = options;

  /** The table of `disk`, faulting it in through a one-block read when this agent has none yet. */
  const loadTable = async (disk: string): Promise<MappingTable | undefined> => {
    const t = options.tableOf(disk) ?? agentTable(agent.state(), disk);
    if (t !== undefined) return t;
    await agent.read(disk, 0, 1).catch(() => undefined);
    return options.tableOf(disk) ?? agentTable(agent.state(), disk);
  };

  const handles = new Map<string, ExportHandle>();
  const makeHandle = (name: string, size: number, readOnly: boolean): ExportHandle => {
    /** Unaligned writes read, patch and write whole blocks, one at a time per export. */
    let rmw: Promise<unknown> = Promise.resolve();

    const read = async (offset: number, length: number): Promise<Uint8Array> => {
      const first = Math.floor(offset / blockSize);
      const last = Math.ceil((offset + length) / blockSize);
      const data = await agent.read(name, first, last - first);
      return data.subarray(offset - first * blockSize, offset - first * blockSize + length);
    };
    const write = async (offset: number, data: Uint8Array): Promise<void> => {
      if (offset % blockSize === 0 && data.length % blockSize === 0) return agent.write(name, offset / blockSize, data);
      const run = rmw.then(async () => {
        const first = Math.floor(offset / blockSize);
        const last = Math.ceil((offset + data.length) / blockSize);
        const whole = await agent.read(name, first, last - first);
        whole.set(data, offset - first * blockSize);
        await agent.write(name, first, whole);
      });
      rmw = run.catch(() => undefined);
      return run;
    };
    /** True when every block of the byte range is a hole that reads as zeros. */
    const allHoles = async (offset: number, length: number): Promise<boolean> => {
      const t = await loadTable(name);
      return t !== undefined && allocationExtents(t, blockSize, offset, length).every((e) => (e.flags & P.STATE_ZERO) !== 0);
    };

    return {
      name,
      size,
      readOnly,
      read,
      write,
      async writeZeroes(offset, length) {
        // Replaced by the agent runtime's `writeZeros(disk, ...)` when the library's
        // storage-semantics change lands: whole segments will become `zero` and free their space.
        // Until then: nothing to do over holes, zeros through the normal write path elsewhere.
        for (let at = offset; at < offset + length; ) {
          const chunkEnd = Math.min(offset + length, (Math.floor(at / ZERO_CHUNK) + 1) * ZERO_CHUNK);
          if (!(await allHoles(at, chunkEnd - at))) await write(at, new Uint8Array(chunkEnd - at));
          at = chunkEnd;
        }
      },
      async trim() {
        // Replaced by the agent runtime's `discard(disk, ...)` when the storage-semantics change
        // lands. NBD lets a server ignore TRIM (it is advisory: reads after it may return the old
        // data or zeros), and the library cannot release space on a discard yet.
      },
      async flush() {
        // Replaced by the agent runtime's `flush(disk)` when the storage-semantics change lands.
        // Until then, syncing every LUN file is correct: every write reaches the LUN files through
        // this storage adapter, and a write's table change is durable before the write completes.
        await storage.flushAll();
      },
      async allocation(offset, length) {
        const t = await loadTable(name);
        if (t === undefined) throw new NbdError(P.EIO, `the table of disk ${name} is not available`);
        return allocationExtents(t, blockSize, offset, length);
      },
    };
  };

  const ordered = async (): Promise<ExportEntry[]> => {
    const list = await options.exports();
    // The default export is the first disk that is not a snapshot.
    return [...list.filter((e) => !e.snapshot), ...list.filter((e) => e.snapshot)];
  };

  const backend: Backend = {
    blockSizes: { minimum: blockSize, preferred: Math.max(blockSize, 4096), maximum: 32 << 20 },
    async exports(): Promise<ExportInfo[]> {
      return (await ordered()).map((e) => ({ name: e.name, description: e.snapshot ? 'vdisk-map snapshot (read-only)' : 'vdisk-map virtual disk' }));
    },
    async open(requested) {
      const list = await ordered();
      const entry = requested === '' ? list[0] : list.find((e) => e.name === requested);
      if (entry === undefined) return undefined;
      const cached = handles.get(entry.name);
      if (cached !== undefined) return cached;
      let size = entry.bytes;
      if (size === undefined) {
        const t = await loadTable(entry.name);
        if (t === undefined) return undefined;
        size = t.segmentCount * t.segmentBlocks * blockSize;
      }
      const handle = makeHandle(entry.name, size, entry.snapshot);
      handles.set(entry.name, handle);
      return handle;
    },
  };
  return backend;
};
