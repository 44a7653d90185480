/**
 * Tests of examples/nbd-server/ha/etcd-client.ts: `--store etcd://...` addresses.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { parseEtcdUrl } from '../../../examples/nbd-server/ha/etcd-client.js';

describe('parseEtcdUrl', () => {
  it('gives back every HOST:PORT of a well-formed address, in order', () => {
    const host = fc.oneof(fc.ipV4(), fc.domain(), fc.constant('localhost'));
    const endpoint = fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`);
    fc.assert(
      fc.property(fc.array(endpoint, { minLength: 1, maxLength: 5 }), (endpoints) => {
        expect(parseEtcdUrl(`etcd://${endpoints.join(',')}`)).toEqual(E.right(endpoints));
      }),
    );
    expect(parseEtcdUrl('etcd://[::1]:2379')).toEqual(E.right(['[::1]:2379']));
  });

  it('refuses other schemes, missing or out-of-range ports and empty endpoints, naming the value', () => {
    for (const bad of ['http://127.0.0.1:2379', 'etcd://127.0.0.1', 'etcd://127.0.0.1:0', 'etcd://127.0.0.1:65536', 'etcd://a:1,,b:2', 'etcd://', 'etcd://a b:1']) {
      const result = parseEtcdUrl(bad);
      expect(E.isLeft(result)).toBe(true);
      if (E.isLeft(result)) expect(result.left).toMatch(/--store/);
    }
    expect(parseEtcdUrl('etcd://h:99999')).toEqual(E.left('--store endpoint "h:99999" in "etcd://h:99999" must be HOST:PORT with a port from 1 to 65535'));
  });
});
