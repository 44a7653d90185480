/**
 * TLS for the NBD server (`NBD_OPT_STARTTLS`) and for the agent–controller links, over Node's
 * built-in `tls`: pre-shared keys in the file format nbdkit, libnbd and qemu share (lines
 * `identity:hexkey`), and X.509 certificates in a directory laid out as qemu and nbdkit name
 * them (`ca-cert.pem`, `server-cert.pem`, `server-key.pem`, optionally `ca-crl.pem`, and
 * `client-cert.pem` / `client-key.pem` for the connecting side).
 *
 * The identity of a peer is its PSK identity, or the common name of a client certificate the CA
 * signed; a TLS client without either has no identity (`null`).
 */
import * as E from 'fp-ts/lib/Either.js';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';

/** `off`: plain only; `on`: STARTTLS offered, plain allowed; `require`: nothing but STARTTLS before the upgrade. */
export type TlsMode = 'off' | 'on' | 'require';

export const parseTlsMode = (text: string): E.Either<string, TlsMode> =>
  text === 'off' || text === 'on' || text === 'require' ? E.right(text) : E.left(`--tls ${JSON.stringify(text)} must be off, on or require`);

/** PSK identities as GnuTLS, nbdkit and qemu accept them (no `:`, no blanks). */
const IDENTITY = /^[A-Za-z0-9._@+=-]{1,128}$/;

/**
 * A PSK file: one `identity:hexkey` per line; blank lines and `#` comments are ignored. An
 * identity may appear once; keys are 1 to 64 bytes.
 *
 * @example
 * parsePskFile('alice:0123456789abcdef\n') // Right(Map { 'alice' => <Buffer 01 23 ...> })
 */
export const parsePskFile = (text: string): E.Either<string, ReadonlyMap<string, Buffer>> => {
  const keys = new Map<string, Buffer>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const where = `PSK file line ${i + 1}`;
    if (colon < 0) return E.left(`${where}: expected identity:hexkey, got ${JSON.stringify(line.slice(0, 40))}`);
    const identity = line.slice(0, colon);
    const hex = line.slice(colon + 1);
    if (!IDENTITY.test(identity)) return E.left(`${where}: identity ${JSON.stringify(identity)} may use letters, digits and . _ @ + = - only (1 to 128)`);
    if (!/^(?:[0-9a-fA-F]{2}){1,64}$/.test(hex)) return E.left(`${where}: key of ${identity} must be 2 to 128 hex digits, an even number`);
    if (keys.has(identity)) return E.left(`${where}: identity ${JSON.stringify(identity)} appears twice`);
    keys.set(identity, Buffer.from(hex, 'hex'));
  }
  if (keys.size === 0) return E.left('PSK file holds no identity:hexkey line');
  return E.right(keys);
};

/** TLS 1.3 suites usable with a PSK (SHA-256 ones) and a certificate at once. */
const TLS13_SHA256 = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
/**
 * The TLS 1.3 suites above, then Node's default TLS 1.2 list with the PSK suites allowed (it
 * excludes them). Node takes both in one list.
 */
const PSK_CIPHERS = `${TLS13_SHA256}:${tls.DEFAULT_CIPHERS.split(':')
  .filter((c) => !c.startsWith('TLS_') && c !== '!PSK')
  .join(':')}:PSK`;

export interface CertFiles {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly crl?: Buffer;
}

/** Reads `ca-cert.pem` and `<role>-cert.pem` / `<role>-key.pem` (and `ca-crl.pem` if present) from `dir`. */
export const readCertDir = async (dir: string, role: 'server' | 'client'): Promise<CertFiles> => {
  const need = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      throw new Error(`${join(dir, name)}: ${(e as Error).message}`);
    }
  };
  const crl = await readFile(join(dir, 'ca-crl.pem')).catch(() => undefined);
  return { ca: await need('ca-cert.pem'), cert: await need(`${role}-cert.pem`), key: await need(`${role}-key.pem`), ...(crl === undefined ? {} : { crl }) };
};

export interface TlsCredentials {
  /** PSK identities and keys the server accepts (a client: exactly its own). */
  readonly psk?: ReadonlyMap<string, Buffer>;
  readonly certs?: CertFiles;
  /** Server: refuse clients that authenticate with neither a PSK nor a CA-signed certificate. */
  readonly verifyPeer?: boolean;
}

export interface TlsPeer {
  readonly socket: tls.TLSSocket;
  /** PSK identity or certificate common name; null when the client presented neither. */
  readonly identity: string | null;
}

/** The server end: upgrades accepted sockets (after `NBD_OPT_STARTTLS`, or at once on a link). */
export interface TlsServer {
  /**
   * Runs the TLS handshake over `socket` as the server; resolves once it is done, rejects when it
   * fails (wrong key, untrusted certificate, no credential under `verifyPeer`) or takes longer
   * than `timeoutMs`.
   */
  accept(socket: Socket, timeoutMs: number): Promise<TlsPeer>;
}

/** The certificates of a PEM bundle. */
const pemCertificates = (pem: Buffer): X509Certificate[] =>
  (pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c));

/**
 * Why a client certificate (DER) is not acceptable, or null: it must be within its validity and
 * signed by one of the CAs. (A socket made with `new TLSSocket` outside a `tls.Server` does not
 * get `authorized` computed, so the check is done here; the handshake already proved that the
 * client holds the certificate's key.)
 */
export const certificateProblem = (der: Buffer, cas: ReadonlyArray<X509Certificate>, now = Date.now()): string | null => {
  const cert = new X509Certificate(der);
  if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) return `certificate of ${cert.subject.replace(/\n/g, ', ')} is outside its validity (${cert.validFrom} to ${cert.validTo})`;
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return `certificate of ${cert.subject.replace(/\n/g, ', ')} is not signed by a trusted CA`;
  return null;
};

const commonName = (subject: unknown): string | null => {
  const cn = (subject as { CN?: unknown } | undefined)?.CN;
  return typeof cn === 'string' ? cn : Array.isArray(cn) && typeof cn[0] === 'string' ? cn[0] : null;
};

/**
 * A TLS server end from PSK keys, certificates, or both.
 *
 * @example
 * const server = createTlsServer({ psk: keys });
 * const { socket, identity } = await server.accept(plain, 10_000);
 */
export const createTlsServer = (credentials: TlsCredentials): TlsServer => {
  const { psk, certs } = credentials;
  if (psk === undefined && certs === undefined) throw new Error('TLS needs a PSK file or a certificate directory');
  const cas = certs === undefined ? [] : pemCertificates(certs.ca);
  const secureContext = tls.createSecureContext({
    minVersion: 'TLSv1.2',
    ...(psk === undefined ? {} : { ciphers: PSK_CIPHERS }),
    ...(certs === undefined ? {} : { ca: certs.ca, cert: certs.cert, key: certs.key, ...(certs.crl === undefined ? {} : { crl: certs.crl }) }),
  });
  return {
    accept: (socket, timeoutMs) =>
      new Promise((resolve, reject) => {
        let pskIdentity: string | null = null;
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext,
          requestCert: certs !== undefined,
          rejectUnauthorized: false,
          ...(psk === undefined
            ? {}
            : {
                pskCallback: (_s: tls.TLSSocket, identity: string): Buffer | null => {
                  const key = psk.get(identity) ?? null;
                  if (key !== null) pskIdentity = identity;
                  return key;
                },
              }),
        });
        const fail = (why: string): void => {
          clearTimeout(timer);
          secure.destroy();
          socket.destroy();
          reject(new Error(why));
        };
        const timer = setTimeout(() => fail(`TLS handshake not done within ${timeoutMs} ms`), timeoutMs);
        secure.once('error', (e) => fail(`TLS handshake failed: ${e.message}`));
        secure.once('close', () => fail('the client closed the connection during the TLS handshake'));
        secure.once('secure', () => {
          clearTimeout(timer);
          secure.removeAllListeners('error');
          secure.removeAllListeners('close');
          secure.on('error', () => undefined);
          let identity: string | null = pskIdentity;
          if (identity === null && certs !== undefined) {
            const peer = secure.getPeerCertificate();
            const presented = peer !== null && Object.keys(peer).length > 0;
            const problem = presented ? certificateProblem(peer.raw, cas) : null;
            if (problem !== null) return fail(`client certificate refused: ${problem}`);
            identity = presented ? commonName(peer.subject) : null;
          }
          if (identity === null && credentials.verifyPeer === true) return fail('the client presented neither a PSK identity nor a certificate');
          resolve({ socket: secure, identity });
        });
      }),
  };
};

/** The options `tls.connect` needs to reach a server with these credentials as `identity`. */
export const clientTlsOptions = (credentials: TlsCredentials, identity: string): tls.ConnectionOptions => {
  const { psk, certs } = credentials;
  if (psk !== undefined) {
    const key = psk.get(identity);
    if (key === undefined) throw new Error(`the PSK file holds no key for ${JSON.stringify(identity)}`);
    return { minVersion: 'TLSv1.2', ciphers: PSK_CIPHERS, pskCallback: () => ({ identity, psk: key }), checkServerIdentity: () => undefined };
  }
  if (certs !== undefined) {
    // The server is authenticated by the CA; its host name is not checked (links often use Unix sockets).
    return { minVersion: 'TLSv1.2', ca: certs.ca, cert: certs.cert, key: certs.key, checkServerIdentity: () => undefined };
  }
  throw new Error('TLS needs a PSK file or a certificate directory');
};

/** Reads a PSK file, or fails naming the file. */
export const readPskFile = async (path: string): Promise<ReadonlyMap<string, Buffer>> => {
  const parsed = parsePskFile(await readFile(path, 'utf8'));
  if (E.isLeft(parsed)) throw new Error(`${path}: ${parsed.left}`);
  return parsed.right;
};
