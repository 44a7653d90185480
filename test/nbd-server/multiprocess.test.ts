/**
 * Multi-process mode: a controller process and two agent processes sharing the LUN files. A
 * write through one agent is read through the other; a killed controller makes I/O wait until it
 * is back; a killed agent loses nothing that was flushed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctl, makeTempDir, removeDir, run, runOk, startNode, toolsAvailable, type TestServer } from './harness.js';

const available = toolsAvailable();
const MiB = 1 << 20;

describe.skipIf(!available)('NBD server in several processes', () => {
  let dir: string;
  const started: TestServer[] = [];
  let controller: TestServer;
  let a: TestServer;
  let b: TestServer;

  const agentsSocket = (): string => join(dir, 'agents.sock');
  const startController = async (create: string[] = []): Promise<TestServer> => {
    const s = await startNode(dir, '', ['--role', 'controller', '--listen-agents', agentsSocket(), ...create]);
    started.push(s);
    return s;
  };
  const startAgent = async (id: string): Promise<TestServer> => {
    const socket = join(dir, `${id}.sock`);
    const s = await startNode(dir, socket, ['--role', 'agent', '--agent', id, '--controller', agentsSocket(), '--socket', socket]);
    started.push(s);
    return s;
  };
  const qemuIo = async (server: TestServer, commands: ReadonlyArray<string>, timeoutMs = 60_000): Promise<void> => {
    const out = await runOk('qemu-io', ['-f', 'raw', server.uri('vol'), ...commands.flatMap((c) => ['-c', c])], timeoutMs);
    expect(out).not.toMatch(/Pattern verification failed|error/i);
  };

  beforeAll(async () => {
    dir = await makeTempDir();
    controller = await startController(['--create', 'vol:64MiB']);
    [a, b] = await Promise.all([startAgent('a'), startAgent('b')]);
  }, 90_000);

  afterAll(async () => {
    for (const s of started) await s.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('two agent processes export the same disk: a write through one is read through the other', async () => {
    await qemuIo(a, ['write -P 0x31 0 1M', 'write -P 0x32 5M 12k', 'flush']);
    await qemuIo(b, ['read -P 0x31 0 1M', 'read -P 0x32 5M 12k', 'write -P 0x33 512k 64k', 'flush']);
    await qemuIo(a, ['read -P 0x33 512k 64k', 'read -P 0x31 0 512k']);
  });

  it('a killed controller: I/O that needs it waits, then completes once it is back', async () => {
    await controller.kill();
    const pending = run('qemu-io', ['-f', 'raw', a.uri('vol'), '-c', 'write -P 0x41 20M 64k', '-c', 'flush'], 60_000);
    let finished = false;
    void pending.then(() => (finished = true));
    // fio through the other agent, with verification, over holes: held too, then completes.
    const fio = run(
      'fio',
      ['--name=held', '--ioengine=nbd', `--uri=${b.uri('vol')}`, '--rw=randwrite', '--bs=4k', '--offset=40M', '--size=4M', '--iodepth=8', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0'],
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(finished).toBe(false); // a write to a hole needs the controller: it is held
    controller = await startController();
    const f = await fio;
    expect(f.code, f.stdout + f.stderr).toBe(0);
    expect(f.stdout).not.toMatch(/verify failed|err=\s*[1-9]/);
    const r = await pending;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/error/i);
    await qemuIo(b, ['read -P 0x41 20M 64k', 'read -P 0x31 0 512k']);
  }, 90_000);

  it('a killed agent: what it flushed reads back through both agents after its restart, and check is clean', async () => {
    const fio = spawn(
      'fio',
      ['--name=load', '--ioengine=nbd', `--uri=${a.uri('vol')}`, '--rw=randwrite', '--bs=4k', '--offset=32M', '--size=16M', '--iodepth=8', '--fsync=8', '--time_based', '--runtime=15'],
      { stdio: 'ignore' },
    );
    const fioExited = new Promise<void>((r) => fio.once('exit', () => r()));
    const flushed: number[] = [];
    const killAt = Date.now() + 2000;
    for (let i = 0; i < 100 && Date.now() < killAt; i++) {
      const w = await run('qemu-io', ['-f', 'raw', a.uri('vol'), '-c', `write -P ${(i % 250) + 1} ${48 * MiB + i * 65536} 65536`, '-c', 'flush'], 10_000);
      if (w.code === 0 && !/error/i.test(w.stdout + w.stderr)) flushed.push(i);
    }
    await a.kill();
    await Promise.race([fioExited, new Promise((r) => setTimeout(r, 15_000))]);
    if (fio.exitCode === null && fio.signalCode === null) fio.kill('SIGKILL');
    expect(flushed.length).toBeGreaterThan(0);

    // While a is down, a write through b that changes the table waits for a (the library has no
    // leases yet: every attached agent must acknowledge); a's restart, a newer epoch, releases it.
    const held = run('qemu-io', ['-f', 'raw', b.uri('vol'), '-c', 'write -P 0x61 24M 64k', '-c', 'flush'], 60_000);
    a = await startAgent('a');
    const heldResult = await held;
    expect(heldResult.code, heldResult.stdout + heldResult.stderr).toBe(0);
    await qemuIo(a, ['read -P 0x61 24M 64k']);
    const reads = flushed.flatMap((i) => [`read -P ${(i % 250) + 1} ${48 * MiB + i * 65536} 65536`]);
    await qemuIo(a, reads);
    await qemuIo(b, reads);
    // The restarted agent takes writes again, and the other agent sees them.
    await qemuIo(a, ['write -P 0x51 60M 1M', 'flush']);
    await qemuIo(b, ['read -P 0x51 60M 1M']);
    const check = await ctl(controller.data, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }, 120_000);
});
