/**
 * The pure parts of the NBD server's security against naive reference models: PSK files, the
 * access policy and the backend it restricts, limits and the per-identity connection counter.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { accessOf, parsePolicy, restrictBackend, type Access, type AccessPolicy } from '../../examples/nbd-server/access.js';
import { createConnectionCounter, DEFAULT_LIMITS, parseLimits } from '../../examples/nbd-server/limits.js';
import type { Backend, ExportHandle } from '../../examples/nbd-server/server.js';
import { parsePskFile, parseTlsMode } from '../../examples/nbd-server/tls.js';

const identityArb = fc.stringMatching(/^[A-Za-z0-9._@+=-]{1,12}$/);
const nameArb = fc.constantFrom('vol', 'vol@1', 'vol@2', 'volume', 'pub', 'pub1', 'scratch', 'a', 'ab');
const patternArb = fc.oneof(nameArb, fc.constantFrom('*', 'vol*', 'vol@*', 'pub*', 'a*', 's*'));
const accessArb = fc.constantFrom<Access>('none', 'read', 'write');
const grantsArb = fc.dictionary(patternArb, accessArb, { maxKeys: 6 });
const policyDocArb = fc.record({
  identities: fc.dictionary(fc.constantFrom('alice', 'bob', 'carol'), grantsArb, { maxKeys: 3 }),
  anonymous: grantsArb,
  snapshots: fc.constantFrom('read', 'write'),
});

/** The reference: the grant with an exact name, else the matching `prefix*` with the longest prefix. */
const naiveAccess = (doc: { identities: Record<string, Record<string, Access>>; anonymous: Record<string, Access>; snapshots: string }, identity: string | null, name: string, snapshot: boolean): Access => {
  const grants = identity === null ? doc.anonymous : (doc.identities[identity] ?? {});
  let access: Access = 'none';
  if (grants[name] !== undefined) access = grants[name]!;
  else {
    const globs = Object.keys(grants).filter((p) => p.endsWith('*') && name.startsWith(p.slice(0, -1)));
    globs.sort((x, y) => y.length - x.length);
    if (globs.length > 0) access = grants[globs[0]!]!;
  }
  return access === 'write' && snapshot && doc.snapshots !== 'write' ? 'read' : access;
};

const parse = (doc: unknown): AccessPolicy => {
  const p = parsePolicy(JSON.stringify(doc));
  if (E.isLeft(p)) throw new Error(p.left);
  return p.right;
};

describe('PSK files', () => {
  it('identity:hexkey lines parse back to the keys written', () => {
    fc.assert(
      fc.property(fc.dictionary(identityArb, fc.uint8Array({ minLength: 1, maxLength: 64 }), { minKeys: 1, maxKeys: 8 }), fc.boolean(), (keys, comments) => {
        const text = Object.entries(keys)
          .map(([i, k]) => `${comments ? '# key\n\n' : ''}${i}:${Buffer.from(k).toString('hex')}`)
          .join('\n');
        const parsed = parsePskFile(text);
        expect(E.isRight(parsed)).toBe(true);
        if (E.isLeft(parsed)) return;
        expect(new Map([...parsed.right].map(([i, k]) => [i, [...k]]))).toEqual(new Map(Object.entries(keys).map(([i, k]) => [i, [...k]])));
      }),
    );
  });

  it('refuses bad lines naming the line and the problem', () => {
    expect(parsePskFile('alice:00ff\nbob\n')).toEqual(E.left('PSK file line 2: expected identity:hexkey, got "bob"'));
    expect(parsePskFile('alice:0g')).toEqual(E.left('PSK file line 1: key of alice must be 2 to 128 hex digits, an even number'));
    expect(parsePskFile('alice:abc')).toEqual(E.left('PSK file line 1: key of alice must be 2 to 128 hex digits, an even number'));
    expect(parsePskFile('al ice:00')).toEqual(E.left('PSK file line 1: identity "al ice" may use letters, digits and . _ @ + = - only (1 to 128)'));
    expect(parsePskFile('a:00\na:01')).toEqual(E.left('PSK file line 2: identity "a" appears twice'));
    expect(parsePskFile('# nothing\n')).toEqual(E.left('PSK file holds no identity:hexkey line'));
    expect(parseTlsMode('maybe')).toEqual(E.left('--tls "maybe" must be off, on or require'));
  });
});

describe('access policy', () => {
  it('accessOf agrees with the reference for every identity, export and snapshot flag', () => {
    fc.assert(
      fc.property(policyDocArb, fc.option(fc.constantFrom('alice', 'bob', 'carol', 'dave'), { nil: null }), nameArb, fc.boolean(), (doc, identity, name, snapshot) => {
        expect(accessOf(parse(doc), identity, { name, snapshot })).toBe(naiveAccess(doc, identity, name, snapshot));
      }),
    );
  });

  it('the restricted backend lists exactly what may be opened, refuses the rest by policy, and serves read grants read-only', async () => {
    const names = ['vol', 'vol@1', 'pub', 'pub1', 'scratch'];
    const snapshot = (n: string): boolean => n.includes('@');
    const handle = (name: string): ExportHandle => ({
      name,
      size: 4096,
      readOnly: snapshot(name),
      read: async () => new Uint8Array(0),
      write: async () => undefined,
      writeZeroes: async () => undefined,
      trim: async () => undefined,
      flush: async () => undefined,
      allocation: async () => [],
    });
    const backend: Backend = {
      blockSizes: { minimum: 4096, preferred: 4096, maximum: 1 << 20 },
      exports: async () => names.map((name) => ({ name, description: '' })),
      open: async (n) => (n === '' ? handle(names[0]!) : names.includes(n) ? handle(n) : undefined),
    };
    await fc.assert(
      fc.asyncProperty(policyDocArb, fc.option(fc.constantFrom('alice', 'bob', 'dave'), { nil: null }), async (doc, identity) => {
        const r = restrictBackend(backend, parse(doc), identity, async (n) => snapshot(n));
        const listed = (await r.exports()).map((e) => e.name);
        expect(listed).toEqual(names.filter((n) => naiveAccess(doc, identity, n, snapshot(n)) !== 'none'));
        for (const n of [...names, 'missing']) {
          const access = names.includes(n) ? naiveAccess(doc, identity, n, snapshot(n)) : naiveAccess(doc, identity, n, false);
          const h = await r.open(n);
          expect(await r.forbidden!(n)).toBe(access === 'none');
          if (access === 'none' || !names.includes(n)) expect(h).toBeUndefined();
          else expect(h!.readOnly).toBe(access === 'read' || (snapshot(n) && doc.snapshots !== 'write'));
        }
        // The default export is the first one this client may open.
        expect((await r.open(''))?.name).toBe(listed[0]);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses malformed policies naming the field and the value', () => {
    expect(parsePolicy('{')).toMatchObject({ _tag: 'Left' });
    expect(parsePolicy('[]')).toEqual(E.left('access policy must be a JSON object'));
    expect(parsePolicy('{"users": {}}')).toEqual(E.left('access policy: unknown field "users" (fields: identities, anonymous, snapshots)'));
    expect(parsePolicy('{"identities": {"alice": {"vol": "rw"}}}')).toEqual(E.left('identities.alice.vol: access "rw" must be "read", "write" or "none"'));
    expect(parsePolicy('{"identities": {"alice": {"v*l": "read"}}}')).toEqual(E.left('identities.alice: pattern "v*l" must be an export name, optionally ending in *'));
    expect(parsePolicy('{"snapshots": "yes"}')).toEqual(E.left('access policy: snapshots "yes" must be "read" or "write"'));
  });
});

describe('limits', () => {
  it('NAME=VALUE settings override the defaults; bad ones are refused by name', () => {
    expect(parseLimits(['requests-in-flight=16', 'handshake-ms=500'])).toEqual(E.right({ ...DEFAULT_LIMITS, requestsInFlight: 16, handshakeMs: 500 }));
    expect(parseLimits(['requests=16'])).toMatchObject({ _tag: 'Left', left: expect.stringContaining('--limit "requests=16" must be NAME=VALUE') });
    expect(parseLimits(['handshake-ms=0'])).toEqual(E.left('--limit "handshake-ms=0": the value must be a positive integer'));
    expect(parseLimits(['request-bytes=100'])).toEqual(E.left('--limit request-bytes=100 must be at least 4096 (one block)'));
    expect(parseLimits(['bytes-in-flight=4096'])).toEqual(E.left(`--limit bytes-in-flight=4096 must be at least request-bytes=${DEFAULT_LIMITS.requestBytes}`));
  });

  it('the connection counter never lets an identity exceed its limit and frees places on release', () => {
    const idArb = fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.tuple(fc.boolean(), idArb), { maxLength: 60 }), (max, ops) => {
        const counter = createConnectionCounter(max);
        const model = new Map<string | null, number>();
        for (const [admit, id] of ops) {
          const n = model.get(id) ?? 0;
          if (admit) {
            expect(counter.admit(id)).toBe(n < max);
            if (n < max) model.set(id, n + 1);
          } else if (n > 0) {
            counter.release(id);
            model.set(id, n - 1);
          }
          expect(counter.count(id)).toBe(model.get(id) ?? 0);
        }
      }),
    );
  });
});
