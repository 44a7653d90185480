/**
 * The NBD server against clients nobody here wrote: qemu-io, qemu-img, nbdcopy, nbdinfo, fio.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctl, qemuIoChecked, run, runOk, serverForSuite, toolsAvailable } from './harness.js';

const available = toolsAvailable();
const MiB = 1 << 20;

describe.skipIf(!available)('NBD server with real clients', () => {
  const suite = serverForSuite(['--create', 'vol:64MiB', '--create', 'copy:32MiB', '--create', 'fio:64MiB', '--create', 'map:16MiB']);

  /** qemu-io commands on one connection to an export; fails on any pattern mismatch or error. */
  const qemuIo = (exportName: string, commands: ReadonlyArray<string>): Promise<string> => qemuIoChecked(suite.server.uri(exportName), commands);

  it('lists every disk and gives the first as the default export', async () => {
    const out = await runOk('nbdinfo', ['--list', '--json', suite.server.uri()]);
    const doc = JSON.parse(out) as { exports: { 'export-name': string; 'export-size': number; 'block_size_minimum': number; contexts: string[] }[] };
    expect(doc.exports.map((e) => e['export-name']).sort()).toEqual(['copy', 'fio', 'map', 'vol']);
    const vol = doc.exports.find((e) => e['export-name'] === 'vol')!;
    expect(vol['export-size']).toBe(64 * MiB);
    expect(vol.block_size_minimum).toBe(4096);
    expect(vol.contexts).toContain('base:allocation');
    const def = JSON.parse(await runOk('nbdinfo', ['--json', suite.server.uri('')])) as { exports: { 'export-name': string }[] };
    expect(def.exports[0]!['export-name']).toBe('vol');
  });

  it('qemu-io: aligned, unaligned and end-of-disk patterns, write -z, discard, FUA and flush; a new connection reads them back', async () => {
    const end = 64 * MiB;
    await qemuIo('vol', [
      'write -P 0xa1 0 64k',
      'write -P 0xb2 70000 5000', // unaligned on both ends
      'write -P 0xc3 ' + (end - 8192) + ' 8192', // the last two blocks
      'write -P 0xd4 ' + (end - 1000) + ' 1000', // unaligned, up to the very end
      'write -P 0xe5 2M 1M',
      'write -z 2M 256k',
      'write -P 0x99 4M 128k',
      'discard 4M 64k',
      'write -f -P 0xf6 6M 64k', // FUA
      'flush',
      'read -P 0xa1 0 64k',
      'read -P 0xb2 70000 5000',
      'read -P 0xe5 2359296 786432',
    ]);
    await qemuIo('vol', [
      'read -P 0xa1 0 65536',
      'read -P 0 65536 4464', // between the two writes: never written
      'read -P 0xb2 70000 5000',
      'read -P 0xc3 ' + (end - 8192) + ' 7192',
      'read -P 0xd4 ' + (end - 1000) + ' 1000',
      'read -P 0 2M 256k',
      'read -P 0xe5 2359296 786432',
      'read -P 0x99 4259840 65536', // discard is advisory: the rest of the write is still there
      'read -P 0xf6 6M 64k',
      'read -P 0 32M 1M',
    ]);
  });

  it('refuses requests past the end of the disk', async () => {
    const r = await run('qemu-io', ['-f', 'raw', suite.server.uri('vol'), '-c', `read 0 ${64 * MiB + 4096}`]);
    expect(r.stdout + r.stderr).toMatch(/Input\/output error|Invalid argument|out of range|beyond|past/i);
  });

  it('nbdcopy in and out of a disk, byte for byte; qemu-img compare and info', async () => {
    const original = join(suite.server.dir, 'random.img');
    const back = join(suite.server.dir, 'back.img');
    await writeFile(original, randomBytes(32 * MiB));
    await runOk('nbdcopy', [original, suite.server.uri('copy')]);
    await runOk('nbdcopy', [suite.server.uri('copy'), back]);
    expect(Buffer.compare(await readFile(original), await readFile(back))).toBe(0);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', original, suite.server.uri('copy')]);
    const info = JSON.parse(await runOk('qemu-img', ['info', '--output=json', '-f', 'raw', suite.server.uri('copy')])) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(32 * MiB);
  });

  it('fio: random writes with crc32c verification from 4 connections, then a verify-only pass on new connections', async () => {
    const job = [
      '--name=randwrite',
      '--ioengine=nbd',
      `--uri=${suite.server.uri('fio')}`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=8M',
      '--offset_increment=16M',
      '--numjobs=4',
      '--iodepth=16',
      '--verify=crc32c',
      '--verify_fatal=1',
      '--verify_state_save=0', // no state files left behind
      '--group_reporting',
    ];
    await runOk('fio', [...job, '--do_verify=1'], 120_000);
    const out = await runOk('fio', [...job, '--verify_only'], 120_000);
    expect(out).toMatch(/issued rwts: total=8192,/); // 4 jobs x 8 MiB of 4k blocks, all read and checked
    expect(out).not.toMatch(/bad magic|verify failed|err=\s*[1-9]/i);
  }, 180_000);

  it('nbdinfo --map and qemu-img map show the holes of the mapping table', async () => {
    await qemuIo('map', ['write -P 0x5a 1M 64k', 'write -P 0x5b 8M 2M']);
    const map = JSON.parse(await runOk('nbdinfo', ['--map', '--json', suite.server.uri('map')])) as { offset: number; length: number; type: number }[];
    const dataBytes = map.filter((e) => (e.type & 1) === 0).reduce((n, e) => n + e.length, 0);
    // Only what was written is allocated (whole segments once a background fill has promoted them).
    expect(dataBytes).toBeGreaterThanOrEqual(64 * 1024 + 2 * MiB);
    expect(dataBytes).toBeLessThanOrEqual(4 * MiB);
    const holeAt = (offset: number): boolean => map.some((e) => e.offset <= offset && offset < e.offset + e.length && (e.type & 3) === 3);
    expect(holeAt(0)).toBe(true);
    expect(holeAt(4 * MiB)).toBe(true);
    expect(holeAt(15 * MiB)).toBe(true);
    expect(holeAt(1 * MiB)).toBe(false);
    expect(holeAt(9 * MiB)).toBe(false);
    const qmap = JSON.parse(await runOk('qemu-img', ['map', '--output=json', '-f', 'raw', suite.server.uri('map')])) as { start: number; length: number; data: boolean }[];
    expect(qmap.find((e) => e.start <= 0 && 0 < e.start + e.length)!.data).toBe(false);
    expect(qmap.find((e) => e.start <= 8 * MiB && 8 * MiB < e.start + e.length)!.data).toBe(true);
  });

  it('ctl check finds the persisted tables clean and dump prints a table', async () => {
    const check = await ctl(suite.server.data, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/clean/);
    const dump = await ctl(suite.server.data, ['dump', 'map']);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout.length).toBeGreaterThan(0);
  });
});
