/**
 * Fuzz: the controller machine, the controller runtime, the in-memory adapters' factories, the
 * local cluster and the simulator's configuration answer a value (a state and commands, a Left,
 * a resolved `{ ok: false }`, a rejected promise, a thrown Error naming the field) for any
 * input, never a TypeError and never a crash.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createManualClock, createMemoryNetwork, createMemoryStorage } from '../../src/adapters/memory.js';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';
import { createController } from '../../src/runtime/controller-runtime.js';
import { createLocalCluster } from '../../src/runtime/local-cluster.js';
import { createCluster, simConfigErrors, workloadErrors } from '../../src/sim.js';
import { expectEither, hostileArb, hostileProperty, noThrow, plant, RUNS } from './hostile.js';

const unwrap = <A>(e: E.Either<unknown, A>): A => (E.isRight(e) ? e.right : expect.fail(JSON.stringify(e.left)));

/** A started controller with disk `vol` (agent a1 attached) and persists answered. */
const started = (): ControllerState => {
  let [s, cs] = controllerStep(initialControllerState(unwrap(createAllocator({ 1: 4096, 2: 4096 }))), { type: 'restored', state: { tables: [], attachments: [] }, now: 0 });
  const answer = (): void => {
    for (let p = cs.find((c) => c.type === 'persist'); p?.type === 'persist'; p = cs.find((c) => c.type === 'persist')) [s, cs] = controllerStep(s, { type: 'persisted', persistId: p.persistId });
  };
  [s, cs] = controllerStep(s, { type: 'createDisk', requestId: 1, disk: 'vol', segmentBlocks: 8, segmentCount: 16 });
  answer();
  [s, cs] = controllerStep(s, { type: 'attachAgent', requestId: 2, disk: 'vol', agent: 'a1' });
  answer();
  return s;
};

const admins = [
  { type: 'createDisk', requestId: 9, disk: 'new', segmentBlocks: 8, segmentCount: 4 },
  { type: 'attachAgent', requestId: 9, disk: 'vol', agent: 'a2' },
  { type: 'detachAgent', requestId: 9, disk: 'vol', agent: 'a1' },
  { type: 'snapshot', requestId: 9, disk: 'vol', snapshot: 'vol@1' },
  { type: 'migrate', requestId: 9, disk: 'vol', segments: [0, 1], lun: 2 },
  { type: 'markFailed', requestId: 9, lun: 1, start: 0, length: 8 },
  { type: 'resize', requestId: 9, disk: 'vol', segmentCount: 32 },
];
const messages = [
  { type: 'ioFault', agent: 'a1', epoch: 1, faultId: 1, disk: 'vol', segment: 0, op: 'write', start: 0, length: 2, reason: 'zero', generation: 1 },
  { type: 'markBits', agent: 'a1', epoch: 1, faultId: 2, disk: 'vol', segment: 0, start: 0, length: 1, generation: 1 },
  { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'vol', generation: 1 },
  { type: 'fetchTable', agent: 'a1', epoch: 1, disk: 'vol', generation: -1 },
  { type: 'dropped', agent: 'a1', epoch: 1, disk: 'vol' },
];
const eventArb = fc.oneof(
  ...admins.map(plant),
  fc.record({ type: fc.constant('message'), message: fc.oneof(...messages.map(plant), hostileArb) }),
  plant({ type: 'restored', state: { tables: [{ disk: 'x', table: {} }], attachments: [{ disk: 'x', agents: ['a1'] }] }, now: 0 }),
  plant({ type: 'tick', now: 1000 }),
  plant({ type: 'persisted', persistId: 3 }),
  plant({ type: 'persistFailed', persistId: 3, error: 'x' }),
  plant({ type: 'copyDone', copyId: 1 }),
  plant({ type: 'copyFailed', copyId: 1, error: 'x' }),
  plant({ type: 'flushed', flushId: 1 }),
  plant({ type: 'flushFailed', flushId: 1, error: 'x' }),
  hostileArb,
);

const KNOWN: ReadonlySet<ControllerCommand['type']> = new Set(['persist', 'send', 'copyBlocks', 'writeZeros', 'released', 'resolved', 'refused', 'adminDone', 'eventRefused', 'flush']);

describe('fuzz: controller', () => {
  it('controllerStep: a state and well-formed commands for any event, on a started and on a fresh controller', () => {
    const base = started();
    const fresh = initialControllerState(unwrap(createAllocator({ 1: 64 })));
    fc.assert(
      hostileProperty(eventArb, (event) => {
        for (const state of [base, fresh]) {
          const disks = state.disks;
          const [next, commands] = noThrow(() => controllerStep(state, event as ControllerEvent));
          expect(typeof next.ready).toBe('boolean');
          for (const c of commands) {
            expect(KNOWN.has(c.type)).toBe(true);
            if (c.type === 'adminDone' && !c.result.ok) expect(c.result.error.length).toBeGreaterThan(0);
            if (c.type === 'eventRefused' || c.type === 'refused') expect(c.why.length).toBeGreaterThan(0);
          }
          expect(state.disks).toBe(disks);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('an admin request of huge sizes is refused at once', () => {
    const base = started();
    for (const segmentCount of [1e9, 2 ** 53, Number.MAX_VALUE]) {
      const [, commands] = noThrow(() => controllerStep(base, { type: 'createDisk', requestId: 5, disk: 'big', segmentBlocks: 8, segmentCount }));
      expect(commands).toEqual([{ type: 'adminDone', requestId: 5, result: { ok: false, error: expect.stringMatching(/segmentCount/) } }]);
    }
    const [, commands] = noThrow(() => controllerStep(base, { type: 'migrate', requestId: 6, disk: 'vol', segments: new Array(2 ** 30), lun: 2 }));
    expect(commands).toEqual([{ type: 'adminDone', requestId: 6, result: { ok: false, error: expect.stringMatching(/limits.maxSegmentsPerDisk/) } }]);
  });
});

describe('fuzz: controller runtime', () => {
  it('admin never rejects and always answers, whatever the request', async () => {
    const clock = unwrap(createManualClock());
    const network = unwrap(createMemoryNetwork({ seed: 1 }));
    const storage = unwrap(createMemoryStorage({ blockSize: 16, luns: { 1: 4096, 2: 4096 } }));
    const { createMemoryPersistence } = await import('../../src/adapters/memory.js');
    const controller = await createController({ storage, transport: network.transport('controller') as never, persistence: createMemoryPersistence(), clock, allocator: unwrap(createAllocator({ 1: 4096, 2: 4096 })) });
    const agentSide = network.transport('a1') as unknown as { send(to: string, m: unknown): void };
    await fc.assert(
      fc.asyncProperty(fc.oneof(...admins.map(({ requestId: _, ...r }) => plant(r)), hostileArb), fc.oneof(...messages.map(plant), hostileArb), async (raw, message) => {
        const [request, m] = [raw, message].map((x) => x) as unknown[];
        noThrow(() => agentSide.send('controller', m));
        noThrow(() => network.deliverAll());
        const answer = noThrow(() => controller.admin(request as never));
        let result: unknown = null;
        answer.then((r) => (result = r), (e: unknown) => (result = { rejected: e }));
        for (let i = 0; i < 20 && result === null; i++) {
          for (let k = 0; k < 10; k++) await Promise.resolve();
          network.deliverAll();
          unwrap(clock.advance(50));
        }
        expect(result).not.toBeNull();
        expect(result).toHaveProperty('ok');
      }),
      { numRuns: 40 },
    );
    controller.stop();
  });

  it('createController rejects (never throws synchronously, never a TypeError) on hostile adapters and options', async () => {
    await fc.assert(
      fc.asyncProperty(hostileArb, plant({ retryInterval: 100, tickInterval: 20, historyLimit: 4, copyConcurrency: 2, variant: 'centralized', limits: { maxDisks: 4 } }), async (adapters, config) => {
        const started = noThrow(() => createController(adapters as never, config as never));
        await started.then(
          (c) => {
            c.stop();
            return expect.fail('accepted hostile adapters');
          },
          (e: unknown) => {
            expect(e).toBeInstanceOf(Error);
            expect((e as Error).name).toBe('Error');
          },
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: in-memory adapters, local cluster and simulator configuration', () => {
  it('the factories answer a Left naming the field, or a working adapter', () => {
    fc.assert(
      hostileProperty(
        fc.oneof(plant({ seed: 1, dropRate: 0.1, duplicateRate: 0.1, maxDelay: 3, delivery: 'manual' }), hostileArb),
        fc.oneof(plant({ blockSize: 16, luns: { 1: 64 }, failureRate: 0, seed: 1 }), hostileArb),
        hostileArb,
        (network, storage, start) => {
          expectEither(noThrow(() => createMemoryNetwork(network as never)), (n) => n.pending() === 0);
          expectEither(noThrow(() => createMemoryStorage(storage as never)), (s) => s.blockSize > 0);
          expectEither(noThrow(() => createManualClock(start as never)), (c) => Number.isFinite(c.now()));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('simConfigErrors names the problems, and createCluster throws an Error (never a TypeError) exactly when there are some', () => {
    fc.assert(
      hostileProperty(fc.oneof(plant({ seed: 1, agents: 2, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 4, agents: [0] }], luns: { 1: 256 }, faults: { dropRate: 0.1 }, tickInterval: 10 }), hostileArb), (config) => {
        const errors = noThrow(() => simConfigErrors(config as never));
        if (errors.length > 0) {
          for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
          expect(() => createCluster(config as never)).toThrow(Error);
          try {
            createCluster(config as never);
          } catch (e) {
            expect((e as Error).name).toBe('Error');
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('workloadErrors names the problems, and run throws an Error (never a TypeError) exactly when there are some', () => {
    const cluster = createCluster({ seed: 1, agents: 1, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 4 }], luns: { 1: 256 } });
    fc.assert(
      hostileProperty(fc.oneof(plant({ ios: 3, interval: 1, readRatio: 0.5, pattern: 'random', maxLength: 4, rates: { snapshot: 0.1 }, schedule: [{ at: 1, action: { type: 'restartController' } }], verify: false }), hostileArb), (workload) => {
        const errors = noThrow(() => workloadErrors(workload as never));
        if (errors.length === 0) return;
        for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
        try {
          cluster.run(workload as never);
          expect.fail('ran a malformed workload');
        } catch (e) {
          expect((e as Error).name).toBe('Error');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('createLocalCluster rejects hostile options with an Error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(plant({ luns: 'x', agents: ['a', 'a'], blockSize: 0 }), hostileArb), async (raw) => {
        const options = raw as unknown;
        if (options === undefined) return; // the defaults: a working cluster, tested elsewhere
        await noThrow(() => createLocalCluster(options as never)).then(
          (c) => c.stop(),
          (e: unknown) => expect((e as Error).name).toBe('Error'),
        );
      }),
      { numRuns: 40 },
    );
  });
});
