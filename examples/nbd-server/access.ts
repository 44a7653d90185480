/**
 * Per-export access: which identities (PSK identity or certificate common name) may read and
 * write which exports. A policy is a small JSON file:
 *
 * ```json
 * {
 *   "identities": {
 *     "alice": { "vol": "write", "vol@*": "read" },
 *     "backup": { "*": "read" }
 *   },
 *   "anonymous": { "public": "read" },
 *   "snapshots": "read"
 * }
 * ```
 *
 * Each identity maps export patterns (an exact name, `prefix*`, or `*`) to `read`, `write` or
 * `none`. An exact name wins over patterns, and a longer prefix over a shorter one. `anonymous`
 * holds the grants of clients without an identity (plain connections, TLS without credentials).
 * Snapshots are read-only whatever the grant, unless `"snapshots": "write"`. Without a policy
 * every client may use every export (snapshots read-only).
 *
 * The decision (`accessOf`) is pure; `restrictBackend` applies it to a `Backend`: the export list
 * shows only what the client may open, opening anything else is a policy refusal (which does not
 * tell whether the export exists), and a read grant serves the export read-only.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend, ExportHandle } from './server.js';

export type Access = 'none' | 'read' | 'write';

export interface Grant {
  /** An exact export name, `prefix*`, or `*`. */
  readonly pattern: string;
  readonly access: Access;
}

export interface AccessPolicy {
  readonly identities: ReadonlyMap<string, ReadonlyArray<Grant>>;
  readonly anonymous: ReadonlyArray<Grant>;
  readonly snapshotsWritable: boolean;
}

/** Every client may use every export; snapshots are read-only. */
export const OPEN_POLICY: AccessPolicy = { identities: new Map(), anonymous: [{ pattern: '*', access: 'write' }], snapshotsWritable: false };

const PATTERN = /^[A-Za-z0-9._@-]{0,128}\*?$/;

const parseGrants = (where: string, doc: unknown): E.Either<string, Grant[]> => {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return E.left(`${where} must be an object of export pattern -> "read" | "write" | "none"`);
  const grants: Grant[] = [];
  for (const [pattern, access] of Object.entries(doc)) {
    if (!PATTERN.test(pattern) || pattern === '') return E.left(`${where}: pattern ${JSON.stringify(pattern)} must be an export name, optionally ending in *`);
    if (access !== 'read' && access !== 'write' && access !== 'none') return E.left(`${where}.${pattern}: access ${JSON.stringify(access)} must be "read", "write" or "none"`);
    grants.push({ pattern, access });
  }
  return E.right(grants);
};

/**
 * Parses a policy document (the text of the JSON file).
 *
 * @example
 * parsePolicy('{"identities": {"alice": {"vol": "write"}}}') // Right({ identities: Map { alice => [...] }, anonymous: [], snapshotsWritable: false })
 */
export const parsePolicy = (text: string): E.Either<string, AccessPolicy> => {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return E.left(`access policy is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return E.left('access policy must be a JSON object');
  const d = doc as Record<string, unknown>;
  const unknown = Object.keys(d).filter((k) => k !== 'identities' && k !== 'anonymous' && k !== 'snapshots');
  if (unknown.length > 0) return E.left(`access policy: unknown field ${JSON.stringify(unknown[0])} (fields: identities, anonymous, snapshots)`);
  if (d.snapshots !== undefined && d.snapshots !== 'read' && d.snapshots !== 'write') return E.left(`access policy: snapshots ${JSON.stringify(d.snapshots)} must be "read" or "write"`);
  const identities = new Map<string, Grant[]>();
  const ids = d.identities ?? {};
  if (typeof ids !== 'object' || ids === null || Array.isArray(ids)) return E.left('access policy: identities must be an object of identity -> grants');
  for (const [identity, grants] of Object.entries(ids)) {
    if (identity === '') return E.left('access policy: an identity may not be empty');
    const g = parseGrants(`identities.${identity}`, grants);
    if (E.isLeft(g)) return g;
    identities.set(identity, g.right);
  }
  const anonymous = parseGrants('anonymous', d.anonymous ?? {});
  if (E.isLeft(anonymous)) return anonymous;
  return E.right({ identities, anonymous: anonymous.right, snapshotsWritable: d.snapshots === 'write' });
};

/** How specific a pattern is for `name`: -1 when it does not match; an exact name beats every pattern. */
export const specificity = (pattern: string, name: string): number => {
  if (!pattern.endsWith('*')) return pattern === name ? Number.MAX_SAFE_INTEGER : -1;
  const prefix = pattern.slice(0, -1);
  return name.startsWith(prefix) ? prefix.length : -1;
};

/**
 * What `identity` (null: a client without one) may do with export `name`.
 *
 * @example
 * accessOf(policy, 'alice', { name: 'vol@1', snapshot: true }) // 'read' (snapshots are read-only)
 */
export const accessOf = (policy: AccessPolicy, identity: string | null, exported: { readonly name: string; readonly snapshot: boolean }): Access => {
  const grants = identity === null ? policy.anonymous : (policy.identities.get(identity) ?? []);
  let best: Grant | null = null;
  let bestScore = -1;
  for (const g of grants) {
    const s = specificity(g.pattern, exported.name);
    if (s > bestScore) [best, bestScore] = [g, s];
  }
  const access = best?.access ?? 'none';
  return access === 'write' && exported.snapshot && !policy.snapshotsWritable ? 'read' : access;
};

/** Why an export is refused under a policy (the NBD server answers NBD_REP_ERR_POLICY). */
export const POLICY_REFUSAL = 'not permitted by the access policy';

/**
 * `backend` as `identity` may use it. `isSnapshot` tells which exports are snapshots.
 *
 * @example
 * const mine = restrictBackend(backend, policy, 'alice', (name) => name.includes('@'));
 */
export const restrictBackend = (backend: Backend, policy: AccessPolicy, identity: string | null, isSnapshot: (name: string) => Promise<boolean>): Backend => {
  const accessTo = async (name: string): Promise<Access> => accessOf(policy, identity, { name, snapshot: await isSnapshot(name) });
  /** The export `requested` names (`''`: the first one the client may open). */
  const resolve = async (requested: string): Promise<string | undefined> => {
    if (requested !== '') return requested;
    for (const e of await backend.exports()) if ((await accessTo(e.name)) !== 'none') return e.name;
    return undefined;
  };
  return {
    blockSizes: backend.blockSizes,
    async exports() {
      const all = await backend.exports();
      const visible = [];
      for (const e of all) if ((await accessTo(e.name)) !== 'none') visible.push(e);
      return visible;
    },
    async open(requested) {
      const name = await resolve(requested);
      if (name === undefined) return undefined;
      const access = await accessTo(name);
      if (access === 'none') return undefined;
      const h = await backend.open(name);
      if (h === undefined) return undefined;
      const readOnly = access === 'read' || (h.readOnly && !(policy.snapshotsWritable && (await isSnapshot(name))));
      return readOnly === h.readOnly ? h : ({ ...h, readOnly } satisfies ExportHandle);
    },
    async forbidden(requested) {
      const name = await resolve(requested);
      return name === undefined || (await accessTo(name)) === 'none';
    },
  };
};
