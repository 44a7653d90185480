/**
 * The server on 127.0.0.1 instead of a Unix socket.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir, runOk, startNode, toolsAvailable, type TestServer } from './harness.js';

const available = toolsAvailable();

/** A port that was free a moment ago on 127.0.0.1. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

describe.skipIf(!available)('NBD server over TCP', () => {
  let dir: string | undefined;
  let server: TestServer | undefined;

  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  it('serves qemu-io and nbdinfo on 127.0.0.1', async () => {
    dir = await makeTempDir();
    const port = await freePort();
    server = await startNode(dir, join(dir, 'unused.sock'), ['--port', String(port), '--create', 'vol:8MiB']);
    const uri = `nbd://127.0.0.1:${port}/vol`;
    expect((await runOk('nbdinfo', ['--size', uri])).trim()).toBe(String(8 << 20));
    const out = await runOk('qemu-io', ['-f', 'raw', uri, '-c', 'write -P 0x7e 1M 128k', '-c', 'flush', '-c', 'read -P 0x7e 1M 128k', '-c', 'read -P 0 0 1M']);
    expect(out).not.toMatch(/verification failed|error/i);
  }, 60_000);
});
