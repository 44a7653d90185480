/**
 * One server process: the controller and one agent over the library's runtimes, the file-backed
 * LUNs and the journaled store of a data directory, presented to the NBD server as a `Backend`.
 *
 * One agent per process, shared by every client connection: an agent stands for a host's mapping
 * layer, and connections are that host's queues. Attaching an agent per connection would persist
 * an attachment on every connect and make every connection fault its tables in again.
 *
 * Data directory layout: `node.json` (geometry, LUNs, export list), `lun-<n>.img` (one sparse
 * file per LUN), `checkpoint` and `journal-<n>.log` (the controller store),
 * `agent-<id>.epoch` (the agent's last epoch, so every restart is a new, higher one).
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createAgent,
  createAllocator,
  createController,
  type AgentMessage,
  type AgentRuntime,
  type ControllerMessage,
  type ControllerRuntime,
  type MappingTable,
} from '../../src/index.js';
import { allocationExtents } from './allocation.js';
import { openFileStorage, type FileStorage } from './file-storage.js';
import { openJournalStore, type JournalStore } from './journal-store.js';
import { createLocalHub, systemClock } from './local.js';
import { NbdError, type Backend, type ExportHandle, type ExportInfo, type Logger } from './server.js';
import * as P from './protocol.js';

export interface NodeConfig {
  readonly format: 'vdisk-map-nbd/node';
  readonly blockSize: number;
  readonly segmentBlocks: number;
  /** LUN id -> size in blocks. */
  readonly luns: Readonly<Record<string, number>>;
  /** Exports in creation order; snapshots are read-only, and `of` names the disk they were taken of. */
  readonly exports: ReadonlyArray<{ readonly name: string; readonly snapshot: boolean; readonly of?: string }>;
}

export interface NodeOptions {
  readonly dir: string;
  /** Disks to create when they do not exist yet: name and size in bytes. */
  readonly create?: ReadonlyArray<{ readonly name: string; readonly bytes: number }>;
  readonly log: Logger;
  /** Geometry of a new data directory (ignored when `node.json` exists). */
  readonly blockSize?: number;
  readonly segmentBytes?: number;
  readonly lunCount?: number;
  readonly lunBytes?: number;
  readonly compactEvery?: number;
}

/** One export as `ctl list` shows it. */
export interface ExportSummary {
  readonly name: string;
  readonly snapshot: boolean;
  readonly bytes: number;
  readonly generation: number;
  readonly allocatedBytes: number;
}

/** What `ctl stats` shows: fault resolutions by flowchart path, and space. */
export interface NodeStats {
  /** `resolved` notices by reason, path (steps joined by `>`) and outcome. */
  readonly resolutions: Readonly<Record<string, number>>;
  readonly refusedMessages: number;
  readonly luns: ReadonlyArray<{ readonly lun: number; readonly blocks: number; readonly freeBlocks: number }>;
  readonly disks: ReadonlyArray<ExportSummary>;
  readonly blockSize: number;
}

export interface VdiskNode {
  readonly backend: Backend;
  list(): ExportSummary[];
  /** Flushes, then snapshots `disk` as a new read-only export `name`. */
  snapshot(disk: string, name: string): Promise<void>;
  /** Moves every located segment of `disk` to `lun`, in the background. */
  migrate(disk: string, lun: number): Promise<void>;
  stats(): NodeStats;
  readonly controller: ControllerRuntime;
  readonly agent: AgentRuntime;
  readonly config: () => NodeConfig;
  close(): Promise<void>;
}

const AGENT = 'agent-1';
/** Zeros written at a time by WRITE_ZEROES. */
const ZERO_CHUNK = 4 << 20;

const writeAtomically = async (path: string, text: string): Promise<void> => {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
};

const readJson = async <T>(path: string): Promise<T | null> => {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
};

/** The node configuration of `dir`, or null when the directory was never used. */
export const readNodeConfig = (dir: string): Promise<NodeConfig | null> => readJson<NodeConfig>(join(dir, 'node.json'));

/**
 * The groups of disks that may share segments, for `checkTables`: each disk with every snapshot
 * taken of it (and of those snapshots).
 */
export const sharingGroups = (config: NodeConfig): string[][] => {
  const root = (name: string): string => {
    let at = name;
    for (let i = 0; i < config.exports.length; i++) {
      const parent = config.exports.find((e) => e.name === at)?.of;
      if (parent === undefined) break;
      at = parent;
    }
    return at;
  };
  const groups = new Map<string, string[]>();
  for (const e of config.exports) groups.set(root(e.name), [...(groups.get(root(e.name)) ?? []), e.name]);
  return [...groups.values()].filter((g) => g.length > 1);
};

/** Bumps and returns the agent's epoch, durably, so a restarted agent is always newer. */
const nextEpoch = async (dir: string, agent: string): Promise<number> => {
  const path = join(dir, `${agent}.epoch`);
  const last = (await readJson<number>(path)) ?? 0;
  const epoch = last + 1;
  await writeAtomically(path, JSON.stringify(epoch));
  return epoch;
};

/**
 * Opens (or initializes) the data directory and starts the controller and the agent.
 *
 * @example
 * const node = await openNode({ dir: '/var/lib/vdisk', create: [{ name: 'vol', bytes: 1 << 30 }], log });
 * const listener = await listen(node.backend, { socket: '/run/vdisk.sock' }, log);
 */
export const openNode = async (options: NodeOptions): Promise<VdiskNode> => {
  const { dir, log } = options;
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, 'node.json');
  let config = await readNodeConfig(dir);
  if (config === null) {
    const blockSize = options.blockSize ?? 4096;
    const segmentBytes = options.segmentBytes ?? 1 << 20;
    const lunBytes = options.lunBytes ?? 64 * 2 ** 30;
    if (segmentBytes % blockSize !== 0) throw new Error(`segment size ${segmentBytes} is not a multiple of the block size ${blockSize}`);
    const luns: Record<string, number> = {};
    for (let lun = 1; lun <= (options.lunCount ?? 2); lun++) luns[lun] = Math.floor(lunBytes / blockSize);
    config = { format: 'vdisk-map-nbd/node', blockSize, segmentBlocks: segmentBytes / blockSize, luns, exports: [] };
    await writeAtomically(configPath, JSON.stringify(config, null, 2));
  }
  const { blockSize, segmentBlocks } = config;
  const segmentBytes = blockSize * segmentBlocks;
  const lunSizes = new Map(Object.entries(config.luns).map(([k, v]) => [Number(k), v]));

  const storage: FileStorage = await openFileStorage(dir, blockSize, lunSizes);
  const store: JournalStore = await openJournalStore(dir, { warn: (m) => log.warn({ dir }, m), compactEvery: options.compactEvery });
  const allocator = createAllocator(lunSizes);
  if (E.isLeft(allocator)) throw new Error(`LUN sizes in ${configPath}: ${allocator.left.map((e) => e.message).join('; ')}`);
  const hub = createLocalHub();
  const clock = systemClock();
  const resolutions = new Map<string, number>();
  let refusedMessages = 0;
  const controller = await createController(
    { storage, transport: hub.endpoint<ControllerMessage, AgentMessage>('controller'), persistence: store, clock, allocator: allocator.right },
    {
      retryInterval: 100,
      onCommand: (c) => {
        if (c.type === 'resolved') {
          const key = `${c.reason} ${c.path.join('>')} ${c.outcome}`;
          resolutions.set(key, (resolutions.get(key) ?? 0) + 1);
        } else if (c.type === 'refused') refusedMessages++;
      },
    },
  );

  const saveConfig = async (next: NodeConfig): Promise<void> => {
    config = next;
    await writeAtomically(configPath, JSON.stringify(next, null, 2));
  };
  const admin = async (request: Parameters<ControllerRuntime['admin']>[0]): Promise<void> => {
    const result = await controller.admin(request);
    if (!result.ok) throw new Error(`${request.type}: ${result.error}`);
  };

  for (const { name, bytes } of options.create ?? []) {
    if (controller.state().disks.has(name)) continue;
    if (bytes <= 0 || bytes % segmentBytes !== 0) throw new Error(`--create ${name}: size ${bytes} is not a positive multiple of the segment size ${segmentBytes}`);
    await admin({ type: 'createDisk', disk: name, segmentBlocks, segmentCount: bytes / segmentBytes });
    if (!config.exports.some((e) => e.name === name)) await saveConfig({ ...config, exports: [...config.exports, { name, snapshot: false }] });
    log.info({ disk: name, bytes }, 'disk created');
  }
  // Disks the store knows but the export list does not (a crash between the two) are exported too.
  const known = new Set(config.exports.map((e) => e.name));
  const missing = [...controller.state().disks.keys()].filter((d) => !known.has(d)).sort();
  if (missing.length > 0) await saveConfig({ ...config, exports: [...config.exports, ...missing.map((name) => ({ name, snapshot: false }))] });

  const epoch = await nextEpoch(dir, AGENT);
  const agent = createAgent({ storage, transport: hub.endpoint<AgentMessage, ControllerMessage>(AGENT), clock }, { agent: AGENT, epoch, faultTimeout: 200 });
  for (const disk of controller.state().disks.keys()) await admin({ type: 'attachAgent', disk, agent: AGENT });
  log.info({ dir, epoch, disks: [...controller.state().disks.keys()] }, 'node started');

  const committed = (disk: string): MappingTable | undefined => controller.state().disks.get(disk)?.committed;

  const handles = new Map<string, ExportHandle>();
  const handleFor = (name: string, readOnly: boolean): ExportHandle | undefined => {
    const table = committed(name);
    if (table === undefined) return undefined;
    const cached = handles.get(name);
    if (cached !== undefined) return cached;
    const size = table.segmentCount * table.segmentBlocks * blockSize;
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
    const allHoles = (offset: number, length: number): boolean => {
      const t = committed(name);
      return t !== undefined && allocationExtents(t, blockSize, offset, length).every((e) => (e.flags & P.STATE_ZERO) !== 0);
    };

    const handle: ExportHandle = {
      name,
      size,
      readOnly,
      read,
      write,
      async writeZeroes(offset, length) {
        // Replaced by the agent runtime's `writeZeros(disk, ...)` when the library's
        // storage-semantics change lands: whole segments will become `zero` and free their space.
        // Until then: nothing to do over holes, zeros through the normal write path elsewhere.
        if (allHoles(offset, length)) return;
        for (let at = offset; at < offset + length; ) {
          const chunkEnd = Math.min(offset + length, (Math.floor(at / ZERO_CHUNK) + 1) * ZERO_CHUNK);
          if (!allHoles(at, chunkEnd - at)) await write(at, new Uint8Array(chunkEnd - at));
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
      allocation(offset, length) {
        const t = committed(name);
        if (t === undefined) throw new NbdError(P.EIO, `disk ${name} no longer exists`);
        return allocationExtents(t, blockSize, offset, length);
      },
    };
    handles.set(name, handle);
    return handle;
  };

  const backend: Backend = {
    blockSizes: { minimum: blockSize, preferred: Math.max(blockSize, 4096), maximum: 32 << 20 },
    exports(): ExportInfo[] {
      const disks = controller.state().disks;
      const list = config!.exports.filter((e) => disks.has(e.name));
      // The default export is the first disk that is not a snapshot.
      const sorted = [...list.filter((e) => !e.snapshot), ...list.filter((e) => e.snapshot)];
      return sorted.map((e) => ({ name: e.name, description: e.snapshot ? 'vdisk-map snapshot (read-only)' : 'vdisk-map virtual disk' }));
    },
    open(requested) {
      const name = requested === '' ? backend.exports()[0]?.name : requested;
      const entry = config!.exports.find((e) => e.name === name);
      if (entry === undefined) return undefined;
      return handleFor(entry.name, entry.snapshot);
    },
  };

  const summary = (name: string, snapshot: boolean): ExportSummary | null => {
    const t = committed(name);
    if (t === undefined) return null;
    const bytes = t.segmentCount * t.segmentBlocks * blockSize;
    const allocatedBytes = allocationExtents(t, blockSize, 0, bytes, Number.MAX_SAFE_INTEGER)
      .filter((e) => (e.flags & P.STATE_HOLE) === 0)
      .reduce((n, e) => n + e.length, 0);
    return { name, snapshot, bytes, generation: t.generation, allocatedBytes };
  };
  const list = (): ExportSummary[] => config!.exports.map((e) => summary(e.name, e.snapshot)).filter((x): x is ExportSummary => x !== null);

  return {
    backend,
    list,
    async snapshot(disk, name) {
      if (committed(disk) === undefined) throw new Error(`no disk ${JSON.stringify(disk)}`);
      if (!/^[A-Za-z0-9._@-]{1,128}$/.test(name)) throw new Error(`snapshot name ${JSON.stringify(name)} may use letters, digits and . _ @ - only`);
      // What was acknowledged before the snapshot is in it; flushing first also makes it durable.
      await storage.flushAll();
      await admin({ type: 'snapshot', disk, snapshot: name });
      await admin({ type: 'attachAgent', disk: name, agent: AGENT });
      await saveConfig({ ...config!, exports: [...config!.exports, { name, snapshot: true, of: disk }] });
      log.info({ disk, snapshot: name }, 'snapshot taken');
    },
    async migrate(disk, lun) {
      if (!lunSizes.has(lun)) throw new Error(`LUN ${lun} does not exist (LUNs: ${[...lunSizes.keys()].join(', ')})`);
      await admin({ type: 'migrate', disk, lun });
      log.info({ disk, lun }, 'migration started');
    },
    stats: () => ({
      resolutions: Object.fromEntries([...resolutions].sort()),
      refusedMessages,
      luns: [...lunSizes].map(([lun, blocks]) => ({ lun, blocks, freeBlocks: controller.state().allocator.free(lun) })),
      disks: list(),
      blockSize,
    }),
    controller,
    agent,
    config: () => config!,
    async close() {
      agent.stop();
      controller.stop();
      await store.close();
      await storage.close();
    },
  };
};
