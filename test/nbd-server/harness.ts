/**
 * Starts the NBD server in a child process on a Unix socket in a temporary directory, and runs
 * the real clients (qemu-io, qemu-img, nbdcopy, nbdinfo, fio) against it, each with a time limit.
 * Only the processes started here are ever signalled.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';

const CLI = fileURLToPath(new URL('../../examples/nbd-server/cli.ts', import.meta.url));
export const TOOLS = ['qemu-io', 'qemu-img', 'nbdcopy', 'nbdinfo', 'fio'] as const;

/** The client tools that are not installed. */
export const missingTools = (): string[] => TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);

/**
 * Whether the real-client tests can run. When tools are missing they are skipped with a message,
 * unless VDISK_REQUIRE_NBD_TOOLS=1 (set by .ci/run), which makes that an error.
 */
export const toolsAvailable = (): boolean => {
  const missing = missingTools();
  if (missing.length === 0) return true;
  const message = `NBD client tools missing: ${missing.join(', ')} (apt-get install -y qemu-utils libnbd-bin fio)`;
  if (process.env.VDISK_REQUIRE_NBD_TOOLS === '1') throw new Error(`${message}; VDISK_REQUIRE_NBD_TOOLS=1 requires them`);
  console.warn(`skipping the NBD client tests: ${message}`);
  return false;
};

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a tool to its end (killed after `timeoutMs`); never rejects. It runs in the temporary
 * directory unless told otherwise, so that files a tool leaves behind land there.
 */
export const run = (file: string, args: ReadonlyArray<string>, timeoutMs = 60_000, cwd = tmpdir()): Promise<RunResult> =>
  new Promise((done) => {
    execFile(file, [...args], { timeout: timeoutMs, maxBuffer: 64 << 20, killSignal: 'SIGKILL', cwd }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });

/** Runs a tool and fails with its output when it does not exit 0. */
export const runOk = async (file: string, args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<string> => {
  const r = await run(file, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

export interface TestServer {
  readonly dir: string;
  readonly data: string;
  readonly socket: string;
  readonly process: ChildProcess;
  /** The server's stderr so far (JSON log lines). */
  log(): string;
  uri(exportName?: string): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); resolves when it has exited. */
  kill(): Promise<void>;
}

export const makeTempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'vdisk-nbd-'));
export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

/** Starts `serve` on `<dir>/nbd.sock` with `<dir>/data`; resolves once it prints its ready line. */
export const startServer = (dir: string, extra: ReadonlyArray<string> = []): Promise<TestServer> => startNode(dir, join(dir, 'nbd.sock'), ['--socket', join(dir, 'nbd.sock'), ...extra]);

/**
 * One server for a whole `describe` block: started in a fresh temporary directory before its
 * tests with `serve` arguments `args`, stopped and its directory removed after them. Read
 * `.server` inside tests (it is set once `beforeAll` has run).
 */
export const serverForSuite = (args: ReadonlyArray<string>): { readonly server: TestServer } => {
  let dir: string | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    dir = await makeTempDir();
    server = await startServer(dir, args);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await removeDir(dir);
  });
  return {
    get server(): TestServer {
      if (server === undefined) throw new Error('serverForSuite: the server is read before beforeAll ran');
      return server;
    },
  };
};

/** qemu-io commands on one connection to `uri`; fails the test on any pattern mismatch or error. */
export const qemuIoChecked = async (uri: string, commands: ReadonlyArray<string>, readOnly = false): Promise<string> => {
  const out = await runOk('qemu-io', [...(readOnly ? ['-r'] : []), '-f', 'raw', uri, ...commands.flatMap((c) => ['-c', c])]);
  expect(out).not.toMatch(/Pattern verification failed|error|failed/i);
  return out;
};

/** `ctl` on a server's data directory; fails the test unless it exits 0, and gives its stdout. */
export const ctlOk = async (server: TestServer, args: ReadonlyArray<string>): Promise<string> => {
  const r = await ctl(server.data, args);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout;
};

/**
 * Starts `serve --data <dir>/data` with `args` (a role, its sockets); resolves once it prints its
 * ready line. `socket` is the NBD socket its `uri` points at.
 */
export const startNode = (dir: string, socket: string, args: ReadonlyArray<string>): Promise<TestServer> => {
  const data = join(dir, 'data');
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data', data, '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const server: TestServer = {
    dir,
    data,
    socket,
    process: child,
    log: () => stderr,
    uri: (name = '') => `nbd+unix:///${name}?socket=${socket}`,
    stop: () => signal('SIGTERM', 5000),
    kill: () => signal('SIGKILL', 0),
  };
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not start within 30 s\n${stderr}`));
    }, 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes('ready ')) {
        clearTimeout(timer);
        resolveReady(server);
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? sig}) before it was ready\n${stderr}`));
    });
  });
};

/** `npm run nbd -- ctl --data DIR ...` as a child process. */
export const ctl = (data: string, args: ReadonlyArray<string>): Promise<RunResult> => run(process.execPath, ['--import', 'tsx', CLI, 'ctl', '--data', data, ...args], 60_000, process.cwd());

/**
 * A minimal NBD client that negotiates with NBD_OPT_EXPORT_NAME (no block sizes, simple
 * replies), good enough for tests.
 */
export const openRawClient = (path: string, exportName: string): Promise<{ request: (type: number, offset: number, length: number, data?: Buffer) => Promise<{ error: number; data: Buffer }>; close: () => void; size: number }> =>
  new Promise((resolve, reject) => {
    const s: Socket = connect(path);
    let buffered = Buffer.alloc(0);
    let phase: 'greeting' | 'export' | 'transmission' = 'greeting';
    let size = 0;
    let nextCookie = 1n;
    const waiting = new Map<bigint, { length: number; resolve: (r: { error: number; data: Buffer }) => void }>();
    s.on('error', reject);
    s.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (phase === 'greeting') {
          if (buffered.length < P.GREETING_BYTES) return;
          buffered = buffered.subarray(P.GREETING_BYTES);
          phase = 'export';
          s.write(Buffer.from([0, 0, 0, P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES]));
          s.write(P.encodeOption(P.OPT_EXPORT_NAME, Buffer.from(exportName)));
        } else if (phase === 'export') {
          if (buffered.length < 10) return;
          size = Number(buffered.readBigUInt64BE(0));
          buffered = buffered.subarray(10);
          phase = 'transmission';
          resolve({ request, close: () => s.destroy(), size });
        } else {
          if (buffered.length < 16) return;
          const cookie = buffered.readBigUInt64BE(8);
          const error = buffered.readUInt32BE(4);
          const w = waiting.get(cookie);
          if (w === undefined) throw new Error(`reply to unknown cookie ${cookie}`);
          const length = error === 0 ? w.length : 0;
          if (buffered.length < 16 + length) return;
          waiting.delete(cookie);
          w.resolve({ error, data: Buffer.from(buffered.subarray(16, 16 + length)) });
          buffered = buffered.subarray(16 + length);
        }
      }
    });
    const request = (type: number, offset: number, length: number, data?: Buffer): Promise<{ error: number; data: Buffer }> =>
      new Promise((done) => {
        const cookie = nextCookie++;
        waiting.set(cookie, { length: type === P.CMD_READ ? length : 0, resolve: done });
        s.write(P.encodeRequest({ flags: 0, type, cookie, offset, length }));
        if (data !== undefined) s.write(data);
      });
  });

