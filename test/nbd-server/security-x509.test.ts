/**
 * NBD over TLS with X.509 certificates made here with `openssl` (`--tls on --tls-cert DIR`):
 * qemu-io presents a client certificate (identity: its common name); fio, which cannot name
 * one in its URI, runs with verification as a certificate-less TLS client; a certificate from
 * another CA is refused; plain and certificate-less clients get the anonymous grants only.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLinkOptions, createLinkGuard } from '../../examples/nbd-server/link-auth.js';
import { encodeFrame, listenForAgents } from '../../examples/nbd-server/net-transport.js';
import * as P from '../../examples/nbd-server/protocol.js';
import { createTlsServer, clientTlsOptions } from '../../examples/nbd-server/tls.js';
import { makeTempDir, removeDir, run, runOk, startServer, type TestServer } from './harness.js';
import { eventually, go, listExports, makeCertDir, rawClient, readCertDir, request, securityToolsAvailable } from './security-helpers.js';

const available = securityToolsAvailable();
const MiB = 1 << 20;

describe.skipIf(!available)('NBD server with TLS certificates', () => {
  let dir: string;
  let server: TestServer;
  const certs = (): string => join(dir, 'certs');
  const tlsUri = (name: string, certDir?: string): string => `nbds+unix:///${name}?socket=${server.socket}${certDir === undefined ? '' : `&tls-certificates=${certDir}`}`;

  beforeAll(async () => {
    dir = await makeTempDir();
    await makeCertDir(certs(), 'alice');
    await makeCertDir(join(dir, 'rogue'), 'alice', 'rogue-ca');
    await writeFile(join(dir, 'access.json'), JSON.stringify({ identities: { alice: { '*': 'write' } }, anonymous: { pub: 'read', fio: 'write' } }));
    server = await startServer(dir, [
      ...['--create', 'fio:32MiB', '--create', 'vol:16MiB', '--create', 'pub:16MiB'],
      ...['--tls', 'on', '--tls-cert', certs(), '--access', join(dir, 'access.json'), '--log-level', 'info'],
    ]);
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('fio: random writes with crc32c verification over TLS from 2 connections, then a verify-only pass', async () => {
    const job = [
      '--name=tls',
      '--ioengine=nbd',
      `--uri=${tlsUri('fio')}`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=4M',
      '--offset_increment=16M',
      '--numjobs=2',
      '--iodepth=8',
      '--verify=crc32c',
      '--verify_fatal=1',
      '--verify_state_save=0',
      '--group_reporting',
    ];
    await runOk('fio', [...job, '--do_verify=1'], 90_000);
    const out = await runOk('fio', [...job, '--verify_only'], 90_000);
    expect(out).toMatch(/issued rwts: total=2048,/); // 2 jobs x 4 MiB of 4k blocks, all read and checked
    expect(out).not.toMatch(/bad magic|verify failed|err=\s*[1-9]/i);
    expect(server.log()).toMatch(/"identity":null,"msg":"TLS on"/);
  }, 120_000);

  it('qemu-io with tls-creds-x509 writes and reads as the certificate it presents', async () => {
    const r = await run('qemu-io', [
      '--object',
      `tls-creds-x509,id=tls0,endpoint=client,dir=${certs()}`,
      '--image-opts',
      `driver=nbd,server.type=unix,server.path=${server.socket},export=vol,tls-creds=tls0,tls-hostname=localhost`,
      '-c',
      'write -P 0x3d 0 128k',
      '-c',
      'read -P 0x3d 0 128k',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/verification failed|error/i);
    expect(await eventually(() => /"identity":"alice","msg":"TLS on"/.test(server.log()))).toBe(true);
  });

  it('a client certificate from another CA is refused', async () => {
    const real = await readCertDir(certs(), 'client');
    const rogue = await readCertDir(join(dir, 'rogue'), 'client');
    const c = await rawClient(server.socket);
    // The client trusts the real CA (so the server passes its checks) but presents the rogue certificate.
    const upgraded = await c.startTls({ certs: { ca: real.ca, cert: rogue.cert, key: rogue.key } }, 'alice').then(
      () => true,
      () => false,
    );
    if (upgraded) expect(await c.closed(3000)).toBe(true);
    expect(await eventually(() => /client certificate refused: certificate of CN=alice is not signed by a trusted CA/.test(server.log()))).toBe(true);
    // The real certificate on a raw connection sees every export and may write.
    const ok = await rawClient(server.socket);
    await ok.startTls({ certs: real }, 'alice');
    expect(((await listExports(ok)) as string[]).sort()).toEqual(['fio', 'pub', 'vol']);
    expect((await go(ok, 'vol')).type).toBe(P.REP_ACK);
    expect(await request(ok, { type: P.CMD_WRITE, offset: 1 * MiB, length: 4096, payload: Buffer.alloc(4096, 9) })).toBe(0);
    ok.destroy();
  });

  it('clients without a certificate, plain or over TLS, get the anonymous grants only', async () => {
    const plain = JSON.parse(await runOk('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${server.socket}`])) as { exports: { 'export-name': string }[] };
    expect(plain.exports.map((e) => e['export-name']).sort()).toEqual(['fio', 'pub']);
    // libnbd over TLS with a directory holding only the CA: no client certificate.
    const caOnly = join(dir, 'ca-only');
    await runOk('mkdir', ['-p', caOnly]);
    await writeFile(join(caOnly, 'ca-cert.pem'), await readFile(join(certs(), 'ca-cert.pem')));
    const anon = JSON.parse(await runOk('nbdinfo', ['--list', '--json', tlsUri('', caOnly)])) as { exports: { 'export-name': string }[] };
    expect(anon.exports.map((e) => e['export-name']).sort()).toEqual(['fio', 'pub']);
    const refused = await run('nbdinfo', ['--size', `nbd+unix:///vol?socket=${server.socket}`]);
    expect(refused.code).not.toBe(0);
    const c = await rawClient(server.socket);
    expect((await go(c, 'vol')).type).toBe(P.REP_ERR_POLICY);
    const pub = await go(c, 'pub');
    expect(pub.type).toBe(P.REP_ACK);
    expect(pub.flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    expect(await request(c, { type: P.CMD_READ, offset: 0, length: 4096 })).toBe(0);
    expect(await request(c, { type: P.CMD_TRIM, offset: 0, length: 4096 })).toBe(P.EPERM);
    c.destroy();
  });

  it('--tls-verify-peer refuses a TLS client that presents no certificate', async () => {
    const server = await readCertDir(certs(), 'server');
    const client = await readCertDir(certs(), 'client');
    const end = createTlsServer({ certs: server, verifyPeer: true });
    const path = join(dir, 'verify.sock');
    const outcomes: Array<string | null> = [];
    const listener = createServer((s: Socket) => {
      end.accept(s, 5000).then(
        (peer) => (outcomes.push(peer.identity), peer.socket.end()),
        (e: Error) => outcomes.push(`refused: ${e.message}`),
      );
    });
    await new Promise<void>((r) => listener.listen(path, r));
    try {
      const attempt = (options: tls.ConnectionOptions): Promise<void> =>
        new Promise((resolve) => {
          const s = tls.connect({ path, ...options });
          s.on('error', () => undefined);
          s.once('close', () => resolve());
          s.once('secureConnect', () => setTimeout(() => s.destroy(), 200));
          setTimeout(() => s.destroy(), 3000);
        });
      await attempt({ ca: server.ca, checkServerIdentity: () => undefined });
      await attempt(clientTlsOptions({ certs: client }, 'alice'));
      expect(await eventually(() => outcomes.length === 2)).toBe(true);
      expect(outcomes[0]).toMatch(/refused: the client presented neither a PSK identity nor a certificate/);
      expect(outcomes[1]).toBe('alice');
    } finally {
      await new Promise((r) => listener.close(r));
    }
  });

  it('agent links over mutual X.509: the certificate names the agent, a hello for another agent is dropped', async () => {
    const server = await readCertDir(certs(), 'server');
    const client = await readCertDir(certs(), 'client');
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const agents = await listenForAgents({ socket: join(dir, 'links.sock') }, log, createLinkGuard({ certs: server }));
    const hellos: string[] = [];
    agents.onHello((a) => hellos.push(a));
    try {
      const say = (hello: string): Promise<boolean> =>
        new Promise((resolve) => {
          const s = tls.connect({ path: join(dir, 'links.sock'), ...agentLinkOptions({ certs: client }, 'alice') });
          s.on('error', () => undefined);
          s.once('secureConnect', () => s.write(encodeFrame({ hello })));
          s.once('close', () => resolve(true));
          setTimeout(() => (s.destroy(), resolve(false)), 1500);
        });
      expect(await say('bob')).toBe(true); // dropped by the controller
      expect(await say('alice')).toBe(false); // kept until the test closes it
      expect(hellos).toEqual(['alice']);
    } finally {
      await agents.close();
    }
  });
});
