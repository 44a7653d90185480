import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../../examples/nbd-server/protocol.js';

const name = fc.string({ maxLength: 64 });

describe('NBD protocol codec', () => {
  it('decodes every request header it encodes', () => {
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.integer({ min: 0, max: 0xffff }),
          type: fc.integer({ min: 0, max: 0xffff }),
          cookie: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          length: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        (r) => {
          const d = P.decodeRequest(P.encodeRequest(r));
          expect(E.isRight(d)).toBe(true);
          if (E.isLeft(d)) return;
          expect({ ...d.right, cookie: d.right.cookie.readBigUInt64BE(0) }).toEqual(r);
        },
      ),
    );
  });

  it('names the magic when a request header is wrong', () => {
    const b = P.encodeRequest({ flags: 0, type: 0, cookie: 0n, offset: 0, length: 0 });
    b.writeUInt32BE(0xdeadbeef, 0);
    expect(P.decodeRequest(b)).toEqual(E.left('request magic must be 0x25609513, got 0xdeadbeef'));
    expect(E.isLeft(P.decodeRequest(b.subarray(0, 27)))).toBe(true);
  });

  it('maps offsets beyond the safe integers to one value that is out of range', () => {
    const b = P.encodeRequest({ flags: 0, type: 0, cookie: 0n, offset: 0, length: 0 });
    b.writeBigUInt64BE(2n ** 64n - 1n, 16);
    const d = P.decodeRequest(b);
    expect(E.isRight(d) && d.right.offset).toBe(Number.MAX_SAFE_INTEGER + 1);
  });

  it('decodes every NBD_OPT_GO it encodes, and rejects any truncation of it', () => {
    fc.assert(
      fc.property(name, fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }), (n, infos) => {
        const data = P.encodeGoData(n, infos);
        expect(P.decodeGoData(data)).toEqual(E.right({ name: n, infoRequests: infos }));
        for (let cut = 0; cut < data.length; cut++) expect(E.isLeft(P.decodeGoData(data.subarray(0, cut)))).toBe(true);
      }),
    );
  });

  it('decodes every meta-context option it encodes, and rejects any truncation of it', () => {
    fc.assert(
      fc.property(name, fc.array(fc.string({ maxLength: 32 }), { maxLength: 5 }), (n, queries) => {
        const data = P.encodeMetaContextData(n, queries);
        expect(P.decodeMetaContextData(data)).toEqual(E.right({ name: n, queries }));
        for (let cut = 0; cut < data.length; cut++) expect(E.isLeft(P.decodeMetaContextData(data.subarray(0, cut)))).toBe(true);
      }),
    );
  });

  it('never throws on arbitrary option data, headers or client flags', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoders: ReadonlyArray<(b: Uint8Array) => E.Either<string, unknown>> = [
          P.decodeGoData,
          P.decodeMetaContextData,
          P.decodeOptionHeader,
          P.decodeRequest,
          (b) => P.decodeClientFlags(b, 3),
        ];
        for (const decode of decoders) {
          const result = decode(bytes);
          expect(typeof result._tag).toBe('string');
          if (E.isLeft(result)) expect(result.left.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it('refuses client flags the server did not offer', () => {
    const flags = (n: number) => Buffer.from([0, 0, 0, n]);
    expect(P.decodeClientFlags(flags(3), P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES)).toEqual(E.right(3));
    expect(E.isLeft(P.decodeClientFlags(flags(2), P.FLAG_FIXED_NEWSTYLE))).toBe(true);
    expect(E.isLeft(P.decodeClientFlags(flags(4), 3))).toBe(true);
  });

  it('lays out option replies, export-name replies and structured chunks as the specification says', () => {
    const reply = P.encodeOptionReply(P.OPT_GO, P.REP_ERR_UNKNOWN, Buffer.from('no'));
    expect(reply.readBigUInt64BE(0)).toBe(P.OPTION_REPLY_MAGIC);
    expect([reply.readUInt32BE(8), reply.readUInt32BE(12), reply.readUInt32BE(16), reply.subarray(20).toString()]).toEqual([P.OPT_GO, P.REP_ERR_UNKNOWN, 2, 'no']);
    expect(P.encodeExportNameReply(4096, 1, false).length).toBe(134);
    expect(P.encodeExportNameReply(4096, 1, true).length).toBe(10);
    const cookie = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const status = P.encodeBlockStatusChunk(cookie, 1, [{ length: 4096, flags: 3 }, { length: 8192, flags: 0 }]);
    expect(status.readUInt32BE(0)).toBe(P.STRUCTURED_REPLY_MAGIC);
    expect([status.readUInt16BE(4), status.readUInt16BE(6), status.readUInt32BE(16)]).toEqual([P.REPLY_FLAG_DONE, P.REPLY_TYPE_BLOCK_STATUS, 4 + 16]);
    expect(status.subarray(8, 16)).toEqual(cookie);
    expect([status.readUInt32BE(20), status.readUInt32BE(24), status.readUInt32BE(28), status.readUInt32BE(32), status.readUInt32BE(36)]).toEqual([1, 4096, 3, 8192, 0]);
    const error = P.encodeErrorChunk(cookie, P.EINVAL, 'bad');
    expect([error.readUInt16BE(6), error.readUInt32BE(16), error.readUInt32BE(20), error.readUInt16BE(24), error.subarray(26).toString()]).toEqual([P.REPLY_TYPE_ERROR, 9, P.EINVAL, 3, 'bad']);
    const data = P.encodeOffsetDataHeader(cookie, 12288, 4096, true);
    expect([data.readUInt16BE(6), data.readUInt32BE(16), Number(data.readBigUInt64BE(20))]).toEqual([P.REPLY_TYPE_OFFSET_DATA, 8 + 4096, 12288]);
  });
});
