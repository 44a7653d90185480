/**
 * The agent's side of leases (docs/design.md#leases-and-liveness): pure helpers over the lease
 * it holds. With `leaseDuration` in its configuration the agent asks for a lease when it starts
 * and renews it every third of it; while it holds none it issues nothing to storage and holds
 * host I/O (parked behind no fault) until a grant arrives. It reads time only at ticks, so it
 * treats its lease as ending one `faultTimeout` early.
 *
 * Once a lease it held has lapsed, the agent cannot tell whether a controller stopped counting
 * it meanwhile (evicted it, then changed its disks without waiting for it) and then forgot (a
 * restart forgets evictions). So every copy it holds becomes unconfirmed: no I/O goes through it
 * until a grant answers a renewal that listed the copy at its generation (`holds`); the
 * controller grants such a renewal only when it vouches for every listed copy
 * (docs/design.md#leases-and-liveness). The grant echoes the renewal's `requestedAt`, so a late
 * table or grant from before the lapse can never confirm anything.
 */
import type { AgentConfig } from './types.js';

/**
 * What the agent knows of its lease: until when it holds one (its own clock), and when it last
 * asked. `null` in the state when leases are off.
 *
 * @example
 * const lease: AgentLease = { validUntil: 2100, lastRequest: 100 };
 */
export interface AgentLease {
  readonly validUntil: number;
  readonly lastRequest: number;
}

/** The lease of a new life: none yet. */
export const initialLease = (config: AgentConfig): AgentLease | null =>
  config.leaseDuration === undefined ? null : { validUntil: -Infinity, lastRequest: -Infinity };

/** Whether the agent may issue I/O to storage at `now`. */
export const holdsLease = (config: AgentConfig, lease: AgentLease | null, now: number): boolean =>
  lease === null || now + config.faultTimeout < lease.validUntil;

/** Whether a lease this life held has run out at `now` (a life that never held one has not lapsed). */
export const lapsedAt = (config: AgentConfig, lease: AgentLease | null, now: number): boolean =>
  lease !== null && lease.validUntil !== -Infinity && !holdsLease(config, lease, now);

/**
 * Whether to ask for a lease at `now`: every third of it, or soon again while it holds none or a
 * copy waits to be confirmed (`waiting`).
 */
export const renewalDue = (config: AgentConfig, lease: AgentLease, now: number, waiting = false): boolean => {
  const every = holdsLease(config, lease, now) && !waiting ? (config.leaseDuration ?? Infinity) / 3 : config.faultTimeout;
  return now - lease.lastRequest >= every;
};

/** The lease after a grant for a renewal asked at `requestedAt`: never shortened by a late, older grant. */
export const granted = (lease: AgentLease, requestedAt: number, duration: number): AgentLease => ({
  ...lease,
  validUntil: Math.max(lease.validUntil, requestedAt + duration),
});
