/**
 * Snapshot: one `snapshot` admin request on a fully allocated disk (every segment plain, no
 * alternates) mapped by 16 agents, 1,048,576 segments (16,384 in quick mode) against 1,024.
 * Targets: the big disk costs at most 2x the small one in time, in bytes persisted and in bytes
 * sent to agents (a snapshot should not cost work proportional to the disk).
 *
 * This file plays persistence and the 16 agents as `bench/workloads/controller.ts` does (every
 * `persist` answered `persisted`, every table message acknowledged), and counts from the
 * `snapshot` event to its `adminDone`: the time of the steps and the answers, the bytes of the
 * persist records (`JSON.stringify` length) and the bytes of the messages sent to agents (the
 * same, each message counted in full; a list of changes shared by several messages is
 * stringified once and counted for each of them). Bytes are counted after the clock stops.
 *
 * The machine is pure, so every round starts from the same state (the disk restored, the 16
 * agents attached and holding the table) and snapshots the same writable disk.
 */
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState, PersistRecord } from '../../src/controller/types.js';
import type { ControllerMessage } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import {
  FREE_LUN,
  generateDataset,
  gc,
  interleave,
  libraryTable,
  median,
  medianRatio,
  now,
  result,
  unwrap,
  type BenchOptions,
  type Result,
  type Workload,
} from '../lib.js';

const AGENTS = 16;
const DISK = 'disk';
const FULLY_ALLOCATED = { alternate: 0, zero: 0, noWrite: 0 };

interface Taken {
  readonly ms: number;
  readonly steps: number;
  readonly records: PersistRecord[];
  readonly sent: ControllerMessage[];
}

/** A controller holding one fully allocated disk, with 16 agents holding its table. */
export class SnapshotHarness {
  readonly ready: ControllerState;
  private generations = new Map<string, number>();
  private rounds = 0;

  constructor(segments: number, seed: number) {
    const ds = generateDataset(segments, seed, FULLY_ALLOCATED);
    const lunSizes: Record<number, number> = { ...ds.lunSizes, [FREE_LUN]: 2 ** 40 };
    let state = initialControllerState(unwrap(createAllocator(lunSizes), 'createAllocator'), { retryInterval: 100 });
    const events: ControllerEvent[] = [{ type: 'restored', now: 0, state: { tables: [{ disk: DISK, table: encodeTable(libraryTable(ds)) }], attachments: [] } }];
    for (let a = 0; a < AGENTS; a++) events.push({ type: 'attachAgent', requestId: a + 1, disk: DISK, agent: `agent-${a}` });
    for (let a = 0; a < AGENTS; a++) {
      events.push({ type: 'message', message: { type: 'ioFault', agent: `agent-${a}`, epoch: 1, faultId: a + 1, disk: DISK, segment: -1, op: 'read', start: 0, length: 1, reason: 'invalid', generation: -1 } });
    }
    state = this.run(state, events, [], []).state;
    this.ready = state;
  }

  /** Feeds the events and every answer they call for; collects persist records and sent messages. */
  private run(state: ControllerState, events: ControllerEvent[], records: PersistRecord[], sent: ControllerMessage[]): { state: ControllerState; steps: number; done: boolean } {
    const queue = [...events];
    let done = false;
    let q = 0;
    for (; q < queue.length; q++) {
      const [next, commands] = controllerStep(state, queue[q]!);
      state = next;
      for (const c of commands) done = this.answer(c, queue, records, sent) || done;
    }
    return { state, steps: q, done };
  }

  private answer(c: ControllerCommand, queue: ControllerEvent[], records: PersistRecord[], sent: ControllerMessage[]): boolean {
    switch (c.type) {
      case 'persist':
        records.push(...c.records);
        queue.push({ type: 'persisted', persistId: c.persistId });
        return false;
      case 'copyBlocks':
      case 'writeZeros':
        queue.push({ type: 'copyDone', copyId: c.copyId });
        return false;
      case 'flush':
        queue.push({ type: 'flushed', flushId: c.flushId });
        return false;
      case 'refused':
        throw new Error(`bench: snapshot: controller refused ${c.message.type}: ${c.why}`);
      case 'adminDone':
        if (!c.result.ok) throw new Error(`bench: snapshot: admin request failed: ${c.result.error}`);
        return c.requestId >= 1000;
      case 'send': {
        const m = c.message;
        sent.push(m);
        if (!('disk' in m)) return false;
        const agent = c.to;
        const ack = (generation: number): void => {
          this.generations.set(agent, generation);
          queue.push({ type: 'message', message: { type: 'tableAck', agent, epoch: 1, disk: m.disk, generation } });
        };
        const held = this.generations.get(agent) ?? -1;
        if (m.type === 'replaceTable') ack(m.table.generation);
        else if (m.type === 'setEntries') {
          if (m.fromGeneration === held || m.generation <= held) ack(Math.max(held, m.generation));
          else queue.push({ type: 'message', message: { type: 'fetchTable', agent, epoch: 1, disk: m.disk, generation: held } });
        } else if (m.type === 'refreshTable') queue.push({ type: 'message', message: { type: 'fetchTable', agent, epoch: 1, disk: m.disk, generation: held } });
        return false;
      }
      default:
        return false;
    }
  }

  /** One snapshot of the disk, from the ready state. */
  snapshot(): Taken {
    const records: PersistRecord[] = [];
    const sent: ControllerMessage[] = [];
    // Every round starts with the agents where the ready state left them.
    const agentsAt = new Map(this.generations);
    const t0 = now();
    const r = this.run(this.ready, [{ type: 'snapshot', requestId: 1000 + this.rounds++, disk: DISK, snapshot: `snap-${this.rounds}` }], records, sent);
    const ms = now() - t0;
    this.generations = agentsAt;
    if (!r.done) throw new Error('bench: snapshot: the snapshot was not answered');
    return { ms, steps: r.steps, records, sent };
  }
}

/** `JSON.stringify` length, with arrays shared between messages stringified once. */
const byteCounter = () => {
  const memo = new WeakMap<object, number>();
  const shared = (x: object): number => {
    let n = memo.get(x);
    if (n === undefined) memo.set(x, (n = JSON.stringify(x).length));
    return n;
  };
  return (x: PersistRecord | ControllerMessage): number => {
    if ('changes' in x) return JSON.stringify({ ...x, changes: [] }).length - 2 + shared(x.changes);
    if ('table' in x) return JSON.stringify({ ...x, table: null }).length - 4 + shared(x.table);
    return JSON.stringify(x).length;
  };
};

export const snapshotWorkload: Workload = {
  name: 'snapshot',
  title: 'snapshot of a fully allocated disk, 16 agents: big disk vs 1,024 segments',
  run(o: BenchOptions): Result[] {
    // A round costs milliseconds since snapshots are O(chunks): every round counts, for a steadier median.
    const rounds = o.rounds;
    const build = (segments: number): SnapshotHarness => {
      const t0 = now();
      const h = new SnapshotHarness(segments, o.seed + 13);
      o.log(`snapshot: ${segments.toLocaleString('en-US')}-segment disk ready in ${((now() - t0) / 1000).toFixed(1)} s`);
      return h;
    };
    const small = build(1024);
    // Quick mode is a smoke test of a small disk.
    const big = build(o.quick ? Math.min(o.segments, 16_384) : o.segments);
    const last: { big: Taken | null; small: Taken | null } = { big: null, small: null };
    const timed = (h: SnapshotHarness, k: 'big' | 'small') => (): number => {
      last[k] = null;
      gc();
      const t = h.snapshot();
      last[k] = t;
      return t.ms;
    };
    const r = interleave(rounds, timed(big, 'big'), timed(small, 'small'));
    const count = byteCounter();
    const figures = (t: Taken) => ({
      persisted: t.records.reduce((n, x) => n + count(x), 0),
      sent: t.sent.reduce((n, x) => n + count(x), 0),
      records: t.records.length,
      messages: t.sent.length,
      steps: t.steps,
      entriesPersisted: t.records.reduce((n, x) => n + (x.type === 'updateTable' ? x.changes.length : x.type === 'saveTable' ? 1 : 0), 0),
      entriesSent: t.sent.reduce((n, x) => n + (x.type === 'setEntries' ? x.changes.length : 0), 0),
    });
    const b = figures(last.big!);
    const s = figures(last.small!);
    o.log(`snapshot: big: ${JSON.stringify(b)}`);
    o.log(`snapshot: small: ${JSON.stringify(s)}`);
    const vs = `${(1024).toLocaleString('en-US')}-segment disk`;
    return [
      result(
        { name: 'snapshot', unit: 'ms/snapshot', value: median(r.subject), baseline: vs, baselineValue: median(r.baseline), ratio: medianRatio(r, (x, y) => x / y) },
        { direction: 'atMost', bound: 2, ratioIs: 'time/baseline' },
      ),
      result({ name: 'snapshot-persisted', unit: 'bytes', value: b.persisted, baseline: vs, baselineValue: s.persisted, ratio: b.persisted / s.persisted }, { direction: 'atMost', bound: 2, ratioIs: 'bytes/baseline' }),
      result({ name: 'snapshot-sent', unit: 'bytes', value: b.sent, baseline: vs, baselineValue: s.sent, ratio: b.sent / s.sent }, { direction: 'atMost', bound: 2, ratioIs: 'bytes/baseline' }),
      result({ name: 'snapshot-steps', unit: 'steps', value: b.steps, baseline: vs, baselineValue: s.steps, ratio: b.steps / s.steps }, null),
    ];
  },
};
