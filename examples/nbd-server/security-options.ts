/**
 * The command-line options of the NBD server's security: TLS, the access policy and the limits.
 *
 *   --tls off|on|require        STARTTLS: not offered (default without credentials), offered, or required
 *   --tls-psk FILE              pre-shared keys, lines `identity:hexkey` (as nbdkit, libnbd and qemu use)
 *   --tls-cert DIR              X.509: DIR/ca-cert.pem, DIR/server-cert.pem, DIR/server-key.pem
 *   --tls-verify-peer           refuse TLS clients without a PSK identity or a CA-signed certificate
 *   --access FILE               per-export access by identity (access.ts)
 *   --limit NAME=VALUE          limits.ts (repeatable): connections-per-identity=64, requests-in-flight=64, ...
 */
import * as E from 'fp-ts/lib/Either.js';
import { readFile } from 'node:fs/promises';
import { parsePolicy, type AccessPolicy } from './access.js';
import { createGuard, type ConnectionGuard } from './guard.js';
import { parseLimits } from './limits.js';
import type { Backend } from './server.js';
import { createTlsServer, parseTlsMode, readCertDir, readPskFile, type TlsCredentials, type TlsMode } from './tls.js';

/** For `parseArgs`. */
export const SECURITY_OPTIONS = {
  tls: { type: 'string' },
  'tls-psk': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-verify-peer': { type: 'boolean' },
  access: { type: 'string' },
  limit: { type: 'string', multiple: true },
} as const;

export interface SecurityValues {
  readonly tls?: string;
  readonly 'tls-psk'?: string;
  readonly 'tls-cert'?: string;
  readonly 'tls-verify-peer'?: boolean;
  readonly access?: string;
  readonly limit?: ReadonlyArray<string>;
}

const orThrow = <A>(e: E.Either<string, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left);
  return e.right;
};

/** The server's TLS credentials from `--tls-psk` and `--tls-cert`, or undefined. */
export const tlsCredentialsOf = async (values: SecurityValues): Promise<TlsCredentials | undefined> => {
  if (values['tls-psk'] === undefined && values['tls-cert'] === undefined) return undefined;
  return {
    ...(values['tls-psk'] === undefined ? {} : { psk: await readPskFile(values['tls-psk']) }),
    ...(values['tls-cert'] === undefined ? {} : { certs: await readCertDir(values['tls-cert'], 'server') }),
    verifyPeer: values['tls-verify-peer'] === true,
  };
};

/**
 * The guard the options describe for `backend`; throws with a message naming the option.
 *
 * @example
 * const guard = await guardFromOptions(values, backend, async (name) => name.includes('@'));
 */
export const guardFromOptions = async (values: SecurityValues, backend: Backend, isSnapshot: (name: string) => Promise<boolean>): Promise<ConnectionGuard> => {
  const credentials = await tlsCredentialsOf(values);
  const mode: TlsMode = values.tls === undefined ? (credentials === undefined ? 'off' : 'on') : orThrow(parseTlsMode(values.tls));
  if (mode !== 'off' && credentials === undefined) throw new Error(`--tls ${mode} needs --tls-psk FILE or --tls-cert DIR`);
  let policy: AccessPolicy | undefined;
  if (values.access !== undefined) {
    const text = await readFile(values.access, 'utf8');
    policy = orThrow(E.mapLeft((m: string) => `--access ${values.access}: ${m}`)(parsePolicy(text)));
  }
  const limits = orThrow(parseLimits(values.limit ?? []));
  return createGuard(backend, {
    ...(mode === 'off' || credentials === undefined ? {} : { tls: { mode, server: createTlsServer(credentials) } }),
    ...(policy === undefined ? {} : { policy }),
    limits,
    isSnapshot,
  });
};
