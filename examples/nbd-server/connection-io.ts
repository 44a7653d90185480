/**
 * Byte-level plumbing of a client connection: exact reads with backpressure, and waiting for the
 * write side to drain.
 */
import type { Socket } from 'node:net';

/** Largest read or write payload accepted; a larger write payload closes the connection. */
export const MAX_PAYLOAD = 32 << 20;
/** Bytes buffered for a client (replies it has not read) before reading from it pauses (the default of limits.ts). */
export const HIGH_WATER = 2 * MAX_PAYLOAD;
/** Bytes read ahead of what the connection asked for before the socket is paused. */
const READ_AHEAD = 256 << 10;

/** The connection ends here: the client went away or broke the protocol (the message says how). */
export class Closed extends Error {}

/**
 * Reads exact byte counts from a socket. It reads at most READ_AHEAD bytes beyond what was asked
 * for, then pauses the socket: a connection that stops asking (at one of its limits) stops
 * reading, and the client is held back by the kernel's flow control.
 */
export class ByteReader {
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

  /** Stops reading the socket (before a TLS upgrade); returns how many bytes were left unread. */
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

/** Resolves once `socket` has flushed its write buffer, or has closed. */
export const drained = (socket: Socket): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
    if (socket.destroyed) done();
  });

