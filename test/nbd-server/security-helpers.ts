/**
 * What the security tests share: credentials made in a temporary directory (PSK files with
 * random keys, a CA and certificates made with the `openssl` command), and a small NBD client
 * that speaks the handshake itself, with or without STARTTLS, to see the exact option replies.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as P from '../../examples/nbd-server/protocol.js';
import { clientTlsOptions, readCertDir, type TlsCredentials } from '../../examples/nbd-server/tls.js';
import { runOk, toolsAvailable } from './harness.js';

/** Writes `identity:hexkey` lines with fresh random keys; returns the keys. */
export const writePskFile = async (path: string, identities: ReadonlyArray<string>): Promise<Map<string, Buffer>> => {
  const keys = new Map(identities.map((i) => [i, randomBytes(32)] as const));
  await writeFile(path, [...keys].map(([i, k]) => `${i}:${k.toString('hex')}\n`).join(''), { mode: 0o600 });
  return keys;
};

/**
 * A CA in `dir`, and in it `server-cert.pem`/`server-key.pem` (CN localhost) and
 * `client-cert.pem`/`client-key.pem` with CN `client`; `ca-key.pem` stays there too.
 */
export const makeCertDir = async (dir: string, client: string, caName = 'vdisk-test-ca'): Promise<void> => {
  await mkdir(dir, { recursive: true });
  const f = (n: string): string => join(dir, n);
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca-key.pem'), '-out', f('ca-cert.pem'), '-days', '2', '-subj', `/CN=${caName}`]);
  await writeFile(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [role, cn] of [
    ['server', 'localhost'],
    ['client', client],
  ] as const) {
    await runOk('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${role}-key.pem`), '-out', f(`${role}.csr`), '-subj', `/CN=${cn}`]);
    await runOk('openssl', ['x509', '-req', '-in', f(`${role}.csr`), '-CA', f('ca-cert.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-out', f(`${role}-cert.pem`), '-days', '2', '-extfile', f(`${role}.ext`)]);
  }
};

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly payload: Buffer;
}

/** A hand-driven NBD client: send bytes, read option replies and transmission replies. */
export interface RawClient {
  socket: Socket;
  send(...parts: Uint8Array[]): void;
  /** The next `n` bytes; rejects when the connection ends first or after `timeoutMs`. */
  read(n: number, timeoutMs?: number): Promise<Buffer>;
  optionReply(timeoutMs?: number): Promise<OptionReply>;
  /** Sends STARTTLS and upgrades with `credentials` as `identity`; rejects when refused. */
  startTls(credentials: TlsCredentials, identity: string): Promise<void>;
  /** Resolves when the server closes the connection (true) or after `timeoutMs` (false). */
  closed(timeoutMs: number): Promise<boolean>;
  destroy(): void;
}

/** Connects to `path`, reads the greeting and sends the client flags (fixed newstyle, no zeroes). */
export const rawClient = async (path: string): Promise<RawClient> => {
  let socket: Socket = connect(path);
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | null = null;
  const attach = (s: Socket): void => {
    s.on('data', (c: Buffer) => {
      buffered = Buffer.concat([buffered, c]);
      wake?.();
    });
    s.on('close', () => {
      ended = true;
      wake?.();
    });
    s.on('error', () => undefined);
  };
  attach(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const read = async (n: number, timeoutMs = 5000): Promise<Buffer> => {
    const until = Date.now() + timeoutMs;
    while (buffered.length < n) {
      if (ended) throw new Error(`the server closed the connection (${buffered.length} of ${n} bytes read)`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no ${n} bytes within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        wake = () => (clearTimeout(t), r());
      });
      wake = null;
    }
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  const client: RawClient = {
    get socket() {
      return socket;
    },
    set socket(s) {
      socket = s;
    },
    send: (...parts) => {
      for (const p of parts) socket.write(p);
    },
    read,
    async optionReply(timeoutMs) {
      const h = await read(20, timeoutMs);
      const length = h.readUInt32BE(16);
      return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), payload: await read(length, timeoutMs) };
    },
    async startTls(credentials, identity) {
      client.send(P.encodeOption(P.OPT_STARTTLS));
      const r = await client.optionReply();
      if (r.type !== P.REP_ACK) throw new Error(`STARTTLS refused with ${r.type}: ${r.payload.toString()}`);
      const plain = socket;
      plain.removeAllListeners('data');
      plain.removeAllListeners('close');
      const secure = tls.connect({ socket: plain, ...clientTlsOptions(credentials, identity) });
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
        secure.once('close', () => reject(new Error('closed during the TLS handshake')));
      });
      secure.removeAllListeners('error');
      secure.removeAllListeners('close');
      socket = secure;
      attach(secure);
    },
    closed: (timeoutMs) =>
      new Promise((resolve) => {
        if (ended) return resolve(true);
        const t = setTimeout(() => resolve(false), timeoutMs);
        socket.once('close', () => (clearTimeout(t), resolve(true)));
      }),
    destroy: () => socket.destroy(),
  };
  const greeting = await read(P.GREETING_BYTES);
  if (greeting.readBigUInt64BE(0) !== P.NBDMAGIC) throw new Error('no NBD greeting');
  const flags = Buffer.alloc(4);
  flags.writeUInt32BE(P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES, 0);
  client.send(flags);
  return client;
};

/** The export names of an `NBD_OPT_LIST` answer, or the error reply type. */
export const listExports = async (c: RawClient): Promise<string[] | number> => {
  c.send(P.encodeOption(P.OPT_LIST));
  const names: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = await c.optionReply();
    if (r.type === P.REP_ACK) return names;
    if (r.type !== P.REP_SERVER) return r.type;
    names.push(r.payload.toString('utf8', 4, 4 + r.payload.readUInt32BE(0)));
  }
  throw new Error('NBD_OPT_LIST did not end');
};

/** `NBD_OPT_GO` on `name` with structured replies; resolves with the final reply type and the transmission flags (0 when refused). */
export const go = async (c: RawClient, name: string): Promise<{ type: number; flags: number; message: string }> => {
  c.send(P.encodeOption(P.OPT_STRUCTURED_REPLY));
  await c.optionReply();
  c.send(P.encodeOption(P.OPT_GO, P.encodeGoData(name)));
  let flags = 0;
  for (let i = 0; i < 10; i++) {
    const r = await c.optionReply();
    if (r.type === P.REP_INFO && r.payload.readUInt16BE(0) === P.INFO_EXPORT) flags = r.payload.readUInt16BE(10);
    if (r.type !== P.REP_INFO) return { type: r.type, flags, message: r.payload.toString('utf8') };
  }
  throw new Error('NBD_OPT_GO did not end');
};

/** Sends one request and returns the error of its structured reply (0: success), skipping any data. */
export const request = async (c: RawClient, r: { type: number; offset: number; length: number; payload?: Buffer }): Promise<number> => {
  c.send(P.encodeRequest({ flags: 0, type: r.type, cookie: 77n, offset: r.offset, length: r.length }), ...(r.payload === undefined ? [] : [r.payload]));
  const h = await c.read(20);
  const type = h.readUInt16BE(6);
  const body = await c.read(h.readUInt32BE(16));
  return type === P.REPLY_TYPE_ERROR ? body.readUInt32BE(0) : 0;
};

export { readCertDir };

/**
 * Whether the security tests with real clients can run: the NBD client tools and `openssl`.
 * Missing tools skip them with a message, unless VDISK_REQUIRE_NBD_TOOLS=1.
 */
export const securityToolsAvailable = (): boolean => {
  if (!toolsAvailable()) return false;
  if (spawnSync('sh', ['-c', 'command -v openssl']).status === 0) return true;
  const message = 'openssl is missing (apt-get install -y openssl)';
  if (process.env.VDISK_REQUIRE_NBD_TOOLS === '1') throw new Error(`${message}; VDISK_REQUIRE_NBD_TOOLS=1 requires it`);
  console.warn(`skipping the NBD security tests: ${message}`);
  return false;
};

/** Polls `check` every 50 ms until it holds or `timeoutMs` passes; returns whether it held. */
export const eventually = async (check: () => boolean, timeoutMs = 3000): Promise<boolean> => {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
};
