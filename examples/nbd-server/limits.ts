/**
 * Limits that keep one client (or one identity) from exhausting what the others need: the
 * connections an identity may hold, the requests and bytes one connection may have in flight,
 * the largest request, the replies queued for a client that does not read them, and the time a
 * connection may spend before it chooses an export.
 *
 * The server applies them by backpressure: at a limit it stops reading that socket (the kernel's
 * buffers then stop the client), so a stalled or hammering client holds at most its own share.
 */
import * as E from 'fp-ts/lib/Either.js';
import { HIGH_WATER, MAX_PAYLOAD } from './connection-io.js';

export interface Limits {
  /** Connections open at once per identity (clients without an identity share one count). */
  readonly connectionsPerIdentity: number;
  /** Requests being served at once on one connection. */
  readonly requestsInFlight: number;
  /** Bytes of read and write payload being served at once on one connection. */
  readonly bytesInFlight: number;
  /** Largest read or write payload; a larger write closes the connection, a larger read gets EOVERFLOW. */
  readonly requestBytes: number;
  /** Reply bytes queued for a client before its next request is read. */
  readonly queuedReplyBytes: number;
  /** Time from accepting a connection to its choice of an export (TLS handshake included). */
  readonly handshakeMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  connectionsPerIdentity: 64,
  requestsInFlight: 64,
  bytesInFlight: 2 * MAX_PAYLOAD,
  requestBytes: MAX_PAYLOAD,
  queuedReplyBytes: HIGH_WATER,
  handshakeMs: 10_000,
};

const FIELDS: Readonly<Record<string, keyof Limits>> = {
  'connections-per-identity': 'connectionsPerIdentity',
  'requests-in-flight': 'requestsInFlight',
  'bytes-in-flight': 'bytesInFlight',
  'request-bytes': 'requestBytes',
  'queued-reply-bytes': 'queuedReplyBytes',
  'handshake-ms': 'handshakeMs',
};

/**
 * `--limit NAME=VALUE` settings over the defaults. Names: connections-per-identity,
 * requests-in-flight, bytes-in-flight, request-bytes (at least 4096), queued-reply-bytes,
 * handshake-ms; values are positive integers. bytes-in-flight must hold one largest request.
 *
 * @example
 * parseLimits(['requests-in-flight=16', 'handshake-ms=5000']) // Right({ ...DEFAULT_LIMITS, requestsInFlight: 16, handshakeMs: 5000 })
 */
export const parseLimits = (settings: ReadonlyArray<string>, base: Limits = DEFAULT_LIMITS): E.Either<string, Limits> => {
  const out: Record<keyof Limits, number> = { ...base };
  for (const s of settings) {
    const eq = s.indexOf('=');
    const field = FIELDS[s.slice(0, eq)];
    if (eq < 0 || field === undefined) return E.left(`--limit ${JSON.stringify(s)} must be NAME=VALUE with NAME one of ${Object.keys(FIELDS).join(', ')}`);
    const value = Number(s.slice(eq + 1));
    if (!Number.isSafeInteger(value) || value < 1) return E.left(`--limit ${JSON.stringify(s)}: the value must be a positive integer`);
    out[field] = value;
  }
  if (out.requestBytes < 4096) return E.left(`--limit request-bytes=${out.requestBytes} must be at least 4096 (one block)`);
  if (out.bytesInFlight < out.requestBytes) return E.left(`--limit bytes-in-flight=${out.bytesInFlight} must be at least request-bytes=${out.requestBytes}`);
  return E.right(out);
};

/** Counts open connections per identity; `null` (no identity) is a count of its own. */
export interface ConnectionCounter {
  /** Takes a place for `identity`; false (and nothing taken) when it already holds `max`. */
  admit(identity: string | null): boolean;
  release(identity: string | null): void;
  count(identity: string | null): number;
}

/**
 * A counter allowing `max` connections per identity.
 *
 * @example
 * const c = createConnectionCounter(2);
 * c.admit('alice'); c.admit('alice'); c.admit('alice') // true, true, false
 */
export const createConnectionCounter = (max: number): ConnectionCounter => {
  const counts = new Map<string | null, number>();
  return {
    admit(identity) {
      const n = counts.get(identity) ?? 0;
      if (n >= max) return false;
      counts.set(identity, n + 1);
      return true;
    },
    release(identity) {
      const n = counts.get(identity) ?? 0;
      if (n <= 1) counts.delete(identity);
      else counts.set(identity, n - 1);
    },
    count: (identity) => counts.get(identity) ?? 0,
  };
};
