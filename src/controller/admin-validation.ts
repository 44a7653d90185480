/**
 * Reading what reaches the controller from outside: administrative requests and the other
 * events of `controllerStep`. Each field is read exactly once, inside a guard, into a plain
 * object of the right shape, so a proxy, a throwing getter, a BigInt or a sparse array gives a
 * refusal that names the field and the value, never a TypeError. Resource limits
 * (`ControllerConfig.limits`) are checked here too, before anything is allocated.
 */
import { show } from '../errors.js';
import type { TableDocument } from '../table/codec.js';
import type { AdminEvent, ControllerEvent, ControllerLimits, PersistedState } from './types.js';

/** A value read from outside, or why it cannot be used. */
export type Read<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: string };

const ok = <A>(value: A): Read<A> => ({ ok: true, value });
const no = <A>(error: string): Read<A> => ({ ok: false, error });

/** `show` that survives anything (a proxy whose every trap throws included). */
export const describeValue = (value: unknown): string => {
  try {
    return show(value);
  } catch {
    return 'an unreadable value';
  }
};

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/** Reads `keys` of `raw` once each; Left when `raw` is not a plain object or a getter throws. */
const readFields = (raw: unknown, keys: ReadonlyArray<string>, what: string): Read<Record<string, unknown>> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return no(`${what} must be an object, got ${describeValue(raw)}`);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    try {
      out[key] = (raw as Record<string, unknown>)[key];
    } catch (e) {
      return no(`${what}: field ${key} could not be read (${e instanceof Error ? e.message : 'it threw'})`);
    }
  }
  return ok(out);
};

type FieldRule = (value: unknown, limits: ControllerLimits) => string | null;

const name: FieldRule = (v) => (isName(v) ? null : `must be a non-empty string, got ${describeValue(v)}`);
const count: FieldRule = (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`);
const positive: FieldRule = (v) => (isCount(v) && v > 0 ? null : `must be a positive safe integer, got ${describeValue(v)}`);
const segmentCount: FieldRule = (v, l) =>
  positive(v, l) ?? ((v as number) > l.maxSegmentsPerDisk ? `must be at most ${l.maxSegmentsPerDisk} (limits.maxSegmentsPerDisk), got ${v}` : null);

const optionalFlag: FieldRule = (v) => (v === undefined || typeof v === 'boolean' ? null : `must be a boolean when present, got ${describeValue(v)}`);

/** The fields each admin request has, and the rule each must meet. */
const ADMIN_FIELDS: { readonly [T in AdminEvent['type']]: Readonly<Record<string, FieldRule>> } = {
  createDisk: { disk: name, segmentBlocks: count, segmentCount, segmentLengths: (v, l) =>
    v === undefined || (Array.isArray(v) && v.length <= l.maxSegmentsPerDisk) ? null : `must be an array of at most ${l.maxSegmentsPerDisk} segment lengths when present, got ${describeValue(v)}`,
    grainBlocks: (v, l) => (v === undefined ? null : positive(v, l)) },
  attachAgent: { disk: name, agent: name },
  detachAgent: { disk: name, agent: name },
  snapshot: { disk: name, snapshot: name },
  migrate: { disk: name, lun: count },
  markFailed: { lun: count, start: count, length: positive },
  resize: { disk: name, segmentCount: (v, l) => count(v, l) ?? ((v as number) > l.maxSegmentsPerDisk ? `must be at most ${l.maxSegmentsPerDisk} (limits.maxSegmentsPerDisk), got ${v}` : null),
    segmentLength: (v, l) => (v === undefined ? null : positive(v, l)) },
  splitSegment: { disk: name, segment: count, at: positive },
  mergeSegments: { disk: name, segment: count },
  deleteDisk: { disk: name, force: optionalFlag },
  rollback: { disk: name, snapshot: name },
};

/** Rules for the fields of request types this module has no table for (checked when present). */
const COMMON_FIELDS: Readonly<Record<string, FieldRule>> = { disk: name, agent: name, snapshot: name, lun: count, generation: count, segmentCount: count };

/** Reads `segments` of a migrate request: a dense array of segment numbers within the limits. */
const readSegments = (raw: unknown, limits: ControllerLimits): Read<ReadonlyArray<number> | undefined> => {
  if (raw === undefined) return ok(undefined);
  if (!Array.isArray(raw)) return no(`segments must be an array of segment numbers when present, got ${describeValue(raw)}`);
  let length: number;
  try {
    length = raw.length;
  } catch {
    return no('segments could not be read');
  }
  // Refused before a single element is copied: the limit is what keeps a huge list out.
  if (length > limits.maxSegmentsPerDisk) return no(`segments must list at most ${limits.maxSegmentsPerDisk} segments (limits.maxSegmentsPerDisk), got ${length}`);
  if (length * 8 > limits.maxMessageBytes) return no(`segments of ${length} entries exceed limits.maxMessageBytes (${limits.maxMessageBytes} bytes)`);
  const out: number[] = new Array<number>(length);
  for (let i = 0; i < length; i++) {
    let x: unknown;
    try {
      if (!(i in raw)) return no(`segments has a hole at index ${i}`);
      x = raw[i];
    } catch {
      return no(`segments[${i}] could not be read`);
    }
    if (!isCount(x)) return no(`segments[${i}] must be a segment number (a non-negative safe integer), got ${describeValue(x)}`);
    out[i] = x;
  }
  return ok(out);
};

/** Strings longer than the message limit are refused (names are copied into every record and message). */
const tooLong = (fields: Record<string, unknown>, limits: ControllerLimits): string | null => {
  for (const [key, v] of Object.entries(fields))
    if (typeof v === 'string' && v.length * 2 > limits.maxMessageBytes) return `${key} of ${v.length} characters exceeds limits.maxMessageBytes (${limits.maxMessageBytes} bytes)`;
  return null;
};

/**
 * An administrative request read from outside: a plain `AdminEvent` whose fields have the right
 * types and respect `limits`, or why not. `known` is every request type the controller handles;
 * those this module has no table for are checked by field name (`disk`, `agent`, ...).
 * `requestId` is read first and returned even when something else is wrong, so the refusal can
 * be answered to the right request.
 */
export const readAdminEvent = (raw: unknown, known: ReadonlySet<string>, limits: ControllerLimits): Read<AdminEvent> & { readonly requestId: number | null } => {
  const head = readFields(raw, ['type', 'requestId'], 'admin request');
  if (!head.ok) return { ...head, requestId: null };
  const { type, requestId: rid } = head.value;
  const requestId = isCount(rid) ? rid : null;
  if (requestId === null) return { ok: false, error: `admin request: requestId must be a non-negative safe integer, got ${describeValue(rid)}`, requestId };
  if (typeof type !== 'string' || !known.has(type))
    return { ok: false, error: `unknown admin request type ${describeValue(type)} (expected one of ${[...known].join(', ')})`, requestId };
  const rules = (ADMIN_FIELDS as Readonly<Record<string, Readonly<Record<string, FieldRule>>>>)[type];
  const keys = rules === undefined ? [...Object.keys(COMMON_FIELDS), ...ownKeys(raw)] : [...Object.keys(rules), ...(type === 'migrate' ? ['segments'] : [])];
  const body = readFields(raw, [...new Set(keys)].filter((k) => k !== 'type' && k !== 'requestId'), type);
  if (!body.ok) return { ...body, requestId };
  const fields = body.value;
  for (const [key, rule] of Object.entries(rules ?? COMMON_FIELDS)) {
    if (rules === undefined && fields[key] === undefined) continue;
    const why = rule(fields[key], limits);
    if (why !== null) return { ok: false, error: `${type}: ${key} ${why}`, requestId };
  }
  const long = tooLong(fields, limits);
  if (long !== null) return { ok: false, error: `${type}: ${long}`, requestId };
  if (type === 'migrate') {
    const segments = readSegments(fields.segments, limits);
    if (!segments.ok) return { ok: false, error: `migrate: ${segments.error}`, requestId };
    if (segments.value === undefined) delete fields.segments;
    else fields.segments = segments.value;
  }
  return { ok: true, value: { ...fields, type, requestId } as AdminEvent, requestId };
};

/** The own enumerable string keys of `raw`, or none when they cannot be listed. */
const ownKeys = (raw: unknown): string[] => {
  try {
    return Object.keys(raw as object).slice(0, 64);
  } catch {
    return [];
  }
};

/** The fields of each non-admin event, and the rule each must meet. */
const isNumber = (x: unknown): boolean => typeof x === 'number' && !Number.isNaN(x);
const EVENT_FIELDS: Readonly<Record<string, Readonly<Record<string, (v: unknown) => string | null>>>> = {
  tick: { now: (v) => (isNumber(v) ? null : `must be a number (milliseconds), got ${describeValue(v)}`) },
  persisted: { persistId: (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`) },
  persistFailed: { persistId: (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`), error: () => null },
  copyDone: { copyId: (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`) },
  copyFailed: { copyId: (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`), error: () => null },
  flushed: { flushId: (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`) },
  flushFailed: { flushId: (v) => (isCount(v) ? null : `must be a non-negative safe integer, got ${describeValue(v)}`), error: () => null },
  message: { message: () => null },
  restored: {
    state: (v) => (typeof v === 'object' && v !== null ? null : `must be the persisted state { tables, attachments }, got ${describeValue(v)}`),
    now: (v) => (isNumber(v) ? null : `must be a number (milliseconds), got ${describeValue(v)}`),
  },
};

/**
 * Any event of `controllerStep` read from outside: the event type, and for events other than
 * admin requests their fields, read once each and checked. Admin requests are read by
 * {@link readAdminEvent}; agent messages are checked by the intake.
 */
export const readEvent = (raw: unknown): Read<ControllerEvent> | { readonly ok: true; readonly admin: true } => {
  // Every step reads its event here: one guarded read per field, no other allocation than the copy.
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return no(`event must be an object, got ${describeValue(raw)}`);
  const head: Record<string, unknown> = {};
  const unreadable = readField(raw, 'type', head);
  if (unreadable !== null) return no(`event: field type could not be read (${unreadable})`);
  const type = head.type;
  if (typeof type !== 'string') return no(`event type must be a string, got ${describeValue(type)}`);
  const shape = EVENT_SHAPES.get(type);
  if (shape === undefined) return { ok: true, admin: true };
  const out: Record<string, unknown> = {};
  for (const key of shape.keys) {
    const why = readField(raw, key, out);
    if (why !== null) return no(`${type}: field ${key} could not be read (${why})`);
  }
  for (let i = 0; i < shape.keys.length; i++) {
    const why = shape.rules[i]!(out[shape.keys[i]!]);
    if (why !== null) return no(`${type}: ${shape.keys[i]!} ${why}`);
  }
  out.type = type;
  return ok(out as unknown as ControllerEvent);
};

/**
 * Copies `raw[key]` into `out[key]`; null, or why it could not be read. (What was read is never
 * looked at here: a proxy's traps, `instanceof` included, may throw.)
 */
const readField = (raw: object, key: string, out: Record<string, unknown>): string | null => {
  try {
    out[key] = (raw as Record<string, unknown>)[key];
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : 'it threw';
  }
};

/** `EVENT_FIELDS` as lists, looked up by own type names only (never `toString` and the like). */
const EVENT_SHAPES: ReadonlyMap<string, { readonly keys: ReadonlyArray<string>; readonly rules: ReadonlyArray<(v: unknown) => string | null> }> = /* @__PURE__ */ (() =>
  new Map(Object.entries(EVENT_FIELDS).map(([type, rules]) => [type, { keys: Object.keys(rules), rules: Object.values(rules) }])))();

/**
 * The events of a `batch` event, read once into a plain array (each event is read when its turn
 * comes), or why they cannot be.
 */
export const readBatchEvents = (raw: unknown): Read<ReadonlyArray<unknown>> => {
  const f = readFields(raw, ['events'], 'batch');
  if (!f.ok) return f;
  const events = readArray(f.value.events, 'batch: events', Number.MAX_SAFE_INTEGER);
  return events.ok ? events : no(events.error);
};

/** Reads a dense array once; Left when it is not one. */
const readArray = (raw: unknown, what: string, max: number): Read<unknown[]> => {
  if (!Array.isArray(raw)) return no(`${what} must be an array, got ${describeValue(raw)}`);
  try {
    if (raw.length > max) return no(`${what} must hold at most ${max} entries, got ${raw.length}`);
    const out: unknown[] = [];
    for (let i = 0; i < raw.length; i++) {
      if (!(i in raw)) return no(`${what} has a hole at index ${i}`);
      out.push(raw[i]);
    }
    return ok(out);
  } catch {
    return no(`${what} could not be read`);
  }
};

/**
 * The persisted state of a `restored` event, read from outside (a store the caller wrote): every
 * table `{ disk, table }` and attachment `{ disk, agents }`, copied into plain arrays. Tables
 * themselves are decoded later, one by one (one that does not decode is reported and skipped).
 */
export const readPersistedState = (raw: unknown, limits: ControllerLimits): Read<PersistedState> => {
  const top = readFields(raw, ['tables', 'attachments', 'generationFloor'], 'restored state');
  if (!top.ok) return top;
  const tables = readArray(top.value.tables, 'restored state: tables', limits.maxDisks);
  if (!tables.ok) return tables;
  const attachments = readArray(top.value.attachments, 'restored state: attachments', limits.maxDisks);
  if (!attachments.ok) return attachments;
  const outTables: { disk: string; table: TableDocument }[] = [];
  for (const [i, t] of tables.value.entries()) {
    const f = readFields(t, ['disk', 'table'], `restored state: tables[${i}]`);
    if (!f.ok) return f;
    if (!isName(f.value.disk)) return no(`restored state: tables[${i}].disk must be a non-empty string, got ${describeValue(f.value.disk)}`);
    if (typeof f.value.table !== 'object' || f.value.table === null) return no(`restored state: tables[${i}].table must be a table document, got ${describeValue(f.value.table)}`);
    outTables.push({ disk: f.value.disk, table: f.value.table as TableDocument });
  }
  const outAttachments: { disk: string; agents: string[]; dropping?: string[] }[] = [];
  const names = (v: unknown, what: string): Read<string[]> => {
    const list = readArray(v, what, limits.maxMessageBytes);
    if (!list.ok) return list;
    const bad = list.value.findIndex((x) => !isName(x));
    return bad >= 0 ? no(`${what}[${bad}] must be a non-empty string, got ${describeValue(list.value[bad])}`) : ok(list.value as string[]);
  };
  for (const [i, a] of attachments.value.entries()) {
    const f = readFields(a, ['disk', 'agents', 'dropping'], `restored state: attachments[${i}]`);
    if (!f.ok) return f;
    if (!isName(f.value.disk)) return no(`restored state: attachments[${i}].disk must be a non-empty string, got ${describeValue(f.value.disk)}`);
    const agents = names(f.value.agents, `restored state: attachments[${i}].agents`);
    if (!agents.ok) return agents;
    // Absent in documents stored before agents still dropping were persisted: none.
    const dropping = f.value.dropping === undefined ? ok([]) : names(f.value.dropping, `restored state: attachments[${i}].dropping`);
    if (!dropping.ok) return dropping;
    outAttachments.push({ disk: f.value.disk, agents: agents.value, ...(dropping.value.length > 0 ? { dropping: dropping.value } : {}) });
  }
  // Absent in documents stored before deletions kept a floor: 0, as it meant then.
  const floor = top.value.generationFloor;
  if (floor !== undefined && !(typeof floor === 'number' && Number.isSafeInteger(floor) && floor >= 0))
    return no(`restored state: generationFloor must be a non-negative safe integer when present, got ${describeValue(floor)}`);
  return ok({ tables: outTables, attachments: outAttachments, ...(floor !== undefined && floor > 0 ? { generationFloor: floor } : {}) });
};

/**
 * Why a valid admin request would take the controller past its disk or segment limits, or null.
 * `disks` is the segment count of every disk the controller has now.
 */
export const overLimits = (event: AdminEvent, disks: ReadonlyMap<string, number>, limits: ControllerLimits): string | null => {
  let total = 0;
  for (const n of disks.values()) total += n;
  const grow = (added: number, newDisk: boolean): string | null => {
    if (newDisk && disks.size + 1 > limits.maxDisks) return `the controller already has ${disks.size} disks (limits.maxDisks is ${limits.maxDisks})`;
    if (total + added > limits.maxTotalSegments)
      return `${added} more segments would make ${total + added} in all (limits.maxTotalSegments is ${limits.maxTotalSegments})`;
    return null;
  };
  switch (event.type) {
    case 'createDisk':
      return grow(event.segmentCount, true);
    case 'snapshot':
      return disks.has(event.disk) ? grow(disks.get(event.disk)!, true) : null;
    case 'resize':
      return disks.has(event.disk) ? grow(Math.max(0, event.segmentCount - disks.get(event.disk)!), false) : null;
    case 'splitSegment':
      return disks.has(event.disk) ? grow(1, false) : null;
    default:
      return null;
  }
};

/**
 * The limits of a configuration, every field checked; a missing field takes its default.
 */
export const readLimits = (raw: unknown, defaults: ControllerLimits): Read<ControllerLimits> => {
  if (raw === undefined) return ok(defaults);
  const f = readFields(raw, Object.keys(defaults), 'limits');
  if (!f.ok) return f;
  const out: Record<string, number> = {};
  for (const key of Object.keys(defaults) as (keyof ControllerLimits)[]) {
    const v = f.value[key];
    if (v === undefined) out[key] = defaults[key];
    else if (isCount(v) && v > 0) out[key] = v;
    else return no(`limits.${key} must be a positive safe integer, got ${describeValue(v)}`);
  }
  return ok(out as unknown as ControllerLimits);
};
