/**
 * The NBD server: fixed newstyle negotiation and the transmission phase over any stream socket,
 * against a `Backend` that knows the exports. Protocol violations close that one connection;
 * bad requests get the protocol's error reply; nothing a client sends can stop the server.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import * as P from './protocol.js';
import { createGuard, type ConnectionGuard } from './guard.js';

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

/** Largest read or write payload accepted by default (limits.ts: `requestBytes`). */
export const MAX_PAYLOAD = 32 << 20;
/** Bytes read ahead of what the connection asked for before the socket is paused. */
const READ_AHEAD = 256 << 10;
/** Options one connection may send before it must choose an export. */
const MAX_OPTIONS = 1024;
/** Longest option data accepted (names and queries are at most 4 KiB each). */
const MAX_OPTION_DATA = 64 << 10;

class Closed extends Error {}

/**
 * Reads exact byte counts from a socket. It reads at most READ_AHEAD bytes beyond what was asked
 * for, then pauses the socket: a connection that stops asking (at its in-flight limit) stops
 * reading, and the client is held back by TCP's own flow control.
 */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private ended: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= READ_AHEAD && (this.waiter === null || this.buffered >= this.waiter.n)) this.socket.pause();
    this.wake();
  };
  private readonly onEnd = (): void => {
    this.ended ??= new Closed('the client closed the connection');
    this.wake();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  /** Stops reading `socket` (before a TLS upgrade); returns how many bytes were left unread. */
  detach(): number {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
    this.socket.on('error', () => undefined);
    return this.buffered;
  }

  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - done);
      c.copy(out, done, 0, k);
      done += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    if (this.socket.isPaused() && this.buffered < READ_AHEAD) this.socket.resume();
    return out;
  }

  private wake(): void {
    const w = this.waiter;
    if (w === null) return;
    if (this.buffered >= w.n) {
      this.waiter = null;
      w.resolve(this.take(w.n));
    } else if (this.ended !== null) {
      this.waiter = null;
      w.reject(this.ended);
    }
  }

  read(n: number): Promise<Buffer> {
    if (this.buffered >= n) return Promise.resolve(this.take(n));
    if (this.ended !== null) return Promise.reject(this.ended);
    if (this.socket.isPaused()) this.socket.resume();
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }
}

const errnoOf = (e: unknown): number => (e instanceof NbdError ? e.errno : P.EIO);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

interface Session {
  structured: boolean;
  /** Export name (normalized) for which base:allocation was selected, if any. */
  metaExport: string | null;
  noZeroes: boolean;
}

/**
 * Runs one client connection to its end; never throws. `guard` adds TLS, access by identity and
 * limits (guard.ts); without it the connection is plain and open, under the default limits.
 */
export const serveConnection = async (socket: Socket, baseBackend: Backend, log: Logger, id: number, guard: ConnectionGuard = createGuard(baseBackend)): Promise<void> => {
  // Security hooks (guard.ts): the socket and reader change at STARTTLS, the backend with the identity.
  const limits = guard.limits;
  let conn: Socket = socket;
  let reader = new ByteReader(conn);
  let tlsDone = false;
  let identity: string | null = null;
  let counted: string | null | undefined = undefined;
  let backend = guard.backendFor?.(null) ?? baseBackend;
  const send = (...parts: Uint8Array[]): void => {
    if (conn.destroyed || !conn.writable) return;
    conn.cork();
    for (const p of parts) conn.write(p);
    conn.uncork();
  };
  const session: Session = { structured: false, metaExport: null, noZeroes: false };
  const transmissionFlags = (h: ExportHandle): number =>
    P.TFLAG_HAS_FLAGS |
    P.TFLAG_SEND_FLUSH |
    P.TFLAG_SEND_FUA |
    P.TFLAG_SEND_TRIM |
    P.TFLAG_SEND_WRITE_ZEROES |
    // FLUSH syncs the LUN files every connection writes to, so it covers them all.
    P.TFLAG_CAN_MULTI_CONN |
    (session.structured ? P.TFLAG_SEND_DF : 0) |
    (h.readOnly ? P.TFLAG_READ_ONLY : 0);

  const negotiate = async (): Promise<ExportHandle | null> => {
    const offered = P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES;
    send(P.encodeGreeting(offered));
    const flags = P.decodeClientFlags(await reader.read(P.CLIENT_FLAGS_BYTES), offered);
    if (E.isLeft(flags)) throw new Closed(flags.left);
    session.noZeroes = (flags.right & P.FLAG_C_NO_ZEROES) !== 0;
    for (let n = 0; n < MAX_OPTIONS; n++) {
      const header = P.decodeOptionHeader(await reader.read(P.OPTION_HEADER_BYTES));
      if (E.isLeft(header)) throw new Closed(header.left);
      const { option, length } = header.right;
      if (length > MAX_OPTION_DATA) throw new Closed(`option ${option} carries ${length} bytes of data (at most ${MAX_OPTION_DATA})`);
      const data = await reader.read(length);
      const reply = (type: number, payload?: Uint8Array): void => send(P.encodeOptionReply(option, type, payload));
      const refuse = (type: number, why: string): void => reply(type, Buffer.from(why, 'utf8'));
      /** UNKNOWN, or POLICY when the access policy forbids this client the export. */
      const notOpened = async (name: string): Promise<void> =>
        (await backend.forbidden?.(name)) === true ? refuse(P.REP_ERR_POLICY, `export ${JSON.stringify(name)} is not permitted by the access policy`) : refuse(P.REP_ERR_UNKNOWN, `no export ${JSON.stringify(name)}`);
      // Security hook: under `--tls require` nothing but STARTTLS (and ABORT) before the upgrade.
      if (guard.tls?.mode === 'require' && !tlsDone && option !== P.OPT_STARTTLS && option !== P.OPT_ABORT) {
        if (option === P.OPT_EXPORT_NAME) throw new Closed('NBD_OPT_EXPORT_NAME without TLS, which this server requires');
        refuse(P.REP_ERR_TLS_REQD, 'this server requires TLS: send NBD_OPT_STARTTLS first');
        continue;
      }
      switch (option) {
        case P.OPT_STARTTLS: {
          // Security hook: the upgrade (tls.ts); everything negotiated before it is forgotten.
          if (guard.tls === undefined || guard.tls.mode === 'off') {
            refuse(P.REP_ERR_UNSUP, 'TLS is not configured on this server');
            break;
          }
          if (tlsDone || length !== 0) {
            refuse(P.REP_ERR_INVALID, tlsDone ? 'TLS is already on' : 'NBD_OPT_STARTTLS takes no data');
            break;
          }
          reply(P.REP_ACK);
          // Plaintext sent after STARTTLS and before the handshake would be injected into the TLS session.
          if (reader.detach() > 0) throw new Closed('the client sent data after NBD_OPT_STARTTLS, before the TLS handshake');
          const peer = await guard.tls.server.accept(conn, limits.handshakeMs).catch((e: Error) => Promise.reject(new Closed(e.message)));
          [conn, reader, tlsDone, identity] = [peer.socket, new ByteReader(peer.socket), true, peer.identity];
          Object.assign(session, { structured: false, metaExport: null });
          if (counted !== undefined) guard.counter.release(counted);
          counted = undefined;
          if (!guard.counter.admit(identity)) throw new Closed(`identity ${JSON.stringify(identity)} already holds ${limits.connectionsPerIdentity} connections`);
          counted = identity;
          backend = guard.backendFor?.(identity) ?? baseBackend;
          log.info({ conn: id, identity }, 'TLS on');
          break;
        }
        case P.OPT_EXPORT_NAME: {
          const h = await backend.open(data.toString('utf8'));
          if (h === undefined) throw new Closed(`NBD_OPT_EXPORT_NAME: no export ${JSON.stringify(data.toString('utf8'))} for this client`);
          send(P.encodeExportNameReply(h.size, transmissionFlags(h), session.noZeroes));
          return h;
        }
        case P.OPT_ABORT:
          reply(P.REP_ACK);
          return null;
        case P.OPT_LIST:
          if (length !== 0) {
            refuse(P.REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
            break;
          }
          for (const e of await backend.exports()) reply(P.REP_SERVER, P.encodeServerEntry(e.name, e.description));
          reply(P.REP_ACK);
          break;
        case P.OPT_INFO:
        case P.OPT_GO: {
          const go = P.decodeGoData(data);
          if (E.isLeft(go)) {
            refuse(P.REP_ERR_INVALID, go.left);
            break;
          }
          const h = await backend.open(go.right.name);
          if (h === undefined) {
            await notOpened(go.right.name);
            break;
          }
          reply(P.REP_INFO, P.encodeInfoExport(h.size, transmissionFlags(h)));
          reply(P.REP_INFO, P.encodeInfoBlockSize({ ...backend.blockSizes, maximum: Math.min(backend.blockSizes.maximum, limits.requestBytes) }));
          if (go.right.infoRequests.includes(P.INFO_NAME)) reply(P.REP_INFO, P.encodeInfoText(P.INFO_NAME, h.name));
          if (go.right.infoRequests.includes(P.INFO_DESCRIPTION)) {
            const d = (await backend.exports()).find((e) => e.name === h.name)?.description ?? '';
            reply(P.REP_INFO, P.encodeInfoText(P.INFO_DESCRIPTION, d));
          }
          reply(P.REP_ACK);
          if (option === P.OPT_GO) {
            if (session.metaExport !== null && session.metaExport !== h.name) session.metaExport = null;
            return h;
          }
          break;
        }
        case P.OPT_STRUCTURED_REPLY:
          if (length !== 0) refuse(P.REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
          else if (session.structured) refuse(P.REP_ERR_INVALID, 'structured replies are already on');
          else {
            session.structured = true;
            reply(P.REP_ACK);
          }
          break;
        case P.OPT_LIST_META_CONTEXT:
        case P.OPT_SET_META_CONTEXT: {
          const set = option === P.OPT_SET_META_CONTEXT;
          if (set) session.metaExport = null;
          if (!session.structured) {
            refuse(P.REP_ERR_INVALID, 'negotiate structured replies first');
            break;
          }
          const m = P.decodeMetaContextData(data);
          if (E.isLeft(m)) {
            refuse(P.REP_ERR_INVALID, m.left);
            break;
          }
          const h = await backend.open(m.right.name);
          if (h === undefined) {
            await notOpened(m.right.name);
            break;
          }
          const { queries } = m.right;
          const match = set ? queries.includes(P.BASE_ALLOCATION) : queries.length === 0 || queries.some((q) => q === 'base:' || q === P.BASE_ALLOCATION);
          if (match) {
            reply(P.REP_META_CONTEXT, P.encodeMetaContext(set ? 1 : 0, P.BASE_ALLOCATION));
            if (set) session.metaExport = h.name;
          }
          reply(P.REP_ACK);
          break;
        }
        default:
          refuse(P.REP_ERR_UNSUP, `option ${option} is not supported`);
      }
    }
    throw new Closed(`more than ${MAX_OPTIONS} options without choosing an export`);
  };

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
    /** Waits until the client has taken its queued replies (or is gone). */
    const drained = (): Promise<void> =>
      new Promise<void>((resolve) => {
        const done = (): void => (conn.off('drain', done), conn.off('close', done), resolve());
        conn.on('drain', done);
        conn.on('close', done);
      });
    for (;;) {
      // Limits (limits.ts): at any of them the next request is not read, so the socket is paused.
      for (;;) {
        if (conn.destroyed) throw new Closed('the client closed the connection');
        if (conn.writableLength > limits.queuedReplyBytes) await drained();
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
    const h = await negotiate();
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
