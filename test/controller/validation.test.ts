/**
 * What reaches the controller from outside is read and checked before anything happens: each
 * finding of the hardening review as a test, and the resource limits.
 */
import { tableBlocks } from '../../src/table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerOptions, ControllerState } from '../../src/controller/types.js';

const allocator = () => {
  const a = createAllocator({ 1: 1 << 20, 2: 1 << 20 });
  if (E.isLeft(a)) throw new Error('allocator');
  return a.right;
};

/** A started controller that answers its persist commands at once. */
const started = (config: ControllerOptions = {}): ControllerState => {
  const [s] = controllerStep(initialControllerState(allocator(), config), { type: 'restored', state: { tables: [], attachments: [] }, now: 0 });
  return s;
};

/** Steps `event`, then answers every persist, and returns the state and every command. */
const run = (state: ControllerState, event: unknown): [ControllerState, ControllerCommand[]] => {
  let [s, cs] = controllerStep(state, event as ControllerEvent);
  const all = [...cs];
  for (let i = 0; i < 10; i++) {
    const p = cs.find((c) => c.type === 'persist');
    if (p === undefined || p.type !== 'persist') break;
    [s, cs] = controllerStep(s, { type: 'persisted', persistId: p.persistId });
    all.push(...cs);
  }
  return [s, all];
};

const answer = (commands: ReadonlyArray<ControllerCommand>, requestId: number) =>
  commands.find((c): c is Extract<ControllerCommand, { type: 'adminDone' }> => c.type === 'adminDone' && c.requestId === requestId)?.result;

const withDisk = (config: ControllerOptions = {}): ControllerState => {
  const [s, cs] = run(started(config), { type: 'createDisk', requestId: 1, disk: 'vol', segmentBlocks: 8, segmentCount: 16 });
  expect(answer(cs, 1)).toEqual({ ok: true });
  return s;
};

describe('controller: admin requests from outside', () => {
  it('refuses migrate segments that are not an array, naming the field', () => {
    const [, cs] = run(withDisk(), { type: 'migrate', requestId: 2, disk: 'vol', segments: 'abc', lun: 2 });
    expect(answer(cs, 2)).toMatchObject({ ok: false, error: expect.stringContaining('segments must be an array') });
  });

  it('refuses sparse, BigInt and out-of-range segment lists', () => {
    const s = withDisk();
    // eslint-disable-next-line no-sparse-arrays
    for (const segments of [[0, , 2], [1n], [0, 99], [-1], [Number.NaN]]) {
      const [, cs] = run(s, { type: 'migrate', requestId: 3, disk: 'vol', segments, lun: 2 });
      expect(answer(cs, 3)?.ok).toBe(false);
    }
  });

  it('refuses a disk that is not a string (a null-prototype object) without a TypeError', () => {
    const [, cs] = run(withDisk(), { type: 'detachAgent', requestId: 4, disk: Object.create(null), agent: 'a1' });
    expect(answer(cs, 4)).toMatchObject({ ok: false, error: expect.stringContaining('disk must be a non-empty string') });
  });

  it('refuses a request without a requestId with an eventRefused command, and changes nothing', () => {
    const s = started();
    const [next, cs] = controllerStep(s, { type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 4 } as never);
    expect(cs).toEqual([{ type: 'eventRefused', why: expect.stringContaining('requestId') }]);
    expect(next.disks.size).toBe(0);
  });

  it('answers a request whose fields throw when read', () => {
    const hostile = { type: 'createDisk', requestId: 5, segmentBlocks: 8, segmentCount: 4 };
    Object.defineProperty(hostile, 'disk', { get: () => { throw new Error('boom'); }, enumerable: true });
    const [, cs] = run(started(), hostile);
    expect(answer(cs, 5)).toMatchObject({ ok: false, error: expect.stringContaining('disk could not be read') });
    const proxy = new Proxy({}, { get: () => { throw new Error('trap'); } });
    const [, cs2] = controllerStep(started(), proxy as never);
    expect(cs2[0]).toMatchObject({ type: 'eventRefused' });
  });

  it('refuses an unknown request type', () => {
    const [, cs] = run(started(), { type: 'format', requestId: 6 });
    expect(answer(cs, 6)).toMatchObject({ ok: false, error: expect.stringContaining('unknown admin request type "format"') });
  });
});

describe('controller: other events from outside', () => {
  it('answers a tableAck whose agent is a BigInt with a refusal', () => {
    const [, cs] = controllerStep(withDisk(), { type: 'message', message: { type: 'tableAck', agent: 1n, epoch: 1, disk: 'vol', generation: 0 } } as never);
    expect(cs).toEqual([expect.objectContaining({ type: 'refused', why: expect.stringContaining('agent must be a non-empty string, got 1n') })]);
  });

  it('answers a null event, a non-object and a restored without state', () => {
    for (const e of [null, undefined, 42, 'tick', [], { type: 7 }]) {
      const [, cs] = controllerStep(started(), e as never);
      expect(cs).toEqual([{ type: 'eventRefused', why: expect.any(String) }]);
    }
    const fresh = initialControllerState(allocator());
    for (const state of [null, 7, { tables: 'x', attachments: [] }, { tables: [{ disk: 1, table: {} }], attachments: [] }, { tables: [], attachments: [{ disk: 'v', agents: [1n] }] }]) {
      const [next, cs] = controllerStep(fresh, { type: 'restored', state, now: 0 } as never);
      expect(cs).toEqual([{ type: 'eventRefused', why: expect.stringContaining('restored') }]);
      expect(next.ready).toBe(false);
    }
  });

  it('refuses an event typed after a member every object has (toString, constructor), and a field whose getter throws', () => {
    for (const type of ['toString', 'constructor', 'hasOwnProperty']) {
      const state = started();
      const [next, cs] = controllerStep(state, { type } as never);
      expect(next).toBe(state);
      expect(cs).toEqual([{ type: 'eventRefused', why: expect.any(String) }]);
    }
    const hostile = { type: 'copyDone', get copyId(): number { throw new Error('gone'); } };
    expect(controllerStep(started(), hostile as never)[1]).toEqual([{ type: 'eventRefused', why: 'copyDone: field copyId could not be read (gone)' }]);
  });

  it('refuses ticks, persisted and copy answers with fields of the wrong type', () => {
    for (const e of [{ type: 'tick', now: 'soon' }, { type: 'tick', now: Number.NaN }, { type: 'persisted', persistId: 1n }, { type: 'copyDone', copyId: -1 }]) {
      const [, cs] = controllerStep(started(), e as never);
      expect(cs).toEqual([{ type: 'eventRefused', why: expect.any(String) }]);
    }
  });
});

describe('controller: variable disks', () => {
  it('creates a disk of segments of differing sizes, naming the field and value of a bad request, and refuses to grow it without the new segments\' length', () => {
    let [s, cs] = run(started(), { type: 'createDisk', requestId: 1, disk: 'v', segmentBlocks: 0, segmentCount: 3, segmentLengths: [8, 1, 40] });
    expect(answer(cs, 1)).toEqual({ ok: true });
    expect(tableBlocks(s.disks.get('v')!.committed)).toBe(49);
    [, cs] = run(s, { type: 'createDisk', requestId: 2, disk: 'w', segmentBlocks: 0, segmentCount: 2, segmentLengths: [8, 0] });
    expect(answer(cs, 2)).toMatchObject({ ok: false, error: expect.stringContaining('segment 1: length must be a segment length') });
    [, cs] = run(s, { type: 'createDisk', requestId: 3, disk: 'w', segmentBlocks: 4, segmentCount: 2, segmentLengths: [8, 2] });
    expect(answer(cs, 3)).toMatchObject({ ok: false, error: expect.stringContaining('segmentBlocks must be 0') });
    [, cs] = run(s, { type: 'createDisk', requestId: 4, disk: 'w', segmentBlocks: 0, segmentCount: 3, segmentLengths: [8, 2] });
    expect(answer(cs, 4)).toMatchObject({ ok: false, error: expect.stringContaining('segmentLengths.length must equal segmentCount 3') });
    [, cs] = run(s, { type: 'createDisk', requestId: 5, disk: 'w', segmentBlocks: 0, segmentCount: 2, segmentLengths: 'abc' } as never);
    expect(answer(cs, 5)).toMatchObject({ ok: false, error: expect.stringContaining('segmentLengths must be an array') });
    [s, cs] = run(s, { type: 'resize', requestId: 6, disk: 'v', segmentCount: 4 });
    expect(answer(cs, 6)).toMatchObject({ ok: false, error: expect.stringContaining('segmentLength is required to grow disk v') });
  });
});

describe('controller: resource limits', () => {
  it('refuses a createDisk of 1e9 segments at once, before allocating', () => {
    const t0 = performance.now();
    const [s, cs] = run(started(), { type: 'createDisk', requestId: 7, disk: 'huge', segmentBlocks: 8, segmentCount: 1e9 });
    expect(answer(cs, 7)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxSegmentsPerDisk') });
    expect(s.disks.size).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000); // generous: refusing must not build anything
  });

  it('counts disks, total segments and request size against the configured limits', () => {
    const limits = { maxDisks: 2, maxTotalSegments: 40, maxSegmentsPerDisk: 32, maxMessageBytes: 64 };
    let [s, cs] = run(started({ limits }), { type: 'createDisk', requestId: 1, disk: 'a', segmentBlocks: 8, segmentCount: 32 });
    expect(answer(cs, 1)).toEqual({ ok: true });
    [, cs] = run(s, { type: 'createDisk', requestId: 2, disk: 'b', segmentBlocks: 8, segmentCount: 16 });
    expect(answer(cs, 2)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxTotalSegments') });
    [s, cs] = run(s, { type: 'createDisk', requestId: 3, disk: 'b', segmentBlocks: 8, segmentCount: 8 });
    expect(answer(cs, 3)).toEqual({ ok: true });
    [, cs] = run(s, { type: 'createDisk', requestId: 4, disk: 'c', segmentBlocks: 8, segmentCount: 1 });
    expect(answer(cs, 4)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxDisks') });
    [, cs] = run(s, { type: 'snapshot', requestId: 5, disk: 'b', snapshot: 'b@1' });
    expect(answer(cs, 5)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxDisks') });
    [, cs] = run(s, { type: 'resize', requestId: 6, disk: 'a', segmentCount: 33 });
    expect(answer(cs, 6)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxSegmentsPerDisk') });
    [, cs] = run(s, { type: 'migrate', requestId: 7, disk: 'a', segments: Array.from({ length: 9 }, (_, i) => i), lun: 2 });
    expect(answer(cs, 7)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxMessageBytes') });
    [, cs] = run(s, { type: 'attachAgent', requestId: 8, disk: 'a', agent: 'x'.repeat(40) });
    expect(answer(cs, 8)).toMatchObject({ ok: false, error: expect.stringContaining('limits.maxMessageBytes') });
  });
});

describe('controller: an epoch used by two lives of an agent', () => {
  it('answers a fault without a copy, after one of the same epoch that came with a copy, with failIo naming the reuse', () => {
    let [s, cs] = run(withDisk(), { type: 'attachAgent', requestId: 2, disk: 'vol', agent: 'a1' });
    const fault = (faultId: number, segment: number, generation: number) => ({
      type: 'message',
      message: { type: 'ioFault', agent: 'a1', epoch: 1, faultId, disk: 'vol', segment, op: 'read', start: Math.max(segment, 0) * 8, length: 1, reason: 'zero', generation },
    });
    [s, cs] = run(s, fault(5, 0, 1));
    expect(cs.some((c) => c.type === 'send' && c.message.type === 'failIo')).toBe(false);
    [, cs] = run(s, fault(3, -1, -1)); // older than the witness: a late message of the same life
    expect(cs.some((c) => c.type === 'send' && c.message.type === 'failIo')).toBe(false);
    [, cs] = run(s, fault(6, -1, -1));
    expect(cs).toContainEqual(
      expect.objectContaining({ type: 'send', to: 'a1', message: expect.objectContaining({ type: 'failIo', faultId: 6, reason: expect.stringMatching(/epoch 1 of agent a1 is used by two lives/) }) }),
    );
  });
});
