/**
 * Batch events (`controllerStep(state, { type: 'batch', events })`, src/controller/controller.ts):
 * a batch gives exactly the next state and the commands, in order, of stepping its events one
 * at a time. The reference is the simulator itself: every step of seeded runs under every fault
 * kind is recorded (state before, event, state after, commands), and any cut of a recorded run
 * into batches must give the recorded states at the cuts and the recorded commands, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { controllerStep } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';
import { createCluster } from '../../src/sim/cluster.js';
import { sweepSeed, sweepShape } from '../sim/sweep-runs.js';

interface Recorded {
  readonly before: ControllerState;
  readonly event: ControllerEvent;
  readonly after: ControllerState;
  readonly commands: ReadonlyArray<ControllerCommand>;
}

/** The steps of one seeded simulator run, cut where the controller restarted (a new machine). */
const record = (i: number): Recorded[][] => {
  const { config, workload } = sweepShape(sweepSeed(i));
  const steps: Recorded[] = [];
  const hook = (before: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
    const [after, commands] = controllerStep(before, event);
    steps.push({ before, event, after, commands });
    return [after, commands];
  };
  createCluster({ ...config, testHooks: { controllerStep: hook } }).run(workload);
  const chains: Recorded[][] = [];
  for (const r of steps) {
    const last = chains[chains.length - 1];
    if (last !== undefined && last[last.length - 1]!.after === r.before) last.push(r);
    else chains.push([r]);
  }
  return chains.filter((c) => c.length > 1);
};

/**
 * A state as plain data, for comparison: maps (persistent or not) as their entries in iteration
 * order (an order a later step may depend on), plain objects by sorted key, undefined fields
 * dropped, typed arrays as arrays. Shared parts are converted once.
 */
const plain = (x: unknown, seen = new Map<object, unknown>()): unknown => {
  if (typeof x !== 'object' || x === null) return typeof x === 'number' && !Number.isFinite(x) ? String(x) : x;
  const known = seen.get(x);
  if (known !== undefined) return known;
  let out: unknown;
  if (ArrayBuffer.isView(x)) out = Array.from(x as unknown as ArrayLike<number>);
  else if (Array.isArray(x)) out = x.map((v) => plain(v, seen));
  else if (typeof (x as { entries?: unknown }).entries === 'function' && typeof (x as { get?: unknown }).get === 'function')
    out = { map: [...(x as ReadonlyMap<unknown, unknown>).entries()].map(([k, v]) => [plain(k, seen), plain(v, seen)]) };
  else if (typeof (x as { has?: unknown }).has === 'function' && typeof (x as { forEach?: unknown }).forEach === 'function') {
    const items: unknown[] = [];
    (x as ReadonlySet<unknown>).forEach((v) => items.push(plain(v, seen)));
    out = { set: items };
  } else {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) {
      const v = (x as Record<string, unknown>)[k];
      if (v !== undefined && typeof v !== 'function') o[k] = plain(v, seen);
    }
    out = o;
  }
  seen.set(x, out);
  return out;
};

const cache = new Map<number, Recorded[][]>();
const chainsOf = (i: number): Recorded[][] => {
  let c = cache.get(i);
  if (c === undefined) cache.set(i, (c = record(i)));
  return c;
};

/** Steps `chain[from..to)` as one batch; the recorded state after it and the recorded commands, in order. */
const checkBatch = (chain: ReadonlyArray<Recorded>, from: number, to: number): void => {
  const events = chain.slice(from, to).map((r) => r.event);
  const [next, commands] = controllerStep(chain[from]!.before, { type: 'batch', events });
  expect(commands).toEqual(chain.slice(from, to).flatMap((r) => r.commands));
  expect(plain(next)).toEqual(plain(chain[to - 1]!.after));
};

const RUNS = 24;

describe('batch events', () => {
  it('give the states and commands of stepping their events one at a time (recorded simulator runs, any cut)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: RUNS - 1 }), fc.nat(), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 12 }), (run, pick, sizes) => {
        const chains = chainsOf(run);
        if (chains.length === 0) return;
        const chain = chains[pick % chains.length]!;
        let at = pick % chain.length;
        for (const size of sizes) {
          if (at >= chain.length) break;
          const to = Math.min(chain.length, at + size);
          checkBatch(chain, at, to);
          at = to;
        }
      }),
      { numRuns: 120 },
    );
  });

  it('cover every kind of event the simulator feeds, runs of shared steps included', () => {
    const kinds = new Set<string>();
    for (let i = 0; i < RUNS; i++) for (const chain of chainsOf(i)) for (const r of chain) kinds.add(r.event.type === 'message' ? `message:${r.event.message.type}` : r.event.type);
    for (const k of ['tick', 'persisted', 'copyDone', 'flushed', 'message:ioFault', 'message:tableAck', 'attachAgent']) expect(kinds).toContain(k);
  });

  it('a whole recorded run as one batch', () => {
    for (let i = 0; i < 6; i++) for (const chain of chainsOf(i)) checkBatch(chain, 0, chain.length);
  });

  it('an empty batch changes nothing; a batch that is not a list is refused by name', () => {
    const chain = chainsOf(0)[0]!;
    const s = chain[0]!.after;
    expect(controllerStep(s, { type: 'batch', events: [] })).toEqual([s, []]);
    const [same, out] = controllerStep(s, { type: 'batch', events: 7 } as unknown as ControllerEvent);
    expect(same).toBe(s);
    expect(out).toEqual([{ type: 'eventRefused', why: 'batch: events must be an array, got 7' }]);
  });

  it('a batch inside a batch, and unreadable events inside one, are stepped as on their own', () => {
    const chain = chainsOf(1)[0]!;
    const n = Math.min(chain.length, 40);
    const inner: ControllerEvent = { type: 'batch', events: chain.slice(1, n).map((r) => r.event) };
    const bad = { type: 'copyDone', copyId: -1 } as ControllerEvent;
    const [next, commands] = controllerStep(chain[0]!.before, { type: 'batch', events: [chain[0]!.event, bad, inner] });
    const alone = controllerStep(chain[0]!.after, bad);
    expect(alone[0]).toBe(chain[0]!.after);
    expect(commands).toEqual([...chain[0]!.commands, ...alone[1], ...chain.slice(1, n).flatMap((r) => r.commands)]);
    expect(plain(next)).toEqual(plain(chain[n - 1]!.after));
  });
});
