/**
 * Validation of simulator configurations and workloads: every problem named by its field and
 * value, and the bounds that keep a simulated cluster inside memory.
 */
import { isBlockNumber, show, thrownReason, validationError, type ValidationError } from '../errors.js';
import type { SimConfig, Workload } from './config.js';

/** Bounds that keep a simulated cluster inside memory (the LUNs' blocks are held as numbers). */
const SIM_LIMITS = { agents: 256, disks: 256, segmentBlocks: 2 ** 16, segmentCount: 2 ** 20, lunBlocks: 2 ** 24 } as const;

const isRate = (x: unknown): boolean => typeof x === 'number' && x >= 0 && x <= 1;
const isMillis = (x: unknown, zero: boolean): boolean => typeof x === 'number' && Number.isFinite(x) && (zero ? x >= 0 : x > 0);

/** The fields of {@link SimFaults}: each a rate (or share) from 0 to 1. */
const FAULT_RATES = ['dropRate', 'duplicateRate', 'storageErrorRate', 'persistErrorRate', 'crashBeforeFanOutRate', 'crashMidFanOutRate', 'lostAckRate', 'partialWriteRate', 'hangRate', 'clockDrift', 'duplicateAdminRate'];

/** The fields of `Workload.rates`: each a rate from 0 to 1. */
const ACTION_RATES = [
  'snapshot', 'migrate', 'markFailed', 'restartAgent', 'restartController', 'cutAgent', 'deleteDisk', 'rollback',
  'storagePowerLoss', 'controllerPowerLoss', 'agentPowerLoss', 'loseAgent', 'pauseAgent', 'pauseController', 'reuseEpoch',
  'resize', 'splitSegment', 'mergeSegments', 'attachAgent', 'detachAgent',
];

const ACTION_TYPES: ReadonlySet<unknown> = new Set([
  'hostIo', 'snapshot', 'migrate', 'markFailed', 'restartAgent', 'restartController', 'cutAgent', 'isolateController', 'deleteDisk', 'rollback',
  'hostFlush', 'powerLoss', 'loseAgent', 'pause', 'reuseEpoch', 'crashController', 'resize', 'splitSegment', 'mergeSegments',
  'attachAgent', 'detachAgent',
]);
const isCountIn = (x: unknown, min: number, max: number): boolean => isBlockNumber(x) && x >= min && x <= max;

/** Reads `keys` of `raw` once each into a plain object, or the error for the first that throws. */
const fieldsOf = (errors: ValidationError[], field: string, raw: unknown, keys: ReadonlyArray<string>): Record<string, unknown> | null => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    errors.push(validationError(field, raw, 'must be an object'));
    return null;
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    try {
      out[key] = (raw as Record<string, unknown>)[key];
    } catch (thrown) {
      errors.push({ field: `${field}.${key}`, value: undefined, message: `${field}.${key} could not be read (${thrownReason(thrown)})` });
      return null;
    }
  }
  return out;
};

/** The elements of a dense array, read once, or null (with an error) when it is not one. */
const elementsOf = (errors: ValidationError[], field: string, raw: unknown, max: number): unknown[] | null => {
  try {
    if (!Array.isArray(raw) || raw.length > max) {
      errors.push(validationError(field, raw, `must be an array of at most ${max} entries`));
      return null;
    }
    const out: unknown[] = [];
    for (let i = 0; i < raw.length; i++) {
      if (!(i in raw)) {
        errors.push(validationError(field, raw, `must not have holes (index ${i})`));
        return null;
      }
      out.push(raw[i]);
    }
    return out;
  } catch (thrown) {
    errors.push({ field, value: undefined, message: `${field} could not be read (${thrownReason(thrown)})` });
    return null;
  }
};

/**
 * Every problem with a simulator configuration, each naming the field and the value (empty when
 * it is usable). Bounds keep a run inside memory: at most 256 agents and disks, 65,536 blocks per
 * segment, 1,048,576 segments per disk and 16,777,216 blocks per LUN.
 *
 * @example
 * simConfigErrors({ seed: 1, agents: 0, disks: [], luns: {} }) // [{ field: 'agents', ... }]
 */
export const simConfigErrors = (config: SimConfig): ValidationError[] => {
  const errors: ValidationError[] = [];
  const c = fieldsOf(errors, 'config', config, ['seed', 'variant', 'agents', 'disks', 'luns', 'faults', 'networkDelay', 'storageDelay', 'tickInterval', 'trace', 'livenessBound', 'lease', 'testHooks']);
  if (c === null) return errors;
  if (typeof c.seed !== 'number' || !Number.isFinite(c.seed)) errors.push(validationError('seed', c.seed, 'must be a finite number'));
  if (c.variant !== undefined && c.variant !== 'centralized' && c.variant !== 'distributed') errors.push(validationError('variant', c.variant, "must be 'centralized' or 'distributed'"));
  const agents = isCountIn(c.agents, 1, SIM_LIMITS.agents) ? (c.agents as number) : null;
  if (agents === null) errors.push(validationError('agents', c.agents, `must be an integer from 1 to ${SIM_LIMITS.agents}`));
  const disks = elementsOf(errors, 'disks', c.disks, SIM_LIMITS.disks);
  const ids = new Set<unknown>();
  for (const [i, raw] of (disks ?? []).entries()) {
    const d = fieldsOf(errors, `disks[${i}]`, raw, ['id', 'segmentBlocks', 'segmentCount', 'segmentLengths', 'grainBlocks', 'agents']);
    if (d === null) continue;
    if (typeof d.id !== 'string' || d.id.length === 0 || ids.has(d.id)) errors.push(validationError(`disks[${i}].id`, d.id, 'must be a non-empty string, unique among the disks'));
    ids.add(d.id);
    if (d.segmentLengths === undefined) {
      if (!isCountIn(d.segmentBlocks, 1, SIM_LIMITS.segmentBlocks)) errors.push(validationError(`disks[${i}].segmentBlocks`, d.segmentBlocks, `must be an integer from 1 to ${SIM_LIMITS.segmentBlocks}`));
    } else if (d.segmentBlocks !== 0) {
      errors.push(validationError(`disks[${i}].segmentBlocks`, d.segmentBlocks, 'must be 0 when segmentLengths is given (a variable disk)'));
    }
    if (!isCountIn(d.segmentCount, 1, SIM_LIMITS.segmentCount)) errors.push(validationError(`disks[${i}].segmentCount`, d.segmentCount, `must be an integer from 1 to ${SIM_LIMITS.segmentCount}`));
    if (d.segmentLengths !== undefined) {
      // A variable disk: segmentBlocks 0 and one length per segment.
      const lengths = elementsOf(errors, `disks[${i}].segmentLengths`, d.segmentLengths, SIM_LIMITS.segmentCount);
      if (lengths !== null && lengths.length !== d.segmentCount)
        errors.push(validationError(`disks[${i}].segmentLengths.length`, lengths.length, `must equal segmentCount ${show(d.segmentCount)}`));
      const bad = (lengths ?? []).findIndex((n) => !isCountIn(n, 1, SIM_LIMITS.segmentBlocks));
      if (bad >= 0) errors.push(validationError(`disks[${i}].segmentLengths[${bad}]`, lengths![bad], `must be an integer from 1 to ${SIM_LIMITS.segmentBlocks}`));
    }
    if (d.grainBlocks !== undefined && !(d.segmentLengths === undefined && isCountIn(d.grainBlocks, 1, SIM_LIMITS.segmentBlocks) && isCountIn(d.segmentBlocks, 1, SIM_LIMITS.segmentBlocks) && (d.segmentBlocks as number) % (d.grainBlocks as number) === 0))
      errors.push(validationError(`disks[${i}].grainBlocks`, d.grainBlocks, `must be a positive divisor of segmentBlocks ${show(d.segmentBlocks)} (and absent on a variable disk)`));
    if (d.agents !== undefined) {
      const list = elementsOf(errors, `disks[${i}].agents`, d.agents, SIM_LIMITS.agents);
      if (list !== null && agents !== null && list.some((a) => !isCountIn(a, 0, agents - 1)))
        errors.push(validationError(`disks[${i}].agents`, d.agents, `must list agent indexes from 0 to ${agents - 1}`));
    }
  }
  lunErrors(errors, c.luns);
  if (c.faults !== undefined) {
    const f = fieldsOf(errors, 'faults', c.faults, FAULT_RATES);
    for (const [key, v] of Object.entries(f ?? {})) if (v !== undefined && !isRate(v)) errors.push(validationError(`faults.${key}`, v, 'must be a number from 0 to 1'));
  }
  for (const key of ['networkDelay', 'storageDelay'] as const) {
    if (c[key] === undefined) continue;
    const range = elementsOf(errors, key, c[key], 2);
    if (range !== null && !(range.length === 2 && range.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0) && (range[0] as number) <= (range[1] as number)))
      errors.push(validationError(key, c[key], 'must be [min, max] with 0 <= min <= max (milliseconds)'));
  }
  if (c.tickInterval !== undefined && !(typeof c.tickInterval === 'number' && Number.isFinite(c.tickInterval) && c.tickInterval > 0))
    errors.push(validationError('tickInterval', c.tickInterval, 'must be a positive number of milliseconds'));
  if (c.trace !== undefined && typeof c.trace !== 'boolean') errors.push(validationError('trace', c.trace, 'must be a boolean'));
  if (c.livenessBound !== undefined && !(typeof c.livenessBound === 'number' && c.livenessBound > 0))
    errors.push(validationError('livenessBound', c.livenessBound, 'must be a positive number of milliseconds (Infinity: no liveness check)'));
  if (c.lease !== undefined && c.lease !== null) {
    const l = fieldsOf(errors, 'lease', c.lease, ['duration', 'maxClockDrift', 'maxIoLifetime']);
    if (l !== null && !isMillis(l.duration, false)) errors.push(validationError('lease.duration', l.duration, 'must be a positive number of milliseconds'));
    for (const key of ['maxClockDrift', 'maxIoLifetime'] as const)
      if (l !== null && l[key] !== undefined && !isMillis(l[key], true)) errors.push(validationError(`lease.${key}`, l[key], 'must be a non-negative number of milliseconds'));
  }
  if (c.testHooks !== undefined) {
    const h = fieldsOf(errors, 'testHooks', c.testHooks, ['controllerStep', 'agentStep']);
    for (const [key, f] of Object.entries(h ?? {})) if (f !== undefined && typeof f !== 'function') errors.push(validationError(`testHooks.${key}`, f, 'must be a function'));
  }
  return errors;
};

/** The LUN sizes: a record from LUN id to a size in blocks, at least one LUN. */
const lunErrors = (errors: ValidationError[], luns: unknown): void => {
  if (typeof luns !== 'object' || luns === null || Array.isArray(luns)) return void errors.push(validationError('luns', luns, 'must be a record from LUN id to size in blocks'));
  let entries: [string, unknown][];
  try {
    entries = Object.entries(luns);
  } catch (thrown) {
    return void errors.push({ field: 'luns', value: undefined, message: `luns could not be read (${thrownReason(thrown)})` });
  }
  if (entries.length === 0) errors.push(validationError('luns', luns, 'must declare at least one LUN'));
  for (const [lun, size] of entries) {
    if (!/^(0|[1-9][0-9]{0,4})$/.test(lun)) errors.push(validationError('luns', lun, 'must have LUN ids that are small non-negative integers'));
    else if (!isCountIn(size, 1, SIM_LIMITS.lunBlocks)) errors.push(validationError(`luns[${lun}]`, size, `must be an integer from 1 to ${SIM_LIMITS.lunBlocks} (blocks)`));
  }
};

/**
 * Every problem with a workload, each naming the field and the value (empty when usable). At most
 * 10,000,000 host I/Os and 100,000 scheduled actions per run.
 *
 * @example
 * workloadErrors({ ios: -1 }) // [{ field: 'ios', ... }]
 */
export const workloadErrors = (workload: Workload): ValidationError[] => {
  const errors: ValidationError[] = [];
  const w = fieldsOf(errors, 'workload', workload, ['ios', 'interval', 'readRatio', 'zeroRatio', 'flushRatio', 'fuaRatio', 'pattern', 'maxLength', 'rates', 'schedule', 'verify']);
  if (w === null) return errors;
  if (!isCountIn(w.ios, 0, 10_000_000)) errors.push(validationError('ios', w.ios, 'must be an integer from 0 to 10000000'));
  if (w.interval !== undefined && !(typeof w.interval === 'number' && Number.isFinite(w.interval) && w.interval >= 0)) errors.push(validationError('interval', w.interval, 'must be a non-negative number of milliseconds (0: all at once)'));
  for (const key of ['readRatio', 'zeroRatio', 'flushRatio', 'fuaRatio'] as const)
    if (w[key] !== undefined && !isRate(w[key])) errors.push(validationError(key, w[key], 'must be a number from 0 to 1'));
  if (w.pattern !== undefined && w.pattern !== 'random' && w.pattern !== 'sequential' && w.pattern !== 'hotspot') errors.push(validationError('pattern', w.pattern, "must be 'random', 'sequential' or 'hotspot'"));
  if (w.maxLength !== undefined && !isCountIn(w.maxLength, 1, SIM_LIMITS.segmentBlocks)) errors.push(validationError('maxLength', w.maxLength, `must be an integer from 1 to ${SIM_LIMITS.segmentBlocks}`));
  if (w.rates !== undefined) {
    const r = fieldsOf(errors, 'rates', w.rates, ACTION_RATES);
    for (const [key, v] of Object.entries(r ?? {})) if (v !== undefined && !isRate(v)) errors.push(validationError(`rates.${key}`, v, 'must be a number from 0 to 1'));
  }
  if (w.schedule !== undefined) {
    const items = elementsOf(errors, 'schedule', w.schedule, 100_000);
    for (const [i, item] of (items ?? []).entries()) {
      const f = fieldsOf(errors, `schedule[${i}]`, item, ['at', 'action']);
      if (f === null) break;
      if (!(typeof f.at === 'number' && Number.isFinite(f.at) && f.at >= 0)) errors.push(validationError(`schedule[${i}].at`, f.at, 'must be a non-negative number of milliseconds'));
      faultActionErrors(errors, `schedule[${i}].action`, f.action);
    }
  }
  if (w.verify !== undefined && typeof w.verify !== 'boolean') errors.push(validationError('verify', w.verify, 'must be a boolean'));
  return errors;
};

/**
 * The type of a scheduled action, and the fields of the fault actions (agent indexes, durations,
 * targets); other actions' fields are checked where they are carried out.
 */
const faultActionErrors = (errors: ValidationError[], field: string, raw: unknown): void => {
  const a = fieldsOf(errors, field, raw, ['type', 'agent', 'duration', 'target', 'at', 'earlier']);
  if (a === null) return;
  if (!ACTION_TYPES.has(a.type)) return void errors.push(validationError(`${field}.type`, a.type, `must be one of ${[...ACTION_TYPES].join(', ')}`));
  const agentNeeded = a.type === 'loseAgent' || a.type === 'reuseEpoch' || a.type === 'cutAgent' || a.type === 'attachAgent' || a.type === 'detachAgent' || (a.type === 'pause' && a.target === 'agent');
  if (agentNeeded && !isBlockNumber(a.agent)) errors.push(validationError(`${field}.agent`, a.agent, 'must be an agent index (a non-negative integer)'));
  const durationNeeded = a.type === 'pause' || a.type === 'cutAgent' || a.type === 'isolateController';
  if ((durationNeeded || a.duration !== undefined) && !isMillis(a.duration, true)) errors.push(validationError(`${field}.duration`, a.duration, 'must be a non-negative number of milliseconds'));
  if (a.type === 'pause' && a.target !== 'controller' && a.target !== 'agent') errors.push(validationError(`${field}.target`, a.target, "must be 'controller' or 'agent'"));
  if (a.type === 'crashController' && a.at !== 'beforeFanOut' && a.at !== 'midFanOut') errors.push(validationError(`${field}.at`, a.at, "must be 'beforeFanOut' or 'midFanOut'"));
  if (a.type === 'reuseEpoch' && a.earlier !== undefined && typeof a.earlier !== 'boolean') errors.push(validationError(`${field}.earlier`, a.earlier, 'must be a boolean'));
};
