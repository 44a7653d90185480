/**
 * The key layout of the etcd table store (see ./README.md): key names, the per-disk header, and
 * the etcd operations a save is made of, each with its size so that transactions can be kept
 * within etcd's limits.
 */

/**
 * The header of one disk: geometry, generation, attachments, and for each chunk of
 * `chunkSegments` segments the version and number of parts that hold it.
 *
 * @example
 * const h: Header = { format: 'vdisk-map/etcd-disk', version: 1, segmentBlocks: 8, segmentCount: 4096, generation: 3, chunkSegments: 4096, seq: 2, versions: [2], parts: [1], agents: ['a1'] };
 */
export interface Header {
  readonly format: 'vdisk-map/etcd-disk';
  readonly version: 1;
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  readonly generation: number;
  readonly chunkSegments: number;
  /** Highest chunk version ever written for this disk. */
  readonly seq: number;
  readonly versions: ReadonlyArray<number>;
  readonly parts: ReadonlyArray<number>;
  readonly agents: ReadonlyArray<string>;
  /** Agents detached that have not confirmed dropping their copy (absent in headers written before: none). */
  readonly dropping?: ReadonlyArray<string>;
}

/**
 * One operation of a transaction, and how many bytes of the request it takes.
 *
 * @example
 * const op: Op = put('vdisk/disk/vol/h', '{}');
 */
export interface Op {
  readonly request: { request_put?: { key: Buffer; value: Buffer }; request_delete_range?: { key: Buffer; range_end?: Buffer } };
  readonly bytes: number;
}

const OP_OVERHEAD = 16;
const HEX_VER = 12;
const HEX_CHUNK = 8;
const HEX_PART = 4;

export const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
/** Chunks of a disk of `segmentCount` segments. */
export const chunkCount = (segmentCount: number, chunkSegments: number): number => Math.ceil(segmentCount / chunkSegments);

/** The end of the key range of every key starting with `prefix`. */
export const prefixEnd = (prefix: Buffer): Buffer => {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
};

/** Puts `value` at `key`. */
export const put = (key: string, value: Buffer | string): Op => {
  const k = Buffer.from(key);
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  return { request: { request_put: { key: k, value: v } }, bytes: k.length + v.length + OP_OVERHEAD };
};
/** Deletes every key starting with `prefix`. */
export const deletePrefix = (prefix: string): Op => {
  const k = Buffer.from(prefix);
  return { request: { request_delete_range: { key: k, range_end: prefixEnd(k) } }, bytes: 2 * k.length + OP_OVERHEAD };
};
/** Deletes the keys from `from` (included) to `to` (excluded). */
export const deleteRange = (from: string, to: string): Op => {
  const k = Buffer.from(from);
  const e = Buffer.from(to);
  return { request: { request_delete_range: { key: k, range_end: e } }, bytes: k.length + e.length + OP_OVERHEAD };
};
/** Deletes one key. */
export const deleteKey = (key: string): Op => {
  const k = Buffer.from(key);
  return { request: { request_delete_range: { key: k } }, bytes: k.length + OP_OVERHEAD };
};

/** Checks a parsed header; returns why it is malformed, or undefined. */
export const headerProblem = (h: unknown): string | undefined => {
  if (typeof h !== 'object' || h === null) return 'not an object';
  const x = h as Record<string, unknown>;
  if (x.format !== 'vdisk-map/etcd-disk' || x.version !== 1) return `unknown format ${JSON.stringify(x.format)} version ${JSON.stringify(x.version)}`;
  for (const f of ['segmentBlocks', 'segmentCount', 'generation', 'chunkSegments', 'seq'] as const)
    if (!(Number.isSafeInteger(x[f]) && (x[f] as number) >= 0)) return `${f} must be a non-negative safe integer, got ${JSON.stringify(x[f])}`;
  if ((x.chunkSegments as number) < 1) return 'chunkSegments must be positive';
  const n = chunkCount(x.segmentCount as number, x.chunkSegments as number);
  for (const f of ['versions', 'parts'] as const)
    if (!Array.isArray(x[f]) || (x[f] as unknown[]).length !== n || !(x[f] as unknown[]).every((v) => Number.isSafeInteger(v) && (v as number) >= 0))
      return `${f} must list a non-negative integer for each of the ${n} chunks`;
  if (!Array.isArray(x.agents) || !x.agents.every((a) => typeof a === 'string')) return 'agents must be an array of strings';
  if (x.dropping !== undefined && !(Array.isArray(x.dropping) && x.dropping.every((a) => typeof a === 'string'))) return 'dropping must be an array of strings when present';
  return undefined;
};


/**
 * The key names under `prefix`.
 *
 * @example
 * keysOf('vdisk/').chunkPrefix('vol', 3, 0) // 'vdisk/disk/vol/c/000000000003/00000000/'
 */
export const keysOf = (prefix: string) => {
  const diskRoot = `${prefix}disk/`;
  const diskKey = (disk: string): string => `${diskRoot}${encodeURIComponent(disk)}/`;
  const versionPrefix = (disk: string, ver: number): string => `${diskKey(disk)}c/${hex(ver, HEX_VER)}/`;
  const chunkPrefix = (disk: string, ver: number, ci: number): string => `${versionPrefix(disk, ver)}${hex(ci, HEX_CHUNK)}/`;
  return {
    diskRoot,
    epochKey: `${prefix}controller/epoch`,
    /** `PersistedState.generationFloor`, raised by deletions (absent: 0). */
    floorKey: `${prefix}controller/generation-floor`,
    diskKey,
    headerKey: (disk: string): string => `${diskKey(disk)}h`,
    /** Every chunk key of `disk`, any version. */
    chunksOf: (disk: string): string => `${diskKey(disk)}c/`,
    versionPrefix,
    chunkPrefix,
    partKey: (disk: string, ver: number, ci: number, part: number): string => `${chunkPrefix(disk, ver, ci)}${hex(part, HEX_PART)}`,
  };
};

/**
 * What a key under the disk root names: a header, a chunk part, or something else.
 *
 * @example
 * parseDiskKey('vdisk/disk/', 'vdisk/disk/vol/c/000000000003/00000000/0000') // { kind: 'part', enc: 'vol', ver: 3, chunk: 0, part: 0 }
 */
export const parseDiskKey = (
  diskRoot: string,
  key: string,
): { kind: 'header'; enc: string } | { kind: 'part'; enc: string; ver: number; chunk: number; part: number } | { kind: 'other' } => {
  const rest = key.slice(diskRoot.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return { kind: 'other' };
  const enc = rest.slice(0, slash);
  const tail = rest.slice(slash + 1);
  if (tail === 'h') return { kind: 'header', enc };
  const m = /^c\/([0-9a-f]+)\/([0-9a-f]+)\/([0-9a-f]+)$/.exec(tail);
  if (m === null) return { kind: 'other' };
  return { kind: 'part', enc, ver: parseInt(m[1]!, 16), chunk: parseInt(m[2]!, 16), part: parseInt(m[3]!, 16) };
};

/**
 * Splits `ops` into transactions of at most `maxOps` operations and `maxBytes` bytes, in order
 * (an operation larger than `maxBytes` goes alone).
 *
 * @example
 * pack([put('a', '1'), put('b', '2')], 1, 1024) // [[put a], [put b]]
 */
export const pack = (ops: ReadonlyArray<Op>, maxOps: number, maxBytes: number): Op[][] => {
  const batches: Op[][] = [];
  let cur: Op[] = [];
  let bytes = 0;
  for (const op of ops) {
    if (cur.length > 0 && (cur.length + 1 > maxOps || bytes + op.bytes > maxBytes)) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(op);
    bytes += op.bytes;
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
};

/** Bytes of a list of operations. */
export const bytesOf = (ops: ReadonlyArray<Op>): number => ops.reduce((a, o) => a + o.bytes, 0);
