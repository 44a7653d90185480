/**
 * Storage semantics and lifecycle through a running server: TRIM and WRITE_ZEROES free whole
 * segments (holes in `nbdinfo --map`), NO_HOLE keeps them allocated, rollback to a snapshot,
 * deletion of a snapshot and of a disk with a client connected, and `ctl check` clean after each.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';
import { ctl, ctlOk, openRawClient, qemuIoChecked, runOk, serverForSuite, toolsAvailable } from './harness.js';

const available = toolsAvailable();
const MiB = 1 << 20;

describe.skipIf(!available)('storage semantics and lifecycle of a running NBD server', () => {
    // 1 MiB segments (the default): each MiB below is one segment.
  const suite = serverForSuite(['--create', 'vol:8MiB', '--create', 'other:4MiB']);

  const qemuIo = qemuIoChecked;
  const ok = (args: string[]): Promise<string> => ctlOk(suite.server, args);
  /** `nbdinfo --map` as [offset, length, hole] per extent. */
  const map = async (name: string): Promise<Array<[number, number, boolean]>> =>
    (await runOk('nbdinfo', ['--map', suite.server.uri(name)]))
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .map(([offset, length, type]) => [Number(offset), Number(length), (Number(type) & P.STATE_HOLE) !== 0]);
  /** Whether every byte of `offset .. offset+length` is reported a hole (true), all data (false), or mixed (null). */
  const holeAt = async (name: string, offset: number, length: number): Promise<boolean | null> => {
    const touching = (await map(name)).filter(([o, l]) => o < offset + length && o + l > offset);
    if (touching.every(([, , h]) => h)) return true;
    if (touching.every(([, , h]) => !h)) return false;
    return null;
  };

  it('discard and write-zeroes read back zeros; whole segments become holes unless NO_HOLE', async () => {
    await qemuIo(suite.server.uri('vol'), ['write -P 0x11 0 6M', 'flush']);
    expect(await holeAt('vol', 0, 6 * MiB)).toBe(false);
    // discard: a whole segment (1M..2M) and part of one (5M..5M+4k).
    await qemuIo(suite.server.uri('vol'), ['discard 1M 1M', 'discard 5M 4k', 'read -P 0 1M 1M', 'read -P 0 5M 4k', 'read -P 0x11 0 1M', 'read -P 0x11 2M 1M', 'read -P 0x11 5246976 1044480']);
    expect(await holeAt('vol', 1 * MiB, MiB)).toBe(true);
    expect(await holeAt('vol', 0, MiB)).toBe(false);
    expect(await holeAt('vol', 5 * MiB, MiB)).toBe(false);
    // write -z -u may unmap (a hole); write -z without -u is NBD_CMD_FLAG_NO_HOLE (stays allocated).
    await qemuIo(suite.server.uri('vol'), ['write -z -u 2M 1M', 'write -z 3M 1M', 'flush', 'read -P 0 2M 2M', 'read -P 0x11 4M 1M']);
    expect(await holeAt('vol', 2 * MiB, MiB)).toBe(true);
    expect(await holeAt('vol', 3 * MiB, MiB)).toBe(false);
    expect(await ok(['check'])).toMatch(/clean/);
    const stats = JSON.parse(await ok(['stats'])) as { spaceByLun: { lun: number; used: number }[]; spaceByDisk: { disk: string; allocated: number }[] };
    // vol holds 0, 3, 4 and 5 (4 segments of 256 blocks); other nothing.
    expect(stats.spaceByDisk.map((d) => [d.disk, d.allocated])).toEqual([
      ['other', 0],
      ['vol', 4 * 256],
    ]);
    expect(stats.spaceByLun.reduce((n, l) => n + l.used, 0)).toBe(4 * 256);
  }, 60_000);

  it('rollback brings back the snapshot content through the disk', async () => {
    await qemuIo(suite.server.uri('vol'), ['write -P 0x21 0 1M', 'flush']);
    await ok(['snapshot', 'vol', 'vol@s']);
    await qemuIo(suite.server.uri('vol'), ['write -P 0x22 0 2M', 'flush', 'read -P 0x22 0 2M']);
    expect(await ok(['rollback', 'vol', 'vol@s'])).toMatch(/rolled back/);
    await qemuIo(suite.server.uri('vol'), ['read -P 0x21 0 1M', 'read -P 0 1M 1M']);
    expect(await holeAt('vol', 1 * MiB, MiB)).toBe(true);
    await qemuIo(suite.server.uri('vol@s'), ['read -P 0x21 0 1M'], true);
    expect(await ok(['check'])).toMatch(/clean/);
  }, 60_000);

  it('deletes a snapshot, then a disk with a client connected only with --force; that client gets errors', async () => {
    expect(await ok(['delete', 'vol@s'])).toMatch(/deleted/);
    expect((JSON.parse(await ok(['list'])) as { name: string }[]).map((e) => e.name)).toEqual(['vol', 'other']);
    expect(await ok(['check'])).toMatch(/clean/);
    await qemuIo(suite.server.uri('vol'), ['read -P 0x21 0 1M']);

    const raw = await openRawClient(suite.server.socket, 'vol');
    expect((await raw.request(P.CMD_READ, 0, 4096)).data).toEqual(Buffer.alloc(4096, 0x21));
    const refused = await ctl(suite.server.data, ['delete', 'vol']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/client.*--force/);
    expect(await ok(['delete', 'vol', '--force'])).toMatch(/deleted/);
    const after = await raw.request(P.CMD_READ, 0, 4096);
    expect(after.error).not.toBe(0);
    raw.close();

    expect((JSON.parse(await ok(['list'])) as { name: string }[]).map((e) => e.name)).toEqual(['other']);
    expect(await runOk('nbdinfo', ['--list', suite.server.uri('other')])).not.toMatch(/\bvol\b/);
    await qemuIo(suite.server.uri('other'), ['write -P 0x31 0 1M', 'flush', 'read -P 0x31 0 1M']);
    const stats = JSON.parse(await ok(['stats'])) as { spaceByDisk: { disk: string; allocated: number }[]; spaceByLun: { used: number }[] };
    expect(stats.spaceByDisk.map((d) => [d.disk, d.allocated])).toEqual([['other', 256]]);
    expect(stats.spaceByLun.reduce((n, l) => n + l.used, 0)).toBe(256);
    expect(await ok(['check'])).toMatch(/clean/);
  }, 60_000);
});
