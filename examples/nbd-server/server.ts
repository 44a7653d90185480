/**
 * The NBD server: fixed newstyle negotiation and the transmission phase over any stream socket,
 * against a `Backend` that knows the exports. Protocol violations close that one connection;
 * bad requests get the protocol's error reply; nothing a client sends can stop the server.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ByteReader, Closed, drained, HIGH_WATER, MAX_PAYLOAD } from './connection-io.js';
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
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Requests being served at once on one connection; the next header is read only below this. */
const MAX_IN_FLIGHT = 64;

const errnoOf = (e: unknown): number => (e instanceof NbdError ? e.errno : P.EIO);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Runs one client connection to its end; never throws. */
export const serveConnection = async (socket: Socket, backend: Backend, log: Logger, id: number): Promise<void> => {
  const reader = new ByteReader(socket);
  const send = (...parts: Uint8Array[]): void => {
    if (socket.destroyed || !socket.writable) return;
    socket.cork();
    for (const p of parts) socket.write(p);
    socket.uncork();
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
          if (r.length > MAX_PAYLOAD) return fail(P.EOVERFLOW, `read of ${r.length} bytes exceeds the maximum payload ${MAX_PAYLOAD}`);
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
    let slotFree: (() => void) | null = null;
    let idle: (() => void) | null = null;
    for (;;) {
      while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => (slotFree = resolve));
      // A client that does not read its replies gets no more requests served until it does.
      if (socket.writableLength > HIGH_WATER) await drained(socket);
      const decoded = P.decodeRequest(await reader.read(P.REQUEST_HEADER_BYTES));
      if (E.isLeft(decoded)) throw new Closed(decoded.left);
      const r = decoded.right;
      let payload: Buffer | null = null;
      if (r.type === P.CMD_WRITE) {
        if (r.length > MAX_PAYLOAD) throw new Closed(`write payload of ${r.length} bytes exceeds ${MAX_PAYLOAD}`);
        payload = await reader.read(r.length);
      }
      if (r.type === P.CMD_DISC) {
        // Soft disconnect: finish what is in flight, then close.
        while (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
        return;
      }
      inFlight++;
      void handle(h, r, payload).then((parts) => {
        send(...parts);
        inFlight--;
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

  try {
    const h = await negotiate(reader, backend, session, send);
    if (h !== null) {
      log.info({ conn: id, export: h.name, structured: session.structured }, 'client attached');
      await transmit(h);
    }
  } catch (e) {
    if (e instanceof Closed) log.info({ conn: id, why: e.message }, 'connection closed');
    else log.error({ conn: id, err: messageOf(e) }, 'connection failed');
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
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
export const listen = async (backend: Backend, where: { socket: string } | { port: number }, log: Logger): Promise<NbdListener> => {
  if ('socket' in where) await removeStaleSocket(where.socket);
  let next = 1;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay?.(true);
    void serveConnection(socket, backend, log, next++);
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
