/**
 * The credential of administrative commands (`ctl`): a key shared between the server
 * (`--ctl-psk FILE`, any identity in it may administer) and the operator (`ctl --ctl-key FILE`,
 * its first line), in the PSK file format of tls.ts. The key never crosses the socket: each
 * request carries its identity, the time, a fresh nonce and an HMAC-SHA256 over those and the
 * command. The server accepts a request once (nonces are remembered for the window in which a
 * time is accepted), within 60 s of its own clock.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ControlRequest } from './control.js';

export interface ControlAuth {
  readonly identity: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly nonce: string;
  /** Hex HMAC-SHA256. */
  readonly mac: string;
}

/** How far a request's time may be from the server's. */
export const CONTROL_WINDOW_MS = 60_000;
/** Nonces remembered at most; beyond that requests are refused until old ones expire. */
const MAX_NONCES = 100_000;

const macOf = (key: Buffer, identity: string, time: number, nonce: string, request: ControlRequest): string =>
  createHmac('sha256', key).update(`${identity}\n${time}\n${nonce}\n${JSON.stringify([request.command, request.args])}`).digest('hex');

/**
 * `request` with its credential, as `ctl` sends it.
 *
 * @example
 * await callControl(controlPath(dir), signControlRequest({ command: 'list', args: [] }, 'admin', key));
 */
export const signControlRequest = (request: ControlRequest, identity: string, key: Buffer, now = Date.now()): ControlRequest & { readonly auth: ControlAuth } => {
  const nonce = randomBytes(16).toString('hex');
  return { command: request.command, args: request.args, auth: { identity, time: now, nonce, mac: macOf(key, identity, now, nonce, request) } };
};

/**
 * Wraps a control handler so that it runs only for requests signed with one of `keys`.
 *
 * @example
 * await serveControl(controlPath(dir), requireControlKey(keys, controlHandler(side)));
 */
export const requireControlKey = (
  keys: ReadonlyMap<string, Buffer>,
  handle: (request: ControlRequest) => Promise<unknown>,
  clock: () => number = Date.now,
): ((request: ControlRequest) => Promise<unknown>) => {
  const seen = new Map<string, number>();
  return async (request) => {
    const auth = (request as { auth?: Partial<ControlAuth> }).auth;
    if (auth === undefined) throw new Error('this server requires a ctl key: ctl --ctl-key FILE');
    const { identity, time, nonce, mac } = auth;
    const now = clock();
    for (const [n, t] of seen) if (t < now - CONTROL_WINDOW_MS) seen.delete(n);
    const key = typeof identity === 'string' ? keys.get(identity) : undefined;
    if (key === undefined || typeof time !== 'number' || typeof nonce !== 'string' || typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) throw new Error('ctl key refused');
    const expected = Buffer.from(macOf(key, identity!, time, nonce, request), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) throw new Error('ctl key refused');
    if (Math.abs(now - time) > CONTROL_WINDOW_MS) throw new Error(`ctl request time is more than ${CONTROL_WINDOW_MS / 1000} s from the server's clock`);
    if (seen.has(nonce)) throw new Error('ctl request replayed');
    if (seen.size >= MAX_NONCES) throw new Error('too many ctl requests in the last minute');
    seen.set(nonce, time);
    return handle({ command: request.command, args: request.args });
  };
};
