/**
 * A client that negotiates the old way (NBD_OPT_EXPORT_NAME: no block sizes, simple replies) and
 * sends unaligned requests, several at once: the server must read-modify-write the edge blocks
 * without losing any of them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';
import { openRawClient, serverForSuite, toolsAvailable } from './harness.js';

const available = toolsAvailable();
const DISK = 16 << 20;

describe.skipIf(!available)('NBD server with an old-style client', () => {
  const suite = serverForSuite(['--create', 'vol:16MiB']);

  it('serves unaligned writes sent together, byte for byte as a model of the disk says', async () => {
    const client = await openRawClient(suite.server.socket, 'vol');
    expect(client.size).toBe(DISK);
    const model = Buffer.alloc(64 * 1024);
    // Batches of unaligned writes in flight at once, all inside the first 64 KiB (so they share blocks).
    const batches = fc.sample(fc.array(fc.record({ offset: fc.integer({ min: 0, max: 60_000 }), length: fc.integer({ min: 1, max: 5000 }), fill: fc.integer({ min: 1, max: 255 })}), { minLength: 2, maxLength: 8 }), { numRuns: 15, seed: 3 });
    for (const batch of batches) {
      // Overlapping writes in flight together have no defined order: keep each batch disjoint.
      const disjoint = batch.filter((w, i) => batch.slice(0, i).every((v) => w.offset + w.length <= v.offset || v.offset + v.length <= w.offset));
      const replies = await Promise.all(disjoint.map((w) => client.request(P.CMD_WRITE, w.offset, w.length, Buffer.alloc(w.length, w.fill))));
      expect(replies.map((r) => r.error)).toEqual(disjoint.map(() => 0));
      for (const w of disjoint) model.fill(w.fill, w.offset, w.offset + w.length);
    }
    expect((await client.request(P.CMD_FLUSH, 0, 0)).error).toBe(0);
    const read = await client.request(P.CMD_READ, 0, model.length);
    expect(read.error).toBe(0);
    expect(Buffer.compare(read.data, model)).toBe(0);
    // Unaligned reads at the very end, and simple-reply errors for what is out of range.
    expect((await client.request(P.CMD_READ, DISK - 100, 100)).data).toEqual(Buffer.alloc(100));
    expect((await client.request(P.CMD_READ, DISK - 100, 101)).error).toBe(P.EINVAL);
    expect((await client.request(P.CMD_WRITE, DISK - 10, 20, Buffer.alloc(20, 1))).error).toBe(P.ENOSPC);
    expect((await client.request(P.CMD_BLOCK_STATUS, 0, 4096)).error).toBe(P.EINVAL);
    client.close();
  }, 60_000);
});
