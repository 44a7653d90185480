/**
 * A throwaway local etcd cluster, for the HA tests and measurements: members on free 127.0.0.1
 * ports, data in a temporary directory, stopped (only the processes started here) and removed
 * by `stop()`. Every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcd } from './etcd-client.js';

/** The etcd binary: $ETCD_BIN when set (null if it does not exist), else the one on PATH, else null. */
export const findEtcd = (): string | null => {
  const fromEnv = process.env.ETCD_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : null;
  const r = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : null;
};

/** True when the tests must run (CI): a missing etcd is then a failure, not a skip. */
export const etcdRequired = (): boolean => process.env.VDISK_REQUIRE_ETCD === '1';

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  process: ChildProcess | null;
}

export interface EtcdCluster {
  /** HOST:PORT of every member's client URL. */
  readonly endpoints: ReadonlyArray<string>;
  readonly dir: string;
  /** Kills member `i` (SIGKILL) and waits for it to exit. */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its data and waits until it answers. */
  restart(i: number): Promise<void>;
  /** Kills every member started here and removes the data. */
  stop(): Promise<void>;
  /** The last lines each member logged, for failure messages. */
  logs(): string;
}

/**
 * Starts a `size`-member cluster and waits (at most `readyTimeout` ms) until every member
 * answers. Heartbeat and election timeouts are short, so a lost member is noticed quickly.
 */
export const startEtcdCluster = async (etcd: string, size = 3, readyTimeout = 20_000): Promise<EtcdCluster> => {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-etcd-'));
  const token = `vdisk-${process.pid}-${Date.now()}`;
  const members: Member[] = [];
  const used = new Set<number>();
  for (let i = 0; i < size; i++) {
    let clientPort = await freePort();
    while (used.has(clientPort)) clientPort = await freePort();
    used.add(clientPort);
    let peerPort = await freePort();
    while (used.has(peerPort)) peerPort = await freePort();
    used.add(peerPort);
    members.push({ name: `m${i + 1}`, clientPort, peerPort, process: null });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');

  const launch = (m: Member): void => {
    const log = openSync(join(dir, `${m.name}.log`), 'a');
    m.process = spawn(
      etcd,
      [
        `--name=${m.name}`,
        `--data-dir=${join(dir, m.name)}`,
        `--listen-client-urls=http://127.0.0.1:${m.clientPort}`,
        `--advertise-client-urls=http://127.0.0.1:${m.clientPort}`,
        `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.peerPort}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${token}`,
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=warn',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    m.process.on('error', () => undefined);
  };

  const answers = async (m: Member): Promise<boolean> => {
    const client = connectEtcd([`127.0.0.1:${m.clientPort}`], { callTimeout: 1000 });
    try {
      // A linearizable read needs a raft leader: the member is part of a working cluster.
      await client.kv.range({ key: Buffer.from('health') });
      return true;
    } catch {
      return false;
    } finally {
      client.close();
    }
  };

  const waitUntil = async (what: string, ok: () => Promise<boolean>, timeout: number): Promise<void> => {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (await ok()) return;
      await sleep(100);
    }
    throw new Error(`etcd cluster in ${dir}: ${what} within ${timeout} ms\n${logs()}`);
  };

  const exited = (m: Member): Promise<void> =>
    new Promise((resolve) => {
      const p = m.process;
      if (p === null || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
    });

  const killMember = async (m: Member): Promise<void> => {
    const p = m.process;
    if (p === null) return;
    if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) p.kill('SIGKILL');
    await Promise.race([exited(m), sleep(5000)]);
    m.process = null;
  };

  const logs = (): string =>
    members
      .map((m) => {
        try {
          return `--- ${m.name}\n${readFileSync(join(dir, `${m.name}.log`), 'utf8').split('\n').slice(-15).join('\n')}`;
        } catch {
          return `--- ${m.name}: no log`;
        }
      })
      .join('\n');

  const stop = async (): Promise<void> => {
    await Promise.all(members.map(killMember));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    members.forEach(launch);
    for (const m of members) await waitUntil(`member ${m.name} did not answer`, () => answers(m), readyTimeout);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    dir,
    async kill(i) {
      await killMember(members[i]!);
    },
    async restart(i) {
      const m = members[i]!;
      if (m.process !== null) return;
      launch(m);
      await waitUntil(`member ${m.name} did not answer after its restart`, () => answers(m), readyTimeout);
    },
    stop,
    logs,
  };
};
