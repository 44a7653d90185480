/**
 * Fault flow control at the agent (docs/design.md#leases-and-liveness): an unanswered fault or
 * mark is re-sent with exponential backoff and jitter, and one the controller has acknowledged
 * taking in hand (`faultAccepted`) is only re-sent, slowly, in case the controller restarted or
 * its answer was lost.
 *
 * The jitter is a pure function of the agent's seed, the fault id and the attempt, so a run
 * replays exactly and agents that faulted together spread their re-sends apart.
 */
import { mulberry32 } from '../adapters/prng.js';
import type { AgentConfig } from './types.js';

/** Longest wait between re-sends of an unacknowledged fault, in `faultTimeout`s, by default. */
export const DEFAULT_BACKOFF_CAP_FACTOR = 8;

/** The cap of the backoff (ms). */
export const backoffCap = (config: AgentConfig): number => config.backoffCap ?? config.faultTimeout * DEFAULT_BACKOFF_CAP_FACTOR;

/** A number in [0, 1) drawn from the agent's seed, the fault and the attempt. */
const jitter = (seed: number, faultId: number, attempt: number): number => {
  const [, a] = mulberry32((seed ^ Math.imul(faultId, 0x9e3779b1)) | 0);
  const [, b] = mulberry32((a ^ Math.imul(attempt + 1, 0x85ebca6b)) | 0);
  return b / 0x1_0000_0000;
};

/**
 * How long after attempt `attempt` (0: the first send) fault `faultId` is sent again when still
 * unacknowledged: `faultTimeout`, then doubling up to the cap, each wait but the first shortened
 * by up to a half at random.
 *
 * @example
 * retryDelay({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 50 }, 7, 0) // 50
 */
export const retryDelay = (config: AgentConfig, faultId: number, attempt: number): number => {
  if (attempt <= 0) return config.faultTimeout;
  const base = Math.min(backoffCap(config), config.faultTimeout * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(base * (1 - jitter(config.seed ?? config.epoch, faultId, attempt) / 2)));
};

/**
 * How long after an acknowledgement (or a re-send of an acknowledged fault) it is sent again:
 * the backoff cap, so that a controller that restarted, or whose answer was lost, hears of it.
 */
export const acceptedRecheck = (config: AgentConfig): number => backoffCap(config);
