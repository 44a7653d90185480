/**
 * A seeded driver for one controller, for tests that need long realistic runs: it plays
 * persistence, storage, two or three agents and an operator, and reacts only to its own
 * controller's commands, so a run is a function of the seed and of the controller's answers.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createPrng, type Prng } from '../../src/adapters/prng.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable } from '../../src/table/table.js';

/** The entry module of the controller (possibly a freshly loaded instance of it). */
export type ControllerModule = Pick<typeof import('../../src/controller/controller.js'), 'controllerStep' | 'initialControllerState'>;

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

const SEGMENT_BLOCKS = 8;
const SEGMENTS = 16;
const DISK = 'vol';

/** A structural fingerprint of any value (maps, sets, typed arrays, class instances). */
export const fingerprint = (x: unknown, depth = 0): unknown => {
  if (depth > 64) throw new Error('fingerprint: too deep (cycle?)');
  if (typeof x === 'number') return Number.isFinite(x) ? x : String(x);
  if (typeof x === 'function') return '<fn>';
  if (x === null || typeof x !== 'object') return x;
  if (ArrayBuffer.isView(x)) return { typed: Array.from(x as unknown as ArrayLike<number>) };
  if (x instanceof Map) return { map: [...x].map(([k, v]) => [fingerprint(k, depth + 1), fingerprint(v, depth + 1)]) };
  if (x instanceof Set) return { set: [...x].map((v) => fingerprint(v, depth + 1)) };
  if (Array.isArray(x)) return x.map((v) => fingerprint(v, depth + 1));
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(x)) o[k] = fingerprint((x as Record<string, unknown>)[k], depth + 1);
  return o;
};
export const print = (x: unknown): string => JSON.stringify(fingerprint(x));

/** A disk with zero, plain and unfinished copy-on-write segments, so settle jobs copy from the start. */
const restoredEvent = (): ControllerEvent => {
  const table = right(
    createTable({
      segmentBlocks: SEGMENT_BLOCKS,
      segmentCount: SEGMENTS,
      entries: (s) =>
        s % 4 === 0
          ? { zero: true }
          : s % 4 === 1
            ? { location: { lun: 1, start: s * SEGMENT_BLOCKS }, noWrite: true, alternate: { lun: 2, start: s * SEGMENT_BLOCKS, blocks: [0, 1] } }
            : { location: { lun: 1, start: s * SEGMENT_BLOCKS } },
    }),
  );
  return { type: 'restored', now: 0, state: { tables: [{ disk: DISK, table: encodeTable(table) }], attachments: [{ disk: DISK, agents: ['a0', 'a1'] }] } };
};

/**
 * One controller and everything around it, driven by a seed: each `step` picks an event from
 * the answers its controller's commands call for (persist, copies, table acknowledgements and
 * fetches), host I/O faults, ticks and admin requests, and feeds it.
 */
export class Driver {
  state: ControllerState;
  /** Every event fed and the commands it gave, printed. */
  readonly log: string[] = [];
  private readonly prng: Prng;
  private now = 0;
  private persistId: number | null = null;
  private readonly copies: number[] = [];
  private readonly inbox: AgentMessage[] = [];
  private readonly generations = new Map<string, number>([['a0', -1], ['a1', -1]]);
  private nextFaultId = 1;
  private nextRequest = 1;

  constructor(
    private readonly controller: ControllerModule,
    seed: number,
  ) {
    this.state = controller.initialControllerState(right(createAllocator({ 1: 4096, 2: 4096 })), { retryInterval: 50, copyConcurrency: 2 });
    this.prng = createPrng(seed);
    this.feed(restoredEvent());
  }

  step(): void {
    this.feed(this.nextEvent());
  }

  private nextEvent(): ControllerEvent {
    const p = this.prng;
    if (this.inbox.length > 0 && p.chance(0.45)) return { type: 'message', message: this.inbox.splice(p.int(Math.min(2, this.inbox.length)), 1)[0]! };
    if (this.persistId !== null && p.chance(0.35)) {
      const persistId = this.persistId;
      this.persistId = null;
      return p.chance(0.1) ? { type: 'persistFailed', persistId, error: 'disk full' } : { type: 'persisted', persistId };
    }
    if (this.copies.length > 0 && p.chance(0.35)) {
      const copyId = this.copies.splice(p.int(this.copies.length), 1)[0]!;
      return p.chance(0.1) ? { type: 'copyFailed', copyId, error: 'medium error' } : { type: 'copyDone', copyId };
    }
    if (p.chance(0.12)) return { type: 'tick', now: (this.now += 20 + p.int(40)) };
    if (p.chance(0.04)) {
      const requestId = this.nextRequest++;
      const which = p.int(4);
      if (which === 0) return { type: 'snapshot', requestId, disk: DISK, snapshot: `snap-${requestId}` };
      if (which === 1) return { type: 'migrate', requestId, disk: DISK, segments: [p.int(SEGMENTS), p.int(SEGMENTS)], lun: 2 };
      if (which === 2) return { type: 'markFailed', requestId, lun: 1, start: p.int(SEGMENTS) * SEGMENT_BLOCKS, length: 1 };
      return { type: 'attachAgent', requestId, disk: DISK, agent: 'a2' };
    }
    const agent = ['a0', 'a1', 'a2'][p.int(3)]!;
    const segment = p.int(SEGMENTS);
    const start = segment * SEGMENT_BLOCKS + p.int(SEGMENT_BLOCKS - 1);
    return {
      type: 'message',
      message: {
        type: 'ioFault', agent, epoch: 1, faultId: this.nextFaultId++, disk: DISK, segment, op: p.chance(0.8) ? 'write' : 'read',
        start, length: 1 + p.int(2), reason: p.chance(0.5) ? 'zero' : 'no-write', generation: this.generations.get(agent) ?? -1,
      },
    };
  }

  private feed(event: ControllerEvent): void {
    const [next, commands] = this.controller.controllerStep(this.state, event);
    this.state = next;
    this.log.push(print([event, commands]));
    for (const c of commands) this.answer(c);
  }

  private answer(c: ControllerCommand): void {
    if (c.type === 'persist') this.persistId = c.persistId;
    else if (c.type === 'copyBlocks' || c.type === 'writeZeros') this.copies.push(c.copyId);
    else if (c.type === 'send' && 'disk' in c.message && c.message.disk === DISK) {
      const agent = c.to;
      const m = c.message;
      const ack = (generation: number): void => void this.inbox.push({ type: 'tableAck', agent, epoch: 1, disk: DISK, generation });
      const fetch = (): void => void this.inbox.push({ type: 'fetchTable', agent, epoch: 1, disk: DISK, generation: this.generations.get(agent) ?? -1 });
      if (m.type === 'replaceTable') {
        this.generations.set(agent, m.table.generation);
        ack(m.table.generation);
      } else if (m.type === 'setEntries') {
        if (m.fromGeneration === this.generations.get(agent)) {
          this.generations.set(agent, m.generation);
          ack(m.generation);
        } else fetch();
      } else if (m.type === 'refreshTable') fetch();
    }
  }
}

