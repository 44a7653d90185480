/**
 * NBD over TLS with pre-shared keys (`--tls require --tls-psk FILE`) and a per-export access
 * policy, against nbdinfo, nbdcopy, qemu-img and qemu-io, and a hand-driven client for the exact replies.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';
import { ctl, makeTempDir, removeDir, run, runOk, startServer, type TestServer } from './harness.js';
import { eventually, go, listExports, rawClient, request, securityToolsAvailable, writePskFile } from './security-helpers.js';

const available = securityToolsAvailable();
const MiB = 1 << 20;

describe.skipIf(!available)('NBD server with TLS pre-shared keys and an access policy', () => {
  let dir: string;
  let server: TestServer;
  let keys: Map<string, Buffer>;
  let wrong: Map<string, Buffer>;
  const psk = (): string => join(dir, 'keys.psk');
  /** libnbd's URI for `identity` with the key file `file`. */
  const uri = (identity: string, name: string, file = psk()): string => `nbds+unix://${identity}@/${name}?socket=${server.socket}&tls-psk-file=${file}`;
  /** qemu's PSK credentials: a directory holding keys.psk. */
  const qemuIo = (identity: string, name: string, commands: ReadonlyArray<string>, keyDir = join(dir, 'qemu')) =>
    run('qemu-io', [
      '--object',
      `tls-creds-psk,id=tls0,endpoint=client,dir=${keyDir},username=${identity}`,
      '--image-opts',
      `driver=nbd,server.type=unix,server.path=${server.socket},export=${name},tls-creds=tls0`,
      ...commands.flatMap((c) => ['-c', c]),
    ]);

  beforeAll(async () => {
    dir = await makeTempDir();
    keys = await writePskFile(psk(), ['alice', 'bob', 'carol']);
    wrong = await writePskFile(join(dir, 'wrong.psk'), ['alice', 'mallory']);
    await mkdir(join(dir, 'qemu'));
    await copyFile(psk(), join(dir, 'qemu', 'keys.psk'));
    await mkdir(join(dir, 'qemu-wrong'));
    await copyFile(join(dir, 'wrong.psk'), join(dir, 'qemu-wrong', 'keys.psk'));
    await writeFile(
      join(dir, 'access.json'),
      JSON.stringify({ identities: { alice: { '*': 'write' }, bob: { vol: 'read', 'pub*': 'read' }, carol: { other: 'write' } } }),
    );
    server = await startServer(dir, [
      ...['--create', 'vol:32MiB', '--create', 'copy:16MiB', '--create', 'other:16MiB', '--create', 'pub1:16MiB'],
      ...['--tls', 'require', '--tls-psk', psk(), '--access', join(dir, 'access.json'), '--log-level', 'info'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('the right key: nbdinfo lists, nbdcopy copies in and out byte for byte, qemu-img compares, qemu-io writes and reads', async () => {
    const list = JSON.parse(await runOk('nbdinfo', ['--list', '--json', uri('alice', '')])) as { exports: { 'export-name': string }[]; TLS: boolean };
    expect(list.exports.map((e) => e['export-name']).sort()).toEqual(['copy', 'other', 'pub1', 'vol']);
    const original = join(dir, 'in.img');
    const back = join(dir, 'out.img');
    await writeFile(original, randomBytes(16 * MiB));
    await runOk('nbdcopy', [original, uri('alice', 'copy')]);
    await runOk('nbdcopy', [uri('alice', 'copy'), back]);
    expect(Buffer.compare(await readFile(original), await readFile(back))).toBe(0);
    // qemu-img with the same credentials: info, and a byte comparison of the copy with the original.
    const object = `tls-creds-psk,id=tls0,endpoint=client,dir=${join(dir, 'qemu')},username=alice`;
    const image = `driver=nbd,server.type=unix,server.path=${server.socket},export=copy,tls-creds=tls0`;
    const info = JSON.parse(await runOk('qemu-img', ['info', '--output=json', '--object', object, '--image-opts', image])) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(16 * MiB);
    await runOk('qemu-img', ['compare', '--object', object, '--image-opts', `driver=raw,file.driver=file,file.filename=${original}`, `driver=raw,file.${image.replace(/,/g, ',file.')}`]);
    const w = await qemuIo('alice', 'vol', ['write -P 0x5c 1M 256k', 'flush', 'read -P 0x5c 1M 256k']);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stdout).not.toMatch(/verification failed|error/i);
    expect(server.log()).toMatch(/"identity":"alice","msg":"TLS on"/);
  });

  it('a wrong key, an unknown identity and a plain client are refused', async () => {
    const wrongKey = await run('nbdinfo', ['--size', uri('alice', 'vol', join(dir, 'wrong.psk'))], 20_000);
    expect(wrongKey.code).not.toBe(0);
    const unknown = await run('nbdinfo', ['--size', uri('mallory', 'vol', join(dir, 'wrong.psk'))], 20_000);
    expect(unknown.code).not.toBe(0);
    const qemuWrong = await qemuIo('alice', 'vol', ['read 0 4k'], join(dir, 'qemu-wrong'));
    expect(qemuWrong.code).not.toBe(0);
    const plain = await run('nbdinfo', ['--size', `nbd+unix:///vol?socket=${server.socket}`], 20_000);
    expect(plain.code).not.toBe(0);
    const plainQemu = await run('qemu-io', ['-f', 'raw', `nbd+unix:///vol?socket=${server.socket}`, '-c', 'read 0 4k'], 20_000);
    expect(plainQemu.code).not.toBe(0);

    // The exact replies: every option but STARTTLS is NBD_REP_ERR_TLS_REQD, EXPORT_NAME closes.
    const c = await rawClient(server.socket);
    expect(await listExports(c)).toBe(P.REP_ERR_TLS_REQD);
    expect((await go(c, 'vol')).type).toBe(P.REP_ERR_TLS_REQD);
    c.send(P.encodeOption(P.OPT_EXPORT_NAME, Buffer.from('vol')));
    expect(await c.closed(3000)).toBe(true);
    // A wrong key fails the handshake; the server closes.
    const w = await rawClient(server.socket);
    await expect(w.startTls({ psk: new Map([['alice', wrong.get('alice')!]]) }, 'alice')).rejects.toThrow();
    expect(await w.closed(3000)).toBe(true);
    // Bytes sent after STARTTLS and before the handshake (an injection attempt) close the connection.
    // (Whether they arrive with STARTTLS or just after it, they never count as NBD: either the
    // server sees them before the handshake, or they are not a TLS ClientHello.)
    const refusals = (): number => (server.log().match(/sent data after NBD_OPT_STARTTLS|TLS handshake failed/g) ?? []).length;
    await new Promise((r) => setTimeout(r, 500)); // the log lines of the connections above arrive first
    const before = refusals();
    const inj = await rawClient(server.socket);
    inj.send(Buffer.concat([P.encodeOption(P.OPT_STARTTLS), P.encodeOption(P.OPT_LIST)]));
    expect(await inj.closed(3000)).toBe(true);
    expect(await eventually(() => refusals() > before)).toBe(true);
    // And the right key still works on the same server.
    expect((await runOk('nbdinfo', ['--size', uri('bob', 'vol')])).trim()).toBe(String(32 * MiB));
    expect(keys.size).toBe(3);
  });

  it('access: the list shows only what an identity may open, the rest is refused by policy, read grants are read-only', async () => {
    const bobList = JSON.parse(await runOk('nbdinfo', ['--list', '--json', uri('bob', '')])) as { exports: { 'export-name': string }[] };
    expect(bobList.exports.map((e) => e['export-name']).sort()).toEqual(['pub1', 'vol']);

    const bob = await rawClient(server.socket);
    await bob.startTls({ psk: keys }, 'bob');
    expect(((await listExports(bob)) as string[]).sort()).toEqual(['pub1', 'vol']);
    expect((await go(bob, 'copy')).type).toBe(P.REP_ERR_POLICY);
    // A name that does not exist is refused the same way: the policy does not reveal what exists.
    expect((await go(bob, 'no-such-disk')).type).toBe(P.REP_ERR_POLICY);
    const opened = await go(bob, 'vol');
    expect(opened.type).toBe(P.REP_ACK);
    expect(opened.flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    expect(await request(bob, { type: P.CMD_WRITE, offset: 0, length: 4096, payload: Buffer.alloc(4096, 1) })).toBe(P.EPERM);
    expect(await request(bob, { type: P.CMD_WRITE_ZEROES, offset: 0, length: 4096 })).toBe(P.EPERM);
    expect(await request(bob, { type: P.CMD_READ, offset: 1 * MiB, length: 4096 })).toBe(0);
    bob.destroy();

    // qemu as bob cannot open copy at all, and carol writes only to her disk.
    const denied = await qemuIo('bob', 'copy', ['read 0 4k']);
    expect(denied.code).not.toBe(0);
    const carol = await qemuIo('carol', 'other', ['write -P 0x7e 0 64k', 'read -P 0x7e 0 64k']);
    expect(carol.code, carol.stdout + carol.stderr).toBe(0);
    expect(carol.stdout).not.toMatch(/verification failed|error/i);
    const carolList = JSON.parse(await runOk('nbdinfo', ['--list', '--json', uri('carol', '')])) as { exports: { 'export-name': string }[] };
    expect(carolList.exports.map((e) => e['export-name'])).toEqual(['other']);
  });

  it('snapshots are read-only even under a write grant', async () => {
    const snap = await ctl(server.data, ['snapshot', 'vol', 'vol@1']);
    expect(snap.code, snap.stdout + snap.stderr).toBe(0);
    const alice = await rawClient(server.socket);
    await alice.startTls({ psk: keys }, 'alice');
    expect(await listExports(alice)).toContain('vol@1');
    const opened = await go(alice, 'vol@1');
    expect(opened.type).toBe(P.REP_ACK);
    expect(opened.flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    expect(await request(alice, { type: P.CMD_WRITE, offset: 0, length: 4096, payload: Buffer.alloc(4096, 2) })).toBe(P.EPERM);
    alice.destroy();
    // bob's grants name neither vol@1 nor a pattern matching it.
    const bob = await rawClient(server.socket);
    await bob.startTls({ psk: keys }, 'bob');
    expect(await listExports(bob)).not.toContain('vol@1');
    bob.destroy();
  });
});
