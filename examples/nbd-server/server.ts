/**
 * The NBD server: fixed newstyle negotiation and the transmission phase over any stream socket,
 * against a `Backend` that knows the exports. Protocol violations close that one connection;
 * bad requests get the protocol's error reply; nothing a client sends can stop the server.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ByteReader, Closed, drained } from './connection-io.js';
import { createGuard, type ConnectionGuard } from './guard.js';
import { negotiate, type Session } from './handshake.js';
import * as P from './protocol.js';

/** An error with an NBD error number (EINVAL, ENOSPC, ...); any other error is reported as EIO. */
export class NbdError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ExportInfo {
  readonly name: string;
  readonly description: string;
}

/** One export as a connection uses it; offsets and lengths are bytes, already range-checked. */
export interface ExportHandle {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
  writeZeroes(offset: number, length: number): Promise<void>;
  trim(offset: number, length: number): Promise<void>;
  /** Makes every completed write durable, whichever connection made it. */
  flush(): Promise<void>;
  /** `base:allocation` extents from `offset`, covering at most `length` bytes. */
  allocation(offset: number, length: number): Promise<P.StatusExtent[]>;
}

export interface Backend {
  /** The exports, the default one first. */
  exports(): Promise<ReadonlyArray<ExportInfo>>;
  /** The export called `name` (`''`: the default one), or undefined. */
  open(name: string): Promise<ExportHandle | undefined>;
  readonly blockSizes: P.BlockSizes;
  /** True when a policy forbids this client `name` (answered NBD_REP_ERR_POLICY, not UNKNOWN). */
  forbidden?(name: string): Promise<boolean>;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const errnoOf = (e: unknown): number => (e instanceof NbdError ? e.errno : P.EIO);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Runs one client connection to its end; never throws. `guard` adds TLS, access by identity and
 * limits (guard.ts); without it the connection is plain and open, under the default limits.
 */
export const serveConnection = async (socket: Socket, baseBackend: Backend, log: Logger, id: number, guard: ConnectionGuard = createGuard(baseBackend)): Promise<void> => {
  // Security hooks (guard.ts): the socket and reader change at STARTTLS, the backend with the identity.
  const limits = guard.limits;
  let conn: Socket = socket;
  let reader = new ByteReader(conn);
  let identity: string | null = null;
  let counted: string | null | undefined = undefined;
  const send = (...parts: Uint8Array[]): void => {
    if (conn.destroyed || !conn.writable) return;
    conn.cork();
    for (const p of parts) conn.write(p);
    conn.uncork();
  };
  const startTls = async (): Promise<{ reader: ByteReader; backend: Backend }> => {
    const peer = await guard.tls!.server.accept(conn, limits.handshakeMs).catch((e: Error) => Promise.reject(new Closed(e.message)));
    [conn, reader, identity] = [peer.socket, new ByteReader(peer.socket), peer.identity];
    if (counted !== undefined) guard.counter.release(counted);
    counted = undefined;
    if (!guard.counter.admit(identity)) throw new Closed(`identity ${JSON.stringify(identity)} already holds ${limits.connectionsPerIdentity} connections`);
    counted = identity;
    log.info({ conn: id, identity }, 'TLS on');
    return { reader, backend: guard.backendFor?.(identity) ?? baseBackend };
  };
  const session: Session = { structured: false, metaExport: null, noZeroes: false };
  /** Serves one request; returns the reply bytes. */
  const handle = async (h: ExportHandle, r: P.Request, payload: Buffer | null): Promise<Uint8Array[]> => {
    const fail = (errno: number, why: string): Uint8Array[] => (session.structured ? [P.encodeErrorChunk(r.cookie, errno, why)] : [P.encodeSimpleReply(r.cookie, errno)]);
    const ok = (): Uint8Array[] => (session.structured ? [P.encodeNoneChunk(r.cookie)] : [P.encodeSimpleReply(r.cookie, 0)]);
    const end = r.offset + r.length;
    const outside = end > h.size;
    const fua = (r.flags & P.CMD_FLAG_FUA) !== 0;
    try {
      switch (r.type) {
        case P.CMD_READ: {
          if (outside) return fail(P.EINVAL, `read of ${r.length} bytes at ${r.offset} ends past the export size ${h.size}`);
          if (r.length > limits.requestBytes) return fail(P.EOVERFLOW, `read of ${r.length} bytes exceeds the maximum payload ${limits.requestBytes}`);
          const data = r.length === 0 ? new Uint8Array(0) : await h.read(r.offset, r.length);
          if (!session.structured) return [P.encodeSimpleReply(r.cookie, 0), data];
          if (r.length === 0) return ok();
          return [P.encodeOffsetDataHeader(r.cookie, r.offset, data.length, true), data];
        }
        case P.CMD_WRITE:
        case P.CMD_WRITE_ZEROES:
        case P.CMD_TRIM: {
          if (h.readOnly) return fail(P.EPERM, `export ${h.name} is read-only`);
          if (outside) return fail(P.ENOSPC, `request of ${r.length} bytes at ${r.offset} ends past the export size ${h.size}`);
          if (r.type === P.CMD_WRITE_ZEROES && (r.flags & P.CMD_FLAG_FAST_ZERO) !== 0) return fail(P.ENOTSUP, 'fast zeroing is not offered');
          if (r.length > 0) {
            if (r.type === P.CMD_WRITE) await h.write(r.offset, payload!);
            else if (r.type === P.CMD_WRITE_ZEROES) await h.writeZeroes(r.offset, r.length);
            else await h.trim(r.offset, r.length);
          }
          // Replaced by the agent runtime's `fua` once it lands in the library: today FUA is a write then a flush.
          if (fua) await h.flush();
          return ok();
        }
        case P.CMD_FLUSH:
          await h.flush();
          return ok();
        case P.CMD_BLOCK_STATUS: {
          if (!session.structured || session.metaExport !== h.name) return fail(P.EINVAL, 'no metadata context was selected for this export');
          if (outside || r.length === 0) return fail(P.EINVAL, `block status of ${r.length} bytes at ${r.offset} is empty or ends past the export size ${h.size}`);
          let extents = await h.allocation(r.offset, r.length);
          if ((r.flags & P.CMD_FLAG_REQ_ONE) !== 0) extents = extents.slice(0, 1).map((e) => ({ flags: e.flags, length: Math.min(e.length, r.length) }));
          if (extents.length === 0) return fail(P.EIO, 'no allocation information');
          return [P.encodeBlockStatusChunk(r.cookie, 1, extents)];
        }
        default:
          return fail(P.EINVAL, `command ${r.type} is not supported`);
      }
    } catch (e) {
      log.warn({ conn: id, export: h.name, type: r.type, offset: r.offset, length: r.length, err: messageOf(e) }, 'request failed');
      return fail(errnoOf(e), messageOf(e));
    }
  };

  const transmit = async (h: ExportHandle): Promise<void> => {
    let inFlight = 0;
    let bytesInFlight = 0;
    let slotFree: (() => void) | null = null;
    let idle: (() => void) | null = null;
    const slot = (): Promise<void> => new Promise<void>((resolve) => (slotFree = resolve));
    for (;;) {
      // Limits (limits.ts): at any of them the next request is not read, so the socket is paused.
      // A client that does not read its replies gets no more requests served until it does.
      for (;;) {
        if (conn.destroyed) throw new Closed('the client closed the connection');
        if (conn.writableLength > limits.queuedReplyBytes) await drained(conn);
        else if (inFlight >= limits.requestsInFlight || bytesInFlight >= limits.bytesInFlight) await slot();
        else break;
      }
      const decoded = P.decodeRequest(await reader.read(P.REQUEST_HEADER_BYTES));
      if (E.isLeft(decoded)) throw new Closed(decoded.left);
      const r = decoded.right;
      let payload: Buffer | null = null;
      const cost = r.type === P.CMD_WRITE || r.type === P.CMD_READ ? Math.min(r.length, limits.requestBytes) : 0;
      while (inFlight > 0 && bytesInFlight + cost > limits.bytesInFlight) await slot();
      if (r.type === P.CMD_WRITE) {
        if (r.length > limits.requestBytes) throw new Closed(`write payload of ${r.length} bytes exceeds ${limits.requestBytes}`);
        payload = await reader.read(r.length);
      }
      if (r.type === P.CMD_DISC) {
        // Soft disconnect: finish what is in flight, then close.
        while (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
        return;
      }
      inFlight++;
      bytesInFlight += cost;
      void handle(h, r, payload).then((parts) => {
        send(...parts);
        inFlight--;
        bytesInFlight -= cost;
        const s = slotFree;
        slotFree = null;
        s?.();
        if (inFlight === 0) {
          const i = idle;
          idle = null;
          i?.();
        }
      });
    }
  };

  // Limits hook: the handshake (TLS included) has a deadline; connections are counted per identity.
  const deadline = setTimeout(() => {
    log.info({ conn: id, ms: limits.handshakeMs }, 'handshake timed out');
    conn.destroy();
  }, limits.handshakeMs);
  try {
    if (!guard.counter.admit(null)) throw new Closed(`clients without an identity already hold ${limits.connectionsPerIdentity} connections`);
    counted = null;
    const security = guard.tls === undefined ? { tls: 'off' as const, maxPayload: limits.requestBytes, startTls } : { tls: guard.tls.mode, maxPayload: limits.requestBytes, startTls };
    const h = await negotiate(reader, guard.backendFor?.(null) ?? baseBackend, session, send, security);
    clearTimeout(deadline);
    if (h !== null) {
      log.info({ conn: id, export: h.name, structured: session.structured, identity }, 'client attached');
      await transmit(h);
    }
  } catch (e) {
    if (e instanceof Closed) log.info({ conn: id, why: e.message }, 'connection closed');
    else log.error({ conn: id, err: messageOf(e) }, 'connection failed');
  } finally {
    clearTimeout(deadline);
    if (counted !== undefined) guard.counter.release(counted);
    const last = conn;
    last.end();
    setTimeout(() => last.destroy(), 1000).unref();
  }
};

export interface NbdListener {
  readonly server: Server;
  close(): Promise<void>;
}

/** Removes a socket file left by a server that died, refusing to touch one that still answers. */
export const removeStaleSocket = async (path: string): Promise<void> => {
  const st = await lstat(path).catch(() => null);
  if (st === null) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another server is listening on ${path}`);
  await unlink(path);
};

/**
 * Listens on a Unix socket path or on 127.0.0.1:port and serves every connection.
 *
 * @example
 * const listener = await listen(backend, { socket: '/run/vdisk.sock' }, log);
 */
export const listen = async (backend: Backend, where: { socket: string } | { port: number }, log: Logger, guard: ConnectionGuard = createGuard(backend)): Promise<NbdListener> => {
  if ('socket' in where) await removeStaleSocket(where.socket);
  let next = 1;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay?.(true);
    void serveConnection(socket, backend, log, next++, guard);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = (): void => {
      server.off('error', reject);
      server.on('error', (e) => log.error({ err: e.message }, 'listener error'));
      resolve({
        server,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    };
    if ('socket' in where) server.listen(where.socket, ready);
    else server.listen(where.port, '127.0.0.1', ready);
  });
};
