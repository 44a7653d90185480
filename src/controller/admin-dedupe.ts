/**
 * Duplicated admin requests (docs/design.md#leases-and-liveness): a client's retry or a
 * duplicating network may deliver the same request twice. The controller remembers its last
 * {@link RECENT_ADMIN_LIMIT} requests (id and content): a copy of one still in hand is dropped
 * (the request is answered once), a copy of one answered gets the same answer again, and nothing
 * is done twice. A request with a known id but other content is a new request. The memory is
 * not persisted: a controller that restarts forgets it, as it forgets the requests in hand.
 */
import type { AdminResult, ControllerCommand, ControllerEvent, ControllerState } from './types.js';

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
 * How many admin requests the controller remembers.
 *
 * @example
 * state.recentAdmin!.length <= RECENT_ADMIN_LIMIT // always
 */
export const RECENT_ADMIN_LIMIT = 256;

/** The request id and content of an admin event, or null for any other event (or one that cannot be read). */
const identify = (event: ControllerEvent, adminTypes: ReadonlySet<string>): { requestId: number; key: string } | null => {
  try {
    const e = event as { readonly type?: unknown; readonly requestId?: unknown };
    const { type, requestId } = e;
    if (typeof type !== 'string' || !adminTypes.has(type) || typeof requestId !== 'number' || !Number.isSafeInteger(requestId)) return null;
    return { requestId, key: JSON.stringify(event) };
  } catch {
    return null; // the normal path reads it field by field and refuses it
  }
};

/**
 * What to answer a copy of a recent request: `[]` for one in hand, its answer again for one
 * answered; null when `event` is not a copy of a recent request.
 */
export const duplicateAnswer = (state: ControllerState, event: ControllerEvent, adminTypes: ReadonlySet<string>): ControllerCommand[] | null => {
  const recent = state.recentAdmin;
  if (recent === undefined || recent.length === 0) return null;
  const id = identify(event, adminTypes);
  if (id === null) return null;
  for (let i = recent.length - 1; i >= 0; i--) {
    const r = recent[i]!;
    if (r.requestId !== id.requestId || r.key !== id.key) continue;
    return r.result === null ? [] : [{ type: 'adminDone', requestId: r.requestId, result: r.result }];
  }
  return null;
};

/** The recent requests after a step: `event` if it was an admin request, and the answers in `out`. */
export const noteAdmin = (
  recent: ReadonlyArray<RecentAdmin>,
  event: ControllerEvent,
  out: ReadonlyArray<ControllerCommand>,
  adminTypes: ReadonlySet<string>,
): ReadonlyArray<RecentAdmin> => {
  const id = identify(event, adminTypes);
  let answers = false;
  for (const c of out) if (c.type === 'adminDone') answers = true;
  if (id === null && !answers) return recent;
  const next = id === null ? [...recent] : [...recent.slice(Math.max(0, recent.length + 1 - RECENT_ADMIN_LIMIT)), { ...id, result: null }];
  for (const c of out) {
    if (c.type !== 'adminDone') continue;
    // The latest request of that id still in hand is the one answered.
    for (let i = next.length - 1; i >= 0; i--)
      if (next[i]!.requestId === c.requestId && next[i]!.result === null) {
        next[i] = { ...next[i]!, result: c.result };
        break;
      }
  }
  return next;
};
