/**
 * What guards the NBD server's connections: TLS (`NBD_OPT_STARTTLS`), per-export access by
 * identity, and limits. `server.ts` consults it at a few well-marked points; without one the
 * server is plain NBD, open to every client, under the default limits.
 */
import type { AccessPolicy } from './access.js';
import { OPEN_POLICY, restrictBackend } from './access.js';
import { createConnectionCounter, DEFAULT_LIMITS, type ConnectionCounter, type Limits } from './limits.js';
import type { Backend } from './server.js';
import type { TlsMode, TlsServer } from './tls.js';

export interface ConnectionGuard {
  /** TLS, when configured: `on` offers STARTTLS, `require` refuses everything else before it. */
  readonly tls?: { readonly mode: TlsMode; readonly server: TlsServer };
  /** The backend as a client with `identity` (null: none) may use it. */
  readonly backendFor?: (identity: string | null) => Backend;
  readonly limits: Limits;
  /** Shared by every connection of a listener. */
  readonly counter: ConnectionCounter;
}

export interface GuardOptions {
  readonly tls?: { readonly mode: TlsMode; readonly server: TlsServer };
  readonly policy?: AccessPolicy;
  readonly limits?: Limits;
  /** Which exports are snapshots (for the policy's `snapshots` rule). */
  readonly isSnapshot?: (name: string) => Promise<boolean>;
}

/**
 * A guard for one listener.
 *
 * @example
 * const guard = createGuard(backend, { tls: { mode: 'require', server: createTlsServer({ psk }) }, policy });
 * await listen(backend, { socket: '/run/vdisk.sock' }, log, guard);
 */
export const createGuard = (backend: Backend, options: GuardOptions = {}): ConnectionGuard => {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const policy = options.policy ?? OPEN_POLICY;
  const isSnapshot = options.isSnapshot ?? (async () => false);
  // Without a policy every identity sees the backend as it is.
  const backendFor = options.policy === undefined ? undefined : (identity: string | null) => restrictBackend(backend, policy, identity, isSnapshot);
  return { ...(options.tls === undefined ? {} : { tls: options.tls }), ...(backendFor === undefined ? {} : { backendFor }), limits, counter: createConnectionCounter(limits.connectionsPerIdentity) };
};
