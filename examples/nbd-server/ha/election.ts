/**
 * Leader election of controllers through etcd: each candidate holds a lease and a key created
 * under it in the election's folder; the candidate whose key has the lowest create revision
 * leads (the usual etcd recipe). The leader's key and its create revision are its
 * {@link Fence}: the table store compares them in every transaction, so a controller whose
 * lease ran out can never write again, whatever it believes.
 *
 * Losing the lease is reported promptly and conservatively: a keepalive that has not succeeded
 * for a whole TTL (counted from when it was sent) means the lease may be gone, and the
 * candidate stops claiming leadership at once; etcd's own `lost` report does the same.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Fence } from './etcd-store.js';

/**
 * Options of {@link createCandidate}. `ttl` is the lease time in whole seconds (etcd's unit):
 * a dead leader is replaced within about `ttl` seconds plus `pollInterval`.
 *
 * @example
 * const options: CandidateOptions = { prefix: 'vdisk/', name: 'controller', value: '127.0.0.1:10809', ttl: 2 };
 */
export interface CandidateOptions {
  readonly prefix?: string;
  readonly name?: string;
  /** What observers see of this candidate (an address agents can reach it at). */
  readonly value: string;
  readonly ttl?: number;
  /** How often a waiting candidate looks whether the candidates ahead of it are gone (ms). */
  readonly pollInterval?: number;
}

/**
 * The leader as anyone can observe it.
 *
 * @example
 * const l = await currentLeader(client); if (l !== null) console.log(`${l.value} leads since revision ${l.createRevision}`);
 */
export interface LeaderInfo {
  readonly key: string;
  readonly value: string;
  readonly createRevision: string;
  readonly lease: string;
}

/**
 * One controller's candidacy.
 *
 * @example
 * const me = createCandidate(client, { value: 'ctl-1' });
 * me.onLost((why) => { console.error(why); process.exit(1); });
 * const fence = await me.campaign(); // resolves once this controller leads
 */
export interface Candidate {
  /** Runs for leader; resolves with the fence once this candidate leads, rejects if it cannot. */
  campaign(): Promise<Fence>;
  /** The fence while this candidate leads and its lease is believed alive, else null. */
  fence(): Fence | null;
  readonly isLeader: boolean;
  /** Called once when leadership (or the candidacy) is lost. Returns an unsubscribe function. */
  onLost(handler: (reason: string) => void): () => void;
  /** Gives up: revokes the lease, which deletes the key, so the next candidate leads at once. */
  resign(): Promise<void>;
  /** Stops renewing the lease without revoking it, as a crash would: the next candidate leads once it expires. */
  abandon(): void;
}

const electionPrefix = (prefix: string, name: string): string => `${prefix}election/${name}/`;

const rangeEnd = (prefix: string): Buffer => {
  const b = Buffer.from(prefix);
  b[b.length - 1]!++;
  return b;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The current leader of an election, or null when nobody runs.
 *
 * @example
 * await currentLeader(client, { prefix: 'vdisk/', name: 'controller' })
 */
export const currentLeader = async (client: Etcd3, options: { prefix?: string; name?: string } = {}): Promise<LeaderInfo | null> => {
  const p = electionPrefix(options.prefix ?? 'vdisk/', options.name ?? 'controller');
  const r = await client.kv.range({ key: Buffer.from(p), range_end: rangeEnd(p), sort_target: 'Create', sort_order: 'Ascend', limit: 1 });
  const kv = r.kvs[0];
  return kv === undefined ? null : { key: kv.key.toString(), value: kv.value.toString(), createRevision: kv.create_revision, lease: kv.lease };
};

/**
 * Calls `onChange` with the leader whenever it changes (polling every `interval` ms); returns a
 * function that stops watching.
 *
 * @example
 * const stop = watchLeader(client, {}, (l) => console.log('leader:', l?.value ?? 'none'));
 */
export const watchLeader = (
  client: Etcd3,
  options: { prefix?: string; name?: string; interval?: number },
  onChange: (leader: LeaderInfo | null) => void,
): (() => void) => {
  let stopped = false;
  let last: string | undefined;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        const l = await currentLeader(client, options);
        const id = l === null ? '' : `${l.key}@${l.createRevision}`;
        if (id !== last && !stopped) {
          last = id;
          onChange(l);
        }
      } catch {
        // etcd unreachable: keep the last answer and ask again
      }
      await sleep(options.interval ?? 200);
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
};

/**
 * A candidate for leadership. Nothing happens until {@link Candidate.campaign}.
 *
 * @example
 * const candidate = createCandidate(client, { name: 'controller', value: 'ctl-2', ttl: 2 });
 */
export const createCandidate = (client: Etcd3, options: CandidateOptions): Candidate => {
  const prefix = electionPrefix(options.prefix ?? 'vdisk/', options.name ?? 'controller');
  const ttl = options.ttl ?? 2;
  const pollInterval = options.pollInterval ?? 100;
  if (!(Number.isInteger(ttl) && ttl >= 1)) throw new Error(`election ttl must be a whole number of seconds >= 1, got ${String(ttl)}`);

  let lease: Lease | null = null;
  let myFence: Fence | null = null;
  let leading = false;
  let lostReason: string | null = null;
  let watchdog: ReturnType<typeof setInterval> | null = null;
  const handlers = new Set<(reason: string) => void>();

  /** Lower bound of when the lease was last known alive: when the last successful keepalive left. */
  let aliveAt = 0;
  let firedAt = 0;

  const lose = (reason: string): void => {
    if (lostReason !== null) return;
    lostReason = reason;
    leading = false;
    if (watchdog !== null) clearInterval(watchdog);
    watchdog = null;
    lease?.release();
    for (const h of [...handlers]) {
      try {
        h(reason);
      } catch {
        // a handler's failure is its own
      }
    }
  };

  const campaign = async (): Promise<Fence> => {
    if (lease !== null) throw new Error('this candidate has already campaigned: create a new one');
    const grantedAt = Date.now();
    lease = client.lease(ttl);
    lease.on('lost', (err) => lose(`the lease was lost: ${err.message}`));
    lease.on('keepaliveFired', () => {
      firedAt = Date.now();
    });
    lease.on('keepaliveSucceeded', () => {
      aliveAt = Math.max(aliveAt, firedAt);
    });
    const id = await lease.grant();
    aliveAt = grantedAt;
    watchdog = setInterval(() => {
      if (Date.now() - aliveAt > ttl * 1000) lose(`no keepalive succeeded for ${ttl} s: the lease may have expired`);
    }, Math.max(50, (ttl * 1000) / 8));
    const key = `${prefix}${BigInt(id).toString(16)}`;
    const res = await client.kv.txn({
      compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: '0' }],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(options.value), lease: id } }],
      failure: [{ request_range: { key: Buffer.from(key) } }],
    });
    const createRevision = res.succeeded ? res.header.revision : res.responses[0]!.response_range.kvs[0]!.create_revision;
    const fence: Fence = { key, createRevision };
    for (;;) {
      if (lostReason !== null) throw new Error(`campaign ended: ${lostReason}`);
      const ahead = await client.kv.range({
        key: Buffer.from(prefix),
        range_end: rangeEnd(prefix),
        max_create_revision: String(BigInt(createRevision) - 1n),
        keys_only: true,
        limit: 1,
      });
      if (ahead.kvs.length === 0) {
        const mine = await client.kv.range({ key: Buffer.from(key), keys_only: true });
        if (mine.kvs[0]?.create_revision !== createRevision) {
          lose(`the candidacy key ${key} is gone (its lease expired)`);
          continue;
        }
        if (lostReason !== null) continue;
        myFence = fence;
        leading = true;
        return fence;
      }
      await sleep(pollInterval);
    }
  };

  return {
    campaign,
    fence: () => (leading && lostReason === null ? myFence : null),
    get isLeader() {
      return leading && lostReason === null;
    },
    onLost(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    async resign() {
      const l = lease;
      lose('resigned');
      if (l !== null) await l.revoke();
    },
    abandon() {
      lose('abandoned');
    },
  };
};
