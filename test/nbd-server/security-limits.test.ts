/**
 * Limits against exhaustion: while a well-behaved client's fio run with verification goes on,
 * another identity hammers the server with a client that pipelines requests without reading the
 * replies, more connections than it may hold, oversized and malformed requests, and connections
 * that never finish their handshake. fio must pass, the stalled client must be held back by
 * backpressure (the server stops reading it), and the server's memory must stay bounded.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';
import { makeTempDir, removeDir, runOk, startServer, type TestServer } from './harness.js';
import { eventually, go, rawClient, request, securityToolsAvailable, writePskFile, type RawClient } from './security-helpers.js';

const available = securityToolsAvailable();
const MiB = 1 << 20;
const PER_IDENTITY = 6;

/** Resident memory of a process in bytes (Linux). */
const rss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe.skipIf(!available)('NBD server limits under a hammering client', () => {
  let dir: string;
  let server: TestServer;
  let keys: Map<string, Buffer>;

  beforeAll(async () => {
    dir = await makeTempDir();
    keys = await writePskFile(join(dir, 'keys.psk'), ['mallory']);
    server = await startServer(dir, [
      ...['--create', 'fio:32MiB', '--create', 'vol:16MiB'],
      ...['--tls', 'on', '--tls-psk', join(dir, 'keys.psk'), '--log-level', 'info'],
      ...['--limit', `connections-per-identity=${PER_IDENTITY}`, '--limit', 'requests-in-flight=8', '--limit', `request-bytes=${MiB}`],
      ...['--limit', `bytes-in-flight=${4 * MiB}`, '--limit', `queued-reply-bytes=${2 * MiB}`, '--limit', 'handshake-ms=1500'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  const mallory = async (): Promise<RawClient> => {
    const c = await rawClient(server.socket);
    await c.startTls({ psk: keys }, 'mallory');
    return c;
  };

  it('fio verifies while another identity stalls, floods and sends oversized and malformed requests', async () => {
    const pid = server.process.pid!;
    const job = ['--name=good', '--ioengine=nbd', `--uri=nbd+unix:///fio?socket=${server.socket}`, '--rw=randwrite', '--bs=4k', '--size=4M', '--offset_increment=16M', '--verify_state_save=0'];
    const fioArgs = [...job, '--numjobs=2', '--iodepth=8', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1', '--group_reporting'];
    const fio = spawn('fio', fioArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    let fioOut = '';
    fio.stdout!.on('data', (c: Buffer) => (fioOut += c.toString()));
    fio.stderr!.on('data', (c: Buffer) => (fioOut += c.toString()));
    const fioDone = new Promise<number | null>((r) => fio.once('exit', (code) => r(code)));
    const fioKill = setTimeout(() => fio.kill('SIGKILL'), 100_000);
    try {
      expect(await eventually(() => (server.log().match(/"export":"fio"[^\n]*client attached/g) ?? []).length >= 2, 15_000)).toBe(true);
      const before = rss(pid);

      // 1. A client that pipelines 50 000 reads of 1 MiB and never reads a reply.
      const stalled = await mallory();
      expect((await go(stalled, 'vol')).type).toBe(P.REP_ACK);
      stalled.socket.pause();
      const flood = Buffer.concat(Array.from({ length: 50_000 }, (_, i) => P.encodeRequest({ flags: 0, type: P.CMD_READ, cookie: BigInt(i), offset: (i % 16) * MiB, length: MiB })));
      stalled.send(flood);

      // 2. More connections than the identity may hold: the one past the limit is closed.
      const held: RawClient[] = [];
      for (let i = 0; i < PER_IDENTITY - 1; i++) held.push(await mallory());
      const extra = await rawClient(server.socket);
      await extra.startTls({ psk: keys }, 'mallory').catch(() => undefined);
      expect(await extra.closed(3000)).toBe(true);
      expect(await eventually(() => server.log().includes(`"identity \\"mallory\\" already holds ${PER_IDENTITY} connections"`))).toBe(true);
      for (const h of held) h.destroy();
      await new Promise((r) => setTimeout(r, 300));

      // 3. Oversized, malformed and never-finished connections, bounded in count and time.
      const idle = Array.from({ length: 2 }, () => connect(server.socket).on('error', () => undefined).resume());
      const idleClosed = idle.map((s) => new Promise<number>((r) => s.once('close', () => r(Date.now()))));
      const started = Date.now();
      let rounds = 0;
      for (; rounds < 20 && Date.now() - started < 10_000; rounds++) {
        const big = await mallory();
        expect((await go(big, 'vol')).type).toBe(P.REP_ACK);
        expect(await request(big, { type: P.CMD_READ, offset: 0, length: 2 * MiB })).toBe(P.EOVERFLOW); // answered, connection kept
        expect(await request(big, { type: P.CMD_READ, offset: 0, length: 4096 })).toBe(0);
        big.send(P.encodeRequest({ flags: 0, type: P.CMD_WRITE, cookie: 1n, offset: 0, length: 64 * MiB }), randomBytes(4096));
        expect(await big.closed(3000)).toBe(true); // a write payload over the limit closes it
        const junk = await mallory();
        junk.send(randomBytes(200 + rounds));
        expect(await junk.closed(3000)).toBe(true);
      }
      expect(rounds).toBeGreaterThan(2);
      // Connections that never finish the handshake are closed after handshake-ms.
      const closedAt = await Promise.race([Promise.all(idleClosed), new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      expect(closedAt).not.toBeNull();

      // The stalled client is held back: the server stopped reading its requests, and memory stayed bounded.
      expect(stalled.socket.writableLength).toBeGreaterThan(0);
      const during = rss(pid);
      expect(during - before).toBeLessThan(150 * MiB);
      stalled.destroy();

      const code = await fioDone;
      expect(code, fioOut).toBe(0);
      expect(fioOut).not.toMatch(/bad magic|verify failed|err=\s*[1-9]/i);
      expect(fioOut).toMatch(/err= 0/);
    } finally {
      clearTimeout(fioKill);
      if (fio.exitCode === null && fio.signalCode === null) fio.kill('SIGKILL');
    }
    // Afterwards the server is alive and serves as before.
    expect(server.process.exitCode).toBeNull();
    const verify = await runOk('fio', [...job, '--numjobs=2', '--iodepth=8', '--verify=crc32c', '--verify_only', '--group_reporting'], 60_000);
    expect(verify).toMatch(/issued rwts: total=2048,/);
    expect(server.log()).not.toMatch(/connection failed/);
  }, 120_000);
});
