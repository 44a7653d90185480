/**
 * `ctl` against a running server: snapshots as read-only exports, migration, list and stats,
 * and the offline check after each.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';
import { ctl, ctlOk, openRawClient, qemuIoChecked, runOk, serverForSuite, toolsAvailable } from './harness.js';

const available = toolsAvailable();
const MiB = 1 << 20;

describe.skipIf(!available)('ctl with a running NBD server', () => {
  const suite = serverForSuite(['--create', 'vol:32MiB']);

  const qemuIo = qemuIoChecked;
  const ok = (args: string[]): Promise<string> => ctlOk(suite.server, args);

  it('snapshot during writes: the snapshot reads what was written before it, the disk what came after', async () => {
    await qemuIo(suite.server.uri('vol'), ['write -P 0xa1 0 4M', 'flush']);
    // Writes keep going on other blocks while the snapshot is taken.
    const busy = spawn('fio', ['--name=busy', '--ioengine=nbd', `--uri=${suite.server.uri('vol')}`, '--rw=randwrite', '--bs=4k', '--offset=16M', '--size=8M', '--iodepth=4', '--time_based', '--runtime=3'], { stdio: 'ignore' });
    const busyDone = new Promise<number | null>((r) => busy.once('exit', (code) => r(code)));
    expect(await ok(['snapshot', 'vol', 'vol@1'])).toMatch(/taken/);
    await qemuIo(suite.server.uri('vol'), ['write -P 0xb2 0 1M', 'flush']);
    expect(await Promise.race([busyDone, new Promise((r) => setTimeout(() => r('timeout'), 20_000))])).toBe(0);

    await qemuIo(suite.server.uri('vol@1'), ['read -P 0xa1 0 4M', 'read -P 0 4M 4M'], true);
    await qemuIo(suite.server.uri('vol'), ['read -P 0xb2 0 1M', 'read -P 0xa1 1M 3M']);
    // The snapshot is read-only, to the server as well as to a client that respects the flag.
    const raw = await openRawClient(suite.server.socket, 'vol@1');
    for (const type of [P.CMD_WRITE, P.CMD_WRITE_ZEROES, P.CMD_TRIM]) {
      const reply = await raw.request(type, 0, 4096, type === P.CMD_WRITE ? Buffer.alloc(4096, 9) : undefined);
      expect(reply.error).toBe(P.EPERM);
    }
    expect((await raw.request(P.CMD_READ, 0, 4096)).data).toEqual(Buffer.alloc(4096, 0xa1));
    raw.close();
    const write = await runOk('qemu-io', ['-r', '-f', 'raw', suite.server.uri('vol@1'), '-c', 'write -P 1 0 4k']).catch((e: Error) => e.message);
    expect(write).toMatch(/Permission denied|read-only|Operation not permitted/i);

    const list = JSON.parse(await ok(['list'])) as { name: string; snapshot: boolean; bytes: number }[];
    expect(list.map((e) => [e.name, e.snapshot, e.bytes])).toEqual([
      ['vol', false, 32 * MiB],
      ['vol@1', true, 32 * MiB],
    ]);
    expect(await ok(['check'])).toMatch(/clean/);
  }, 90_000);

  it('migrate moves the disk to another LUN and every block still reads the same', async () => {
    expect(await ok(['migrate', 'vol', '--to-lun', '2'])).toMatch(/started/);
    // Bounded wait for the background copies: LUN 2 gets the located segments.
    let onLun2 = false;
    for (let i = 0; i < 100 && !onLun2; i++) {
      const dump = await ok(['dump', 'vol']);
      onLun2 = dump.split('\n').slice(1, 5).every((line) => /^\d+\s+\S+\s+2\s/.test(line));
      if (!onLun2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(onLun2).toBe(true);
    await qemuIo(suite.server.uri('vol'), ['read -P 0xb2 0 1M', 'read -P 0xa1 1M 3M', 'read -P 0 4M 4M']);
    await qemuIo(suite.server.uri('vol@1'), ['read -P 0xa1 0 4M'], true);
    const stats = JSON.parse(await ok(['stats'])) as { resolutions: Record<string, number>; luns: { lun: number; freeBlocks: number; blocks: number }[] };
    expect(Object.keys(stats.resolutions).length).toBeGreaterThan(0);
    expect(stats.luns.find((l) => l.lun === 2)!.freeBlocks).toBeLessThan(stats.luns.find((l) => l.lun === 2)!.blocks);
    expect(await ok(['check'])).toMatch(/clean/);
  }, 90_000);
});
