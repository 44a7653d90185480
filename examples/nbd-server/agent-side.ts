/**
 * The data path of a node: the NBD `Backend` over one agent runtime and the file-backed LUNs.
 * Byte ranges become block ranges here (unaligned edges are read, patched and written back);
 * FLUSH, FUA, TRIM and WRITE_ZEROES map onto the agent runtime's flush, fua, discard and writeZeros.
 */
import { agentTable, type AgentRuntime, type MappingTable } from '../../src/index.js';
import { allocationExtents } from './allocation.js';
import type { ExportEntry } from './data-dir.js';
import type { FileStorage } from './file-storage.js';
import * as P from './protocol.js';
import { NbdError, type Backend, type ExportHandle, type ExportInfo } from './server.js';

/** Zeros written at a time by WRITE_ZEROES with NO_HOLE. */
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
  /** Clients in transmission, by export. */
  const clients = new Map<string, number>();
  const makeHandle = (name: string, size: number, readOnly: boolean): ExportHandle => {
    /** Unaligned writes read, patch and write whole blocks, one at a time per export. */
    let rmw: Promise<unknown> = Promise.resolve();

    const read = async (offset: number, length: number): Promise<Uint8Array> => {
      const first = Math.floor(offset / blockSize);
      const last = Math.ceil((offset + length) / blockSize);
      const data = await agent.read(name, first, last - first);
      return data.subarray(offset - first * blockSize, offset - first * blockSize + length);
    };
    const write = async (offset: number, data: Uint8Array, fua = false): Promise<void> => {
      if (offset % blockSize === 0 && data.length % blockSize === 0) return agent.write(name, offset / blockSize, data, { fua });
      const run = rmw.then(async () => {
        const first = Math.floor(offset / blockSize);
        const last = Math.ceil((offset + data.length) / blockSize);
        const whole = await agent.read(name, first, last - first);
        whole.set(data, offset - first * blockSize);
        await agent.write(name, first, whole, { fua });
      });
      rmw = run.catch(() => undefined);
      return run;
    };
    /** The whole blocks inside a byte range, as [first, count]. */
    const innerBlocks = (offset: number, length: number): [number, number] => {
      const first = Math.ceil(offset / blockSize);
      return [first, Math.max(0, Math.floor((offset + length) / blockSize) - first)];
    };

    return {
      name,
      size,
      readOnly,
      read,
      write,
      async writeZeroes(offset, length, noHole = false) {
        if (noHole) {
          // NO_HOLE: the range must stay allocated, so zeros go through the write path (writeZeros
          // would turn whole segments into holes).
          for (let at = offset; at < offset + length; ) {
            const chunkEnd = Math.min(offset + length, (Math.floor(at / ZERO_CHUNK) + 1) * ZERO_CHUNK);
            await write(at, new Uint8Array(chunkEnd - at));
            at = chunkEnd;
          }
          return;
        }
        const [first, count] = innerBlocks(offset, length);
        if (count === 0) return write(offset, new Uint8Array(length));
        // Partial blocks at the edges are patched; whole blocks are zeroed without data, whole segments become holes.
        if (offset < first * blockSize) await write(offset, new Uint8Array(first * blockSize - offset));
        await agent.writeZeros(name, first, count);
        const tail = (first + count) * blockSize;
        if (tail < offset + length) await write(tail, new Uint8Array(offset + length - tail));
      },
      async trim(offset, length) {
        // TRIM is advisory: partial blocks at the edges keep their data; whole blocks read as zeros
        // afterwards, and whole segments free their space.
        const [first, count] = innerBlocks(offset, length);
        if (count > 0) await agent.discard(name, first, count);
      },
      async flush() {
        await agent.flush(name);
      },
      attach() {
        clients.set(name, (clients.get(name) ?? 0) + 1);
        let once = false;
        return () => {
          if (once) return;
          once = true;
          const n = (clients.get(name) ?? 1) - 1;
          if (n === 0) clients.delete(name);
          else clients.set(name, n);
        };
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
      // A deleted export's handle goes, so a later export of that name starts afresh.
      for (const n of [...handles.keys()]) if (!list.some((e) => e.name === n)) handles.delete(n);
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
    clientsOf: (name) => clients.get(name) ?? 0,
  };
  return backend;
};
