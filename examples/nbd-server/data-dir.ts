/**
 * The data directory of a node: `node.json` (geometry, LUNs, export list), written atomically,
 * and the agents' epoch files. Every process of a node (controller, agents) shares it, as hosts
 * share a SAN.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** One export: a disk or a snapshot (read-only), with `of` naming the disk a snapshot was taken of. */
export interface ExportEntry {
  readonly name: string;
  readonly snapshot: boolean;
  readonly of?: string;
  /** Size in bytes. */
  readonly bytes?: number;
}

export interface NodeConfig {
  readonly format: 'vdisk-map-nbd/node';
  readonly blockSize: number;
  readonly segmentBlocks: number;
  /** LUN id -> size in blocks. */
  readonly luns: Readonly<Record<string, number>>;
  /** Exports in creation order. */
  readonly exports: ReadonlyArray<ExportEntry>;
}

export interface Geometry {
  readonly blockSize?: number;
  readonly segmentBytes?: number;
  readonly lunCount?: number;
  readonly lunBytes?: number;
}

/** Writes `text` to `path` so that a crash leaves either the old or the new content. */
export const writeAtomically = async (path: string, text: string): Promise<void> => {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
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

export const configPath = (dir: string): string => join(dir, 'node.json');

/** The node configuration of `dir`, or null when the directory was never used. */
export const readNodeConfig = (dir: string): Promise<NodeConfig | null> => readJson<NodeConfig>(configPath(dir));

export const saveNodeConfig = (dir: string, config: NodeConfig): Promise<void> => writeAtomically(configPath(dir), JSON.stringify(config, null, 2));

/** Reads `node.json`, or makes a new one from `geometry` (2 LUNs of 64 GiB, 4 KiB blocks, 1 MiB segments by default). */
export const initDataDir = async (dir: string, geometry: Geometry = {}): Promise<NodeConfig> => {
  await mkdir(dir, { recursive: true });
  const existing = await readNodeConfig(dir);
  if (existing !== null) return existing;
  const blockSize = geometry.blockSize ?? 4096;
  const segmentBytes = geometry.segmentBytes ?? 1 << 20;
  const lunBytes = geometry.lunBytes ?? 64 * 2 ** 30;
  if (segmentBytes % blockSize !== 0) throw new Error(`segment size ${segmentBytes} is not a multiple of the block size ${blockSize}`);
  const luns: Record<string, number> = {};
  for (let lun = 1; lun <= (geometry.lunCount ?? 2); lun++) luns[lun] = Math.floor(lunBytes / blockSize);
  const config: NodeConfig = { format: 'vdisk-map-nbd/node', blockSize, segmentBlocks: segmentBytes / blockSize, luns, exports: [] };
  await saveNodeConfig(dir, config);
  return config;
};

export const lunSizesOf = (config: NodeConfig): Map<number, number> => new Map(Object.entries(config.luns).map(([k, v]) => [Number(k), v]));

/** Bumps and returns the agent's epoch, durably, so a restarted agent is always newer. */
export const nextEpoch = async (dir: string, agent: string): Promise<number> => {
  const path = join(dir, `${agent}.epoch`);
  const last = (await readJson<number>(path)) ?? 0;
  const epoch = last + 1;
  await writeAtomically(path, JSON.stringify(epoch));
  return epoch;
};

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
