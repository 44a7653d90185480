/**
 * The controller-agent transport between processes: a reference `Transport` over TCP or Unix
 * stream sockets. Frames are a 4-byte big-endian length and a JSON document. An agent connects,
 * says `{ hello: <agent id> }`, and from then on frames carry `{ message }` both ways. Agents
 * reconnect with exponential backoff; a message sent while there is no connection is dropped,
 * which the protocol copes with (faults are re-sent, table changes re-sent until acknowledged).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import type { AgentMessage, ControllerMessage, Transport } from '../../src/index.js';
import { LINK_HANDSHAKE_MS, type LinkGuard } from './link-auth.js';
import type { Logger } from './server.js';
import { removeStaleSocket } from './server.js';

/** A frame longer than this is a protocol error (whole tables of millions of segments fit). */
const MAX_FRAME = 256 << 20;

export type Address = { readonly socket: string } | { readonly host: string; readonly port: number };

/** `PATH` (with a `/`), `PORT` or `HOST:PORT`. */
export const parseAddress = (text: string): Address | null => {
  if (text.includes('/')) return { socket: text };
  const m = /^(?:([A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) return null;
  return { host: m[1] ?? '127.0.0.1', port: Number(m[2]) };
};

const showAddress = (a: Address): string => ('socket' in a ? a.socket : `${a.host}:${a.port}`);

export const encodeFrame = (doc: unknown): Buffer => {
  const payload = Buffer.from(JSON.stringify(doc), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
};

/** Splits a byte stream into JSON frames; throws on an oversized or unparsable frame. */
export const frameReader = (onFrame: (doc: unknown) => void): ((chunk: Buffer) => void) => {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      if (length > MAX_FRAME) throw new Error(`frame of ${length} bytes exceeds ${MAX_FRAME}`);
      if (buffered.length < 4 + length) return;
      const doc = JSON.parse(buffered.toString('utf8', 4, 4 + length)) as unknown;
      buffered = buffered.subarray(4 + length);
      onFrame(doc);
    }
  };
};

export interface AgentListener {
  readonly transport: Transport<ControllerMessage, AgentMessage>;
  /** Called when an agent says hello (first connection or reconnection). */
  onHello(handler: (agent: string) => void): void;
  close(): Promise<void>;
}

/**
 * The controller's side: listens for agents on `where`.
 *
 * @example
 * const agents = await listenForAgents({ socket: '/run/vdisk-agents.sock' }, log);
 * const controller = await createController({ ...adapters, transport: agents.transport });
 *
 * With `guard` (link-auth.ts) every connection is mutual TLS, bound to the identity it proved.
 */
export const listenForAgents = async (where: Address, log: Logger, guard?: LinkGuard): Promise<AgentListener> => {
  if ('socket' in where) await removeStaleSocket(where.socket);
  const peers = new Map<string, Socket>();
  let onMessage: (from: string, message: AgentMessage) => void = () => undefined;
  let onHello: (agent: string) => void = () => undefined;
  const sockets = new Set<Socket>();
  const serveAgent = (socket: Socket, identity: string | null): void => {
    sockets.add(socket);
    let agent: string | null = null;
    const read = frameReader((doc) => {
      const d = doc as { hello?: unknown; message?: unknown };
      if (agent === null) {
        if (typeof d.hello !== 'string' || d.hello.length === 0) throw new Error('the first frame must be { hello: <agent id> }');
        // Security hook (link-auth.ts): the hello must name the identity the TLS handshake proved.
        const refused = guard?.refuseHello(identity, d.hello) ?? null;
        if (refused !== null) throw new Error(refused);
        agent = d.hello;
        peers.get(agent)?.destroy();
        peers.set(agent, socket);
        log.info({ agent }, 'agent connected');
        onHello(agent);
        return;
      }
      if (typeof d.message !== 'object' || d.message === null) return;
      // Security hook (link-auth.ts): no speaking for another agent, no disks it is not configured for.
      const refused = guard?.refuseMessage(agent, d.message as AgentMessage) ?? null;
      if (refused?.drop === true) throw new Error(refused.why);
      if (refused !== null) log.warn({ agent, err: refused.why }, 'refusing an agent message');
      else onMessage(agent, d.message as AgentMessage);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        read(chunk);
      } catch (e) {
        log.warn({ agent, err: (e as Error).message }, 'dropping an agent connection');
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (agent !== null && peers.get(agent) === socket) peers.delete(agent);
    });
  };
  const server: Server = createServer((raw) => {
    if (guard === undefined) return serveAgent(raw, null);
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    guard.tls.accept(raw, LINK_HANDSHAKE_MS).then(
      (peer) => serveAgent(peer.socket, peer.identity),
      (e: Error) => log.warn({ err: e.message }, 'refusing an agent connection'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const ready = (): void => (server.off('error', reject), resolve());
    if ('socket' in where) server.listen(where.socket, ready);
    else server.listen(where.port, where.host, ready);
  });
  return {
    transport: {
      send(to, message) {
        const socket = peers.get(to);
        if (socket !== undefined && socket.writable) socket.write(encodeFrame({ message }));
      },
      onMessage(handler) {
        onMessage = handler;
      },
    },
    onHello(handler) {
      onHello = handler;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
};

export interface ControllerConnection {
  readonly transport: Transport<AgentMessage, ControllerMessage>;
  readonly connected: () => boolean;
  close(): void;
}

/**
 * An agent's side: connects to the controller at `where` as `agent`, and reconnects with
 * exponential backoff (100 ms doubling to 5 s) whenever the connection is lost.
 *
 * @example
 * const link = connectToController({ socket: '/run/vdisk-agents.sock' }, 'agent-2', log);
 * const agent = createAgent({ storage, transport: link.transport, clock }, { agent: 'agent-2', epoch });
 *
 * With `tls` (link-auth.ts: `agentLinkOptions`) the link is TLS, authenticated as `agent`.
 */
export const connectToController = (where: Address, agent: string, log: Logger, tls?: ConnectionOptions): ControllerConnection => {
  let socket: Socket | null = null;
  let up = false;
  let closed = false;
  let delay = 100;
  let timer: NodeJS.Timeout | null = null;
  let onMessage: (from: string, message: ControllerMessage) => void = () => undefined;

  const dial = (): void => {
    if (closed) return;
    // Security hook: TLS when configured; frames flow once its handshake is done.
    const target = 'socket' in where ? { path: where.socket } : { port: where.port, host: where.host };
    const s = tls === undefined ? connect(target) : connectTls({ ...tls, ...target });
    socket = s;
    const read = frameReader((doc) => {
      const d = doc as { message?: unknown };
      if (typeof d.message === 'object' && d.message !== null) onMessage('controller', d.message as ControllerMessage);
    });
    s.on(tls === undefined ? 'connect' : 'secureConnect', () => {
      up = true;
      delay = 100;
      s.write(encodeFrame({ hello: agent }));
      log.info({ controller: showAddress(where) }, 'connected to the controller');
    });
    s.on('data', (chunk: Buffer) => {
      try {
        read(chunk);
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'bad frame from the controller; reconnecting');
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (up) log.warn({ controller: showAddress(where) }, 'lost the controller; reconnecting');
      up = false;
      if (closed) return;
      timer = setTimeout(dial, delay);
      delay = Math.min(delay * 2, 5000);
    });
  };
  dial();

  return {
    transport: {
      send(_to, message) {
        if (up && socket !== null) socket.write(encodeFrame({ message }));
      },
      onMessage(handler) {
        onMessage = handler;
      },
    },
    connected: () => up,
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      socket?.destroy();
    },
  };
};
