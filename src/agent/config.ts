/**
 * The agent's configuration as it comes from outside: validation and the message limits.
 */
import { isBlockNumber, validationError, type ValidationError } from '../errors.js';
import { MAX_SEGMENT_COUNT } from '../table/table.js';
import type { AgentConfig, AgentLimits } from './types.js';

/**
 * The limits an agent applies when its config names none: a table of up to 2^22 segments (64 MiB
 * of records) and up to 65,536 changes per `setEntries` message.
 *
 * @example
 * initialAgentState({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100, limits: { ...DEFAULT_AGENT_LIMITS, maxChanges: 1024 } })
 */
export const DEFAULT_AGENT_LIMITS: AgentLimits = /* @__PURE__ */ Object.freeze({ maxSegments: 4_194_304, maxChanges: 65_536 }); // 2^22, 2^16 (literals: see defaultControllerLimits)

/** The limits of `config`, defaults filled in. */
export const limitsOf = (config: AgentConfig): AgentLimits => {
  const l = config.limits;
  return l === undefined ? DEFAULT_AGENT_LIMITS : { maxSegments: l.maxSegments ?? DEFAULT_AGENT_LIMITS.maxSegments, maxChanges: l.maxChanges ?? DEFAULT_AGENT_LIMITS.maxChanges };
};

const VARIANTS: ReadonlySet<unknown> = /* @__PURE__ */ new Set(['centralized', 'distributed']);

/** Why `config` is not a usable agent config, field by field; each field is read once. */
export const configErrors = (raw: unknown): { config?: AgentConfig; errors: ValidationError[] } => {
  if (typeof raw !== 'object' || raw === null) return { errors: [validationError('config', raw, 'must be { agent, epoch, variant, faultTimeout }')] };
  const { agent, epoch, variant, faultTimeout, limits, backoffCap, seed, leaseDuration } = raw as Record<string, unknown>;
  const errors: ValidationError[] = [];
  if (typeof agent !== 'string' || agent.length === 0) errors.push(validationError('agent', agent, 'must be a non-empty string'));
  if (!isBlockNumber(epoch)) errors.push(validationError('epoch', epoch, 'must be a non-negative safe integer'));
  if (!VARIANTS.has(variant)) errors.push(validationError('variant', variant, "must be 'centralized' or 'distributed'"));
  if (!(typeof faultTimeout === 'number' && Number.isFinite(faultTimeout) && faultTimeout > 0))
    errors.push(validationError('faultTimeout', faultTimeout, 'must be a positive number of milliseconds'));
  // Liveness (docs/design.md#leases-and-liveness): optional, and kept when given.
  const liveness: { backoffCap?: number; seed?: number; leaseDuration?: number } = {};
  for (const [key, v] of [['backoffCap', backoffCap], ['leaseDuration', leaseDuration]] as const) {
    if (v === undefined) continue;
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) liveness[key] = v;
    else errors.push(validationError(key, v, 'must be a positive number of milliseconds'));
  }
  if (seed !== undefined) {
    if (typeof seed === 'number' && Number.isSafeInteger(seed)) liveness.seed = seed;
    else errors.push(validationError('seed', seed, 'must be a safe integer'));
  }
  let read: Partial<AgentLimits> | undefined;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) errors.push(validationError('limits', limits, 'must be { maxSegments?, maxChanges? }'));
    else {
      const { maxSegments, maxChanges } = limits as Record<string, unknown>;
      if (maxSegments !== undefined && !(isBlockNumber(maxSegments) && maxSegments <= MAX_SEGMENT_COUNT))
        errors.push(validationError('limits.maxSegments', maxSegments, `must be an integer from 0 to ${MAX_SEGMENT_COUNT}`));
      if (maxChanges !== undefined && !isBlockNumber(maxChanges)) errors.push(validationError('limits.maxChanges', maxChanges, 'must be a non-negative safe integer'));
      read = { ...(maxSegments === undefined ? {} : { maxSegments: maxSegments as number }), ...(maxChanges === undefined ? {} : { maxChanges: maxChanges as number }) };
    }
  }
  if (errors.length > 0) return { errors };
  const config: AgentConfig = { agent: agent as string, epoch: epoch as number, variant: variant as AgentConfig['variant'], faultTimeout: faultTimeout as number, ...liveness };
  return { config: read === undefined ? config : { ...config, limits: read }, errors };
};

