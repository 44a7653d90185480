/**
 * The controller of a node: the library's controller runtime over the journaled store and the
 * file-backed LUNs (for its background copies), plus the administration `ctl` offers. It keeps
 * `node.json`'s export list in step with the disks it creates.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createAllocator, createController, type AdminRequest, type AgentMessage, type ControllerMessage, type ControllerRuntime, type MappingTable, type Transport } from '../../src/index.js';
import { allocationExtents } from './allocation.js';
import { lunSizesOf, saveNodeConfig, type NodeConfig } from './data-dir.js';
import { openFileStorage } from './file-storage.js';
import { openJournalStore } from './journal-store.js';
import { systemClock } from './local.js';
import { STATE_HOLE } from './protocol.js';
import type { Logger } from './server.js';

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

export interface ControllerSide {
  readonly controller: ControllerRuntime;
  /** The persisted (committed) table of `disk`. */
  committed(disk: string): MappingTable | undefined;
  /** Attaches `agent` to every disk (idempotent); later disks and snapshots are attached too. */
  attach(agent: string): Promise<void>;
  list(): ExportSummary[];
  /**
   * Snapshots `disk` as a new read-only export `name`. The LUN files are synced first, so what
   * was acknowledged before is durable (`fdatasync` covers every process's writes to a file).
   */
  snapshot(disk: string, name: string): Promise<void>;
  /** Moves every located segment of `disk` to `lun`, in the background. */
  migrate(disk: string, lun: number): Promise<void>;
  stats(): NodeStats;
  config(): NodeConfig;
  close(): Promise<void>;
}

export interface ControllerSideOptions {
  readonly dir: string;
  readonly config: NodeConfig;
  readonly transport: Transport<ControllerMessage, AgentMessage>;
  readonly log: Logger;
  /** Disks to create when they do not exist yet. */
  readonly create?: ReadonlyArray<{ readonly name: string; readonly bytes: number }>;
  readonly compactEvery?: number;
  /** Whether `agent` may be attached to `disk` (link-auth.ts); every agent to every disk when absent. */
  readonly mayServe?: (agent: string, disk: string) => boolean;
}

const NAME = /^[A-Za-z0-9._@-]{1,128}$/;

/**
 * Opens the store, starts the controller and creates the missing disks.
 *
 * @example
 * const side = await openControllerSide({ dir, config, transport: hub.endpoint('controller'), log });
 * await side.attach('agent-1');
 */
export const openControllerSide = async (options: ControllerSideOptions): Promise<ControllerSide> => {
  const { dir, log, transport } = options;
  let config = options.config;
  const { blockSize, segmentBlocks } = config;
  const segmentBytes = blockSize * segmentBlocks;
  const lunSizes = lunSizesOf(config);
  const storage = await openFileStorage(dir, blockSize, lunSizes);
  const store = await openJournalStore(dir, { warn: (m) => log.warn({ dir }, m), compactEvery: options.compactEvery });
  const allocator = createAllocator(lunSizes);
  if (E.isLeft(allocator)) throw new Error(`LUN sizes in node.json: ${allocator.left.map((e) => e.message).join('; ')}`);

  const resolutions = new Map<string, number>();
  let refusedMessages = 0;
  const controller = await createController(
    { storage, transport, persistence: store, clock: systemClock(), allocator: allocator.right },
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
    await saveNodeConfig(dir, next);
  };
  const admin = async (request: AdminRequest): Promise<void> => {
    const result = await controller.admin(request);
    if (!result.ok) throw new Error(`${request.type}: ${result.error}`);
  };
  const committed = (disk: string): MappingTable | undefined => controller.state().disks.get(disk)?.committed;
  const bytesOf = (disk: string): number | undefined => {
    const t = committed(disk);
    return t === undefined ? undefined : t.segmentCount * t.segmentBlocks * blockSize;
  };

  for (const { name, bytes } of options.create ?? []) {
    if (controller.state().disks.has(name)) continue;
    if (bytes <= 0 || bytes % segmentBytes !== 0) throw new Error(`--create ${name}: size ${bytes} is not a positive multiple of the segment size ${segmentBytes}`);
    await admin({ type: 'createDisk', disk: name, segmentBlocks, segmentCount: bytes / segmentBytes });
    if (!config.exports.some((e) => e.name === name)) await saveConfig({ ...config, exports: [...config.exports, { name, snapshot: false, bytes }] });
    log.info({ disk: name, bytes }, 'disk created');
  }
  // Disks the store knows but the export list does not (a crash between the two) are exported too.
  const known = new Set(config.exports.map((e) => e.name));
  const missing = [...controller.state().disks.keys()].filter((d) => !known.has(d)).sort();
  if (missing.length > 0) await saveConfig({ ...config, exports: [...config.exports, ...missing.map((name) => ({ name, snapshot: false, bytes: bytesOf(name) }))] });

  /** Agents to attach to every new disk: the ones attached anywhere, and the ones that said hello. */
  const agents = new Set<string>([...controller.state().disks.values()].flatMap((d) => [...d.agents]));
  const attachEverywhere = async (agent: string): Promise<void> => {
    agents.add(agent);
    for (const disk of controller.state().disks.keys()) if (options.mayServe?.(agent, disk) ?? true) await admin({ type: 'attachAgent', disk, agent });
  };

  const summary = (name: string, snapshot: boolean): ExportSummary | null => {
    const t = committed(name);
    if (t === undefined) return null;
    const bytes = t.segmentCount * t.segmentBlocks * blockSize;
    const allocatedBytes = allocationExtents(t, blockSize, 0, bytes, Number.MAX_SAFE_INTEGER)
      .filter((e) => (e.flags & STATE_HOLE) === 0)
      .reduce((n, e) => n + e.length, 0);
    return { name, snapshot, bytes, generation: t.generation, allocatedBytes };
  };
  const list = (): ExportSummary[] => config.exports.map((e) => summary(e.name, e.snapshot)).filter((x): x is ExportSummary => x !== null);

  return {
    controller,
    committed,
    attach: attachEverywhere,
    list,
    async snapshot(disk, name) {
      if (committed(disk) === undefined) throw new Error(`no disk ${JSON.stringify(disk)}`);
      if (!NAME.test(name)) throw new Error(`snapshot name ${JSON.stringify(name)} may use letters, digits and . _ @ - only`);
      await storage.flushAll();
      await admin({ type: 'snapshot', disk, snapshot: name });
      for (const agent of agents) if (options.mayServe?.(agent, name) ?? true) await admin({ type: 'attachAgent', disk: name, agent });
      await saveConfig({ ...config, exports: [...config.exports, { name, snapshot: true, of: disk, bytes: bytesOf(name) }] });
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
    config: () => config,
    async close() {
      controller.stop();
      await store.close();
      await storage.close();
    },
  };
};
