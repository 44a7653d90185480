/**
 * The agent's side of leases (docs/design.md#leases-and-liveness): pure helpers over the lease
 * it holds. With `leaseDuration` in its configuration the agent asks for a lease when it starts
 * and renews it every third of it; while it holds none it issues nothing to storage and holds
 * host I/O (parked behind no fault) until a grant arrives. It reads time only at ticks, so it
 * treats its lease as ending one `faultTimeout` early.
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

/** Whether to ask for a lease at `now`: every third of it, or soon again while it holds none. */
export const renewalDue = (config: AgentConfig, lease: AgentLease, now: number): boolean => {
  const every = holdsLease(config, lease, now) ? (config.leaseDuration ?? Infinity) / 3 : config.faultTimeout;
  return now - lease.lastRequest >= every;
};

/** The lease after a grant for a renewal asked at `requestedAt`: never shortened by a late, older grant. */
export const granted = (lease: AgentLease, requestedAt: number, duration: number): AgentLease => ({
  ...lease,
  validUntil: Math.max(lease.validUntil, requestedAt + duration),
});
