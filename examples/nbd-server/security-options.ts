/**
 * The command-line options of the NBD server's security: TLS, the access policy and the limits.
 *
 *   --tls off|on|require        STARTTLS: not offered (default without credentials), offered, or required
 *   --tls-psk FILE              pre-shared keys, lines `identity:hexkey` (as nbdkit, libnbd and qemu use)
 *   --tls-cert DIR              X.509: DIR/ca-cert.pem, DIR/server-cert.pem, DIR/server-key.pem
 *   --tls-verify-peer           refuse TLS clients without a PSK identity or a CA-signed certificate
 *   --access FILE               per-export access by identity (access.ts)
 *   --limit NAME=VALUE          limits.ts (repeatable): connections-per-identity=64, requests-in-flight=64, ...
 *
 * and of the links and the control channel (link-auth.ts, ctl-auth.ts):
 *
 *   --link-psk FILE             agent links over TLS with pre-shared keys; the identity is the agent id
 *   --link-cert DIR             agent links over mutual X.509 (controller: server-*.pem; agent: client-*.pem, CN = agent id)
 *   --link-agents FILE          controller: which agents may serve which disks (JSON: agent -> export patterns)
 *   --ctl-psk FILE              controller: ctl requests must be signed with a key of this file
 */
import * as E from 'fp-ts/lib/Either.js';
import { readFile } from 'node:fs/promises';
import { parsePolicy, type AccessPolicy } from './access.js';
import { createGuard, type ConnectionGuard } from './guard.js';
import { parseLimits } from './limits.js';
import type { Backend } from './server.js';
import { createTlsServer, parseTlsMode, readCertDir, readPskFile, type TlsCredentials, type TlsMode } from './tls.js';
import type { ConnectionOptions } from 'node:tls';
import type { ControlRequest } from './control.js';
import { requireControlKey, signControlRequest } from './ctl-auth.js';
import { agentLinkOptions, createLinkGuard, mayServe, parseAgentDisks, type AgentDisks, type LinkGuard } from './link-auth.js';

/** For `parseArgs`. */
export const SECURITY_OPTIONS = {
  tls: { type: 'string' },
  'tls-psk': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-verify-peer': { type: 'boolean' },
  access: { type: 'string' },
  limit: { type: 'string', multiple: true },
  'link-psk': { type: 'string' },
  'link-cert': { type: 'string' },
  'link-agents': { type: 'string' },
  'ctl-psk': { type: 'string' },
} as const;

export interface SecurityValues {
  readonly tls?: string;
  readonly 'tls-psk'?: string;
  readonly 'tls-cert'?: string;
  readonly 'tls-verify-peer'?: boolean;
  readonly access?: string;
  readonly limit?: ReadonlyArray<string>;
  readonly 'link-psk'?: string;
  readonly 'link-cert'?: string;
  readonly 'link-agents'?: string;
  readonly 'ctl-psk'?: string;
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

const linkCredentials = async (values: SecurityValues, role: 'server' | 'client'): Promise<TlsCredentials | undefined> => {
  if (values['link-psk'] === undefined && values['link-cert'] === undefined) return undefined;
  return {
    ...(values['link-psk'] === undefined ? {} : { psk: await readPskFile(values['link-psk']) }),
    ...(values['link-cert'] === undefined ? {} : { certs: await readCertDir(values['link-cert'], role) }),
  };
};

/** The controller's link guard and attachment rule, or undefined when links are plain. */
export const controllerLinkOf = async (values: SecurityValues): Promise<{ guard: LinkGuard; mayServe: (agent: string, disk: string) => boolean } | undefined> => {
  let agents: AgentDisks | undefined;
  if (values['link-agents'] !== undefined) {
    const text = await readFile(values['link-agents'], 'utf8');
    agents = orThrow(E.mapLeft((m: string) => `--link-agents ${values['link-agents']}: ${m}`)(parseAgentDisks(text)));
  }
  const credentials = await linkCredentials(values, 'server');
  if (credentials === undefined) {
    if (agents !== undefined) throw new Error('--link-agents needs --link-psk FILE or --link-cert DIR: without them an agent cannot prove its id');
    return undefined;
  }
  return { guard: createLinkGuard(credentials, agents), mayServe: (agent, disk) => mayServe(agents, agent, disk) };
};

/** An agent's TLS options for its link, or undefined when links are plain. */
export const agentLinkOf = async (values: SecurityValues, agent: string): Promise<ConnectionOptions | undefined> => {
  const credentials = await linkCredentials(values, 'client');
  return credentials === undefined ? undefined : agentLinkOptions(credentials, agent);
};

/** The control handler, requiring a signed request when `--ctl-psk` is given. */
export const controlHandlerOf = async (values: SecurityValues, handle: (r: ControlRequest) => Promise<unknown>): Promise<(r: ControlRequest) => Promise<unknown>> =>
  values['ctl-psk'] === undefined ? handle : requireControlKey(await readPskFile(values['ctl-psk']), handle);

/** `request` signed with the first key of `--ctl-key FILE`, or as it is without one. */
export const signedControlRequest = async (request: ControlRequest, keyFile: string | undefined): Promise<ControlRequest> => {
  if (keyFile === undefined) return request;
  const [first] = await readPskFile(keyFile);
  return signControlRequest(request, first![0], first![1]);
};
