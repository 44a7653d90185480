/**
 * Hostile input: random bytes, truncated messages and malformed requests, on many connections,
 * while a well-behaved client keeps working. The server must neither crash nor disturb it.
 */
import fc from 'fast-check';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';
import { run, runOk, serverForSuite, toolsAvailable } from './harness.js';

const available = toolsAvailable();

/** Connects, sends `bytes` (in pieces), waits up to `waitMs` for the server to answer or close, then closes. */
const poke = (path: string, pieces: ReadonlyArray<Uint8Array>, waitMs = 300): Promise<{ received: number; closedByServer: boolean }> =>
  new Promise((resolve) => {
    const s: Socket = connect(path);
    let received = 0;
    let closedByServer = false;
    s.on('data', (c: Buffer) => (received += c.length));
    s.on('end', () => (closedByServer = true));
    s.on('error', () => undefined);
    s.once('connect', () => {
      for (const p of pieces) s.write(p);
      setTimeout(() => {
        s.destroy();
        resolve({ received, closedByServer });
      }, waitMs);
    });
  });

const clientFlags = (flags: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags, 0);
  return b;
};

/** A well-formed handshake up to the transmission phase on `name`, with structured replies. */
const handshake = (name: string): Buffer[] => [
  clientFlags(P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES),
  P.encodeOption(P.OPT_STRUCTURED_REPLY),
  P.encodeOption(P.OPT_GO, P.encodeGoData(name, [P.INFO_BLOCK_SIZE])),
];

describe.skipIf(!available)('NBD server under hostile input', () => {
  const suite = serverForSuite(['--create', 'vol:16MiB']);

  it('random bytes, truncated messages and bad requests close only their own connection', async () => {
    await runOk('qemu-io', ['-f', 'raw', suite.server.uri('vol'), '-c', 'write -P 0x42 0 1M', '-c', 'flush']);
    // A good client runs throughout.
    let goodRounds = 0;
    let stop = false;
    const good = (async () => {
      for (let i = 0; i < 200 && !stop; i++) {
        await runOk('qemu-io', ['-f', 'raw', suite.server.uri('vol'), '-c', 'read -P 0x42 0 1M', '-c', `write -P ${(i % 200) + 1} 2M 64k`, '-c', `read -P ${(i % 200) + 1} 2M 64k`], 20_000);
        goodRounds++;
      }
    })();

    const socket = suite.server.socket;
    const cases: Array<() => Promise<unknown>> = [
      // Truncated at every point of a good handshake, then hung up.
      ...Buffer.concat(handshake('vol'))
        .subarray(0, 40)
        .reduce<Array<() => Promise<unknown>>>((acc, _b, i, all) => (i % 5 === 0 ? [...acc, () => poke(socket, [all.subarray(0, i)], 50)] : acc), []),
      // Unknown client flags; bad option magic; absurd option length; unknown options; bad GO data.
      () => poke(socket, [clientFlags(0xffff)]),
      () => poke(socket, [clientFlags(1), Buffer.alloc(16, 0xee)]),
      () => poke(socket, [clientFlags(1), P.encodeOption(P.OPT_GO).subarray(0, 12), Buffer.from([0xff, 0xff, 0xff, 0xff])]),
      () => poke(socket, [clientFlags(1), P.encodeOption(999, Buffer.from('x')), P.encodeOption(P.OPT_GO, Buffer.from([0, 0, 0, 200, 1]))]),
      () => poke(socket, [clientFlags(1), P.encodeOption(P.OPT_SET_META_CONTEXT, Buffer.alloc(12, 0xff))]),
      () => poke(socket, [clientFlags(1), P.encodeOption(P.OPT_EXPORT_NAME, Buffer.from('no-such-disk'))]),
      // Transmission: bad magic, unknown command, out of range, oversized, truncated write payload.
      () => poke(socket, [...handshake('vol'), Buffer.alloc(28, 0x13)]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: 77, cookie: 1n, offset: 0, length: 4096 })]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: P.CMD_READ, cookie: 2n, offset: 2 ** 40, length: 4096 })]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: P.CMD_READ, cookie: 3n, offset: 0, length: 0xffffffff })]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: P.CMD_WRITE, cookie: 4n, offset: 0, length: 0xffffffff })]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: P.CMD_WRITE, cookie: 5n, offset: 8 << 20, length: 65536 }), Buffer.alloc(1000, 1)]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: P.CMD_BLOCK_STATUS, cookie: 6n, offset: 0, length: 4096 })]),
      () => poke(socket, [...handshake('vol'), P.encodeRequest({ flags: 0, type: P.CMD_READ, cookie: 7n, offset: 0, length: 4096 }).subarray(0, 20)]),
    ];
    // Random bytes after the greeting, and random requests after a good handshake.
    const random = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 600 }), { numRuns: 30, seed: 42 });
    for (const bytes of random) cases.push(() => poke(socket, [bytes], 50));
    for (const bytes of random.slice(0, 15)) cases.push(() => poke(socket, [...handshake('vol'), bytes], 50));
    // From 4 MiB on: a random TRIM or WRITE_ZEROES really zeroes, and must not touch what the good client reads.
    const requests = fc.sample(
      fc.record({ flags: fc.integer({ min: 0, max: 0xffff }), type: fc.integer({ min: 0, max: 12 }), offset: fc.integer({ min: 4 << 20, max: 2 ** 26 }), length: fc.integer({ min: 0, max: 2 ** 22 }) }),
      { numRuns: 20, seed: 7 },
    );
    for (const r of requests) {
      // Writes would need their payload: those are sent with a short one and then cut off.
      cases.push(() => poke(socket, [...handshake('vol'), P.encodeRequest({ ...r, cookie: 9n }), Buffer.alloc(Math.min(r.length, 512), 0xab)], 100));
    }

    const results = [];
    for (const c of cases) results.push(await c());
    expect(results.length).toBe(cases.length);

    stop = true;
    await good;
    expect(goodRounds).toBeGreaterThan(0);
    expect(suite.server.process.exitCode).toBeNull();
    expect(suite.server.process.signalCode).toBeNull();
    // Every bad connection ended as a protocol violation, none as an internal failure.
    expect(suite.server.log()).not.toMatch(/connection failed/);
    // And afterwards, everything still reads back.
    const out = await runOk('qemu-io', ['-f', 'raw', suite.server.uri('vol'), '-c', 'read -P 0x42 0 1M']);
    expect(out).not.toMatch(/verification failed/i);
    const info = await run('nbdinfo', ['--size', suite.server.uri('vol')]);
    expect(info.stdout.trim()).toBe(String(16 << 20));
  }, 120_000);

  it('answers bad requests on a live connection with errors and keeps it open', async () => {
    const replies = await new Promise<Buffer>((resolve) => {
      const s = connect(suite.server.socket);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', () => undefined);
      s.once('connect', () => {
        for (const p of handshake('vol')) s.write(p);
        s.write(P.encodeRequest({ flags: 0, type: 77, cookie: 0x1111n, offset: 0, length: 0 }));
        s.write(P.encodeRequest({ flags: 0, type: P.CMD_READ, cookie: 0x2222n, offset: 16 << 20, length: 4096 }));
        s.write(P.encodeRequest({ flags: 0, type: P.CMD_READ, cookie: 0x3333n, offset: 0, length: 4096 }));
        setTimeout(() => {
          s.destroy();
          resolve(Buffer.concat(chunks));
        }, 1000);
      });
    });
    // After the handshake come three structured replies: two errors, then 4096 bytes of data.
    const text = replies.toString('latin1');
    const at = (cookie: number): number => replies.indexOf(Buffer.from([0, 0, 0, 0, 0, 0, (cookie >> 8) & 0xff, cookie & 0xff]));
    expect(at(0x1111)).toBeGreaterThan(0);
    expect(at(0x2222)).toBeGreaterThan(0);
    expect(at(0x3333)).toBeGreaterThan(0);
    expect(replies.readUInt16BE(at(0x1111) - 2)).toBe(P.REPLY_TYPE_ERROR);
    expect(replies.readUInt32BE(at(0x1111) + 12)).toBe(P.EINVAL);
    expect(replies.readUInt16BE(at(0x2222) - 2)).toBe(P.REPLY_TYPE_ERROR);
    expect(replies.readUInt32BE(at(0x2222) + 12)).toBe(P.EINVAL);
    expect(replies.readUInt16BE(at(0x3333) - 2)).toBe(P.REPLY_TYPE_OFFSET_DATA);
    expect(text.length).toBeGreaterThan(4096);
  });
});
