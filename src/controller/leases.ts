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
import { catchUp, ensureCopy, forgetDropping, recheckDisk } from './sync.js';
import { describeValue } from './admin-validation.js';
import { awaitedByHold } from './reuse-hold.js';
import { CowRecords } from '../protocol/copy-on-write.js';
import type { ControllerCommand, CopyView, LeaseView } from './types.js';
import type { Working } from './working.js';

/** The lease granted when leases are off: longer than any run. */
const FOREVER = 1_099_511_627_776; // 2^40, a literal so that bundlers can drop it when unused

/** True when `epoch` of `agent` was evicted. */
export const isEvicted = (s: Working, agent: string, epoch: number): boolean => s.leases.get(agent)?.evictedEpoch === epoch;

/**
 * A restarted controller knows the agents attached to its disks but not their lives: it gives
 * each a lease from its start (epoch -1: whichever life is out there), since whatever lease an
 * earlier controller granted ended by then. An agent never heard from is evicted like any other
 * (an agent lost before the restart would otherwise stall its disks for ever).
 */
export const leaseOnRestore = (s: Working, agent: string): void => {
  if (s.config.leaseDuration !== null && !s.leases.has(agent)) s.leases.set(agent, { grantedAt: s.now, epoch: -1, evictedEpoch: UNKNOWN_NOT_EVICTED });
};

/** `evictedEpoch` of a restored lease (epoch -1) not evicted yet; once evicted it is -1. */
const UNKNOWN_NOT_EVICTED = -2;

/**
 * A message from a life the lease does not name yet moves the lease to it, so that a life the
 * controller hears from is evicted in time even if its renewals never get through:
 * - after the eviction of a restored lease, that life may have served I/O under an earlier
 *   controller's lease, so it is the evicted one (refused, and told to start anew; at worst a
 *   life that started since is restarted once more);
 * - a restored lease not evicted yet now names that life, from the restart on;
 * - a newer life than the lease's holds no lease yet, so it is counted from now.
 */
export const adoptLife = (s: Working, agent: string, epoch: number): void => {
  const l = s.leases.get(agent);
  if (l === undefined || epoch <= l.epoch) return;
  if (l.epoch === -1) s.leases.set(agent, { ...l, epoch, evictedEpoch: l.evictedEpoch === -1 ? epoch : -1 });
  else s.leases.set(agent, { grantedAt: s.now, epoch, evictedEpoch: l.evictedEpoch, lag: null });
};

/** A renewal: grant the lease, or tell an evicted life to start anew. */
export const onRenewLease = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'renewLease' }>): void => {
  const l = s.leases.get(m.agent);
  if (l !== undefined && l.evictedEpoch === m.epoch) return send(out, m.agent, { type: 'leaseRevoked', epoch: m.epoch });
  // After a lapse the agent lists the copies it holds unconfirmed: granting vouches for them.
  if (!vouchesForAll(s, out, m)) return;
  // After a restart the controller no longer knows which lives it evicted: a life that may still
  // hold a table older than a restored one gets no lease until it acknowledges the restored
  // generation (or drops the copy). An evicted life would otherwise write through that table onto
  // space the previous controller gave to another segment (reuse-hold.ts).
  if (awaitedByHold(s, m.agent)) return;
  const requestedAt = typeof m.requestedAt === 'number' && Number.isFinite(m.requestedAt) ? m.requestedAt : 0;
  const lag = lagOf(s, m.agent, l !== undefined && l.epoch === m.epoch ? (l.lag ?? null) : null);
  // An agent that hears us but does not take table changes (a one-way partition) is renewed only
  // up to a lease after it started lagging: its lease runs out then, and it is evicted like a
  // silent one (evictableAt). A healthy agent catches up within a round trip and gets full leases.
  const duration = s.config.leaseDuration ?? FOREVER;
  const granted = lag === null ? duration : lag.since + duration - s.now;
  if (l !== undefined && l.epoch === m.epoch && granted <= 0) {
    s.leases.set(m.agent, { ...l, lag });
    return;
  }
  const next: LeaseView = { grantedAt: s.now, epoch: m.epoch, evictedEpoch: l === undefined || l.epoch < 0 ? -1 : l.evictedEpoch, lag };
  s.leases.set(m.agent, next);
  send(out, m.agent, { type: 'leaseGranted', epoch: m.epoch, requestedAt, duration: Math.max(0, granted) });
};

/** Most copies one renewal may list (a bound on the work a renewal costs). */
const MAX_HOLDS = 65_536;

/**
 * Whether this controller vouches for every copy a renewal lists (`holds`, sent by an agent whose
 * lease lapsed; docs/design.md#leases-and-liveness): granting the renewal confirms them, and the
 * agent then writes through them. It vouches for a copy when the disk exists, the agent is
 * attached to it and counted as a possible holder, and the copy's generation is one this
 * controller committed or restored (from `since` on): every change after it then waits for the
 * agent's acknowledgement. A copy older than that may predate changes an earlier controller made
 * without this agent (it evicted it, then forgot at its restart). For each copy it cannot vouch
 * for, the agent is helped along: told to drop a copy of a disk it does not map, sent the table
 * otherwise; its renewal goes unanswered.
 */
const vouchesForAll = (s: Working, out: ControllerCommand[], m: Extract<AgentMessage, { type: 'renewLease' }>): boolean => {
  const holds: unknown = m.holds;
  if (holds === undefined) return true;
  if (!Array.isArray(holds) || holds.length > MAX_HOLDS) {
    out.push({ type: 'refused', message: m, why: `holds must be a list of at most ${MAX_HOLDS} { disk, generation }, got ${describeValue(holds)}` });
    return false;
  }
  let all = true;
  for (let n = 0; n < holds.length; n++) {
    const h: unknown = holds[n];
    const disk = typeof h === 'object' && h !== null ? (h as { disk?: unknown }).disk : undefined;
    const generation = typeof h === 'object' && h !== null ? (h as { generation?: unknown }).generation : undefined;
    if (typeof disk !== 'string' || !(typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= -1)) {
      out.push({ type: 'refused', message: m, why: `holds[${n}] must be { disk: string, generation: integer >= -1 }, got ${describeValue(h)}` });
      return false;
    }
    if (!vouchFor(s, out, m.agent, m.epoch, disk, generation)) all = false;
  }
  return all;
};

const vouchFor = (s: Working, out: ControllerCommand[], agent: string, epoch: number, disk: string, generation: number): boolean => {
  const d = s.disks.peek(disk);
  if (d === undefined || d.deleted === true || !d.agents.includes(agent) || d.dropping.includes(agent)) {
    // A copy of a disk it does not map (deleted, detached while it was cut off): it drops it. A
    // table of that disk at or below the copy's generation is refused afterwards (drop marks).
    const mark = d === undefined ? generation : Math.max(generation, d.committed.generation);
    send(out, agent, { type: 'dropTable', epoch, disk, generation: mark });
    return false;
  }
  const v = s.agents.peek(agent);
  const c = v === undefined ? undefined : v.copies instanceof CowRecords ? v.copies.peek(disk) : v.copies.get(disk);
  if (c !== undefined && c.mayHold && generation >= (d.since ?? -1) && generation <= d.committed.generation) return true;
  // It holds a copy: every change from now on waits for it; it gets the current table.
  const draft = ensureCopy(s, agent, disk, true);
  if (!draft.mayHold) {
    draft.mayHold = true;
    recheckDisk(s, out, disk);
  }
  catchUp(s, out, agent, disk, null);
  return false;
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

/**
 * When a lease granted at `grantedAt` has certainly expired and nothing the agent issued under it
 * can still land. While the agent lags, no grant reaches past a lease after the lag started.
 */
export const evictableAt = (s: Working, l: LeaseView): number => {
  const duration = s.config.leaseDuration ?? FOREVER;
  const ends = l.lag === undefined || l.lag === null ? l.grantedAt + duration : Math.min(l.grantedAt, l.lag.since) + duration;
  return ends + s.config.maxClockDrift + s.config.maxIoLifetime;
};

/** Evicts every life whose lease has certainly expired (once per sweep). Returns how many. */
export const evictExpired = (s: Working, out: ControllerCommand[]): number => {
  if (s.config.leaseDuration === null || s.leases.size === 0) return 0;
  const due: [string, LeaseView][] = [];
  const lagging: [string, LeaseView][] = [];
  for (const [agent, l] of s.leases.current) {
    if (l.evictedEpoch === l.epoch) continue;
    if (s.now > evictableAt(s, l)) due.push([agent, l]);
    // Note when a lag starts at the sweep rather than at the next renewal (a third of a lease
    // later), so that a one-way partition is evicted about a lease after its first missed change.
    else if (l.epoch >= 0 && (l.lag ?? null) === null) {
      const lag = lagOf(s, agent, null);
      if (lag !== null) lagging.push([agent, { ...l, lag }]);
    }
  }
  for (const [agent, l] of lagging) s.leases.set(agent, l);
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
  forgetDropping(s, out, agent); // that life is over: when heard again it starts a new one, without tables
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
