/**
 * Tests of examples/nbd-server/ha/etcd-layout.ts: key names read back, key order, and the
 * packing of operations into transactions within their budgets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesOf, keysOf, pack, parseDiskKey, prefixEnd, put } from '../../../examples/nbd-server/ha/etcd-layout.js';

describe('etcd layout', () => {
  it('reads back the disk, version, chunk and part of every key it names, for any disk name', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.nat(2 ** 40), fc.nat(2 ** 31), fc.nat(65535), (prefix, disk, ver, chunk, part) => {
        const k = keysOf(prefix);
        expect(parseDiskKey(k.diskRoot, k.partKey(disk, ver, chunk, part))).toEqual({ kind: 'part', enc: encodeURIComponent(disk), ver, chunk, part });
        expect(parseDiskKey(k.diskRoot, k.headerKey(disk))).toEqual({ kind: 'header', enc: encodeURIComponent(disk) });
        // A disk's keys all lie in its own range, which no other disk's keys enter.
        expect(k.partKey(disk, ver, chunk, part).startsWith(k.diskKey(disk))).toBe(true);
        expect(k.diskKey(`${disk}x`).startsWith(k.diskKey(disk))).toBe(false);
      }),
    );
  });

  it('sorts part keys by version, then chunk, then part', () => {
    const k = keysOf('p/');
    const tuple = fc.tuple(fc.nat(2 ** 40), fc.nat(2 ** 31), fc.nat(65535));
    fc.assert(
      fc.property(tuple, tuple, (a, b) => {
        const ka = k.partKey('d', ...a);
        const kb = k.partKey('d', ...b);
        const byNumbers = a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
        expect(Math.sign(Buffer.compare(Buffer.from(ka), Buffer.from(kb)))).toBe(Math.sign(byNumbers));
      }),
    );
  });

  it('ends a prefix range just after every key with the prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 6 }), fc.uint8Array({ maxLength: 4 }), (prefix, rest) => {
        const key = Buffer.concat([Buffer.from(prefix), Buffer.from(rest)]);
        const end = prefixEnd(Buffer.from(prefix));
        if (prefix.every((b) => b === 0xff)) expect(end).toEqual(Buffer.from([0]));
        else expect(Buffer.compare(key, end)).toBe(-1);
      }),
    );
  });

  it('packs operations in order into transactions within both budgets', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(300)), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 50, max: 1000 }), (sizes, maxOps, maxBytes) => {
        const ops = sizes.map((n, i) => put(`k${i}`, Buffer.alloc(n)));
        const batches = pack(ops, maxOps, maxBytes);
        expect(batches.flat()).toEqual(ops);
        for (const b of batches) {
          expect(b.length).toBeGreaterThan(0);
          expect(b.length).toBeLessThanOrEqual(maxOps);
          if (b.length > 1) expect(bytesOf(b)).toBeLessThanOrEqual(maxBytes);
        }
      }),
    );
  });
});
