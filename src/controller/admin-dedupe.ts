/**
 * Duplicated admin requests (docs/design.md#leases-and-liveness): a client's retry or a
 * duplicating network may deliver the same request twice. The controller remembers its recent
 * admin requests (id and content): a copy of one still in hand is dropped (the request is
 * answered once), a copy of one answered gets the same answer again, and nothing is done twice.
 * A request with a known id but other content is a new request. The memory is not persisted: a
 * controller that restarts forgets it, as it forgets the requests in hand.
 *
 * Content is the request as the controller reads it (`readAdminEvent`: only the fields it knows,
 * each checked), written with every object's keys in sorted order at every depth: the same
 * request built or decoded with its fields in another order is the same content.
 */
import { readAdminEvent } from './admin-validation.js';
import type { ControllerLimits } from './config.js';
import type { AdminResult, ControllerCommand, ControllerEvent } from './types.js';

/**
 * One recent admin request: its id, its content, and its answer (`null` while in hand).
 *
 * @example
 * state.recentAdmin?.find((r) => r.requestId === 7)?.result // { ok: true } once answered
 */
export interface RecentAdmin {
  readonly requestId: number;
  readonly key: string;
  readonly result: AdminResult | null;
}

/**
 * How many answered admin requests the controller remembers (`ControllerState.recentAdmin`).
 * When the memory is full the oldest answered request is forgotten first. A request in hand is
 * never forgotten, since a copy of it would then be done a second time: while more than this many
 * are in hand the memory holds all of them (each is work the controller holds anyway) and
 * shrinks back to this size as they are answered.
 *
 * @example
 * const recent = state.recentAdmin ?? [];
 * const inHand = recent.filter((r) => r.result === null).length;
 * recent.length <= Math.max(RECENT_ADMIN_LIMIT, inHand) // always
 */
export const RECENT_ADMIN_LIMIT = 256;

/**
 * An admin request as the memory sees it: its id and content, or `key: null` when the request is
 * refused as unreadable (it is answered at once and nothing is done, so it is not remembered).
 */
export interface AdminIdentity {
  readonly requestId: number;
  readonly key: string | null;
}

/**
 * `value` written with the keys of every object in sorted order, at every depth; `undefined`
 * fields are left out (a field set to `undefined` is a field not given). Null for a value with a
 * cycle or one that cannot be read.
 */
export const canonicalKey = (value: unknown): string | null => {
  try {
    return write(value, []);
  } catch {
    return null;
  }
};

const write = (v: unknown, path: unknown[]): string => {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : String(v); // NaN and the infinities stay apart from null
    case 'bigint':
      return `${v}n`;
    case 'undefined':
    case 'function':
    case 'symbol':
      return 'null'; // as JSON writes them in an array
    default:
      break;
  }
  if (v === null) return 'null';
  if (path.includes(v)) throw new Error('cycle');
  path.push(v);
  let out: string;
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (let i = 0; i < v.length; i++) parts.push(write(v[i], path));
    out = `[${parts.join(',')}]`;
  } else {
    const o = v as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(o).sort()) {
      const x = o[k];
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
      parts.push(`${JSON.stringify(k)}:${write(x, path)}`);
    }
    out = `{${parts.join(',')}}`;
  }
  path.pop();
  return out;
};

/**
 * The identity of an admin event, or null for any other event (or one without a usable request
 * id, which is refused without an answer to any request).
 */
export const identifyAdmin = (event: ControllerEvent, adminTypes: ReadonlySet<string>, limits: ControllerLimits): AdminIdentity | null => {
  let type: unknown;
  try {
    type = (event as { readonly type?: unknown }).type;
  } catch {
    return null; // the normal path reads it field by field and refuses it
  }
  if (typeof type !== 'string' || !adminTypes.has(type)) return null;
  const read = readAdminEvent(event, adminTypes, limits);
  if (read.requestId === null) return null;
  return { requestId: read.requestId, key: read.ok ? canonicalKey(read.value) : null };
};

/**
 * What to answer a copy of a recent request: `[]` for one in hand, its answer again for one
 * answered; null when the request is not a copy of a recent one.
 */
export const duplicateAnswer = (recent: ReadonlyArray<RecentAdmin> | undefined, id: AdminIdentity | null): ControllerCommand[] | null => {
  if (recent === undefined || id === null || id.key === null) return null;
  for (let i = recent.length - 1; i >= 0; i--) {
    const r = recent[i]!;
    if (r.requestId !== id.requestId || r.key !== id.key) continue;
    return r.result === null ? [] : [{ type: 'adminDone', requestId: r.requestId, result: r.result }];
  }
  return null;
};

/** The recent requests after a step: the request `id` (if the event was one), and the answers in `out`. */
export const noteAdmin = (recent: ReadonlyArray<RecentAdmin>, id: AdminIdentity | null, out: ReadonlyArray<ControllerCommand>): ReadonlyArray<RecentAdmin> => {
  let answers = false;
  for (const c of out) if (c.type === 'adminDone') answers = true;
  if (id === null && !answers) return recent;
  const next: RecentAdmin[] = [...recent];
  if (id !== null && id.key !== null) next.push({ requestId: id.requestId, key: id.key, result: null });
  // An unreadable request is refused in its own step: that answer is not another request's.
  let refusal = id !== null && id.key === null;
  for (const c of out) {
    if (c.type !== 'adminDone') continue;
    if (refusal && c.requestId === id!.requestId) {
      refusal = false;
      continue;
    }
    // The latest request of that id still in hand is the one answered.
    for (let i = next.length - 1; i >= 0; i--)
      if (next[i]!.requestId === c.requestId && next[i]!.result === null) {
        next[i] = { ...next[i]!, result: c.result };
        break;
      }
  }
  return forgetAnswered(next);
};

/** Drops the oldest answered requests while the memory is over the limit; requests in hand stay. */
const forgetAnswered = (next: RecentAdmin[]): RecentAdmin[] => {
  let excess = next.length - RECENT_ADMIN_LIMIT;
  if (excess <= 0) return next;
  const kept: RecentAdmin[] = [];
  for (const r of next) {
    if (excess > 0 && r.result !== null) excess--;
    else kept.push(r);
  }
  return kept;
};
