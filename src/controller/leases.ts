/**
 * Agent leases, eviction and the quarantine of released extents
 * (docs/design.md#leases-and-liveness).
 *
 * An agent renews its lease every third of it; the lease runs from the agent's own clock at the
 * renewal (`requestedAt`), so it ends, in real time, no later than `grantedAt + leaseDuration`
 * plus the clock drift bound. Once that has passed and the longest storage I/O lifetime too, the
 * agent issues nothing and has nothing in flight: the controller evicts that life (table changes
 * stop waiting for it, its faults are abandoned) and asks the product to fence it. The agent,
 * when it is heard from again, is told to start a new life (`leaseRevoked`) and gets fresh tables.
 *
 * Extents released while an earlier life of some agent could still have a write in flight are
 * held for `maxIoLifetime` before the allocator may hand them out again, so a late write never
 * lands on another segment's data.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AgentMessage } from '../protocol/messages.js';
import type { Extent } from './allocator.js';
import { send } from './basics.js';
import { recheckDisk } from './sync.js';
import { CowRecords } from '../protocol/copy-on-write.js';
import type { ControllerCommand, CopyView, LeaseView } from './types.js';
import type { Working } from './working.js';

/** The lease granted when leases are off: longer than any run. */
const FOREVER = 1_099_511_627_776; // 2^40, a literal so that bundlers can drop it when unused

/** True when `epoch` of `agent` was evicted. */
export const isEvicted = (s: Working, agent: string, epoch: number): boolean => s.leases.get(agent)?.evictedEpoch === epoch;

/** A renewal: grant the lease, or tell an evicted life to start anew. */
export const onRenewLease = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'renewLease' }>): void => {
  const l = s.leases.get(m.agent);
  if (l !== undefined && l.evictedEpoch === m.epoch) return send(out, m.agent, { type: 'leaseRevoked', epoch: m.epoch });
  const requestedAt = typeof m.requestedAt === 'number' && Number.isFinite(m.requestedAt) ? m.requestedAt : 0;
  const lag = lagOf(s, m.agent, l !== undefined && l.epoch === m.epoch ? (l.lag ?? null) : null);
  // An agent that hears us but does not take table changes (a one-way partition) is not renewed
  // once it has lagged for a whole lease: its lease runs out and it is evicted like a silent one.
  if (l !== undefined && l.epoch === m.epoch && lag !== null && s.now - lag.since > (s.config.leaseDuration ?? FOREVER)) {
    s.leases.set(m.agent, { ...l, lag });
    return;
  }
  const next: LeaseView = { grantedAt: s.now, epoch: m.epoch, evictedEpoch: l?.evictedEpoch ?? -1, lag };
  s.leases.set(m.agent, next);
  send(out, m.agent, { type: 'leaseGranted', epoch: m.epoch, requestedAt, duration: s.config.leaseDuration ?? FOREVER });
};

/**
 * The generation the agent has been behind on, and since when: kept while it stays behind on
 * it, cleared once it acknowledges it, started at the first disk found behind otherwise.
 */
type Lag = NonNullable<LeaseView['lag']>;

const lagOf = (s: Working, agent: string, lag: Lag | null): Lag | null => {
  const v = s.agents.peek(agent);
  if (v === undefined) return null;
  const copies = v.copies;
  const copyOf = (disk: string): CopyView | undefined => (copies instanceof CowRecords ? copies.peek(disk) : copies.get(disk));
  if (lag !== null) {
    const c = copyOf(lag.disk);
    if (c !== undefined && c.mayHold && c.acked < lag.generation) return lag;
  }
  for (const disk of copies.keys()) {
    const c = copyOf(disk);
    const d = s.disks.peek(disk);
    if (c !== undefined && d !== undefined && c.mayHold && c.acked < d.committed.generation) return { disk, generation: d.committed.generation, since: s.now };
  }
  return null;
};

/** Messages of an evicted life other than renewals are refused: that life is over. */
export const refusedAsEvicted = (s: Working, out: ControllerCommand[], m: AgentMessage): boolean => {
  if (m.type === 'renewLease' || !isEvicted(s, m.agent, m.epoch)) return false;
  out.push({ type: 'refused', message: m, why: `agent ${m.agent} epoch ${m.epoch} was evicted: its lease expired` });
  return true;
};

/** When a lease granted at `grantedAt` has certainly expired and nothing the agent issued under it can still land. */
export const evictableAt = (s: Working, l: LeaseView): number => l.grantedAt + (s.config.leaseDuration ?? FOREVER) + s.config.maxClockDrift + s.config.maxIoLifetime;

/** Evicts every life whose lease has certainly expired (once per sweep). Returns how many. */
export const evictExpired = (s: Working, out: ControllerCommand[]): number => {
  if (s.config.leaseDuration === null || s.leases.size === 0) return 0;
  const due: [string, LeaseView][] = [];
  for (const [agent, l] of s.leases.current) if (l.evictedEpoch !== l.epoch && s.now > evictableAt(s, l)) due.push([agent, l]);
  for (const [agent, l] of due) evict(s, out, agent, l);
  return due.length;
};

const evict = (s: Working, out: ControllerCommand[], agent: string, l: LeaseView): void => {
  s.leases.set(agent, { ...l, evictedEpoch: l.epoch });
  out.push({ type: 'fence', agent, epoch: l.epoch });
  const v = s.agents.peek(agent);
  if (v === undefined || v.epoch !== l.epoch) return; // a newer life is already known
  const draft = s.agents.get(agent)!;
  // As for a restart: it holds nothing the controller vouches for, and is waited for no more.
  const disks = [...draft.copies.keys()];
  for (const disk of disks) Object.assign(draft.copies.get(disk)!, { acked: -1, mayHold: false, sentAt: -Infinity, sentGeneration: -1 });
  for (const disk of disks) recheckDisk(s, out, disk);
};

/**
 * Gives an extent no table references back to the allocator, after `maxIoLifetime` when leases
 * are on (a late write of an agent's earlier life may still be on its way to it).
 */
export const releaseOrQuarantine = (s: Working, out: ControllerCommand[], extent: Extent): void => {
  if (s.config.leaseDuration !== null && s.config.maxIoLifetime > 0) {
    s.quarantine = [...s.quarantine, { extent: { ...extent }, until: s.now + s.config.maxIoLifetime }];
    return;
  }
  freeExtent(s, out, extent);
};

/** Frees the quarantined extents whose time is up (each tick). */
export const drainQuarantine = (s: Working, out: ControllerCommand[]): void => {
  if (s.quarantine.length === 0 || s.quarantine[0]!.until > s.now) return;
  const kept = s.quarantine.filter((q) => q.until > s.now);
  for (const q of s.quarantine) if (q.until <= s.now) freeExtent(s, out, q.extent);
  s.quarantine = kept;
};

const freeExtent = (s: Working, out: ControllerCommand[], extent: Extent): void => {
  const freed = s.allocator.release(extent);
  if (E.isRight(freed)) {
    s.allocator = freed.right;
    out.push({ type: 'released', extent: { ...extent } });
  }
};
