/**
 * Fault storm: many first writes to distinct `noWrite` segments outstanding at once, on a
 * 1,048,576-segment disk (65,536 in quick mode) mapped by 16 agents, through the pure
 * controller machine. Target: at least 10x the resolutions per second of the same faults one at
 * a time (`fault-storm-serial`: the same driver, one fault outstanding), rounds interleaved in the
 * same run. The one-at-a-time `controller` workload (`bench/workloads/controller.ts`), which the
 * first target was set against, is reported next to it (`fault-storm-vs-controller`).
 *
 * This file plays persistence and the 16 agents, as the controller workload does: every
 * `persist` is answered `persisted`, every `setEntries`/`replaceTable` is applied and
 * acknowledged, every copy a fault asks for is answered `copyDone` and every `flush` `flushed`.
 * Answers go through one FIFO
 * queue, so everything the controller sends while earlier answers are outstanding overlaps
 * with them, as it would with real latency. A storm feeds `storm` `ioFault` messages (a 1-block
 * write to the first block of a distinct `noWrite` segment, from the agents in turn) before
 * any answer, then drains the queue until every fault is `resolved`.
 *
 * Both the storm and the one-at-a-time baseline feed the events queued together as one `batch`
 * event (a run of `ioFault`s, or of other events, at a time), as the controller runtime does;
 * `VDISK_STORM_BATCH=0` feeds one event per step in both instead. Steps are counted per event.
 *
 * The background copy that each such fault starts (a settle job copying the rest of the
 * segment, then promoting the alternate) is not answered during the storm: its copy commands
 * are held, so the figures are those of fault resolution alone (persist records, messages,
 * acknowledgements and flushes per fault), in the storm and one at a time alike.
 */
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import {
  FREE_LUN,
  generateDataset,
  interleave,
  KIND_NO_WRITE,
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
import { ControllerHarness } from './controller.js';

const AGENTS = 16;
const DISK = 'disk';
const RETRY_INTERVAL = 100;

interface AgentCopy {
  readonly id: string;
  readonly epoch: number;
  generation: number;
}

/** What a storm cost, counted from the first `ioFault` to the last `resolved`. */
export interface StormCounts {
  faults: number;
  steps: number;
  persistCommands: number;
  persistRecords: number;
  /** Entries in those records (`updateTable` changes). */
  persistEntries: number;
  /** `send` commands to agents, all types. */
  messages: number;
  /** `setEntries` / `replaceTable` / `refreshTable` sends. */
  tableMessages: number;
  /** Entries carried by `setEntries` sends. */
  sentEntries: number;
  acks: number;
  ticks: number;
  /** `flush` commands. */
  flushes: number;
  /** Copy commands of background (settle) jobs, held unanswered. */
  heldCopies: number;
}

const zeroCounts = (): StormCounts => ({
  faults: 0, steps: 0, persistCommands: 0, persistRecords: 0, persistEntries: 0, messages: 0, tableMessages: 0, sentEntries: 0, acks: 0, ticks: 0, flushes: 0, heldCopies: 0,
});

export class StormHarness {
  state: ControllerState;
  readonly agents: AgentCopy[] = [];
  private readonly noWrite: number[] = [];
  private noWriteAt = 0;
  private time = 0;
  private nextFaultId = 1;
  private nextRequest = 1;
  private pending = new Set<number>();
  private faultStep = false;
  counts: StormCounts = zeroCounts();
  private readonly queue: ControllerEvent[] = [];
  private head = 0;

  /**
   * `batch`: the events queued together are fed as `batch` events (a run of consecutive
   * `ioFault`s, or of other events, at a time), as a runtime hands over what has arrived;
   * otherwise one event per step.
   */
  constructor(
    readonly ds: Dataset,
    readonly batch = false,
  ) {
    for (let s = 0; s < ds.segmentCount; s++) if (ds.kind[s] === KIND_NO_WRITE) this.noWrite.push(s);
    const lunSizes: Record<number, number> = { ...ds.lunSizes, [FREE_LUN]: 2 ** 40 };
    this.state = initialControllerState(unwrap(createAllocator(lunSizes), 'createAllocator'), { retryInterval: RETRY_INTERVAL });
    this.push({ type: 'restored', now: 0, state: { tables: [{ disk: DISK, table: encodeTable(libraryTable(ds)) }], attachments: [] } });
    for (let a = 0; a < AGENTS; a++) {
      this.agents.push({ id: `agent-${a}`, epoch: 1, generation: -1 });
      this.push({ type: 'attachAgent', requestId: this.nextRequest++, disk: DISK, agent: `agent-${a}` });
    }
    this.drain();
    // Each agent learns it has no table (a fault on segment -1) and gets one.
    for (const agent of this.agents) this.fault(agent, -1, 'read', 0, 'invalid');
    this.settle();
    for (const agent of this.agents) if (agent.generation < 0) throw new Error(`bench: fault-storm: ${agent.id} got no table`);
  }

  /** `noWrite` segments not yet written. */
  get capacity(): number {
    return this.noWrite.length - this.noWriteAt;
  }

  /**
   * `n` first writes to distinct `noWrite` segments, at most `window` outstanding at once
   * (`window` = `n`: all at once; 1: one at a time). Returns what they cost.
   */
  storm(n: number, window: number): StormCounts {
    if (this.capacity < n) throw new Error(`bench: fault-storm: ${this.capacity} noWrite segments left, ${n} needed`);
    this.counts = zeroCounts();
    for (let i = 0; i < n; ) {
      while (this.pending.size < window && i < n) {
        const seg = this.noWrite[this.noWriteAt++]!;
        this.fault(this.agents[i % AGENTS]!, seg, 'write', seg * this.ds.segmentBlocks, 'no-write');
        i++;
      }
      this.drainUntil(window === n ? 0 : window - 1);
    }
    this.settle();
    this.counts.faults = n;
    return this.counts;
  }

  private fault(agent: AgentCopy, segment: number, op: 'read' | 'write', start: number, reason: 'invalid' | 'no-write'): void {
    const faultId = this.nextFaultId++;
    this.pending.add(faultId);
    const message: AgentMessage = { type: 'ioFault', agent: agent.id, epoch: agent.epoch, faultId, disk: DISK, segment, op, start, length: 1, reason, generation: agent.generation };
    this.push({ type: 'message', message });
  }

  /** Answers until at most `left` faults are outstanding; injects a tick if the machine stalls. */
  private drainUntil(left: number): void {
    for (let t = 0; this.pending.size > left; t++) {
      this.drain(left);
      if (this.pending.size <= left) return;
      if (t >= 5) throw new Error(`bench: fault-storm: ${this.pending.size} faults unresolved after ${t} ticks`);
      this.counts.ticks++;
      this.time += RETRY_INTERVAL;
      this.push({ type: 'tick', now: this.time });
    }
  }

  private settle(): void {
    this.drainUntil(0);
    this.drain();
  }

  private push(e: ControllerEvent): void {
    this.queue.push(e);
  }

  private drain(left = -1): void {
    while (this.head < this.queue.length && this.pending.size > left) {
      const first = this.queue[this.head]!;
      this.faultStep = isFault(first);
      let end = this.head + 1;
      if (this.batch) while (end < this.queue.length && isFault(this.queue[end]!) === this.faultStep) end++;
      const event: ControllerEvent = end === this.head + 1 ? first : { type: 'batch', events: this.queue.slice(this.head, end) };
      this.counts.steps += end - this.head;
      this.head = end;
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      const [next, commands] = controllerStep(this.state, event);
      this.state = next;
      for (const c of commands) this.answer(c);
    }
  }

  private answer(c: ControllerCommand): void {
    switch (c.type) {
      case 'persist':
        this.counts.persistCommands++;
        this.counts.persistRecords += c.records.length;
        for (const r of c.records) if (r.type === 'updateTable') this.counts.persistEntries += r.changes.length;
        this.push({ type: 'persisted', persistId: c.persistId });
        return;
      case 'copyBlocks':
      case 'writeZeros':
        // A fault's own copy (the old content of its blocks) is answered; background copies are held.
        if (this.faultStep) this.push({ type: 'copyDone', copyId: c.copyId });
        else this.counts.heldCopies++;
        return;
      case 'flush':
        this.counts.flushes++;
        this.push({ type: 'flushed', flushId: c.flushId });
        return;
      case 'resolved':
        if (c.outcome !== 'retry') throw new Error(`bench: fault-storm: fault ${c.faultId} ended ${c.outcome}: ${c.detail ?? ''}`);
        this.pending.delete(c.faultId);
        return;
      case 'refused':
        throw new Error(`bench: fault-storm: controller refused ${c.message.type}: ${c.why}`);
      case 'adminDone':
        if (!c.result.ok) throw new Error(`bench: fault-storm: admin request failed: ${c.result.error}`);
        return;
      case 'released':
        return;
      case 'send': {
        this.counts.messages++;
        const agent = this.agents.find((a) => a.id === c.to);
        if (agent === undefined) return;
        const m = c.message;
        const ack = (generation: number): void => {
          this.counts.acks++;
          this.push({ type: 'message', message: { type: 'tableAck', agent: agent.id, epoch: agent.epoch, disk: DISK, generation } });
        };
        const fetch = (): void => this.push({ type: 'message', message: { type: 'fetchTable', agent: agent.id, epoch: agent.epoch, disk: DISK, generation: agent.generation } });
        switch (m.type) {
          case 'replaceTable':
            this.counts.tableMessages++;
            agent.generation = m.table.generation;
            return ack(agent.generation);
          case 'setEntries':
            this.counts.tableMessages++;
            this.counts.sentEntries += m.changes.length;
            if (m.fromGeneration === agent.generation) {
              agent.generation = m.generation;
              return ack(agent.generation);
            }
            if (m.generation <= agent.generation) return ack(agent.generation);
            return fetch();
          case 'refreshTable':
            this.counts.tableMessages++;
            return fetch();
          case 'failIo':
            throw new Error(`bench: fault-storm: controller failed I/O ${m.faultId}: ${m.reason}`);
          default:
            return;
        }
      }
    }
  }
}

/** A fault's own copies are answered, a background job's held: a batch never mixes the two. */
const isFault = (e: ControllerEvent): boolean => e.type === 'message' && e.message.type === 'ioFault';

const perFault = (c: StormCounts): string =>
  `${(c.steps / c.faults).toFixed(2)} steps, ${(c.persistCommands / c.faults).toFixed(4)} persist commands, ${(c.persistRecords / c.faults).toFixed(4)} persist records ` +
  `(${(c.persistEntries / c.faults).toFixed(2)} entries), ${(c.messages / c.faults).toFixed(3)} messages (${(c.tableMessages / c.faults).toFixed(3)} table updates carrying ` +
  `${(c.sentEntries / c.faults).toFixed(1)} entries), ${(c.acks / c.faults).toFixed(3)} acks, ${(c.flushes / c.faults).toFixed(4)} flushes per fault; ${c.ticks} ticks, ${c.heldCopies} background copies held`;

export const faultStormWorkload: Workload = {
  name: 'fault-storm',
  title: 'controller: 10,000 concurrent first writes to noWrite segments, 16 agents, vs the same faults one at a time',
  run(o: BenchOptions): Result[] {
    const stormSize = Number(process.env.VDISK_STORM_SIZE ?? (o.quick ? 500 : 10_000));
    // Each storm uses up its noWrite segments: warm-up plus at most 3 rounds fit in 5% of the disk.
    const rounds = Math.min(o.rounds, 3);
    const serialPerRound = o.quick ? 40 : 300;
    const controllerPerRound = o.quick ? 40 : 150;
    const batch = process.env.VDISK_STORM_BATCH !== '0';
    const ds = generateDataset(o.segments, o.seed + 11);
    const t0 = now();
    const storm = new StormHarness(ds, batch);
    o.log(`fault-storm: ${o.segments.toLocaleString('en-US')}-segment disk ready in ${((now() - t0) / 1000).toFixed(1)} s, ${storm.capacity} noWrite segments; events ${batch ? 'queued together fed as one batch' : 'fed one per step'}`);
    const serial = new StormHarness(generateDataset(o.segments, o.seed + 11), batch);
    const onebyone = new ControllerHarness(generateDataset(o.segments, o.seed + 7));
    const stormCounts: StormCounts[] = [];
    const serialCounts: StormCounts[] = [];
    // The target: the storm against the same kind of fault one at a time, same driver, rounds interleaved.
    const r = interleave(
      rounds,
      () => {
        const t = now();
        const c = storm.storm(stormSize, stormSize);
        const rate = stormSize / ((now() - t) / 1000);
        stormCounts.push(c);
        o.log(`fault-storm: storm of ${stormSize}: ${Math.round(rate)} resolutions/s; ${perFault(c)}`);
        return rate;
      },
      () => {
        const t = now();
        const c = serial.storm(serialPerRound, 1);
        const rate = serialPerRound / ((now() - t) / 1000);
        serialCounts.push(c);
        o.log(`fault-storm: ${serialPerRound} noWrite faults one at a time: ${Math.round(rate)} resolutions/s; ${perFault(c)}`);
        return rate;
      },
    );
    // The one-at-a-time `controller` workload the first target was set against (reported only: since
    // zero segments fill on their first write, 255 of 256 of its faults are a one-step retry).
    let n = 0;
    const controllerRates: number[] = [];
    for (let i = 0; i <= rounds; i++) {
      const t = now();
      for (let k = 0; k < controllerPerRound; k++) onebyone.writeFault(n++);
      if (i > 0) controllerRates.push(controllerPerRound / ((now() - t) / 1000)); // the first is warm-up
    }
    const last = stormCounts[stormCounts.length - 1]!;
    const sc = serialCounts[serialCounts.length - 1]!;
    const per = (c: StormCounts, k: keyof StormCounts): number => c[k] / c.faults;
    const counted = (name: string, unit: string, k: keyof StormCounts): Result =>
      result({ name, unit, value: per(last, k), baseline: 'the same faults one at a time', baselineValue: per(sc, k), ratio: per(last, k) / per(sc, k) }, null);
    const stormRate = median(r.subject);
    return [
      result(
        {
          name: 'fault-storm',
          unit: 'resolutions/s',
          value: stormRate,
          baseline: 'the same faults one at a time',
          baselineValue: median(r.baseline),
          ratio: medianRatio(r, (s, b) => s / b),
        },
        { direction: 'atLeast', bound: 10, ratioIs: 'speedup' },
      ),
      result({ name: 'fault-storm-serial', unit: 'resolutions/s', value: median(r.baseline), baseline: 'controller workload, one at a time', baselineValue: median(controllerRates), ratio: median(r.baseline) / median(controllerRates) }, null),
      result({ name: 'fault-storm-vs-controller', unit: 'resolutions/s', value: stormRate, baseline: 'controller workload, one at a time', baselineValue: median(controllerRates), ratio: stormRate / median(controllerRates) }, null),
      counted('fault-storm-persist-records', 'records/fault', 'persistRecords'),
      counted('fault-storm-persist-commands', 'persists/fault', 'persistCommands'),
      counted('fault-storm-messages', 'messages/fault', 'messages'),
      counted('fault-storm-acks', 'acks/fault', 'acks'),
      counted('fault-storm-flushes', 'flushes/fault', 'flushes'),
      counted('fault-storm-steps', 'steps/fault', 'steps'),
    ];
  },
};
