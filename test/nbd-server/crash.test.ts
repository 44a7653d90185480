/**
 * Crash: the server is killed with SIGKILL while fio writes and flushes; after a restart, every
 * write acknowledged before a completed flush reads back, and `ctl check` finds the tables clean.
 */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ctl, makeTempDir, removeDir, run, runOk, startServer, toolsAvailable, type TestServer } from './harness.js';

const available = toolsAvailable();
const MiB = 1 << 20;
const MARKER = 64 * 1024;
const MARKER_BASE = 32 * MiB;
const MAX_MARKERS = 200;

describe.skipIf(!available)('NBD server crash', () => {
  let dir: string | undefined;
  const servers: TestServer[] = [];

  afterAll(async () => {
    for (const s of servers) await s.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('kill -9 during a fio run that flushes: what was flushed reads back after a restart', async () => {
    dir = await makeTempDir();
    const first = await startServer(dir, ['--create', 'vol:64MiB']);
    servers.push(first);

    // Load: random writes with a flush every 8 writes over the first 32 MiB, until killed.
    const fio = spawn(
      'fio',
      ['--name=load', '--ioengine=nbd', `--uri=${first.uri('vol')}`, '--rw=randwrite', '--bs=4k', '--size=32M', '--iodepth=8', '--fsync=8', '--time_based', '--runtime=20'],
      { stdio: 'ignore' },
    );
    const fioExited = new Promise<void>((r) => fio.once('exit', () => r()));

    // Markers: each a 64 KiB pattern write then a flush on its own connection; those whose flush
    // completed must survive.
    const flushed: number[] = [];
    const deadline = Date.now() + 20_000;
    let killed = false;
    const killer = setTimeout(() => {
      killed = true;
      void first.kill();
    }, 2500);
    for (let i = 0; i < MAX_MARKERS && Date.now() < deadline; i++) {
      const r = await run('qemu-io', ['-f', 'raw', first.uri('vol'), '-c', `write -P ${(i % 250) + 1} ${MARKER_BASE + i * MARKER} ${MARKER}`, '-c', 'flush'], 10_000);
      if (r.code === 0 && !/error|failed/i.test(r.stdout + r.stderr)) flushed.push(i);
      else if (killed) break;
    }
    clearTimeout(killer);
    if (!killed) await first.kill();
    await Promise.race([fioExited, new Promise((r) => setTimeout(r, 15_000))]);
    if (fio.exitCode === null && fio.signalCode === null) fio.kill('SIGKILL');
    expect(first.process.signalCode).toBe('SIGKILL');
    expect(flushed.length).toBeGreaterThan(0);

    const second = await startServer(dir);
    servers.push(second);
    const reads = flushed.map((i) => ['-c', `read -P ${(i % 250) + 1} ${MARKER_BASE + i * MARKER} ${MARKER}`]).flat();
    const out = await runOk('qemu-io', ['-f', 'raw', second.uri('vol'), ...reads], 60_000);
    expect(out).not.toMatch(/Pattern verification failed|error/i);
    // The disk still takes writes after the restart.
    await runOk('qemu-io', ['-f', 'raw', second.uri('vol'), '-c', 'write -P 0x77 0 1M', '-c', 'flush', '-c', 'read -P 0x77 0 1M']);
    await second.stop();
    const check = await ctl(second.data, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }, 120_000);
});
