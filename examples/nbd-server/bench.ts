/**
 * Throughput of the NBD server (report-only): the same fio jobs against
 *
 *   (a) `nbdkit file` serving a plain file,
 *   (b) this server with a pass-through table (one segment spanning the disk, on one LUN: no
 *       faults, the cost of Node and the NBD layer alone),
 *   (c) this server with an ordinary vdisk-map disk (1 MiB segments), written once beforehand so
 *       that every segment is located (no faults either: steady state).
 *
 *   npm run bench:nbd [-- --size 256MiB --runtime 5]
 *
 * Jobs: 4k random read and write, 1 MiB sequential read and write; iodepth 16, 4 connections.
 * Targets from the issue: (c) >= 0.8 of (b); (c) >= 0.6 of (a) sequential, >= 0.3 for 4k random.
 */
import * as E from 'fp-ts/lib/Either.js';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createTable, encodeTable } from '../../src/index.js';
import { initDataDir } from './data-dir.js';
import { openJournalStore } from './journal-store.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const { values } = parseArgs({ options: { size: { type: 'string' }, runtime: { type: 'string' } } });
const MiB = 1 << 20;
const sizeMiB = Number(/^(\d+)/.exec(values.size ?? '256')?.[1] ?? 256);
const runtime = Number(values.runtime ?? 5);
const size = sizeMiB * MiB;

interface Job {
  readonly name: string;
  readonly rw: string;
  readonly bs: string;
}
const JOBS: ReadonlyArray<Job> = [
  { name: '4k randread', rw: 'randread', bs: '4k' },
  { name: '4k randwrite', rw: 'randwrite', bs: '4k' },
  { name: '1M read', rw: 'read', bs: '1M' },
  { name: '1M write', rw: 'write', bs: '1M' },
];

const fio = (uri: string, job: Job): { mibs: number; iops: number } => {
  const out = execFileSync(
    'fio',
    [
      '--name=bench',
      '--ioengine=nbd',
      `--uri=${uri}`,
      `--rw=${job.rw}`,
      `--bs=${job.bs}`,
      `--size=${size / 4}`,
      '--offset_increment=' + size / 4,
      '--numjobs=4',
      '--iodepth=16',
      '--time_based',
      `--runtime=${runtime}`,
      '--group_reporting',
      '--output-format=json',
    ],
    { encoding: 'utf8', timeout: (runtime + 60) * 1000, maxBuffer: 64 << 20 },
  );
  // The nbd engine prints a line per connection before the JSON document.
  const doc = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: { read: { bw: number; iops: number }; write: { bw: number; iops: number } }[] };
  const j = doc.jobs[0]!;
  const side = job.rw.includes('read') ? j.read : j.write;
  return { mibs: side.bw / 1024, iops: side.iops };
};

const waitForLine = (child: ChildProcess, text: string): Promise<void> =>
  new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within 60 s`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      seen += c.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before "${text}"`)));
  });

const stop = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
};

const startVdisk = async (data: string, socket: string, extra: string[]): Promise<ChildProcess> => {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data', data, '--socket', socket, '--log-level', 'warn', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitForLine(child, 'ready ');
  return child;
};

/** A data directory whose disk `vol` is one segment on LUN 1 block 0: a pass-through table. */
const passThrough = async (data: string): Promise<void> => {
  const config = await initDataDir(data, { lunCount: 1, lunBytes: size, segmentBytes: size });
  const table = createTable({ segmentBlocks: size / config.blockSize, entries: [{ location: { lun: 1, start: 0 } }] });
  if (E.isLeft(table)) throw new Error(table.left.map((e) => e.message).join('; '));
  const store = await openJournalStore(data);
  await store.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table.right) });
  await store.close();
};

const main = async (): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-nbd-bench-'));
  const results = new Map<string, Map<string, { mibs: number; iops: number }>>();
  const measure = (label: string, uri: string): void => {
    const row = new Map<string, { mibs: number; iops: number }>();
    for (const job of JOBS) {
      process.stderr.write(`${label}: ${job.name}\n`);
      row.set(job.name, fio(uri, job));
    }
    results.set(label, row);
  };
  const measureNbdkit = async (file: string): Promise<void> => {
    const nbdkitSock = join(dir, 'nbdkit.sock');
    const nbdkit = spawn('nbdkit', ['--foreground', '--unix', nbdkitSock, 'file', file], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('nbdinfo', ['--size', `nbd+unix:///?socket=${nbdkitSock}`], { stdio: 'ignore' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    measure('nbdkit file', `nbd+unix:///?socket=${nbdkitSock}`);
    await stop(nbdkit);
  };
  try {
    const file = join(dir, 'plain.img');
    writeFileSync(file, Buffer.alloc(0));
    execFileSync('truncate', ['-s', String(size), file]);
    execFileSync('fio', ['--name=fill', `--filename=${file}`, '--rw=write', '--bs=1M', `--size=${size}`, '--output=/dev/null']);
    // (a) nbdkit file
    if (spawnSync('sh', ['-c', 'command -v nbdkit']).status !== 0) process.stderr.write('nbdkit is not installed: column (a) is left out\n');
    else await measureNbdkit(file);

    // (b) pass-through table
    const ptData = join(dir, 'pass-through');
    await passThrough(ptData);
    const pt = await startVdisk(ptData, join(dir, 'pt.sock'), []);
    measure('pass-through', `nbd+unix:///vol?socket=${join(dir, 'pt.sock')}`);
    await stop(pt);

    // (c) vdisk-map disk, written once first
    const vmData = join(dir, 'vdisk');
    const vm = await startVdisk(vmData, join(dir, 'vm.sock'), ['--create', `vol:${sizeMiB}MiB`, '--luns', '1', '--lun-size', `${sizeMiB * 2}MiB`]);
    const vmUri = `nbd+unix:///vol?socket=${join(dir, 'vm.sock')}`;
    execFileSync('nbdcopy', [file, vmUri]);
    await new Promise((r) => setTimeout(r, 3000)); // background fills and promotions settle
    measure('vdisk-map', vmUri);
    await stop(vm);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const a = results.get('nbdkit file');
  const b = results.get('pass-through')!;
  const c = results.get('vdisk-map')!;
  const lines = [
    `fio, ${sizeMiB} MiB disk, iodepth 16, 4 connections, ${runtime} s per job (MiB/s; ratios of throughput)`,
    '',
    '| job | nbdkit file (a) | pass-through (b) | vdisk-map (c) | c/b (target >= 0.8) | c/a (target) |',
    '|---|---|---|---|---|---|',
    ...JOBS.map((j) => {
      const [x, y, z] = [a?.get(j.name), b.get(j.name)!, c.get(j.name)!];
      const target = j.bs === '4k' ? 0.3 : 0.6;
      const vsNbdkit = x === undefined ? 'n/a' : `${(z.mibs / x.mibs).toFixed(2)} (>= ${target})`;
      return `| ${j.name} | ${x?.mibs.toFixed(1) ?? 'n/a'} | ${y.mibs.toFixed(1)} | ${z.mibs.toFixed(1)} | ${(z.mibs / y.mibs).toFixed(2)} | ${vsNbdkit} |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
};

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
