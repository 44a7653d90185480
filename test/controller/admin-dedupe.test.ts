/**
 * Duplicated admin requests (src/controller/admin-dedupe.ts): the same request delivered twice is
 * answered once while in hand, answered again the same way once answered, and never done twice.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { canonicalKey, noteAdmin, RECENT_ADMIN_LIMIT, type AdminIdentity, type RecentAdmin } from '../../src/controller/admin-dedupe.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import * as publicApi from '../../src/index.js';
import type { AdminResult, ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';

const allocator = E.getOrElseW(() => {
  throw new Error('allocator');
})(createAllocator({ 1: 1000 }));

const started = (): ControllerState => controllerStep(initialControllerState(allocator), { type: 'restored', now: 0, state: { tables: [], attachments: [] } })[0];

const step = (s: ControllerState, e: ControllerEvent): [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const [next, out] = controllerStep(s, e);
  return [next, out];
};

/** Feeds `persisted` for every persist command until none is left. */
const landAll = (s: ControllerState, out: ReadonlyArray<ControllerCommand>): [ControllerState, ControllerCommand[]] => {
  const all: ControllerCommand[] = [...out];
  let pending = out.filter((c) => c.type === 'persist');
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c.type !== 'persist') continue;
    const [next, more] = step(s, { type: 'persisted', persistId: c.persistId });
    s = next;
    all.push(...more);
    pending = [...pending, ...more.filter((m) => m.type === 'persist')];
  }
  return [s, all];
};

const answers = (out: ReadonlyArray<ControllerCommand>) => out.filter((c) => c.type === 'adminDone');

const create: ControllerEvent = { type: 'createDisk', requestId: 7, disk: 'd', segmentBlocks: 4, segmentCount: 8 };

describe('duplicated admin requests', () => {

  it('a copy of a request in hand is dropped, and the request is answered once', () => {
    let [s, out] = step(started(), create);
    expect(answers(out)).toEqual([]);
    const [same, dupOut] = step(s, create);
    expect(dupOut).toEqual([]);
    expect(same).toBe(s); // nothing done
    [s, out] = landAll(s, out);
    expect(answers(out)).toEqual([{ type: 'adminDone', requestId: 7, result: { ok: true } }]);
  });

  it('a copy of an answered request gets the same answer again, and is not done again', () => {
    let [s, out] = step(started(), create);
    [s] = landAll(s, out);
    const [again, dupOut] = step(s, create);
    expect(dupOut).toEqual([{ type: 'adminDone', requestId: 7, result: { ok: true } }]);
    expect(again).toBe(s);
    // A new request for the same disk (another id) is a new request: refused, the disk exists.
    [, out] = step(s, { ...create, requestId: 8 } as ControllerEvent);
    expect(answers(out)).toHaveLength(1);
    expect(answers(out)[0]).toMatchObject({ requestId: 8, result: { ok: false } });
  });

  it('the same id with other content is a new request', () => {
    let [s, out] = step(started(), create);
    [s] = landAll(s, out);
    [, out] = step(s, { ...create, disk: 'e' } as ControllerEvent);
    expect(out.some((c) => c.type === 'persist')).toBe(true);
  });

  it('remembers a bounded number of requests', () => {
    let s = started();
    for (let i = 0; i < RECENT_ADMIN_LIMIT + 10; i++) [s] = step(s, { type: 'markFailed', requestId: 1000 + i, lun: 1, start: i, length: 1 });
    expect(s.recentAdmin?.length).toBe(RECENT_ADMIN_LIMIT);
    expect(s.recentAdmin?.[0]?.requestId).toBe(1010);
  });

  it('the limit is public, as its doc example uses it', () => {
    expect(publicApi.RECENT_ADMIN_LIMIT).toBe(RECENT_ADMIN_LIMIT);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

/** `v` with the keys of its objects in another order, at every depth (`seed` picks the order). */
const permuted = (v: unknown, seed: number, depth = 0): unknown => {
  if (Array.isArray(v)) return v.map((x, i) => permuted(x, seed + i, depth + 1));
  if (typeof v !== 'object' || v === null) return v;
  const keys = Object.keys(v);
  const n = keys.length;
  const order = (seed >> depth) & 1 ? [...keys].reverse() : keys.map((_, i) => keys[(i + seed) % n]!);
  const out: Record<string, unknown> = {};
  for (const k of order) out[k] = permuted((v as Record<string, unknown>)[k], seed, depth + 1);
  return out;
};

/** The naive model of "same content": structural equality, object keys in any order, `undefined` fields absent. */
const sameContent = (a: unknown, b: unknown): boolean => {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameContent(x, b[i]));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameContent((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
};

/** A value changed somewhere (a field added, an element appended, a leaf replaced). */
const changed = (v: unknown, seed: number): unknown => {
  if (Array.isArray(v)) return v.length > 0 && seed % 2 === 0 ? v.map((x, i) => (i === seed % v.length ? changed(x, seed >> 1) : x)) : [...v, 'x'];
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    if (keys.length === 0 || seed % 2 === 1) return { ...v, ['k' + seed]: seed };
    const k = keys[seed % keys.length]!;
    return { ...v, [k]: changed((v as Record<string, unknown>)[k], seed >> 1) };
  }
  return typeof v === 'string' ? v + 'x' : v === 1 ? 2 : 1;
};

const jsonish = fc.jsonValue({ maxDepth: 4 });

/** Whether `key` gives the same key exactly to values of the same content. */
const keyProperty = (key: (v: unknown) => string | null) =>
  fc.property(jsonish, fc.nat(), fc.constantFrom('permuted', 'changed', 'other'), jsonish, (a, seed, how, other) => {
    const b = how === 'permuted' ? permuted(a, seed) : how === 'changed' ? permuted(changed(a, seed), seed >> 3) : other;
    const ka = key(a);
    const kb = key(b);
    if (ka === null || kb === null) return false;
    return (ka === kb) === sameContent(a, b);
  });

/** Random admin requests, valid ones, with some nesting (`segments`, `segmentLengths`). */
const diskName = fc.constantFrom('d', 'e', 'f');
const adminRequestArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constant('createDisk'), disk: diskName, segmentBlocks: fc.constantFrom(1, 2, 4), segmentCount: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ type: fc.constant('createDisk'), disk: diskName, segmentBlocks: fc.constant(0), segmentCount: fc.constant(3), segmentLengths: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }) }),
  fc.record({ type: fc.constant('attachAgent'), disk: diskName, agent: fc.constantFrom('a', 'b') }),
  fc.record({ type: fc.constant('snapshot'), disk: diskName, snapshot: fc.constantFrom('s1', 's2') }),
  fc.record({ type: fc.constant('migrate'), disk: diskName, lun: fc.constant(1), segments: fc.array(fc.nat(7), { maxLength: 4 }) }),
  fc.record({ type: fc.constant('markFailed'), lun: fc.constant(1), start: fc.nat(900), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ type: fc.constant('resize'), disk: diskName, segmentCount: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ type: fc.constant('deleteDisk'), disk: diskName, force: fc.boolean() }, { requiredKeys: ['type', 'disk'] }),
  fc.record({ type: fc.constant('rollback'), disk: diskName, snapshot: fc.constant('s1') }),
);

describe('duplicated admin requests: properties', () => {
  it('the content key is equal exactly for values of the same content, whatever the order of their fields (against a naive model)', () => {
    fc.assert(keyProperty(canonicalKey), { numRuns: 400 });
  });

  it('a key written in the order the fields come (JSON.stringify) fails that property', () => {
    expect(fc.check(keyProperty((v) => JSON.stringify(v)), { numRuns: 400, endOnFailure: true }).failed).toBe(true);
  });

  it('the same request with its fields in any order is a duplicate, in hand or answered', () => {
    fc.assert(
      fc.property(adminRequestArb, fc.nat(), fc.boolean(), fc.nat(), (body, seed, land, id) => {
        const request = { ...body, requestId: id } as unknown as ControllerEvent;
        // A disk to act on, so that most requests stay in hand until persisted.
        let [s, out] = step(started(), { type: 'createDisk', requestId: id + 1, disk: 'd', segmentBlocks: 4, segmentCount: 8 });
        [s] = landAll(s, out);
        [s, out] = step(s, request);
        if (land) [s, out] = landAll(s, out);
        const answered = answers(out).filter((c) => c.type === 'adminDone' && c.requestId === id);
        const copy = { requestId: id, ...(permuted(body, seed) as object) } as unknown as ControllerEvent;
        const [again, dupOut] = step(s, copy);
        expect(again).toBe(s); // nothing done
        expect(dupOut).toEqual(answered.length === 0 ? [] : answered);
      }),
      { numRuns: 200 },
    );
  });

  it('extra fields the controller does not read, or fields given as undefined, do not make another request', () => {
    let [s, out] = step(started(), create);
    [s] = landAll(s, out);
    const [, dupOut] = step(s, { grainBlocks: undefined, note: 'retry', ...create } as unknown as ControllerEvent);
    expect(dupOut).toEqual([{ type: 'adminDone', requestId: 7, result: { ok: true } }]);
  });

  it('a request in hand survives any number of answered requests after it, and is answered once', () => {
    let [s, out] = step(started(), create);
    const held = out;
    for (let i = 0; i < RECENT_ADMIN_LIMIT * 2; i++) [s] = step(s, { type: 'markFailed', requestId: 1000 + i, lun: 1, start: i, length: 1 });
    expect(s.recentAdmin?.length).toBe(RECENT_ADMIN_LIMIT);
    expect(s.recentAdmin?.[0]).toMatchObject({ requestId: 7, result: null });
    const [same, dupOut] = step(s, { segmentCount: 8, segmentBlocks: 4, disk: 'd', requestId: 7, type: 'createDisk' } as ControllerEvent);
    expect(dupOut).toEqual([]);
    expect(same).toBe(s);
    [s, out] = landAll(s, held);
    expect(answers(out)).toEqual([{ type: 'adminDone', requestId: 7, result: { ok: true } }]);
  });

  it('an unreadable request is refused without answering another request of its id', () => {
    const [s] = step(started(), create); // in hand
    const [next, out] = step(s, { type: 'createDisk', requestId: 7, disk: 'd', segmentBlocks: 4, segmentCount: -1 } as ControllerEvent);
    expect(answers(out)).toMatchObject([{ requestId: 7, result: { ok: false } }]);
    expect(next.recentAdmin).toEqual(s.recentAdmin); // still in hand, nothing new remembered
  });

  // The memory alone, against a naive model of it: every request ever seen, with whether it is
  // still remembered; when over the limit, the oldest remembered answered request is forgotten.
  type Op = { readonly kind: 'new'; readonly id: number; readonly answerNow: number; readonly content: number } | { readonly kind: 'answer'; readonly pick: number };
  // Most requests are answered at once; the others stay in hand for a while, some for long.
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('new' as const), id: fc.nat(40), answerNow: fc.nat(9), content: fc.nat(2) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat() }) },
  );
  type NoteAdmin = (recent: ReadonlyArray<RecentAdmin>, id: AdminIdentity | null, out: ReadonlyArray<ControllerCommand>) => ReadonlyArray<RecentAdmin>;

  const memoryProperty = (note: NoteAdmin) =>
    // `answered` in ten: how many new requests are answered in their own step (3: the requests in
    // hand pile up past the limit; 10: all answered at once).
    fc.property(fc.integer({ min: 3, max: 10 }), fc.array(opArb, { minLength: 300, maxLength: 900 }), (answered, ops) => {
      let recent: ReadonlyArray<RecentAdmin> = [];
      const model: { requestId: number; key: string; result: AdminResult | null; kept: boolean }[] = [];
      for (const op of ops) {
        let id: AdminIdentity | null = null;
        const out: ControllerCommand[] = [];
        if (op.kind === 'new') {
          id = { requestId: op.id, key: `k${op.content}` };
          model.push({ requestId: op.id, key: id.key!, result: null, kept: true });
          if (op.answerNow < answered) out.push({ type: 'adminDone', requestId: op.id, result: { ok: true } });
        } else {
          const inHand = model.filter((m) => m.kept && m.result === null);
          if (inHand.length === 0) continue;
          // Mostly one of the latest, so that some early requests stay in hand for long.
          const which = op.pick % 4 === 0 ? op.pick % inHand.length : inHand.length - 1 - (op.pick % Math.min(3, inHand.length));
          out.push({ type: 'adminDone', requestId: inHand[which]!.requestId, result: { ok: false, error: `e${op.pick}` } });
        }
        for (const c of out) {
          if (c.type !== 'adminDone') continue;
          for (let i = model.length - 1; i >= 0; i--) {
            const m = model[i]!;
            if (!m.kept || m.requestId !== c.requestId || m.result !== null) continue;
            m.result = c.result;
            break;
          }
        }
        let count = model.filter((m) => m.kept).length;
        for (const m of model) {
          if (count <= RECENT_ADMIN_LIMIT) break;
          if (m.kept && m.result !== null) {
            m.kept = false;
            count--;
          }
        }
        recent = note(recent, id, out);
        const expected = model.filter((m) => m.kept).map(({ requestId, key, result }) => ({ requestId, key, result }));
        if (JSON.stringify(recent) !== JSON.stringify(expected)) return false;
        const inHand = recent.filter((r) => r.result === null).length;
        if (recent.length > Math.max(RECENT_ADMIN_LIMIT, inHand)) return false;
      }
      return true;
    });

  it('the memory forgets answered requests first and never one in hand (against a naive model)', () => {
    fc.assert(memoryProperty(noteAdmin), { numRuns: 60 });
  });

  it('a memory that forgets its oldest request even while in hand fails that property', () => {
    const oldestFirst: NoteAdmin = (recent, id, out) =>
      noteAdmin(id !== null && id.key !== null && recent.length >= RECENT_ADMIN_LIMIT ? recent.slice(recent.length + 1 - RECENT_ADMIN_LIMIT) : recent, id, out);
    expect(fc.check(memoryProperty(oldestFirst), { numRuns: 60, endOnFailure: true }).failed).toBe(true);
  });
});
