/**
 * Authentication of the agent–controller links: mutual TLS (pre-shared keys or X.509) on the
 * framed transport of net-transport.ts. The controller binds each connection to the identity its
 * TLS handshake proved (the PSK identity or the client certificate's common name), and from then
 * on refuses
 *
 * - a hello that names another agent, and any message whose `agent` is not the bound one (the
 *   connection is dropped: that agent is lying);
 * - an agent that is not configured at all, and messages about disks it is not configured for
 *   (it is not attached to them either).
 *
 * The configuration of which agent serves which disks is a JSON file of agent id -> export
 * patterns (`vol`, `vol@*`, `*`), as in access.ts:
 *
 * ```json
 * { "a": ["*"], "b": ["scratch", "scratch@*"] }
 * ```
 */
import * as E from 'fp-ts/lib/Either.js';
import type { ConnectionOptions } from 'node:tls';
import type { AgentMessage } from '../../src/index.js';
import { specificity } from './access.js';
import { clientTlsOptions, createTlsServer, type TlsCredentials, type TlsServer } from './tls.js';

/** Agent id -> export patterns it may serve. */
export type AgentDisks = ReadonlyMap<string, ReadonlyArray<string>>;

const PATTERN = /^[A-Za-z0-9._@-]{0,128}\*?$/;

/**
 * Parses the agents file.
 *
 * @example
 * parseAgentDisks('{"a": ["*"], "b": ["scratch"]}') // Right(Map { a => ['*'], b => ['scratch'] })
 */
export const parseAgentDisks = (text: string): E.Either<string, AgentDisks> => {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return E.left(`agents file is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return E.left('agents file must be a JSON object of agent id -> export patterns');
  const out = new Map<string, string[]>();
  for (const [agent, patterns] of Object.entries(doc)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(agent)) return E.left(`agents file: agent id ${JSON.stringify(agent)} must be letters, digits, . _ - (1 to 64)`);
    if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string' && p !== '' && PATTERN.test(p))) {
      return E.left(`agents file: ${agent} must map to a list of export names or patterns ending in *, got ${JSON.stringify(patterns)}`);
    }
    out.set(agent, patterns as string[]);
  }
  return E.right(out);
};

/** Whether `agent` may serve `disk` (every agent may serve every disk when there is no configuration). */
export const mayServe = (agents: AgentDisks | undefined, agent: string, disk: string): boolean =>
  agents === undefined || (agents.get(agent) ?? []).some((p) => specificity(p, disk) >= 0);

/** What the controller's listener checks on every agent connection. */
export interface LinkGuard {
  /** The TLS server end (mutual authentication: a peer without credentials is refused). */
  readonly tls: TlsServer;
  /** Why a connection authenticated as `identity` may not say hello as `hello`, or null. */
  refuseHello(identity: string | null, hello: string): string | null;
  /** Why `message` from the connection bound to `agent` is refused, or null; `drop` when the connection must go. */
  refuseMessage(agent: string, message: AgentMessage): { readonly why: string; readonly drop: boolean } | null;
}

/** Longest a link's TLS handshake may take. */
export const LINK_HANDSHAKE_MS = 10_000;

/**
 * The controller's guard from its credentials and (optionally) the agents file.
 *
 * @example
 * const guard = createLinkGuard({ psk: await readPskFile('/etc/vdisk/agents.psk') }, agents);
 * const listener = await listenForAgents({ socket: '/run/vdisk-agents.sock' }, log, guard);
 */
export const createLinkGuard = (credentials: TlsCredentials, agents?: AgentDisks): LinkGuard => ({
  tls: createTlsServer({ ...credentials, verifyPeer: true }),
  refuseHello(identity, hello) {
    if (identity !== hello) return `the connection authenticated as ${JSON.stringify(identity)} but says hello as ${JSON.stringify(hello)}`;
    if (agents !== undefined && !agents.has(hello)) return `agent ${JSON.stringify(hello)} is not configured`;
    return null;
  },
  refuseMessage(agent, message) {
    const m = message as { agent?: unknown; disk?: unknown };
    if (m.agent !== agent) return { why: `a message from ${JSON.stringify(agent)} claims to come from ${JSON.stringify(m.agent)}`, drop: true };
    if (typeof m.disk === 'string' && !mayServe(agents, agent, m.disk)) return { why: `agent ${JSON.stringify(agent)} is not configured for disk ${JSON.stringify(m.disk)}`, drop: false };
    return null;
  },
});

/** The agent's `tls.connect` options: its own key (PSK identity = agent id) or its certificate. */
export const agentLinkOptions = (credentials: TlsCredentials, agent: string): ConnectionOptions => clientTlsOptions(credentials, agent);
