/**
 * 7. Controller: resolving a write fault on a disk mapped by 16 agents, on a 1,048,576-segment
 * disk vs a 1,024-segment disk (65,536 vs 1,024 in quick mode). Target: the big disk costs at
 * most 1.5x the small one per resolution; both are reported in resolutions per second.
 *
 * The pure machine is driven directly (`controllerStep`), with this file playing persistence and
 * the 16 agents: every `persist` is answered `persisted`, every `setEntries`/`replaceTable` is
 * applied and acknowledged with `tableAck`, `refreshTable` is answered with `fetchTable`.
 * Setup: `restored` with the disk's table, `attachAgent` x16, then each agent sends an `ioFault`
 * for segment -1 (it holds no table) and acknowledges the `replaceTable` it gets. Then each
 * resolution: one agent (in turn) sends an `ioFault` for a 1-block write to a `zero` segment
 * (the next block of it each time, so each zero segment serves 256 faults before it is full
 * and promoted); the controller fences the relocation (16 agents hold the disk), so it goes
 * through two persist/ack rounds, and ends with a `retry` to the faulting agent and a
 * `resolved` command. Every figure counts from the `ioFault` to that `resolved`.
 *
 * The machine only re-sends to an agent after `retryInterval` of controller time, and time only
 * moves with `tick` events; if the queue of answers runs dry before the resolution, this driver
 * advances time by one `retryInterval` with a `tick` (counted, and reported on stderr).
 */
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import {
  FREE_LUN,
  generateDataset,
  interleave,
  KIND_ZERO,
  libraryTable,
  median,
  medianRatio,
  now,
  result,
  unwrap,
  type BenchOptions,
  type Dataset,
  type Result,
  type Workload,
} from '../lib.js';

const AGENTS = 16;
const DISK = 'disk';
const RETRY_INTERVAL = 100;

interface AgentCopy {
  readonly id: string;
  readonly epoch: number;
  generation: number;
}

export class ControllerHarness {
  state: ControllerState;
  readonly agents: AgentCopy[] = [];
  readonly segmentBlocks: number;
  private readonly zeroSegments: number[] = [];
  private zeroAt = 0;
  private blockAt = 0;
  private time = 0;
  private nextFaultId = 1;
  private nextRequest = 1;
  /** Ticks the driver had to inject to get a resolution through. */
  ticks = 0;
  steps = 0;
  /** Set when the awaited fault is answered. */
  private done: { faultId: number; outcome: string | null; retried: boolean } | null = null;

  constructor(readonly ds: Dataset) {
    this.segmentBlocks = ds.segmentBlocks;
    for (let s = 0; s < ds.segmentCount; s++) if (ds.kind[s] === KIND_ZERO) this.zeroSegments.push(s);
    const lunSizes: Record<number, number> = { ...ds.lunSizes, [FREE_LUN]: 2 ** 40 };
    this.state = initialControllerState(unwrap(createAllocator(lunSizes), 'createAllocator'), { retryInterval: RETRY_INTERVAL });
    const table = libraryTable(ds);
    this.feed({ type: 'restored', now: 0, state: { tables: [{ disk: DISK, table: encodeTable(table) }], attachments: [] } });
    for (let a = 0; a < AGENTS; a++) {
      const agent = { id: `agent-${a}`, epoch: 1, generation: -1 };
      this.agents.push(agent);
      this.feed({ type: 'attachAgent', requestId: this.nextRequest++, disk: DISK, agent: agent.id });
    }
    // Each agent learns it has no table (an I/O fault on segment -1) and gets one (585).
    for (const agent of this.agents) {
      const faultId = this.nextFaultId++;
      this.resolve(faultId, {
        type: 'ioFault', agent: agent.id, epoch: agent.epoch, faultId, disk: DISK, segment: -1, op: 'read', start: 0, length: 1, reason: 'invalid', generation: -1,
      });
      if (agent.generation < 0) throw new Error(`bench: controller: ${agent.id} got no table`);
    }
  }

  /** Zero-segment blocks left for write faults. */
  get capacity(): number {
    return (this.zeroSegments.length - this.zeroAt) * this.segmentBlocks - this.blockAt;
  }

  /** One write fault on the next block of a zero segment, resolved end to end. */
  writeFault(n: number): void {
    if (this.zeroAt >= this.zeroSegments.length) throw new Error('bench: controller: out of zero segments');
    const segment = this.zeroSegments[this.zeroAt]!;
    const block = segment * this.segmentBlocks + this.blockAt;
    if (++this.blockAt === this.segmentBlocks) {
      this.blockAt = 0;
      this.zeroAt++;
    }
    const agent = this.agents[n % AGENTS]!;
    const faultId = this.nextFaultId++;
    this.resolve(faultId, {
      type: 'ioFault', agent: agent.id, epoch: agent.epoch, faultId, disk: DISK, segment, op: 'write', start: block, length: 1, reason: 'zero', generation: agent.generation,
    });
  }

  private resolve(faultId: number, message: AgentMessage): void {
    this.done = { faultId, outcome: null, retried: false };
    this.feed({ type: 'message', message });
    for (let t = 0; this.done.outcome === null; t++) {
      if (t >= 5) throw new Error(`bench: controller: fault ${faultId} not resolved after ${t} ticks`);
      this.ticks++;
      this.time += RETRY_INTERVAL;
      this.feed({ type: 'tick', now: this.time });
    }
    if (this.done.outcome !== 'retry' || !this.done.retried) throw new Error(`bench: controller: fault ${faultId} ended ${this.done.outcome}, retry sent: ${this.done.retried}`);
  }

  /** Feeds `first` and then every answer the commands call for, until nothing is left to answer. */
  private feed(first: ControllerEvent): void {
    const queue: ControllerEvent[] = [first];
    for (let q = 0; q < queue.length; q++) {
      const [next, commands] = controllerStep(this.state, queue[q]!);
      this.state = next;
      this.steps++;
      for (const c of commands) this.answer(c, queue);
    }
  }

  private answer(c: ControllerCommand, queue: ControllerEvent[]): void {
    switch (c.type) {
      case 'persist':
        queue.push({ type: 'persisted', persistId: c.persistId });
        return;
      case 'copyBlocks':
      case 'writeZeros':
        queue.push({ type: 'copyDone', copyId: c.copyId });
        return;
      case 'flush':
        queue.push({ type: 'flushed', flushId: c.flushId });
        return;
      case 'resolved':
        if (this.done !== null && c.faultId === this.done.faultId) this.done.outcome = c.outcome;
        return;
      case 'refused':
        throw new Error(`bench: controller refused ${c.message.type}: ${c.why}`);
      case 'adminDone':
        if (!c.result.ok) throw new Error(`bench: controller admin request failed: ${c.result.error}`);
        return;
      case 'released':
        return;
      case 'send': {
        const agent = this.agents.find((a) => a.id === c.to);
        if (agent === undefined) return;
        const m = c.message;
        const ack = (generation: number): void => {
          queue.push({ type: 'message', message: { type: 'tableAck', agent: agent.id, epoch: agent.epoch, disk: DISK, generation } });
        };
        switch (m.type) {
          case 'replaceTable':
            agent.generation = m.table.generation;
            return ack(agent.generation);
          case 'setEntries':
            if (m.fromGeneration === agent.generation) {
              agent.generation = m.generation;
              return ack(agent.generation);
            }
            if (m.generation <= agent.generation) return ack(agent.generation); // old news
            queue.push({ type: 'message', message: { type: 'fetchTable', agent: agent.id, epoch: agent.epoch, disk: DISK, generation: agent.generation } });
            return;
          case 'refreshTable':
            queue.push({ type: 'message', message: { type: 'fetchTable', agent: agent.id, epoch: agent.epoch, disk: DISK, generation: agent.generation } });
            return;
          case 'retry':
            if (this.done !== null && m.faultId === this.done.faultId) this.done.retried = true;
            return;
          case 'failIo':
            throw new Error(`bench: controller failed I/O ${m.faultId}: ${m.reason}`);
          default:
            return;
        }
      }
    }
  }
}

export const controllerWorkload: Workload = {
  name: 'controller',
  title: 'controller write-fault resolution, 16 agents: big disk vs 1,024-segment disk',
  run(o: BenchOptions): Result[] {
    const perRound = o.quick ? 40 : 150;
    const build = (segments: number, seed: number): ControllerHarness => {
      const t0 = now();
      const h = new ControllerHarness(generateDataset(segments, seed));
      o.log(`controller: ${segments.toLocaleString('en-US')}-segment disk ready in ${((now() - t0) / 1000).toFixed(1)} s (${h.steps} steps, ${h.capacity} zero blocks)`);
      return h;
    };
    const small = build(1024, o.seed + 7);
    const big = build(o.segments, o.seed + 7);
    const needed = perRound * (o.rounds + 1);
    if (small.capacity < needed) throw new Error(`bench: controller: the small disk has ${small.capacity} zero blocks, ${needed} needed`);
    let n = 0;
    const timed = (h: ControllerHarness) => (): number => {
      const t0 = now();
      for (let i = 0; i < perRound; i++) h.writeFault(n++);
      return perRound / ((now() - t0) / 1000); // resolutions per second
    };
    const before = { small: small.steps, big: big.steps };
    const r = interleave(o.rounds, timed(big), timed(small));
    const faults = perRound * (o.rounds + 1);
    o.log(
      `controller: ${((big.steps - before.big) / faults).toFixed(1)} steps per resolution (big), ${((small.steps - before.small) / faults).toFixed(1)} (small); ticks injected: ${big.ticks} (big), ${small.ticks} (small)`,
    );
    return [
      result(
        {
          name: 'controller',
          unit: 'resolutions/s',
          value: median(r.subject),
          baseline: '1,024-segment disk',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => b / s),
        },
        { direction: 'atMost', bound: 1.5, ratioIs: 'time/baseline' },
      ),
    ];
  },
};
