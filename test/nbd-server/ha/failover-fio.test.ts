/**
 * Failover of the NBD server's controller group under load: three `serve --role controller
 * --store etcd://...` processes (one leads, two stand by) on a throwaway 3-member etcd cluster,
 * two agent processes given the three controller addresses, and fio with `verify=crc32c`
 * through both agents while the active controller is killed with SIGKILL, three times. Every
 * verify passes, a standby leads each time with a higher controller epoch, `ctl status` shows
 * it, and `ctl check` on the etcd store is clean.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdRequired, findEtcd, startEtcdCluster, type EtcdCluster } from '../../../examples/nbd-server/ha/local-cluster.js';
import { ctl, makeTempDir, removeDir, run, startNode, toolsAvailable, type TestServer } from '../harness.js';

const etcd = findEtcd();
const tools = toolsAvailable();
if (etcd === null && !etcdRequired()) console.warn('etcd is not installed: the NBD failover test is skipped (apt-get install etcd-server)');

const CLI = join(process.cwd(), 'examples/nbd-server/cli.ts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One controller process of the group: `leading` resolves when it prints its ready line. */
interface ControllerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly leading: Promise<void>;
  isLeading(): boolean;
  log(): string;
}

describe.skipIf(etcd === null || !tools)('NBD server: controller failover under fio with verify', () => {
  let cluster: EtcdCluster;
  let dir: string;
  let store: string;
  const controllers: ControllerProcess[] = [];
  const agents: TestServer[] = [];

  const startController = (name: string, standbyTimeout = 30_000): Promise<ControllerProcess> => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'serve', '--data', join(dir, 'data'), '--log-level', 'warn', '--role', 'controller', '--store', store, '--lease-ttl', '2', '--listen-agents', join(dir, `${name}.sock`), '--create', 'vol:128MiB'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let leading = false;
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((r) => (onReady = r));
    const p: ControllerProcess = { name, child, leading: ready, isLeading: () => leading, log: () => stderr };
    controllers.push(p);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`controller ${name} did not start within ${standbyTimeout} ms\n${stderr}`)), standbyTimeout);
      child.stdout!.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes('standby ')) {
          clearTimeout(timer);
          resolve(p);
        }
        if (stdout.includes('ready ') && !leading) {
          leading = true;
          onReady();
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`controller ${name} exited (${code ?? sig})\n${stderr}`));
      });
    });
  };

  const kill9 = async (p: ControllerProcess): Promise<void> => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
    p.child.kill('SIGKILL');
    await exited;
  };

  const leader = (): ControllerProcess | undefined => controllers.find((c) => c.isLeading() && c.child.exitCode === null && c.child.signalCode === null);

  const fio = (agent: TestServer, offsetMiB: number) =>
    run(
      'fio',
      [
        `--name=ha-${agent.socket}`,
        '--ioengine=nbd',
        `--uri=${agent.uri('vol')}`,
        '--rw=randwrite',
        '--bs=4k',
        `--offset=${offsetMiB}M`,
        '--size=8M',
        '--iodepth=8',
        '--verify=crc32c',
        '--do_verify=1',
        '--verify_fatal=1',
        '--verify_state_save=0',
      ],
      120_000,
    );

  beforeAll(async () => {
    cluster = await startEtcdCluster(etcd!);
    store = `etcd://${cluster.endpoints.join(',')}`;
    dir = await makeTempDir();
    const first = await startController('c1');
    await first.leading; // the data directory and the disk exist once the first leader ran
    await Promise.all([startController('c2'), startController('c3')]);
    const addresses = ['c1', 'c2', 'c3'].map((n) => join(dir, `${n}.sock`)).join(',');
    for (const id of ['a', 'b']) {
      const socket = join(dir, `${id}.sock`);
      agents.push(await startNode(dir, socket, ['--role', 'agent', '--agent', id, '--controller', addresses, '--socket', socket]));
    }
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    for (const c of controllers) await kill9(c);
    await cluster?.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('three SIGKILLs of the active controller during fio through two agents: every verify passes, check is clean', async () => {
    const epochs: number[] = [];
    for (let round = 0; round < 3; round++) {
      const old = leader();
      expect(old, controllers.map((c) => `${c.name}: ${c.log()}`).join('\n')).toBeDefined();
      // Fresh holes each round, so the writes need the controller while it is down.
      const jobs = [fio(agents[0]!, round * 16), fio(agents[1]!, round * 16 + 8)];
      await sleep(300);
      const killedAt = Date.now();
      await kill9(old!);
      const standbys = controllers.filter((c) => c !== old && c.child.exitCode === null && c.child.signalCode === null);
      await Promise.race([Promise.any(standbys.map((c) => c.leading)), sleep(20_000).then(() => Promise.reject(new Error('no standby led within 20 s')))]);
      const tookOver = Date.now() - killedAt;
      // The killed one comes back (same address) as a standby, so two remain for the next round.
      await startController(old!.name);
      for (const j of await Promise.all(jobs)) {
        expect(j.code, j.stdout + j.stderr).toBe(0);
        expect(j.stdout + j.stderr).not.toMatch(/verify failed|bad magic|crc32c: verify|err=\s*[1-9]/);
      }
      const status = await run(process.execPath, ['--import', 'tsx', CLI, 'ctl', '--store', store, 'status'], 30_000, process.cwd());
      expect(status.code, status.stderr).toBe(0);
      const epoch = Number(/controller epoch: (\d+)/.exec(status.stdout)?.[1]);
      epochs.push(epoch);
      expect(status.stdout).toContain(`controller leader: ${join(dir, `${leader()!.name}.sock`)} (key `);
      for (const m of ['m1', 'm2', 'm3']) expect(status.stdout).toMatch(new RegExp(`etcd members: .*\\b${m} http://\\S+ up`));
      console.log(`round ${round}: a standby led ${tookOver} ms after SIGKILL; controller epoch ${epoch}`);
    }
    expect(epochs[1]!).toBeGreaterThan(epochs[0]!);
    expect(epochs[2]!).toBeGreaterThan(epochs[1]!);
    const check = await ctl(join(dir, 'data'), ['--store', store, 'check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^clean/m);
  }, 400_000);
});
