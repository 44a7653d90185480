/**
 * Agent–controller links over TLS with pre-shared keys, in separate processes: configured agents
 * serve their disks; a plain connection, a wrong key and an unknown agent are refused; a
 * connection that says hello as another agent, or sends a message in another agent's name, is
 * dropped; messages about disks an agent is not configured for are refused. `ctl` needs its key.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callControl, controlPath } from '../../examples/nbd-server/control.js';
import { signControlRequest } from '../../examples/nbd-server/ctl-auth.js';
import { agentLinkOptions } from '../../examples/nbd-server/link-auth.js';
import { encodeFrame } from '../../examples/nbd-server/net-transport.js';
import { ctl, makeTempDir, removeDir, run, startNode, type TestServer } from './harness.js';
import { eventually, securityToolsAvailable, writePskFile } from './security-helpers.js';

const available = securityToolsAvailable();

describe.skipIf(!available)('agent–controller links and ctl with credentials', () => {
  let dir: string;
  const started: TestServer[] = [];
  let controller: TestServer;
  let a: TestServer;
  let b: TestServer;
  let linkKeys: Map<string, Buffer>;
  let ctlKeys: Map<string, Buffer>;
  const agentsSocket = (): string => join(dir, 'agents.sock');
  const linkPsk = (): string => join(dir, 'link.psk');

  const startAgent = async (id: string): Promise<TestServer> => {
    const socket = join(dir, `${id}.sock`);
    const s = await startNode(dir, socket, ['--role', 'agent', '--agent', id, '--controller', agentsSocket(), '--socket', socket, '--link-psk', linkPsk()]);
    started.push(s);
    return s;
  };
  const qemuIo = (server: TestServer, name: string, commands: ReadonlyArray<string>, timeoutMs = 30_000) =>
    run('qemu-io', ['-f', 'raw', server.uri(name), ...commands.flatMap((c) => ['-c', c])], timeoutMs);

  /** A TLS link authenticated as `identity` with `key`; resolves once the handshake is done. */
  const link = (identity: string, key: Buffer): Promise<tls.TLSSocket> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ path: agentsSocket(), ...agentLinkOptions({ psk: new Map([[identity, key]]) }, identity) });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  const closedWithin = (s: { once(e: 'close', f: () => void): unknown }, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      s.once('close', () => (clearTimeout(t), resolve(true)));
    });

  beforeAll(async () => {
    dir = await makeTempDir();
    linkKeys = await writePskFile(linkPsk(), ['a', 'b', 'c']);
    ctlKeys = await writePskFile(join(dir, 'ctl.psk'), ['admin']);
    await writePskFile(join(dir, 'wrong-ctl.psk'), ['admin']);
    await writeFile(join(dir, 'agents.json'), JSON.stringify({ a: ['*'], b: ['other', 'other@*'] }));
    controller = await startNode(dir, '', [
      ...['--role', 'controller', '--listen-agents', agentsSocket(), '--create', 'vol:32MiB', '--create', 'other:16MiB', '--log-level', 'info'],
      ...['--link-psk', linkPsk(), '--link-agents', join(dir, 'agents.json'), '--ctl-psk', join(dir, 'ctl.psk')],
    ]);
    started.push(controller);
    [a, b] = await Promise.all([startAgent('a'), startAgent('b')]);
  }, 90_000);

  afterAll(async () => {
    for (const s of started) await s.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('configured agents serve their disks over authenticated links; an agent is not served a disk it is not configured for', async () => {
    const w = await qemuIo(a, 'vol', ['write -P 0x21 0 1M', 'flush', 'read -P 0x21 0 1M']);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stdout).not.toMatch(/verification failed|error/i);
    const o = await qemuIo(b, 'other', ['write -P 0x22 0 64k', 'flush', 'read -P 0x22 0 64k']);
    expect(o.code, o.stdout + o.stderr).toBe(0);
    expect(o.stdout).not.toMatch(/verification failed|error/i);
    const ao = await qemuIo(a, 'other', ['read -P 0x22 0 64k']);
    expect(ao.stdout).not.toMatch(/verification failed|error/i);
    // b's faults on vol are refused by the controller: the I/O does not complete.
    const bv = await qemuIo(b, 'vol', ['read -P 0x21 0 64k'], 4000);
    expect(bv.code === 0 && !/error|failed/i.test(bv.stdout + bv.stderr)).toBe(false);
    expect(await eventually(() => /agent \\"b\\" is not configured for disk \\"vol\\"/.test(controller.log()), 5000)).toBe(true);
  }, 60_000);

  it('a plain connection, a wrong key and an agent without a key are refused', async () => {
    const plain = connect(agentsSocket());
    plain.on('error', () => undefined);
    plain.once('connect', () => plain.write(encodeFrame({ hello: 'a' })));
    expect(await closedWithin(plain, 5000)).toBe(true);
    await expect(link('a', Buffer.alloc(32, 7))).rejects.toThrow();
    await expect(link('mallory', Buffer.alloc(32, 7))).rejects.toThrow();
    expect(await eventually(() => (controller.log().match(/refusing an agent connection/g) ?? []).length >= 3)).toBe(true);
    // c holds a key but is not in the agents file.
    const c = await link('c', linkKeys.get('c')!);
    c.write(encodeFrame({ hello: 'c' }));
    expect(await closedWithin(c, 5000)).toBe(true);
    expect(await eventually(() => /agent \\"c\\" is not configured/.test(controller.log()))).toBe(true);
  });

  it('a connection that says hello as another agent, or speaks in its name, is dropped', async () => {
    const liar = await link('b', linkKeys.get('b')!);
    liar.write(encodeFrame({ hello: 'a' }));
    expect(await closedWithin(liar, 5000)).toBe(true);
    expect(await eventually(() => /authenticated as \\"b\\" but says hello as \\"a\\"/.test(controller.log()))).toBe(true);

    const spoof = await link('b', linkKeys.get('b')!);
    spoof.on('error', () => undefined);
    spoof.write(encodeFrame({ hello: 'b' }));
    spoof.write(encodeFrame({ message: { type: 'fetchTable', agent: 'b', epoch: 99, disk: 'vol', generation: -1 } }));
    await eventually(() => /agent \\"b\\" is not configured for disk \\"vol\\"/.test(controller.log()));
    expect(spoof.destroyed).toBe(false); // a refused message alone keeps the connection
    spoof.write(encodeFrame({ message: { type: 'tableAck', agent: 'a', epoch: 1, disk: 'vol', generation: 1 } }));
    expect(await closedWithin(spoof, 5000)).toBe(true);
    expect(await eventually(() => /a message from \\"b\\" claims to come from \\"a\\"/.test(controller.log()))).toBe(true);

    // The real agents carry on (b reconnects after being replaced).
    const w = await qemuIo(a, 'vol', ['write -P 0x23 2M 64k', 'flush', 'read -P 0x23 2M 64k']);
    expect(w.stdout + w.stderr).not.toMatch(/verification failed|error/i);
    await new Promise((r) => setTimeout(r, 500));
    const o = await qemuIo(b, 'other', ['read -P 0x22 0 64k']);
    expect(o.code, o.stdout + o.stderr).toBe(0);
    expect(o.stdout).not.toMatch(/verification failed|error/i);
  }, 60_000);

  it('ctl needs its key: none, a wrong one and a replayed request are refused', async () => {
    const none = await ctl(controller.data, ['list']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/requires a ctl key/);
    const wrong = await ctl(controller.data, ['--ctl-key', join(dir, 'wrong-ctl.psk'), 'list']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/ctl key refused/);
    const ok = await ctl(controller.data, ['--ctl-key', join(dir, 'ctl.psk'), 'list']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { name: string }[]).map((e) => e.name)).toEqual(['vol', 'other']);
    const signed = signControlRequest({ command: 'list', args: [] }, 'admin', ctlKeys.get('admin')!);
    expect((await callControl(controlPath(controller.data), signed)).ok).toBe(true);
    expect(await callControl(controlPath(controller.data), signed)).toEqual({ ok: false, error: 'ctl request replayed' });
    const stale = signControlRequest({ command: 'list', args: [] }, 'admin', ctlKeys.get('admin')!, Date.now() - 10 * 60_000);
    expect((await callControl(controlPath(controller.data), stale)).ok).toBe(false);
  });
});
