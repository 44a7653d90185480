/**
 * Duplicated admin requests (src/controller/admin-dedupe.ts): the same request delivered twice is
 * answered once while in hand, answered again the same way once answered, and never done twice.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { RECENT_ADMIN_LIMIT } from '../../src/controller/admin-dedupe.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';

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

describe('duplicated admin requests', () => {
  const create: ControllerEvent = { type: 'createDisk', requestId: 7, disk: 'd', segmentBlocks: 4, segmentCount: 8 };

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
});
