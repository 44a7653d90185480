/**
 * Tests of the pure controller machine (src/controller/controller.ts), driven by hand with
 * crafted agent messages: each flowchart path of docs/design.md#fault-resolution (570-597), the fence for a
 * relocation when several agents hold the disk, stale and duplicate faults, epoch fencing, the
 * administrative operations (error marking, snapshot, migration), persistence failures, purity,
 * and a property test over random message sequences.
 *
 * Geometry used throughout: 10 blocks per segment, 4 segments; LUN 1 and LUN 2 of 1000 blocks.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator, type Extent } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { applyPersistRecord, encodeDurableState, type DurableState } from '../../src/controller/persist-record.js';
import type {
  ControllerCommand,
  ControllerConfig,
  ControllerEvent,
  ControllerState,
  PersistRecord,
  PersistedState,
} from '../../src/controller/types.js';
import type { AgentId, AgentMessage, ControllerMessage, DiskId, IoFaultMessage, ZeroSegmentMessage } from '../../src/protocol/messages.js';
import { decodeTable, encodeEntry, encodeTable, type EntryDocument, type TableDocument } from '../../src/table/codec.js';
import { entryAt, type MappingTable } from '../../src/table/table.js';
import * as B from '../../src/bitmap/bitmap.js';
import type { FaultReason, Op } from '../../src/translate/translate.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

const ALLOCATOR = right(createAllocator({ 1: 1000, 2: 1000 }));
const SEG = 10;
const COUNT = 4;
const D = 'd';

type Send = Extract<ControllerCommand, { type: 'send' }>;
type Persist = Extract<ControllerCommand, { type: 'persist' }>;
type Resolved = Extract<ControllerCommand, { type: 'resolved' }>;
type Copy = Extract<ControllerCommand, { type: 'copyBlocks' | 'writeZeros' }>;

const sendsOf = (cmds: ReadonlyArray<ControllerCommand>): Send[] => cmds.filter((c): c is Send => c.type === 'send');
const persistsOf = (cmds: ReadonlyArray<ControllerCommand>): Persist[] => cmds.filter((c): c is Persist => c.type === 'persist');
const resolvedOf = (cmds: ReadonlyArray<ControllerCommand>): Resolved[] => cmds.filter((c): c is Resolved => c.type === 'resolved');
const copiesOf = (cmds: ReadonlyArray<ControllerCommand>): Copy[] => cmds.filter((c): c is Copy => c.type === 'copyBlocks' || c.type === 'writeZeros');
const isFlush = (c: ControllerCommand): c is Extract<ControllerCommand, { type: 'flush' }> => c.type === 'flush';
const retriesOf = (cmds: ReadonlyArray<ControllerCommand>): Send[] => sendsOf(cmds).filter((c) => c.message.type === 'retry');

/** Applies durable records to table documents, as a persistence adapter would (applyPersistRecord). */
const applyRecords = (docs: Map<DiskId, TableDocument>, attachments: Map<DiskId, AgentId[]>, records: ReadonlyArray<PersistRecord>): void => {
  let state: DurableState = { tables: new Map([...docs].map(([disk, doc]) => [disk, right(decodeTable(doc))])), attachments: new Map(attachments) };
  for (const r of records) state = right(applyPersistRecord(state, r));
  const stored = encodeDurableState(state);
  docs.clear();
  for (const { disk, table } of stored.tables) docs.set(disk, table);
  attachments.clear();
  for (const { disk, agents } of stored.attachments) attachments.set(disk, [...agents]);
};

/** A structural fingerprint of any state value (maps, typed arrays, class instances), for purity checks. */
const fingerprint = (x: unknown, depth = 0): unknown => {
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
const print = (x: unknown): string => JSON.stringify(fingerprint(x));

/**
 * Drives one controller by hand. It keeps the state, logs every command, remembers the persist
 * command in flight and applies its records once it is confirmed, and plays simple agents that
 * acknowledge what they are sent.
 */
class Harness {
  state: ControllerState;
  now = 0;
  readonly log: ControllerCommand[] = [];
  readonly docs = new Map<DiskId, TableDocument>();
  readonly attachments = new Map<DiskId, AgentId[]>();
  /** The persist command in flight (not yet answered by `persisted`). */
  pending: Persist | null = null;
  readonly epochs = new Map<AgentId, number>();
  /** Generation of each agent's copy, by `agent/disk`. */
  readonly gens = new Map<string, number>();
  nextFaultId = 1;
  nextRequestId = 1;
  /** Check purity on every step: the input is unchanged and the same event gives the same result. */
  checkPurity = false;

  constructor(config: Partial<ControllerConfig> = {}, restored: PersistedState = { tables: [], attachments: [] }, now = 0) {
    // The block-level relocation tests mark only written blocks; materialization has its own test.
    this.state = initialControllerState(ALLOCATOR, { materializeZeroSegments: false, ...config });
    this.now = now;
    const cmds = this.step({ type: 'restored', state: restored, now });
    expect(cmds).toEqual([]);
    for (const { disk, table } of restored.tables) this.docs.set(disk, table);
    for (const { disk, agents } of restored.attachments) this.attachments.set(disk, [...agents]);
  }

  step(event: ControllerEvent): ControllerCommand[] {
    const before = this.state;
    const printed = this.checkPurity ? print(before) : '';
    const [next, cmds] = controllerStep(before, event);
    if (this.checkPurity) {
      expect(print(before)).toBe(printed);
      const [again, cmds2] = controllerStep(before, event);
      expect(cmds2).toEqual(cmds);
      expect(print(again)).toBe(print(next));
      expect(print(before)).toBe(printed);
    }
    this.state = next;
    this.log.push(...cmds);
    for (const c of cmds) if (c.type === 'persist') this.pending = c;
    // Flow-control acknowledgements are checked by their own tests (see `accepts`).
    const accepted = (c: ControllerCommand): boolean => c.type === 'send' && c.message.type === 'faultAccepted';
    this.accepts.push(...cmds.filter(accepted));
    return cmds.filter((c) => !accepted(c));
  }

  /** Every `faultAccepted` sent, in order. */
  readonly accepts: ControllerCommand[] = [];

  /**
   * Feeds an agent message. A centralized write fault first copies the old content of the blocks
   * it will mark to the alternate; storage answers those copies at once here, and they are left
   * out of the result (the tests of preparation look at them through `msgRaw`).
   */
  msg(message: AgentMessage): ControllerCommand[] {
    const cmds = this.msgRaw(message);
    const prep = message !== null && typeof message === 'object' && message.type === 'ioFault' ? copiesOf(cmds) : [];
    if (prep.length === 0) return cmds;
    const rest = cmds.filter((c) => !prep.includes(c as Copy));
    const answered: ControllerCommand[] = [];
    for (const c of prep) answered.push(...this.step({ type: 'copyDone', copyId: c.copyId }));
    // The copies are flushed before the change that exposes them; storage answers at once here too.
    for (const c of answered) if (c.type === 'flush') rest.push(...this.step({ type: 'flushed', flushId: c.flushId }));
    else rest.push(c);
    return rest;
  }

  msgRaw(message: AgentMessage): ControllerCommand[] {
    return this.step({ type: 'message', message });
  }

  tick(now: number): ControllerCommand[] {
    this.now = now;
    return this.step({ type: 'tick', now });
  }

  /** Confirms the persist in flight. */
  persisted(): ControllerCommand[] {
    const p = this.pending;
    if (p === null) throw new Error('no persist in flight');
    this.pending = null;
    applyRecords(this.docs, this.attachments, p.records);
    return this.step({ type: 'persisted', persistId: p.persistId });
  }

  epoch(agent: AgentId): number {
    return this.epochs.get(agent) ?? 1;
  }

  gen(agent: AgentId, disk: DiskId = D): number {
    return this.gens.get(`${agent}/${disk}`) ?? -1;
  }

  ack(agent: AgentId, generation: number, disk: DiskId = D): ControllerCommand[] {
    return this.msg({ type: 'tableAck', agent, epoch: this.epoch(agent), disk, generation });
  }

  /** The agent's answer to one controller message (ack, or fetch on refresh), or null. */
  answer(to: AgentId, m: ControllerMessage): AgentMessage | null {
    const epoch = this.epoch(to);
    switch (m.type) {
      case 'setEntries':
        this.gens.set(`${to}/${m.disk}`, m.generation);
        return { type: 'tableAck', agent: to, epoch, disk: m.disk, generation: m.generation };
      case 'replaceTable':
        this.gens.set(`${to}/${m.disk}`, m.table.generation);
        return { type: 'tableAck', agent: to, epoch, disk: m.disk, generation: m.table.generation };
      case 'refreshTable':
        return { type: 'fetchTable', agent: to, epoch, disk: m.disk, generation: this.gen(to, m.disk) };
      default:
        return null;
    }
  }

  /** Makes agents answer the table messages among `cmds` (optionally only some). */
  reply(cmds: ReadonlyArray<ControllerCommand>, only: (s: Send) => boolean = () => true): ControllerCommand[] {
    const out: ControllerCommand[] = [];
    for (const s of sendsOf(cmds)) {
      if (!only(s)) continue;
      const a = this.answer(s.to, s.message);
      if (a !== null) out.push(...this.msg(a));
    }
    return out;
  }

  /**
   * Answers persists and table messages (only the sends `only` accepts; and, with `copies`,
   * background copies) until the controller has nothing more to say. Returns everything it said,
   * `cmds` included.
   */
  drive(cmds: ReadonlyArray<ControllerCommand>, options: { copies?: boolean; only?: (s: Send) => boolean } = {}): ControllerCommand[] {
    const all = [...cmds];
    let queue = [...cmds];
    for (let i = 0; i < 1000; i++) {
      const produced = this.reply(queue, options.only);
      if (options.copies === true) for (const c of copiesOf(queue)) produced.push(...this.step({ type: 'copyDone', copyId: c.copyId }));
      if (options.copies === true) for (const c of queue) if (c.type === 'flush') produced.push(...this.step({ type: 'flushed', flushId: c.flushId }));
      if (this.pending !== null) produced.push(...this.persisted());
      if (produced.length === 0 && this.pending === null) return all;
      all.push(...produced);
      queue = produced;
    }
    throw new Error('drive: no quiescence');
  }

  admin<T extends Record<string, unknown> & { type: string }>(event: T): ControllerCommand[] {
    return this.step({ ...event, requestId: this.nextRequestId++ } as unknown as ControllerEvent);
  }

  /** An I/O fault message from `agent` for blocks `start .. start+length-1` of one segment, at the agent's generation. */
  fault(agent: AgentId, op: Op, start: number, length: number, extra: Partial<IoFaultMessage> = {}): IoFaultMessage {
    const disk = extra.disk ?? D;
    const gen = this.gen(agent, disk);
    return {
      type: 'ioFault',
      agent,
      epoch: this.epoch(agent),
      faultId: this.nextFaultId++,
      disk,
      segment: gen < 0 ? -1 : Math.floor(start / SEG),
      op,
      start,
      length,
      reason: 'zero' as FaultReason,
      generation: gen,
      ...extra,
    };
  }

  disk(disk: DiskId = D) {
    const d = this.state.disks.get(disk);
    if (d === undefined) throw new Error(`no disk ${disk}`);
    return d;
  }

  committedEntry(segment: number, disk: DiskId = D): EntryDocument {
    return encodeEntry(entryAt(this.disk(disk).committed as MappingTable, segment));
  }
}

/**
 * A controller with disk `d` (zero segments), `agents` attached, and each agent holding the
 * committed table (fetched at epoch 1).
 */
const boot = (agents: ReadonlyArray<AgentId>, options: { hold?: boolean; config?: Partial<ControllerConfig>; disks?: ReadonlyArray<DiskId> } = {}): Harness => {
  const h = new Harness(options.config);
  for (const disk of options.disks ?? [D]) {
    const created = h.drive(h.admin({ type: 'createDisk', disk, segmentBlocks: SEG, segmentCount: COUNT }));
    expect(created.filter((c) => c.type === 'adminDone')).toEqual([{ type: 'adminDone', requestId: h.nextRequestId - 1, result: { ok: true } }]);
    for (const agent of agents) {
      const attached = h.drive(h.admin({ type: 'attachAgent', disk, agent }));
      expect(attached.filter((c) => c.type === 'adminDone')).toEqual([{ type: 'adminDone', requestId: h.nextRequestId - 1, result: { ok: true } }]);
    }
    if (options.hold !== false) for (const agent of agents) h.drive(h.msg({ type: 'fetchTable', agent, epoch: h.epoch(agent), disk, generation: -1 }));
  }
  expect(h.pending).toBeNull();
  return h;
};

/** Resolves a write fault of a whole zero segment, so that it gets a location. */
const allocateSegment = (h: Harness, agent: AgentId, segment: number, disk: DiskId = D): void => {
  const done = h.drive(h.msg(h.fault(agent, 'write', segment * SEG, SEG, { disk })));
  expect(resolvedOf(done).map((r) => r.outcome)).toEqual(['retry']);
  expect(h.committedEntry(segment, disk).location).toBeDefined();
};

// ---------------------------------------------------------------------------------------------
// Flowchart paths
// ---------------------------------------------------------------------------------------------

describe('controller: flowchart paths', () => {
  it('585: an agent with no table gets a whole table, then retries after its ack', () => {
    const h = boot(['a'], { hold: false });
    const fault = h.fault('a', 'read', 3, 4);
    expect(fault.segment).toBe(-1);
    expect(fault.generation).toBe(-1);

    const c1 = h.msg(fault);
    expect(c1).toEqual([{ type: 'send', to: 'a', step: 585, message: { type: 'replaceTable', epoch: 1, disk: D, table: h.docs.get(D) } }]);
    expect(h.docs.get(D)?.generation).toBe(0);

    // Nothing more until the ack, not even after the re-send interval (only the table again).
    const waiting = h.tick(150);
    expect(retriesOf(waiting)).toEqual([]);
    expect(resolvedOf(waiting)).toEqual([]);

    const c2 = h.ack('a', 0);
    expect(c2).toEqual([
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: fault.faultId } },
      { type: 'resolved', agent: 'a', faultId: fault.faultId, disk: D, segment: -1, reason: 'no-table', outcome: 'retry', path: [585, 595, 597] },
    ]);
    expect(h.state.jobs.size).toBe(0);
  });

  it('590: the only agent mapping the disk gets just its entry, after the change is durable', () => {
    const h = boot(['a']);
    expect(h.gen('a')).toBe(0);
    const fault = h.fault('a', 'write', 12, 3);
    expect(fault).toMatchObject({ segment: 1, generation: 0 });

    const c1 = h.msg(fault);
    const change = { segment: 1, entry: { zero: true, alternate: { lun: 1, start: 0, blocks: '2-4' } } };
    expect(c1).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: 0, generation: 1, changes: [change] }] },
    ]);

    // Metadata before data: nothing reaches the agent before the persist is confirmed.
    expect(h.ack('a', 0)).toEqual([]);
    expect(h.msg(fault)).toEqual([]); // re-sent duplicate
    const t = h.tick(500);
    expect(sendsOf(t)).toEqual([]);
    expect(h.disk().committed.generation).toBe(0);

    const c2 = h.persisted();
    expect(c2).toEqual([{ type: 'send', to: 'a', step: 590, message: { type: 'setEntries', epoch: 1, disk: D, fromGeneration: 0, generation: 1, changes: [change] } }]);
    expect(h.committedEntry(1)).toEqual(change.entry);

    // No retry before the ack of generation 1.
    expect(h.ack('a', 0)).toEqual([]);

    const c3 = h.reply(c2);
    expect(c3).toEqual([
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: fault.faultId } },
      { type: 'resolved', agent: 'a', faultId: fault.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [570, 590, 595, 597] },
    ]);
    expect(h.state.jobs.size).toBe(0);
    expect(h.state.allocator.free(1)).toBe(990);
  });

  it('575 with a fence: two agents first get the segment invalid, then the real entry, each after both acks', () => {
    const h = boot(['a', 'b']);
    const fault = h.fault('a', 'write', 12, 3);

    const c1 = h.msg(fault);
    const fence = { invalid: true, zero: true };
    const real = { zero: true, alternate: { lun: 1, start: 0, blocks: '2-4' } };
    expect(c1).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: 0, generation: 1, changes: [{ segment: 1, entry: fence }] }] },
    ]);

    const c2 = h.persisted();
    const fenceMsg = { type: 'setEntries', epoch: 1, disk: D, fromGeneration: 0, generation: 1, changes: [{ segment: 1, entry: fence }] };
    expect(c2).toEqual([
      { type: 'send', to: 'a', step: 575, message: fenceMsg },
      { type: 'send', to: 'b', step: 575, message: fenceMsg },
    ]);

    // The faulting agent's ack alone does not release the real change.
    expect(h.reply(c2, (s) => s.to === 'a')).toEqual([]);
    expect(h.ack('a', 1)).toEqual([]); // duplicate ack
    expect(h.pending).toBeNull();

    const c3 = h.reply(c2, (s) => s.to === 'b');
    expect(c3).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: 1, generation: 2, changes: [{ segment: 1, entry: real }] }] },
    ]);
    expect(retriesOf(c3)).toEqual([]);

    const c4 = h.persisted();
    const realMsg = { type: 'setEntries', epoch: 1, disk: D, fromGeneration: 1, generation: 2, changes: [{ segment: 1, entry: real }] };
    expect(c4).toEqual([
      { type: 'send', to: 'a', step: 575, message: realMsg },
      { type: 'send', to: 'b', step: 575, message: realMsg },
    ]);

    // This time the other agent acks first: still no retry while the faulting agent's ack is missing.
    expect(h.reply(c4, (s) => s.to === 'b')).toEqual([]);
    expect(retriesOf(h.tick(50))).toEqual([]);
    const c5 = h.reply(c4, (s) => s.to === 'a');
    expect(c5).toEqual([
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: fault.faultId } },
      { type: 'resolved', agent: 'a', faultId: fault.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [570, 575, 595, 597] },
    ]);
    // Exactly one retry overall, and only after four acks.
    expect(retriesOf(h.log)).toHaveLength(1);
    expect(h.committedEntry(1)).toEqual(real);
  });

  it('580: after a controller restart, agents of unknown view are told to refresh on the first sweep', () => {
    const h = boot(['a', 'b']);
    h.drive(h.msg(h.fault('a', 'write', 12, 3)));
    expect(h.docs.get(D)?.generation).toBe(2);
    // The records applied by hand give the controller's committed table.
    expect(h.docs.get(D)).toEqual(encodeTable(h.disk().committed as MappingTable));
    expect(h.attachments.get(D)).toEqual(['a', 'b']);

    const restored: PersistedState = {
      tables: [...h.docs].map(([disk, table]) => ({ disk, table })),
      attachments: [...h.attachments].map(([disk, agents]) => ({ disk, agents })),
    };
    const r = new Harness({}, restored, 1000);
    r.epochs.set('a', 1);
    r.epochs.set('b', 1);
    r.gens.set('a/d', 2); // up to date
    r.gens.set('b/d', 1); // one generation behind (lost the last setEntries)
    // The allocator is rebuilt from the tables: the alternate of segment 1 is in use.
    expect(r.state.allocator.free(1)).toBe(990);

    const c1 = r.tick(1000);
    expect(c1).toEqual([
      { type: 'send', to: 'a', step: 580, message: { type: 'refreshTable', epoch: -1, disk: D, generation: 2 } },
      { type: 'send', to: 'b', step: 580, message: { type: 'refreshTable', epoch: -1, disk: D, generation: 2 } },
    ]);

    const fa = r.msg({ type: 'fetchTable', agent: 'a', epoch: 1, disk: D, generation: 2 });
    expect(fa).toEqual([{ type: 'send', to: 'a', step: 580, message: { type: 'setEntries', epoch: 1, disk: D, fromGeneration: 2, generation: 2, changes: [] } }]);
    // Generation 1 is older than anything the restarted controller can vouch for: whole table.
    const fb = r.msg({ type: 'fetchTable', agent: 'b', epoch: 1, disk: D, generation: 1 });
    expect(fb).toEqual([{ type: 'send', to: 'b', step: 580, message: { type: 'replaceTable', epoch: 1, disk: D, table: h.docs.get(D) } }]);

    expect(r.reply([...fa, ...fb])).toEqual([]);
    expect(r.gen('b')).toBe(2);
    // Converged: later sweeps send nothing.
    expect(r.tick(2000)).toEqual([]);
    expect(r.tick(3000)).toEqual([]);
  });

  it('580 in a fault path: a restarted controller asks the faulting agent to refresh before the retry', () => {
    const h = boot(['a']);
    const restored: PersistedState = {
      tables: [...h.docs].map(([disk, table]) => ({ disk, table })),
      attachments: [...h.attachments].map(([disk, agents]) => ({ disk, agents })),
    };
    const r = new Harness({}, restored, 0);
    r.gens.set('a/d', 0);
    const fault = r.fault('a', 'read', 5, 1);
    const c1 = r.msg(fault); // a read of a zero segment translates fine: no change, bring in line and retry
    expect(persistsOf(c1)).toEqual([]);
    // The controller's view of the agent is unknown only until it hears from it: the message
    // itself tells the epoch, and the copy "may hold" an unknown generation -> refresh.
    expect(c1).toEqual([{ type: 'send', to: 'a', step: 580, message: { type: 'refreshTable', epoch: 1, disk: D, generation: 0 } }]);
    const c2 = r.drive(c1);
    expect(resolvedOf(c2)).toEqual([
      { type: 'resolved', agent: 'a', faultId: fault.faultId, disk: D, segment: 0, reason: 'zero', outcome: 'retry', path: [580, 595, 597] },
    ]);
  });
});

describe('controller: a restart before the agents acknowledged a change (docs/design.md#ordering-rules)', () => {
  /**
   * Segment 3 of `d` gets LUN 1 blocks 0..9, then a resize drops it: the record is durable, but
   * neither agent has acknowledged it. The controller restarts on the store: its allocator,
   * rebuilt from the tables, has those blocks free while both agents may still write them.
   */
  const restartAfterShrink = (config: Partial<ControllerConfig> = {}): { r: Harness; freed: Extent } => {
    const h = boot(['a', 'b']);
    allocateSegment(h, 'a', 3);
    const loc = h.committedEntry(3).location!;
    const freed: Extent = { lun: loc.lun, start: loc.start, length: SEG };
    expect(freed).toEqual({ lun: 1, start: 0, length: SEG });
    const before = h.disk().committed.generation;
    h.admin({ type: 'resize', disk: D, segmentCount: 3 });
    h.persisted(); // durable; the table messages to a and b are never answered
    expect(h.docs.get(D)?.segmentCount).toBe(3);
    const restored: PersistedState = {
      tables: [...h.docs].map(([disk, table]) => ({ disk, table })),
      attachments: [...h.attachments].map(([disk, agents]) => ({ disk, agents })),
    };
    const r = new Harness(config, restored, 1000);
    r.gens.set(`a/${D}`, before);
    r.gens.set(`b/${D}`, before);
    expect(r.state.allocator.free(1)).toBe(1000); // free in the restored allocator
    return { r, freed };
  };

  /** Lets `agent` answer the table messages among `cmds`, and what they lead to, until it is in line. */
  const catchUpOnly = (r: Harness, cmds: ReadonlyArray<ControllerCommand>, agent: AgentId): ControllerCommand[] => {
    const all: ControllerCommand[] = [];
    let queue = [...cmds];
    for (let i = 0; i < 10 && queue.length > 0; i++) {
      queue = r.reply(queue, (x) => x.to === agent);
      all.push(...queue);
    }
    return all;
  };

  const allocations = (cmds: ReadonlyArray<ControllerCommand>) => cmds.filter((c) => c.type === 'writeZeros' || c.type === 'copyBlocks' || c.type === 'persist');

  it('allocates no extent until every agent the store lists has acknowledged the restored generation', () => {
    const { r, freed } = restartAfterShrink();
    // a writes a zero segment: the write needs an alternate, and first fit would give it the
    // blocks the resize freed, which a and b may still write through segment 3 of their copies.
    const fault = r.fault('a', 'write', 0, 3);
    const c1 = r.msg(fault);
    expect(allocations(c1)).toEqual([]);
    expect(r.state.reuseHold?.waiting).toHaveLength(1);
    // a catches up; b, silent, still may hold the older table: nothing is allocated.
    const c2 = catchUpOnly(r, r.tick(1000), 'a');
    expect(r.gen('a')).toBe(r.disk().committed.generation);
    expect(allocations(c2)).toEqual([]);
    expect(r.state.allocator.free(1)).toBe(1000);
    expect(r.state.reuseHold?.pending).toEqual([{ agent: 'b', disk: D, generation: r.disk().committed.generation }]);
    // b acknowledges: the write goes on, and only now may it get those blocks.
    const c3 = r.drive(r.tick(1200), { copies: true });
    expect(r.state.reuseHold).toBeNull();
    const zeroed = c3.filter((c) => c.type === 'writeZeros');
    expect(zeroed.map((c) => (c.type === 'writeZeros' ? c.to : null))).toEqual([{ lun: freed.lun, start: freed.start }]);
    expect(resolvedOf(c3)).toMatchObject([{ agent: 'a', faultId: fault.faultId, outcome: 'retry' }]);
    expect(r.state.allocator.free(1)).toBe(1000 - SEG);
  });

  it('an agent seen to start a new life since is not waited for: its copy is gone', () => {
    const { r } = restartAfterShrink();
    r.msg(r.fault('a', 'write', 0, 3));
    catchUpOnly(r, r.tick(1000), 'a');
    // b is heard from; after a restart its life may be the one that holds the older table.
    r.msg({ type: 'renewLease', agent: 'b', epoch: 1, disk: '', requestedAt: 1000 });
    expect(r.state.reuseHold?.pending.map((p) => p.agent)).toEqual(['b']);
    expect(r.state.allocator.free(1)).toBe(1000);
    // Then b restarts: that life's copy is gone, and the write goes on.
    r.epochs.set('b', 2);
    const c = r.drive(r.msg({ type: 'renewLease', agent: 'b', epoch: 2, disk: '', requestedAt: 1001 }), { copies: true });
    expect(r.state.reuseHold).toBeNull();
    expect(resolvedOf(c).map((x) => x.outcome)).toEqual(['retry']);
  });

  it('with leases, waits out the I/O lifetime, and no longer waits for a silent agent once its restored lease evicts it', () => {
    const LEASE = { leaseDuration: 100, maxClockDrift: 10, maxIoLifetime: 20 };
    const { r } = restartAfterShrink(LEASE);
    r.msg({ type: 'renewLease', agent: 'a', epoch: 1, disk: '', requestedAt: 1000 });
    r.msg(r.fault('a', 'write', 0, 3));
    catchUpOnly(r, r.tick(1000), 'a');
    // b stays silent; a keeps renewing. Step the clock and note when b is fenced and when the
    // held write gets its space.
    let fencedAt: number | null = null;
    let resumedAt: number | null = null;
    for (let t = 1005; t <= 1400 && resumedAt === null; t += 5) {
      if (t % 50 === 0) r.msg({ type: 'renewLease', agent: 'a', epoch: 1, disk: '', requestedAt: t });
      const c = r.drive(r.tick(t), { copies: true, only: (x) => x.to === 'a' });
      if (fencedAt === null && c.some((x) => x.type === 'fence' && x.agent === 'b')) fencedAt = t;
      if (allocations(c).length > 0 || r.state.allocator.free(1) < 1000) {
        expect(fencedAt, 'nothing is allocated while b may still hold the older table').not.toBeNull();
        resumedAt = t;
      }
    }
    // b's restored lease (from the restart) ran out: evicted no earlier than lease + drift + I/O
    // lifetime after the restore, and the space is used no earlier than an I/O lifetime later.
    expect(fencedAt).not.toBeNull();
    expect(fencedAt!).toBeGreaterThanOrEqual(1000 + 100 + 10 + 20);
    expect(resumedAt).not.toBeNull();
    expect(resumedAt! - fencedAt!).toBeGreaterThanOrEqual(20); // late writes of the evicted life have landed
    expect(r.state.reuseHold).toBeNull();
    // The life of b heard from next held an older table: it is told to start anew.
    expect(r.msg({ type: 'renewLease', agent: 'b', epoch: 1, disk: '', requestedAt: 1500 })).toEqual([{ type: 'send', to: 'b', message: { type: 'leaseRevoked', epoch: 1 } }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Stale and duplicate faults, epochs
// ---------------------------------------------------------------------------------------------

describe('controller: deltas on their way', () => {
  it('a second change before the first is acknowledged goes as a delta from the first; an agent that lost the first catches up before anything waits on it is released', () => {
    const h = boot(['a', 'b']);
    h.checkPurity = true;
    h.msg(h.fault('a', 'write', 12, 3)); // segment 1: fence, generation 1
    const first = sendsOf(h.persisted());
    expect(first.map((x) => [x.to, x.message.type, 'fromGeneration' in x.message ? x.message.fromGeneration : null])).toEqual([
      ['a', 'setEntries', 0],
      ['b', 'setEntries', 0],
    ]);
    h.msg(h.fault('b', 'write', 2 * SEG, 1)); // segment 2: fence, generation 2, while generation 1 is unacknowledged
    const second = sendsOf(h.persisted());
    const deltas = second.filter((x) => x.message.type === 'setEntries');
    expect(deltas.map((x) => x.to).sort()).toEqual(['a', 'b']);
    for (const x of deltas) expect(x.message).toMatchObject({ fromGeneration: 1, generation: 2 });
    // Every agent's message of a step carries the same frozen list of frozen entries.
    const [m1, m2] = deltas.map((x) => x.message as { changes: ReadonlyArray<{ entry: object }> });
    expect(m1!.changes).toBe(m2!.changes);
    expect(Object.isFrozen(m1!.changes)).toBe(true);
    expect(Object.isFrozen(m1!.changes[0]!.entry)).toBe(true);

    // a gets both; b lost both and, holding generation 0, fetches.
    h.ack('a', 1);
    h.ack('a', 2);
    expect(retriesOf(h.log)).toEqual([]);
    expect(h.pending).toBeNull(); // nothing goes on before b has acknowledged the fence
    const toB = sendsOf(h.msg({ type: 'fetchTable', agent: 'b', epoch: 1, disk: D, generation: 0 }));
    expect(toB).toHaveLength(1);
    const catchUp = toB[0]!.message;
    if (catchUp.type === 'setEntries') expect(catchUp).toMatchObject({ fromGeneration: 0, generation: 2 });
    else expect(catchUp).toMatchObject({ type: 'replaceTable', table: { generation: 2 } });
    expect(retriesOf(h.log)).toEqual([]);
    // Once b acknowledges, both relocations complete, each with exactly one retry.
    h.drive(h.ack('b', 2));
    expect(retriesOf(h.log).map((x) => x.to).sort()).toEqual(['a', 'b']);
  });
});

describe('controller: documents it sends', () => {
  it('sends every agent that fetches the same committed table the same deeply frozen document', () => {
    const h = boot(['a', 'b'], { hold: false });
    const toA = sendsOf(h.msg({ type: 'fetchTable', agent: 'a', epoch: 1, disk: D, generation: -1 }));
    const toB = sendsOf(h.msg({ type: 'fetchTable', agent: 'b', epoch: 1, disk: D, generation: -1 }));
    const docs = [...toA, ...toB].map((x) => (x.message.type === 'replaceTable' ? x.message.table : null));
    expect(docs[0]).not.toBeNull();
    expect(docs[1]).toBe(docs[0]);
    const doc = docs[0]!;
    expect(Object.isFrozen(doc)).toBe(true);
    expect(Object.isFrozen(doc.entries)).toBe(true);
    for (const e of doc.entries) expect(Object.isFrozen(e)).toBe(true);
  });
});

describe('controller: stale and duplicate messages', () => {
  it('a re-sent fault (same faultId) while it is being resolved starts no second job', () => {
    const h = boot(['a']);
    const fault = h.fault('a', 'write', 12, 3);
    const c1 = h.msg(fault);
    expect(persistsOf(c1)).toHaveLength(1);
    const jobs = h.state.jobs.size;

    expect(h.msg(fault)).toEqual([]); // while committing
    expect(h.state.jobs.size).toBe(jobs);
    const c2 = h.persisted();
    expect(sendsOf(c2)).toHaveLength(1);
    expect(h.msg(fault)).toEqual([]); // while syncing
    expect(h.state.jobs.size).toBe(jobs);
    // Each copy of the fault that found it in hand was told so (flow control), once per copy.
    expect(h.accepts).toEqual(Array.from({ length: 3 }, () => ({ type: 'send', to: 'a', message: { type: 'faultAccepted', epoch: fault.epoch, faultId: fault.faultId } })));

    const done = h.drive(c2);
    expect(retriesOf(done)).toHaveLength(1);
    // Exactly one persist for this fault.
    const updates = persistsOf(h.log).flatMap((p) => p.records).filter((r) => r.type === 'updateTable');
    expect(updates).toHaveLength(1);

    // A late duplicate after the resolution is harmless: the agent's generation is older than
    // the segment's last change, so it only gets a retry, no table change.
    const late = h.msg(fault);
    expect(late).toEqual([
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: fault.faultId } },
      { type: 'resolved', agent: 'a', faultId: fault.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [595, 597] },
    ]);
    expect(h.pending).toBeNull();
  });

  it('a fault at an older generation than the segment\'s last change is decided against the table as it is now: a bare retry when its I/O would go through', () => {
    const h = boot(['a']);
    const first = h.fault('a', 'write', 12, 3);
    const c1 = h.msg(first);
    const c2 = h.persisted();
    expect(sendsOf(c2)).toHaveLength(1);

    // A second write fault, issued under generation 0 before the agent had the change, arrives
    // while the first one waits for the ack: it queues behind the segment lock. The first
    // change covers its blocks, so it needs no change of its own.
    const second = h.fault('a', 'write', 12, 2, { generation: 0 });
    expect(h.msg(second)).toEqual([]);
    expect(persistsOf(c1)).toHaveLength(1);

    const c3 = h.reply(c2);
    expect(c3).toEqual([
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: first.faultId } },
      { type: 'resolved', agent: 'a', faultId: first.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [570, 590, 595, 597] },
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: second.faultId } },
      { type: 'resolved', agent: 'a', faultId: second.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [595, 597] },
    ]);
    expect(h.pending).toBeNull();
    expect(h.disk().committed.generation).toBe(1);

    // The same, once everything is quiet: immediate retry, no persist.
    const third = h.fault('a', 'write', 13, 2, { generation: 0 });
    expect(h.msg(third)).toEqual([
      { type: 'send', to: 'a', step: 595, message: { type: 'retry', epoch: 1, faultId: third.faultId } },
      { type: 'resolved', agent: 'a', faultId: third.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [595, 597] },
    ]);
    expect(h.pending).toBeNull();

    // A stale fault whose blocks would still fault gets the change a fresh one would, not a bare retry.
    const fourth = h.fault('a', 'write', 18, 2, { generation: 0 });
    const c4 = h.msg(fourth);
    expect(persistsOf(c4)).toHaveLength(1);
    const r4 = resolvedOf(h.drive(c4));
    expect(r4).toMatchObject([{ faultId: fourth.faultId, outcome: 'retry', path: [570, 590, 595, 597] }]);
    expect(persistsOf(h.log).filter((p) => p.records.some((r) => r.type === 'updateTable'))).toHaveLength(2);
  });

  it('coalescing: write faults queued on a segment are served by the next one\'s change, and then only retried', () => {
    const h = boot(['a']);
    const first = h.fault('a', 'write', 10, 1);
    const c1 = h.msg(first);
    const c2 = h.persisted(); // first is waiting for a's ack: the segment is locked
    const queued = [14, 16, 19, 15].map((start) => h.fault('a', 'write', start, 1, { generation: 0 }));
    for (const q of queued) expect(h.msg(q)).toEqual([]);
    const all = h.drive(c2, { copies: true });
    // The old content (zeros) of every coalesced block went to the alternate before the change.
    expect(copiesOf(all).map((c) => [c.type, c.length])).toEqual([['writeZeros', 3], ['writeZeros', 1]]);
    // One more change serves all four queued faults: the first of them makes it, the rest retry.
    expect(persistsOf(c1)).toHaveLength(1);
    expect(persistsOf(h.log).filter((p) => p.records.some((r) => r.type === 'updateTable'))).toHaveLength(2);
    const resolved = resolvedOf(all);
    expect(resolved.map((r) => r.faultId)).toEqual([first, ...queued].map((f) => f.faultId));
    expect(resolved.every((r) => r.outcome === 'retry')).toBe(true);
    expect(resolved.slice(2).map((r) => r.path)).toEqual([[595, 597], [595, 597], [595, 597]]);
    // Every block written by the coalesced faults is marked at the alternate.
    const e = entryAt(h.disk().committed, 1);
    expect(e.alternate === null ? [] : B.toOffsets(e.alternate.blocks)).toEqual([0, 4, 5, 6, 9]);
  });

  it('a stale fault from an agent behind the segment\'s last change gets the change before its retry', () => {
    const h = boot(['a', 'b']);
    // a's fault changes segment 1 (gen 1 fence, gen 2 real); meanwhile b's write under gen 0 queues.
    const c1 = h.msg(h.fault('a', 'write', 12, 3));
    const fb = h.fault('b', 'write', 13, 1, { generation: 0 });
    expect(h.msg(fb)).toEqual([]);
    const all = h.drive(c1);
    const rb = resolvedOf(all).find((r) => r.agent === 'b');
    expect(rb).toEqual({ type: 'resolved', agent: 'b', faultId: fb.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [595, 597] });
    // b's retry is sent only after b acknowledged generation 2.
    const ackIndex = all.findIndex((c) => c.type === 'send' && c.to === 'b' && c.message.type === 'setEntries' && c.message.generation === 2);
    const retryIndex = all.findIndex((c) => c.type === 'send' && c.to === 'b' && c.message.type === 'retry');
    expect(ackIndex).toBeGreaterThanOrEqual(0);
    expect(retryIndex).toBeGreaterThan(ackIndex);
    expect(persistsOf(all)).toHaveLength(2); // fence and real change, nothing for b
  });

  it('fencing: a lower epoch is refused; a higher epoch drops the old copy from what a job waits for', () => {
    const h = boot(['a', 'b']);
    const fault = h.fault('a', 'write', 12, 3);
    h.msg(fault);
    const c2 = h.persisted(); // fence sent to a and b
    expect(sendsOf(c2).map((s) => s.to)).toEqual(['a', 'b']);
    expect(h.reply(c2, (s) => s.to === 'a')).toEqual([]);
    expect(h.pending).toBeNull();

    // b restarts: its first message (a fault with no table) carries epoch 2.
    h.epochs.set('b', 2);
    h.gens.delete('b/d');
    const nb = h.fault('b', 'read', 0, 1);
    expect(nb).toMatchObject({ epoch: 2, segment: -1, generation: -1 });
    const c3 = h.msg(nb);
    // The job waiting for b's ack of the fence goes on at once: b's old copy is gone.
    expect(persistsOf(c3)).toEqual([
      {
        type: 'persist',
        persistId: expect.any(Number),
        records: [{ type: 'updateTable', disk: D, fromGeneration: 1, generation: 2, changes: [{ segment: 1, entry: { zero: true, alternate: { lun: 1, start: 0, blocks: '2-4' } } }] }],
      },
    ]);
    // And b, which holds nothing, gets the whole (fenced) table.
    expect(sendsOf(c3)).toEqual([{ type: 'send', to: 'b', step: 585, message: { type: 'replaceTable', epoch: 2, disk: D, table: encodeTable(h.disk().committed as MappingTable) } }]);

    // Anything from b's old life is refused now.
    const old: AgentMessage = { type: 'tableAck', agent: 'b', epoch: 1, disk: D, generation: 1 };
    expect(h.msg(old)).toEqual([{ type: 'refused', message: old, why: 'stale epoch 1 < 2' }]);
    const oldFault = { ...fault, agent: 'b', epoch: 1, faultId: 99 };
    expect(h.msg(oldFault)).toEqual([{ type: 'refused', message: oldFault, why: 'stale epoch 1 < 2' }]);

    const rest = h.drive([...c3, ...h.persisted()]);
    const res = resolvedOf(rest);
    expect(res).toEqual(
      expect.arrayContaining([
        { type: 'resolved', agent: 'b', faultId: nb.faultId, disk: D, segment: -1, reason: 'no-table', outcome: 'retry', path: [585, 595, 597] },
        { type: 'resolved', agent: 'a', faultId: fault.faultId, disk: D, segment: 1, reason: 'zero', outcome: 'retry', path: [570, 575, 595, 597] },
      ]),
    );
    expect(res).toHaveLength(2);
    // The new life of b ends up with the real entry before a's retry.
    expect(h.gen('b')).toBe(2);
  });

  it('messages from unknown agents, and faults on disks the agent does not map, are answered without a job', () => {
    const h = boot(['a']);
    const stranger: AgentMessage = { type: 'tableAck', agent: 'zz', epoch: 1, disk: D, generation: 0 };
    expect(h.msg(stranger)).toEqual([{ type: 'refused', message: stranger, why: 'unknown agent zz' }]);
    // A fault of an agent attached to nothing is failed: its host I/O must not wait for ever.
    const lost = { ...h.fault('a', 'write', 0, 1), agent: 'zz' };
    expect(h.msg(lost)).toEqual([
      { type: 'send', to: 'zz', message: { type: 'failIo', epoch: 1, faultId: lost.faultId, reason: `agent zz does not map disk ${D}` } },
      { type: 'refused', message: lost, why: 'unknown agent zz' },
    ]);
    const f = h.fault('a', 'write', 0, 1, { disk: 'nope', segment: 0, generation: 0 });
    expect(h.msg(f)).toEqual([
      { type: 'send', to: 'a', message: { type: 'failIo', epoch: 1, faultId: f.faultId, reason: 'unknown disk nope' } },
      { type: 'resolved', agent: 'a', faultId: f.faultId, disk: 'nope', segment: 0, reason: 'zero', outcome: 'failed', path: [], detail: 'unknown disk nope' },
    ]);
    expect(h.state.jobs.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Administrative operations
// ---------------------------------------------------------------------------------------------

describe('controller: administrative operations', () => {
  it('markFailed: the segment using the extent becomes error; a later write fault on it fails', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 2);
    expect(h.committedEntry(2)).toEqual({ location: { lun: 1, start: 0 } });
    const gen = h.disk().committed.generation;

    const c1 = h.admin({ type: 'markFailed', lun: 1, start: 5, length: 1 });
    const requestId = h.nextRequestId - 1;
    expect(c1).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: gen, generation: gen + 1, changes: [{ segment: 2, entry: { location: { lun: 1, start: 0 }, error: true } }] }] },
    ]);
    const c2 = h.persisted();
    expect(c2).toEqual([{ type: 'send', to: 'a', step: 575, message: { type: 'setEntries', epoch: 1, disk: D, fromGeneration: gen, generation: gen + 1, changes: [{ segment: 2, entry: { location: { lun: 1, start: 0 }, error: true } }] } }]);
    expect(h.reply(c2)).toEqual([{ type: 'adminDone', requestId, result: { ok: true } }]);

    const f = h.fault('a', 'write', 23, 2);
    expect(f.generation).toBe(gen + 1);
    const c3 = h.msg(f);
    const reason = `error: segment 2 of disk ${D} is marked failed`;
    expect(c3).toEqual([
      { type: 'send', to: 'a', message: { type: 'failIo', epoch: 1, faultId: f.faultId, reason } },
      { type: 'resolved', agent: 'a', faultId: f.faultId, disk: D, segment: 2, reason: 'zero', outcome: 'failed', path: [597], detail: reason },
    ]);
    expect(reason).toContain('segment 2');

    // Marking space no segment uses answers at once.
    expect(h.admin({ type: 'markFailed', lun: 2, start: 500, length: 10 })).toEqual([{ type: 'adminDone', requestId: h.nextRequestId - 1, result: { ok: true } }]);
  });

  it('snapshot: entries become no-write and shared; copy-on-write later keeps the shared primary', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    const loc = { lun: 1, start: 0 };
    expect(h.committedEntry(0)).toEqual({ location: loc });
    const gen = h.disk().committed.generation;

    const c1 = h.admin({ type: 'snapshot', disk: D, snapshot: 's' });
    const snapRequest = h.nextRequestId - 1;
    // One batch of a few bytes: the source's freeze first, then the snapshot as its copy.
    expect(c1).toEqual([
      {
        type: 'persist',
        persistId: expect.any(Number),
        records: [
          { type: 'updateTable', disk: D, fromGeneration: gen, generation: gen + 1, freeze: true, changes: [] },
          { type: 'cloneTable', disk: 's', source: D },
        ],
      },
    ]);
    const all = h.drive(c1);
    expect(all.filter((c) => c.type === 'adminDone')).toEqual([{ type: 'adminDone', requestId: snapRequest, result: { ok: true } }]);
    expect(h.pending).toBeNull();

    // Source: no-write; snapshot: a new disk with the same locations, saved durably.
    expect(h.committedEntry(0)).toEqual({ location: loc, noWrite: true });
    const snap = h.docs.get('s');
    expect(snap).toBeDefined();
    expect(snap?.generation).toBe(gen + 1);
    expect(snap?.entries[0]).toEqual({ location: loc, noWrite: true });
    expect(snap?.entries.slice(1)).toEqual([{ zero: true }, { zero: true }, { zero: true }]);
    expect(encodeTable(h.disk('s').committed as MappingTable)).toEqual(snap);

    // Copy-on-write: a write to the shared segment goes to a fresh alternate.
    const f = h.fault('a', 'write', 3, 2, { reason: 'no-write' });
    const c2 = h.msg(f);
    const alt = { lun: 1, start: 10 };
    expect(c2).toEqual([
      {
        type: 'persist',
        persistId: expect.any(Number),
        records: [{ type: 'updateTable', disk: D, fromGeneration: gen + 1, generation: gen + 2, changes: [{ segment: 0, entry: { location: loc, noWrite: true, alternate: { ...alt, blocks: '3-4' } } }] }],
      },
    ]);
    const c3 = h.persisted();
    expect(sendsOf(c3).map((s) => [s.to, s.step, s.message.type])).toEqual([['a', 590, 'setEntries']]);
    const c4 = h.reply(c3);
    // The retry, then the background copy of the blocks not written.
    expect(c4.map((c) => c.type)).toEqual(['send', 'resolved', 'copyBlocks', 'copyBlocks']);
    expect(resolvedOf(c4)[0]).toMatchObject({ faultId: f.faultId, reason: 'no-write', outcome: 'retry', path: [570, 590, 595, 597] });
    const copies = copiesOf(c4);
    expect(copies).toEqual([
      { type: 'copyBlocks', copyId: expect.any(Number), from: { lun: 1, start: 0 }, to: { lun: 1, start: 10 }, length: 3 },
      { type: 'copyBlocks', copyId: expect.any(Number), from: { lun: 1, start: 5 }, to: { lun: 1, start: 15 }, length: 5 },
    ]);

    expect(h.step({ type: 'copyDone', copyId: copies[0]!.copyId })).toEqual([]);
    const c5a = h.step({ type: 'copyDone', copyId: copies[1]!.copyId });
    expect(c5a).toEqual([{ type: 'flush', flushId: expect.any(Number), luns: [1] }]);
    const c5 = h.step({ type: 'flushed', flushId: (c5a[0] as { flushId: number }).flushId });
    expect(c5).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: gen + 2, generation: gen + 3, changes: [{ segment: 0, entry: { location: alt } }] }] },
    ]);
    const rest = h.drive(c5);
    // The old primary is still the snapshot's: not released.
    expect(h.log.filter((c) => c.type === 'released')).toEqual([]);
    expect(rest.filter((c) => c.type === 'released')).toEqual([]);
    expect(h.committedEntry(0)).toEqual({ location: alt });
    expect(h.committedEntry(0, 's')).toEqual({ location: loc, noWrite: true });
    expect(h.state.allocator.free(1)).toBe(980);
    expect(h.state.jobs.size).toBe(0);
  });

  // docs/design.md#fault-resolution: nothing proceeds until the persistence adapter confirms the change
  // (570), and that includes the snapshot's own table: it is made durable in the same batch as
  // the source's no-write entries, and the snapshot is reported done only after that batch.
  it('snapshot: adminDone ok only once the snapshot table itself is durable', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    const c1 = h.admin({ type: 'snapshot', disk: D, snapshot: 's' });
    expect(persistsOf(c1).flatMap((p) => p.records).map((r) => r.type)).toEqual(['updateTable', 'cloneTable']);
    expect(h.docs.has('s')).toBe(false);
    const c2 = h.persisted();
    expect(h.docs.has('s')).toBe(true);
    const c3 = h.reply(c2); // the agent acknowledges the source's no-write entries
    expect(c3.filter((c) => c.type === 'adminDone')).toEqual([{ type: 'adminDone', requestId: expect.any(Number), result: { ok: true } }]);
  });

  // docs/design.md#ordering-rules D1, D7: nothing is promoted on a flush that failed, nor on a later flush
  // for copies that finished before the failure was known.
  it('a failed flush counts as a failed copy: the settle jobs copy and flush again before they promote', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    allocateSegment(h, 'a', 1);
    const copies = copiesOf(h.drive(h.admin({ type: 'migrate', disk: D, segments: [0, 1], lun: 2 })));
    expect(copies).toHaveLength(2);
    const answered = copies.map((c) => h.step({ type: 'copyDone', copyId: c.copyId }));
    const flushes = answered.flat().filter(isFlush);
    // One flush in flight: the second job's copies finished while it was, so it waits for the next one.
    expect(flushes.map((f) => f.luns)).toEqual([[2]]);
    expect(answered[1]).toEqual([]);
    // The flush fails: the job waiting on the same LUN cannot be trusted either, and no flush is issued for it.
    expect(h.step({ type: 'flushFailed', flushId: flushes[0]!.flushId, error: 'cache lost' })).toEqual([]);
    // The next sweep copies both segments again, and flushes again, before any promotion.
    const again = copiesOf(h.tick(1000));
    expect(again).toHaveLength(2);
    const reflush = again.flatMap((c) => h.step({ type: 'copyDone', copyId: c.copyId })).filter(isFlush);
    expect(reflush).toHaveLength(1);
    const first = h.step({ type: 'flushed', flushId: reflush[0]!.flushId });
    // The first promotion goes out; only now is the second job's flush issued.
    expect(persistsOf(first).flatMap((p) => p.records)).toHaveLength(1);
    const second = first.filter(isFlush);
    expect(second.map((f) => f.luns)).toEqual([[2]]);
    expect(persistsOf(h.step({ type: 'flushed', flushId: second[0]!.flushId }))).toEqual([]); // staged behind the persist in flight
    expect(persistsOf(h.persisted()).flatMap((p) => p.records)).toHaveLength(1);
  });

  // docs/design.md#ordering-rules D1, D2: grouped flushes. Jobs whose copies finish while a flush is in flight
  // wait for one flush over the union of their LUNs, issued when the first is answered; none of them
  // stages its record before that flush is answered.
  it('grouped flushes: one flush in flight, the jobs that finish their copies meanwhile share the next', () => {
    const h = boot(['a']);
    for (const seg of [0, 1, 2]) allocateSegment(h, 'a', seg);
    const copies = copiesOf(h.drive(h.admin({ type: 'migrate', disk: D, segments: [0, 1, 2], lun: 2 })));
    expect(copies).toHaveLength(3);
    const answered = copies.map((c) => h.step({ type: 'copyDone', copyId: c.copyId }));
    const [inFlight] = answered[0]!.filter(isFlush);
    expect(inFlight).toBeDefined();
    expect(answered.slice(1)).toEqual([[], []]);
    expect(h.state.flushes?.next?.jobs.size).toBe(2);
    const afterFirst = h.step({ type: 'flushed', flushId: inFlight!.flushId });
    const grouped = afterFirst.filter(isFlush);
    expect(grouped).toHaveLength(1);
    expect(grouped[0]!.luns).toEqual([2]);
    expect(h.state.flushes?.next).toBeNull();
    // Two promotions wait for the grouped flush: neither is staged yet.
    const staged = () => [...h.state.jobs.values()].filter((j) => j.phase.kind === 'committing').length;
    expect(staged()).toBe(1);
    h.step({ type: 'flushed', flushId: grouped[0]!.flushId });
    expect(staged()).toBe(3);
    expect(h.state.flushes?.inFlight).toBeNull();
    // A late or unknown flush answer changes nothing.
    const before = h.state;
    expect(h.step({ type: 'flushed', flushId: grouped[0]!.flushId })).toEqual([]);
    expect(h.state).toBe(before);
  });

  it('migrate: alternate on the target LUN, background copy, promotion, then the old extent is released', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    const gen = h.disk().committed.generation;
    const loc = { lun: 1, start: 0 };

    const c1 = h.admin({ type: 'migrate', disk: D, segments: [0], lun: 2 });
    const requestId = h.nextRequestId - 1;
    const frozen = { location: loc, noWrite: true, alternate: { lun: 2, start: 0, blocks: '' } };
    expect(c1).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: gen, generation: gen + 1, changes: [{ segment: 0, entry: frozen }] }] },
    ]);
    const c2 = h.persisted();
    expect(c2).toEqual([{ type: 'send', to: 'a', step: 575, message: { type: 'setEntries', epoch: 1, disk: D, fromGeneration: gen, generation: gen + 1, changes: [{ segment: 0, entry: frozen }] } }]);
    const c3 = h.reply(c2);
    expect(c3).toEqual([{ type: 'copyBlocks', copyId: expect.any(Number), from: loc, to: { lun: 2, start: 0 }, length: SEG }]);
    const copy = copiesOf(c3)[0]!;

    const c4a = h.step({ type: 'copyDone', copyId: copy.copyId });
    // docs/design.md#ordering-rules: the copy is flushed before the promotion that depends on it is persisted.
    expect(c4a).toEqual([{ type: 'flush', flushId: expect.any(Number), luns: [2] }]);
    expect(persistsOf(h.tick(5))).toEqual([]);
    const c4 = h.step({ type: 'flushed', flushId: (c4a[0] as { flushId: number }).flushId });
    expect(c4).toEqual([
      { type: 'persist', persistId: expect.any(Number), records: [{ type: 'updateTable', disk: D, fromGeneration: gen + 1, generation: gen + 2, changes: [{ segment: 0, entry: { location: { lun: 2, start: 0 } } }] }] },
    ]);
    const c5 = h.persisted();
    expect(c5).toEqual([{ type: 'send', to: 'a', step: 575, message: { type: 'setEntries', epoch: 1, disk: D, fromGeneration: gen + 1, generation: gen + 2, changes: [{ segment: 0, entry: { location: { lun: 2, start: 0 } } }] } }]);
    // Not released, and not done, before the agent stopped using the old extent.
    expect(h.tick(10).filter((c) => c.type === 'released' || c.type === 'adminDone')).toEqual([]);
    const c6 = h.reply(c5);
    expect(c6).toEqual([
      { type: 'released', extent: { lun: 1, start: 0, length: SEG } },
      { type: 'adminDone', requestId, result: { ok: true } },
    ]);
    expect(h.state.allocator.free(1)).toBe(1000);
    expect(h.state.allocator.free(2)).toBe(990);
    expect(h.state.jobs.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Persistence failures
// ---------------------------------------------------------------------------------------------

describe('controller: persistence failures', () => {
  it('persistFailed holds everything; the persist is re-issued under a new id after retryInterval; a late answer to the old id is ignored', () => {
    const h = boot(['a']);
    h.tick(0);
    const fault = h.fault('a', 'write', 12, 3);
    const c1 = h.msg(fault);
    const p1 = persistsOf(c1)[0]!;
    expect(p1).toBeDefined();

    expect(h.step({ type: 'persistFailed', persistId: p1.persistId, error: 'disk full' })).toEqual([]);
    // Nothing proceeds: acks, duplicates and early ticks do nothing.
    expect(h.ack('a', 0)).toEqual([]);
    expect(h.msg(fault)).toEqual([]);
    expect(h.tick(50)).toEqual([]);
    expect(h.tick(99)).toEqual([]);

    const c2 = h.tick(100);
    expect(c2).toEqual([{ type: 'persist', persistId: expect.any(Number), records: p1.records }]);
    const p2 = persistsOf(c2)[0]!;
    expect(p2.persistId).not.toBe(p1.persistId);

    // A late success for the first attempt is ignored, and changes nothing at all.
    const before = h.state;
    expect(h.step({ type: 'persisted', persistId: p1.persistId })).toEqual([]);
    expect(h.state).toBe(before);
    expect(h.disk().committed.generation).toBe(0);

    // A failure of the old id does not disturb the new attempt either.
    expect(h.step({ type: 'persistFailed', persistId: p1.persistId, error: 'late' })).toEqual([]);
    expect(h.tick(300).filter((c) => c.type === 'persist')).toEqual([]);

    const c3 = h.persisted();
    expect(c3).toEqual([{ type: 'send', to: 'a', step: 590, message: { type: 'setEntries', epoch: 1, disk: D, fromGeneration: 0, generation: 1, changes: (p1.records[0] as { changes: unknown }).changes } }]);
    expect(resolvedOf(h.drive(c3))).toMatchObject([{ faultId: fault.faultId, outcome: 'retry', path: [570, 590, 595, 597] }]);
  });

  it('group commit: changes decided while a persist is in flight go in one next batch', () => {
    const h = boot(['a']);
    const c1 = h.msg(h.fault('a', 'write', 2, 1));
    expect(persistsOf(c1)).toHaveLength(1);
    expect(h.msg(h.fault('a', 'write', 12, 1))).toEqual([]);
    expect(h.msg(h.fault('a', 'write', 22, 1))).toEqual([]);
    const c2 = h.persisted();
    const p2 = persistsOf(c2);
    expect(p2).toHaveLength(1);
    expect(p2[0]!.records).toEqual([
      {
        type: 'updateTable',
        disk: D,
        fromGeneration: 1,
        generation: 2,
        changes: [
          { segment: 1, entry: { zero: true, alternate: { lun: 1, start: 10, blocks: '2' } } },
          { segment: 2, entry: { zero: true, alternate: { lun: 1, start: 20, blocks: '2' } } },
        ],
      },
    ]);
    expect(resolvedOf(h.drive(c2)).map((r) => r.segment).sort()).toEqual([0, 1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------
// Purity
// ---------------------------------------------------------------------------------------------

describe('controller: purity', () => {
  it('controllerStep never changes its input, and the same event on the same state gives the same result', () => {
    const h = boot(['a', 'b'], { disks: [D, 'e'] });
    h.checkPurity = true;
    // Fence path, snapshot, copy-on-write with copies, migration, persist failure and restart of an agent.
    h.drive(h.msg(h.fault('a', 'write', 0, SEG)));
    h.drive(h.msg(h.fault('b', 'write', 12, 3)));
    h.drive(h.admin({ type: 'snapshot', disk: D, snapshot: 's' }), { copies: true });
    h.drive(h.msg(h.fault('a', 'write', 4, 2)), { copies: true });
    h.drive(h.admin({ type: 'migrate', disk: D, lun: 2 }), { copies: true });
    const p = persistsOf(h.msg(h.fault('a', 'write', 31, 1)))[0]!;
    h.step({ type: 'persistFailed', persistId: p.persistId, error: 'x' });
    h.drive(h.tick(1000));
    h.epochs.set('b', 2);
    h.gens.delete('b/d');
    h.drive(h.msg(h.fault('b', 'read', 0, 1)));
    h.drive(h.admin({ type: 'markFailed', lun: 2, start: 0, length: 1000 }));
    expect(h.log.filter((c) => c.type === 'released').length).toBeGreaterThan(0);
    expect(h.state.jobs.size).toBe(0);
  });

  it('a step that concerns one disk leaves the other disk\'s state, and unused parts, identical', () => {
    const h = boot(['a'], { disks: [D, 'e'] });
    // The agent's first fault with a copy is noted once on its copy record (epoch-reuse witness).
    h.drive(h.msg(h.fault('a', 'read', 0, 1)));
    const before = h.state;
    const c = h.msg(h.fault('a', 'write', 12, 3));
    expect(persistsOf(c)).toHaveLength(1);
    expect(h.state).not.toBe(before);
    expect(h.state.disks.get('e')).toBe(before.disks.get('e'));
    expect(h.state.agents).toBe(before.agents);
    expect(h.state.groups).toBe(before.groups);
    expect(h.state.config).toBe(before.config);
    expect(before.disks.get(D)?.working.generation).toBe(0);
    expect(before.jobs.size).toBe(0);
    expect(before.persist).toBeNull();
    // An ack that changes nothing returns the very same state.
    const s2 = h.state;
    const [s3, out] = controllerStep(s2, { type: 'persisted', persistId: 12345 });
    expect(out).toEqual([]);
    expect(s3).toBe(s2);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random agent messages, persistence answers and time
// ---------------------------------------------------------------------------------------------

type Action =
  | { readonly k: 'fault'; readonly agent: AgentId; readonly disk: DiskId; readonly seg: number; readonly op: Op; readonly off: number; readonly len: number; readonly lag: number; readonly staleEpoch: boolean }
  | { readonly k: 'dup'; readonly pick: number }
  | { readonly k: 'deliver'; readonly agent: AgentId; readonly drop: boolean }
  | { readonly k: 'ack'; readonly agent: AgentId; readonly disk: DiskId; readonly gen: number; readonly staleEpoch: boolean }
  | { readonly k: 'restart'; readonly agent: AgentId }
  | { readonly k: 'persisted' }
  | { readonly k: 'persistStale'; readonly id: number }
  | { readonly k: 'persistFailed' }
  | { readonly k: 'copy'; readonly pick: number; readonly ok: boolean }
  | { readonly k: 'tick'; readonly dt: number }
  | { readonly k: 'migrate'; readonly disk: DiskId; readonly seg: number; readonly lun: number }
  | { readonly k: 'markFailed'; readonly lun: number; readonly start: number }
  | { readonly k: 'snapshot'; readonly disk: DiskId };

const AGENTS: AgentId[] = ['a', 'b'];
const agentArb = fc.constantFrom(...AGENTS);
const diskArb = fc.constantFrom(D, 'e');

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ agent: agentArb, disk: diskArb, seg: fc.integer({ min: 0, max: COUNT - 1 }), op: fc.constantFrom<Op>('read', 'write', 'write'), off: fc.integer({ min: 0, max: SEG - 1 }), len: fc.integer({ min: 1, max: SEG }), lag: fc.constantFrom(0, 0, 0, 1, 2), staleEpoch: fc.constantFrom(false, false, false, true) })
      .map((r): Action => ({ k: 'fault', ...r, len: Math.min(r.len, SEG - r.off) })),
  },
  { weight: 2, arbitrary: fc.nat(1000).map((pick): Action => ({ k: 'dup', pick })) },
  { weight: 10, arbitrary: fc.record({ agent: agentArb, drop: fc.constantFrom(false, false, false, false, true) }).map((r): Action => ({ k: 'deliver', ...r })) },
  { weight: 2, arbitrary: fc.record({ agent: agentArb, disk: diskArb, gen: fc.integer({ min: -1, max: 8 }), staleEpoch: fc.boolean() }).map((r): Action => ({ k: 'ack', ...r })) },
  { weight: 1, arbitrary: agentArb.map((agent): Action => ({ k: 'restart', agent })) },
  { weight: 6, arbitrary: fc.constant<Action>({ k: 'persisted' }) },
  { weight: 1, arbitrary: fc.nat(60).map((id): Action => ({ k: 'persistStale', id })) },
  { weight: 1, arbitrary: fc.constant<Action>({ k: 'persistFailed' }) },
  { weight: 3, arbitrary: fc.record({ pick: fc.nat(100), ok: fc.constantFrom(true, true, true, false) }).map((r): Action => ({ k: 'copy', ...r })) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 150 }).map((dt): Action => ({ k: 'tick', dt })) },
  { weight: 1, arbitrary: fc.record({ disk: diskArb, seg: fc.integer({ min: 0, max: COUNT - 1 }), lun: fc.constantFrom(1, 2) }).map((r): Action => ({ k: 'migrate', ...r })) },
  { weight: 1, arbitrary: fc.record({ lun: fc.constantFrom(1, 2), start: fc.integer({ min: 0, max: 40 }) }).map((r): Action => ({ k: 'markFailed', ...r })) },
  { weight: 1, arbitrary: diskArb.map((disk): Action => ({ k: 'snapshot', disk })) },
);

interface Model {
  ctrl: ControllerState;
  now: number;
  readonly epochs: Map<AgentId, number>;
  readonly gens: Map<string, number>;
  readonly inbox: Map<AgentId, ControllerMessage[]>;
  pending: { persistId: number; records: ReadonlyArray<PersistRecord>; failed: boolean } | null;
  readonly abandonedIds: number[];
  readonly confirmed: Map<DiskId, TableDocument>;
  readonly attachments: Map<DiskId, AgentId[]>;
  readonly issuedGen: Map<DiskId, number>;
  readonly copies: number[];
  /** Ids among `copies` that are flushes. */
  readonly flushes: Set<number>;
  readonly sentFaults: IoFaultMessage[];
  readonly faultsByKey: Map<string, IoFaultMessage>;
  nextFault: number;
  nextRequest: number;
  snapshots: number;
}

/** Disk d mapped by a and b, disk e by a only; segment 0 of each allocated; everything quiet. */
let started: Harness | null = null;
const propertyStart = (): Harness => {
  if (started !== null) return started;
  const h = boot(AGENTS, { disks: [D] });
  const e = h.drive(h.admin({ type: 'createDisk', disk: 'e', segmentBlocks: SEG, segmentCount: COUNT }));
  expect(e.filter((c) => c.type === 'adminDone')).toHaveLength(1);
  h.drive(h.admin({ type: 'attachAgent', disk: 'e', agent: 'a' }));
  h.drive(h.msg({ type: 'fetchTable', agent: 'a', epoch: 1, disk: 'e', generation: -1 }));
  allocateSegment(h, 'a', 0, D);
  allocateSegment(h, 'a', 0, 'e');
  expect(h.pending).toBeNull();
  expect(h.state.jobs.size).toBe(0);
  started = h;
  return h;
};

const newModel = (): Model => {
  const h = propertyStart();
  const issuedGen = new Map<DiskId, number>();
  for (const [disk, doc] of h.docs) issuedGen.set(disk, doc.generation);
  return {
    ctrl: h.state,
    now: h.now,
    epochs: new Map(AGENTS.map((a) => [a, 1])),
    gens: new Map(h.gens),
    inbox: new Map(AGENTS.map((a) => [a, []])),
    pending: null,
    abandonedIds: [],
    confirmed: new Map(h.docs),
    attachments: new Map(h.attachments),
    issuedGen,
    copies: [],
    flushes: new Set(),
    sentFaults: [],
    faultsByKey: new Map(),
    nextFault: 1000,
    nextRequest: 1000,
    snapshots: 0,
  };
};

const extentsOf = (t: MappingTable): Extent[] => {
  const out: Extent[] = [];
  for (let seg = 0; seg < t.segmentCount; seg++) {
    const e = entryAt(t, seg);
    for (const x of [e.location, e.alternate]) if (x !== null) out.push({ lun: x.lun, start: x.start, length: t.segmentBlocks });
  }
  return out;
};
const overlaps = (a: Extent, b: Extent): boolean => a.lun === b.lun && a.start < b.start + b.length && b.start < a.start + a.length;

/** Feeds one event, checks the invariants on what comes out, and updates the model. */
const feed = (m: Model, event: ControllerEvent): void => {
  const [next, cmds] = controllerStep(m.ctrl, event);
  // Records not yet durable when each command is emitted: the batch in flight (unless this very
  // event confirms it), then every batch issued earlier in this step.
  const unconfirmed: PersistRecord[] = m.pending !== null && !(event.type === 'persisted' && event.persistId === m.pending.persistId) ? [...m.pending.records] : [];
  for (const c of cmds) {
    switch (c.type) {
      case 'persist': {
        if (m.pending !== null) {
          // Only a failed batch is issued again while one is in flight, with the same records.
          expect(m.pending.failed).toBe(true);
          expect(c.records).toEqual(m.pending.records);
          m.abandonedIds.push(m.pending.persistId);
          m.pending = { persistId: c.persistId, records: c.records, failed: false };
          break;
        }
        // Every record continues the chain of its disk.
        for (const r of c.records) {
          if (r.type === 'updateTable') {
            expect(r.fromGeneration).toBe(m.issuedGen.get(r.disk));
            expect(r.generation).toBeGreaterThan(r.fromGeneration);
            m.issuedGen.set(r.disk, r.generation);
          } else if (r.type === 'saveTable') {
            expect(m.issuedGen.has(r.disk)).toBe(false);
            m.issuedGen.set(r.disk, r.table.generation);
          } else if (r.type === 'cloneTable') {
            // A copy of its source as the records before it in this batch leave it.
            expect(m.issuedGen.has(r.disk)).toBe(false);
            expect(m.issuedGen.has(r.source)).toBe(true);
            m.issuedGen.set(r.disk, m.issuedGen.get(r.source)!);
          }
        }
        m.pending = { persistId: c.persistId, records: c.records, failed: false };
        unconfirmed.push(...c.records);
        break;
      }
      case 'send': {
        const msg = c.message;
        if (msg.type === 'setEntries' || msg.type === 'refreshTable' || msg.type === 'replaceTable') {
          // Agents only ever see durable tables.
          const generation = msg.type === 'replaceTable' ? msg.table.generation : msg.generation;
          const doc = m.confirmed.get(msg.disk);
          expect(doc).toBeDefined();
          expect(generation).toBeLessThanOrEqual(doc!.generation);
          if (msg.type === 'replaceTable') expect(msg.table).toEqual(doc);
        }
        if (msg.type === 'retry') {
          const f = m.faultsByKey.get(`${c.to}/${msg.epoch}/${msg.faultId}`);
          expect(f).toBeDefined();
          if (f !== undefined) {
            // Metadata before data: no change of the segment is still waiting to be durable
            // when the retry goes out (a fault without a table needs the table itself durable;
            // later changes of other segments reach the agent like any change).
            for (const r of unconfirmed) {
              if (r.type === 'saveTable') expect(r.disk).not.toBe(f.disk);
              if (r.type === 'updateTable' && r.disk === f.disk && f.segment >= 0) expect(r.changes.map((x) => x.segment)).not.toContain(f.segment);
            }
          }
        }
        m.inbox.get(c.to)?.push(msg);
        break;
      }
      case 'copyBlocks':
      case 'writeZeros':
        m.copies.push(c.copyId);
        break;
      case 'flush':
        // Answered like a copy (flushed or flushFailed) by the same random action.
        m.copies.push(c.flushId);
        m.flushes.add(c.flushId);
        break;
      case 'released': {
        // Freed space is used by no durable table, nor by any decision made before this step
        // (within the step, a later job may legitimately allocate it again).
        const tables = [...[...m.ctrl.disks.values()].map((d) => d.working), ...[...next.disks.values()].map((d) => d.committed)];
        for (const t of tables) for (const x of extentsOf(t as MappingTable)) expect(overlaps(x, c.extent)).toBe(false);
        break;
      }
      default:
        break;
    }
  }
  // The committed table of every durable disk is exactly what was confirmed.
  for (const [disk, doc] of m.confirmed) {
    const d = next.disks.get(disk);
    if (d !== undefined) expect(encodeTable(d.committed as MappingTable)).toEqual(doc);
  }
  m.ctrl = next;
};

const agentMsg = (m: Model, message: AgentMessage): void => feed(m, { type: 'message', message });

const run = (m: Model, a: Action): void => {
  switch (a.k) {
    case 'fault': {
      const epoch = m.epochs.get(a.agent)! - (a.staleEpoch ? 1 : 0);
      const gen = m.gens.get(`${a.agent}/${a.disk}`) ?? -1;
      const f: IoFaultMessage = {
        type: 'ioFault',
        agent: a.agent,
        epoch,
        faultId: m.nextFault++,
        disk: a.disk,
        segment: gen < 0 ? -1 : a.seg,
        op: a.op,
        start: gen < 0 ? 0 : a.seg * SEG + a.off,
        length: gen < 0 ? 1 : a.len,
        reason: a.op === 'write' ? 'zero' : 'invalid',
        generation: gen < 0 ? -1 : Math.max(0, gen - a.lag),
      };
      m.sentFaults.push(f);
      m.faultsByKey.set(`${f.agent}/${f.epoch}/${f.faultId}`, f);
      return agentMsg(m, f);
    }
    case 'dup': {
      if (m.sentFaults.length === 0) return;
      return agentMsg(m, m.sentFaults[a.pick % m.sentFaults.length]!);
    }
    case 'deliver': {
      const msg = m.inbox.get(a.agent)!.shift();
      if (msg === undefined || a.drop) return;
      const epoch = m.epochs.get(a.agent)!;
      if (msg.epoch !== epoch && msg.epoch !== -1) return; // meant for another life
      const key = (disk: DiskId) => `${a.agent}/${disk}`;
      switch (msg.type) {
        case 'setEntries': {
          const g = m.gens.get(key(msg.disk)) ?? -1;
          if (g === msg.fromGeneration) {
            m.gens.set(key(msg.disk), msg.generation);
            return agentMsg(m, { type: 'tableAck', agent: a.agent, epoch, disk: msg.disk, generation: msg.generation });
          }
          if (g < msg.fromGeneration) return agentMsg(m, { type: 'fetchTable', agent: a.agent, epoch, disk: msg.disk, generation: g });
          return agentMsg(m, { type: 'tableAck', agent: a.agent, epoch, disk: msg.disk, generation: g });
        }
        case 'replaceTable':
          m.gens.set(key(msg.disk), msg.table.generation);
          return agentMsg(m, { type: 'tableAck', agent: a.agent, epoch, disk: msg.disk, generation: msg.table.generation });
        case 'refreshTable':
          return agentMsg(m, { type: 'fetchTable', agent: a.agent, epoch, disk: msg.disk, generation: m.gens.get(key(msg.disk)) ?? -1 });
        case 'dropTable':
          m.gens.delete(key(msg.disk));
          return agentMsg(m, { type: 'dropped', agent: a.agent, epoch, disk: msg.disk });
        default:
          return;
      }
    }
    case 'ack': {
      const epoch = m.epochs.get(a.agent)! - (a.staleEpoch ? 1 : 0);
      return agentMsg(m, { type: 'tableAck', agent: a.agent, epoch, disk: a.disk, generation: a.gen });
    }
    case 'restart': {
      m.epochs.set(a.agent, m.epochs.get(a.agent)! + 1);
      for (const k of [...m.gens.keys()]) if (k.startsWith(`${a.agent}/`)) m.gens.delete(k);
      m.inbox.set(a.agent, []);
      return;
    }
    case 'persisted': {
      const p = m.pending;
      if (p === null || p.failed) return;
      m.pending = null;
      applyRecords(m.confirmed, m.attachments, p.records);
      return feed(m, { type: 'persisted', persistId: p.persistId });
    }
    case 'persistStale': {
      const id = m.abandonedIds.length > 0 ? m.abandonedIds[a.id % m.abandonedIds.length]! : a.id;
      if (m.pending !== null && m.pending.persistId === id) return;
      return feed(m, { type: 'persisted', persistId: id });
    }
    case 'persistFailed': {
      const p = m.pending;
      if (p === null || p.failed) return;
      p.failed = true;
      return feed(m, { type: 'persistFailed', persistId: p.persistId, error: 'injected' });
    }
    case 'copy': {
      if (m.copies.length === 0) return;
      const [copyId] = m.copies.splice(a.pick % m.copies.length, 1);
      if (m.flushes.delete(copyId!)) return feed(m, a.ok ? { type: 'flushed', flushId: copyId! } : { type: 'flushFailed', flushId: copyId!, error: 'injected' });
      return feed(m, a.ok ? { type: 'copyDone', copyId: copyId! } : { type: 'copyFailed', copyId: copyId!, error: 'injected' });
    }
    case 'tick':
      m.now += a.dt;
      return feed(m, { type: 'tick', now: m.now });
    case 'migrate':
      return feed(m, { type: 'migrate', requestId: m.nextRequest++, disk: a.disk, segments: [a.seg], lun: a.lun });
    case 'markFailed':
      return feed(m, { type: 'markFailed', requestId: m.nextRequest++, lun: a.lun, start: a.start, length: 1 });
    case 'snapshot':
      if (m.snapshots >= 2) return;
      return feed(m, { type: 'snapshot', requestId: m.nextRequest++, disk: a.disk, snapshot: `snap${m.snapshots++}` });
  }
};

describe('controller: property', () => {
  it('random messages, persistence answers and time: no throw, no retry before durability, records chain by generation', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 100, size: 'max' }), (actions) => {
        const m = newModel();
        for (const a of actions) run(m, a);
        // Then let everything settle: every message delivered, every persist and copy
        // confirmed, and host I/O reaching every agent that restarted without a word (a silent
        // new life is invisible to the controller until the agent speaks).
        for (const agent of AGENTS)
          for (const [disk, agents] of m.attachments)
            if (agents.includes(agent) && !m.gens.has(`${agent}/${disk}`))
              run(m, { k: 'fault', agent, disk, seg: 0, op: 'read', off: 0, len: 1, lag: 0, staleEpoch: false });
        for (let i = 0; i < 60; i++) {
          for (const agent of AGENTS) while (m.inbox.get(agent)!.length > 0) run(m, { k: 'deliver', agent, drop: false });
          if (m.pending !== null && m.pending.failed) run(m, { k: 'tick', dt: 200 });
          run(m, { k: 'persisted' });
          while (m.copies.length > 0) run(m, { k: 'copy', pick: 0, ok: true });
          run(m, { k: 'tick', dt: 200 });
        }
        for (const agent of AGENTS) while (m.inbox.get(agent)!.length > 0) run(m, { k: 'deliver', agent, drop: false });
        // Quiet: no persist in flight, no job left.
        expect(m.pending).toBeNull();
        expect(m.copies).toEqual([]);
        expect([...m.ctrl.jobs.values()].map((j) => `${j.kind}:${j.phase.kind}`)).toEqual([]);
        // Convergence, unless agents acknowledged generations they do not hold.
        if (!actions.some((a) => a.k === 'ack')) {
          for (const [disk, agents] of m.attachments)
            for (const agent of agents) {
              const g = m.gens.get(`${agent}/${disk}`);
              if (g !== undefined) expect({ agent, disk, g }).toEqual({ agent, disk, g: m.confirmed.get(disk)!.generation });
            }
          expect(m.inbox.get('a')).toEqual([]);
          expect(m.inbox.get('b')).toEqual([]);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('controller: malformed agent messages', () => {
  it('refuses or fails them with a reason and never throws', () => {
    const h = boot(['a']);
    const good = h.fault('a', 'write', 3, 2);
    const variants: unknown[] = [
      { ...good, segment: 0, start: 5, length: 10 }, // crosses a segment boundary
      { ...good, segment: 7, start: 70, length: 1 }, // past the disk
      { ...good, segment: 1, start: 3, length: 1 }, // start not in the segment
      { ...good, segment: 'x' },
      { ...good, op: 'erase' },
      { ...good, length: 0 },
      { ...good, faultId: -1 },
      { ...good, epoch: 'one' },
      { type: 'tableAck', agent: 'a', epoch: 1, disk: D, generation: 'g' },
      { type: 'nonsense', agent: 'a', epoch: 1, disk: D },
      null,
    ];
    for (const m of variants) {
      const before = h.state;
      const commands = h.msg(m as never);
      expect(commands.length).toBeGreaterThan(0);
      for (const c of commands) expect(['refused', 'send', 'resolved']).toContain(c.type);
      const failed = commands.filter((c) => c.type === 'send');
      for (const c of failed) expect(c).toMatchObject({ message: { type: 'failIo' } });
      expect(h.state.jobs.size).toBe(before.jobs.size);
    }
  });
});

describe('controller: preparing the alternate before a centralized relocation', () => {
  it('copies the old content of exactly the blocks it will mark (zeros for a zero segment) before persisting', () => {
    const h = boot(['a']);
    const f = h.fault('a', 'write', SEG + 1, 2); // segment 1 is zero
    const c1 = h.msgRaw(f);
    expect(c1).toEqual([{ type: 'writeZeros', copyId: expect.any(Number), to: { lun: expect.any(Number), start: expect.any(Number) }, length: 2 }]);
    expect(persistsOf(c1)).toEqual([]); // nothing durable before the old content is in place
    const to = (c1[0] as Copy).to;
    const c1b = h.step({ type: 'copyDone', copyId: (c1[0] as Copy).copyId });
    // docs/design.md#ordering-rules: the zero-fill is flushed before the bits that expose it are persisted.
    expect(c1b).toEqual([{ type: 'flush', flushId: expect.any(Number), luns: [to.lun] }]);
    const c2 = h.step({ type: 'flushed', flushId: (c1b[0] as { flushId: number }).flushId });
    const [p] = persistsOf(c2);
    expect(p?.records[0]).toMatchObject({ type: 'updateTable', changes: [{ segment: 1, entry: { zero: true, alternate: { lun: to.lun, start: to.start - 1, blocks: '1-2' } } }] });
  });

  it('copies from the primary for a no-write segment, and skips blocks already at the alternate', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    h.drive(h.admin({ type: 'snapshot', disk: D, snapshot: 's' }));
    const prim = h.committedEntry(0).location as { lun: number; start: number };
    const cow = copiesOf(h.msgRaw(h.fault('a', 'write', 3, 2, { reason: 'no-write' })));
    expect(cow.map((c) => [c.type, c.type === 'copyBlocks' ? c.from : null, c.length])).toEqual([['copyBlocks', { lun: prim.lun, start: prim.start + 3 }, 2]]);

    // A zero segment with blocks 3-4 already at its alternate: a write of 2-5 prepares 2 and 5 only.
    const z = boot(['a']);
    z.drive(z.msg(z.fault('a', 'write', SEG + 3, 2)));
    const alt = z.committedEntry(1).alternate as { lun: number; start: number; blocks: string };
    expect(alt.blocks).toBe('3-4');
    const copies = copiesOf(z.msgRaw(z.fault('a', 'write', SEG + 2, 4)));
    expect(copies.map((c) => [c.type, c.to.start, c.length])).toEqual([
      ['writeZeros', alt.start + 2, 1],
      ['writeZeros', alt.start + 5, 1],
    ]);
  });

  it('a write whose agent restarts while the alternate is prepared changes nothing and gives the space back', () => {
    const h = boot(['a']);
    const free = h.state.allocator.free();
    const f = h.fault('a', 'write', SEG + 1, 2);
    const [copy] = copiesOf(h.msgRaw(f));
    expect(h.state.allocator.free()).toBe(free - SEG);
    h.msg({ type: 'tableAck', agent: 'a', epoch: h.epoch('a') + 1, disk: D, generation: -1 }); // a new life
    const gen = h.disk().committed.generation;
    const c = h.step({ type: 'copyDone', copyId: copy!.copyId });
    expect(persistsOf(c)).toEqual([]);
    expect(c.filter((x) => x.type === 'released')).toHaveLength(1);
    expect(resolvedOf(c)[0]).toMatchObject({ faultId: f.faultId, outcome: 'abandoned' });
    expect(h.state.allocator.free()).toBe(free);
    expect(h.disk().committed.generation).toBe(gen);
  });

  it('a failed preparation is made once more; a second failure fails the write with a reason and gives the space back', () => {
    const h = boot(['a']);
    const free = h.state.allocator.free();
    const f = h.fault('a', 'write', SEG + 1, 2);
    const [copy] = copiesOf(h.msgRaw(f));
    const again = h.step({ type: 'copyFailed', copyId: copy!.copyId, error: 'LUN offline' });
    expect(again).toEqual([{ ...copy, copyId: expect.any(Number) }]);
    expect((again[0] as Copy).copyId).not.toBe(copy!.copyId);
    const c = h.step({ type: 'copyFailed', copyId: (again[0] as Copy).copyId, error: 'LUN offline' });
    expect(sendsOf(c).map((x) => x.message.type)).toEqual(['failIo']);
    expect(resolvedOf(c)[0]).toMatchObject({ faultId: f.faultId, outcome: 'failed', detail: expect.stringMatching(/storage failed while preparing/) });
    expect(h.state.allocator.free()).toBe(free);
  });

  // docs/design.md#ordering-rules D1, D7: the copies made again are flushed again; nothing of the
  // failed attempt (its flush was lost) vouches for them.
  it('a flush that fails: the copies are made again under new ids and flushed again before the change is persisted', () => {
    const h = boot(['a']);
    const f = h.fault('a', 'write', SEG + 1, 2);
    const [copy] = copiesOf(h.msgRaw(f));
    const [flush] = h.step({ type: 'copyDone', copyId: copy!.copyId }).filter(isFlush);
    const again = h.step({ type: 'flushFailed', flushId: flush!.flushId, error: 'power lost' });
    expect(again).toEqual([{ ...copy, copyId: expect.any(Number) }]);
    expect(h.step({ type: 'flushed', flushId: flush!.flushId })).toEqual([]); // a late answer to the failed flush vouches for nothing
    const reflush = h.step({ type: 'copyDone', copyId: (again[0] as Copy).copyId });
    expect(reflush).toEqual([{ type: 'flush', flushId: expect.any(Number), luns: flush!.luns }]);
    expect((reflush[0] as { flushId: number }).flushId).not.toBe(flush!.flushId);
    const staged = h.step({ type: 'flushed', flushId: (reflush[0] as { flushId: number }).flushId });
    expect(persistsOf(staged)).toHaveLength(1);
    const done = h.drive(staged);
    expect(resolvedOf(done)).toMatchObject([{ faultId: f.faultId, outcome: 'retry' }]);
  });

  it('a failed preparation is not made again for an agent that restarted', () => {
    const h = boot(['a']);
    const free = h.state.allocator.free();
    const f = h.fault('a', 'write', SEG + 1, 2);
    const [copy] = copiesOf(h.msgRaw(f));
    h.msg({ type: 'tableAck', agent: 'a', epoch: h.epoch('a') + 1, disk: D, generation: -1 }); // a new life
    const c = h.step({ type: 'copyFailed', copyId: copy!.copyId, error: 'LUN offline' });
    expect(copiesOf(c)).toEqual([]);
    expect(resolvedOf(c)[0]).toMatchObject({ faultId: f.faultId, outcome: 'failed' }); // as before: nobody waits for the write
    expect(h.state.allocator.free()).toBe(free);
  });
});

describe('controller: an abandoned promotion', () => {
  it('releases only what it allocated, never the primary it would have replaced', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    const before = h.committedEntry(0);
    const prim = before.location as { lun: number; start: number };
    const gen = h.disk().committed.generation;
    // A migration freezes segment 0 (no-write, empty alternate on LUN 2); a write of the whole
    // segment, queued behind it, would promote that alternate and release the old primary.
    const c1 = h.admin({ type: 'migrate', disk: D, segments: [0], lun: 2 });
    const f = h.fault('a', 'write', 0, SEG, { reason: 'no-write', generation: gen + 1 });
    expect(h.msgRaw(f)).toEqual([]); // waits for the segment
    expect(persistsOf(c1)).toHaveLength(1);
    const c2 = h.persisted();
    const c3 = h.reply(c2); // the agent acknowledges the frozen entry: the migration's first part ends, the write starts
    const copies = copiesOf(c3).filter((c) => c.type === 'copyBlocks' && c.from.start === prim.start && c.length === SEG);
    expect(copies).toHaveLength(1);
    h.msg({ type: 'tableAck', agent: 'a', epoch: h.epoch('a') + 1, disk: D, generation: -1 }); // the agent restarts
    const c4 = h.step({ type: 'copyDone', copyId: copies[0]!.copyId });
    expect(resolvedOf(c4)[0]).toMatchObject({ faultId: f.faultId, outcome: 'abandoned' });
    expect(c4.filter((x) => x.type === 'released')).toEqual([]); // the alternate was the migration's, the primary still in use
    expect(h.committedEntry(0).location).toEqual(prim);
  });
});

describe('controller: leases and eviction (docs/design.md#leases-and-liveness)', () => {
  const LEASE = { leaseDuration: 100, maxClockDrift: 10, maxIoLifetime: 20 };
  const renew = (h: Harness, agent: AgentId, requestedAt: number, epoch = h.epoch(agent)): ControllerCommand[] =>
    h.msg({ type: 'renewLease', agent, epoch, disk: '', requestedAt });

  it('grants leases; evicts a silent agent once lease + drift + I/O lifetime have passed, and stops waiting for it', () => {
    const h = boot(['a', 'b'], { config: LEASE });
    expect(renew(h, 'a', 0)).toEqual([{ type: 'send', to: 'a', message: { type: 'leaseGranted', epoch: h.epoch('a'), requestedAt: 0, duration: 100 } }]);
    renew(h, 'b', 0);
    const fault = h.fault('a', 'write', 12, 3);
    const c1 = h.msg(fault);
    const c2 = h.persisted();
    expect(persistsOf(c1)).toHaveLength(1);
    // a answers the fence; b has gone silent, so the job waits for it.
    expect(h.reply(c2, (s) => s.to === 'a')).toEqual([]);
    renew(h, 'a', 60);
    expect(h.tick(125).filter((c) => c.type === 'fence')).toEqual([]); // 0 + 100 + 10 + 20 = 130 not yet passed
    renew(h, 'a', 120);
    const evicting = h.tick(240);
    expect(evicting.filter((c) => c.type === 'fence')).toEqual([{ type: 'fence', agent: 'b', epoch: h.epoch('b') }]);
    // Nothing goes to b any more; the fault finishes with a alone.
    const all = h.drive(evicting);
    expect(sendsOf(all).filter((s) => s.to === 'b')).toEqual([]);
    expect(resolvedOf(all)).toMatchObject([{ agent: 'a', faultId: fault.faultId, outcome: 'retry' }]);
    // That life of b is over: its messages are refused, its renewal revoked; a new life is welcome.
    const late = h.msg({ type: 'tableAck', agent: 'b', epoch: h.epoch('b'), disk: D, generation: 1 });
    expect(late).toMatchObject([{ type: 'refused', why: expect.stringMatching(/evicted/) }]);
    expect(renew(h, 'b', 250)).toEqual([{ type: 'send', to: 'b', message: { type: 'leaseRevoked', epoch: h.epoch('b') } }]);
    h.epochs.set('b', h.epoch('b') + 1);
    expect(renew(h, 'b', 260)).toEqual([{ type: 'send', to: 'b', message: { type: 'leaseGranted', epoch: h.epoch('b'), requestedAt: 260, duration: 100 } }]);
    expect(h.state.agents.get('b')?.epoch).toBe(h.epoch('b'));
  });

  it('abandons the faults of an evicted agent', () => {
    const h = boot(['a', 'b'], { config: LEASE });
    renew(h, 'a', 0);
    renew(h, 'b', 0);
    const fault = h.fault('b', 'write', 12, 3);
    const c2 = (h.msg(fault), h.persisted());
    h.reply(c2, (s) => s.to === 'a');
    h.tick(100);
    renew(h, 'a', 100); // granted at the controller's time, 100
    const evicting = h.tick(200);
    expect(evicting.filter((c) => c.type === 'fence')).toHaveLength(1);
    const all = [...evicting, ...h.drive(evicting)];
    expect(resolvedOf(all)).toMatchObject([{ agent: 'b', faultId: fault.faultId, outcome: 'abandoned' }]);
    expect(h.state.jobs.size).toBe(0);
  });

  it('without leases configured, nobody is evicted however long it is silent', () => {
    const h = boot(['a', 'b']);
    renew(h, 'b', 0);
    expect([...h.tick(1e6), ...h.tick(2e6)].filter((c) => c.type === 'fence')).toEqual([]);
  });

  it('materializes a zero segment on its first write: zeros written to the whole extent, which becomes the primary', () => {
    const h = boot(['a'], { config: { materializeZeroSegments: true } });
    const cmds = h.msgRaw(h.fault('a', 'write', 12, 1));
    expect(copiesOf(cmds)).toMatchObject([{ type: 'writeZeros', length: SEG }]);
    h.drive(cmds, { copies: true });
    const e = entryAt(h.disk().committed, 1);
    expect(e).toMatchObject({ zero: false, alternate: null });
    expect(e.location).not.toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Host discard and write-zeroes: zero jobs
// ---------------------------------------------------------------------------------------------

describe('controller: zero jobs (whole-segment discard and write-zeroes)', () => {
  const zeroSegment = (h: Harness, agent: AgentId, segment: number, generation = h.gen(agent)): ZeroSegmentMessage => ({
    type: 'zeroSegment',
    agent,
    epoch: h.epoch(agent),
    faultId: h.nextFaultId++,
    disk: D,
    segment,
    generation,
  });

  it('two agents: fence, zero entry, each after both acks; the extent is released after the last ack, then the agent retries', () => {
    const h = boot(['a', 'b']);
    allocateSegment(h, 'a', 1);
    const where = h.committedEntry(1).location!;
    const all = h.drive(h.msg(zeroSegment(h, 'a', 1)));
    expect(h.committedEntry(1)).toEqual({ zero: true });
    const released = all.findIndex((c) => c.type === 'released');
    const retried = all.findIndex((c) => c.type === 'send' && c.message.type === 'retry');
    expect(all[released]).toEqual({ type: 'released', extent: { lun: where.lun, start: where.start, length: SEG } });
    expect(released).toBeLessThan(retried);
    // The fence went first: an update making the segment invalid, then the zero entry.
    const updates = all.filter((c): c is Persist => c.type === 'persist').flatMap((p) => p.records).filter((r) => r.type === 'updateTable');
    expect(updates.map((r) => (r.type === 'updateTable' ? r.changes[0]!.entry : null))).toEqual([{ location: where, invalid: true }, { zero: true }]);
    expect(resolvedOf(all)).toMatchObject([{ reason: 'zero-segment', outcome: 'retry', path: [570, 575, 595, 597] }]);
    expect(h.state.refs.size).toBe(0);
  });

  it('a late duplicate (older than the segment\'s last change) zeroes nothing written since', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 2);
    const request = zeroSegment(h, 'a', 2);
    h.drive(h.msg(request));
    expect(h.committedEntry(2)).toEqual({ zero: true });
    allocateSegment(h, 'a', 2); // written again
    const written = h.committedEntry(2);
    const again = h.drive(h.msg({ ...request }));
    expect(h.committedEntry(2)).toEqual(written);
    expect(again.filter((c) => c.type === 'persist' || c.type === 'released')).toEqual([]);
    expect(retriesOf(again)).toHaveLength(1);
  });

  it('a segment shared with a snapshot keeps its extent: only the reference goes', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    h.drive(h.admin({ type: 'snapshot', disk: D, snapshot: 's' }));
    const all = h.drive(h.msg(zeroSegment(h, 'a', 0)));
    expect(h.committedEntry(0)).toEqual({ zero: true });
    expect(all.filter((c) => c.type === 'released')).toEqual([]);
    expect(h.state.refs.size).toBe(1);
  });

  it('fails on a failed segment, an unknown disk, a segment outside the disk, an agent that does not map the disk', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 3);
    const where = h.committedEntry(3).location!;
    h.drive(h.admin({ type: 'markFailed', lun: where.lun, start: where.start, length: 1 }));
    const failures = [zeroSegment(h, 'a', 3), { ...zeroSegment(h, 'a', 0), disk: 'x' }, zeroSegment(h, 'a', COUNT), { ...zeroSegment(h, 'a', 0), agent: 'b' }].map((m) => {
      if (m.agent === 'b') h.msg({ type: 'tableAck', agent: 'b', epoch: 1, disk: D, generation: -1 }); // b is unknown: its I/O fails, the message is refused
      const out = h.drive(h.msg(m));
      return [...sendsOf(out).map((s) => (s.message.type === 'failIo' ? s.message.reason : s.message.type)), ...out.filter((c) => c.type === 'refused').map(() => 'refused')];
    });
    expect(failures).toEqual([['error: segment 3 of disk d is marked failed'], ['unknown disk x'], [`segment ${COUNT} is not a segment of disk d (0..${COUNT - 1})`], ['agent b does not map disk d', 'refused']]);
  });
});

// ---------------------------------------------------------------------------------------------
// Drop marks (docs/design.md#ordering-rules)
// ---------------------------------------------------------------------------------------------

describe('controller: a late table after dropTable', () => {
  it('dropTable carries the committed generation, and an agent detached since its fault is sent no table for it', () => {
    const h = boot(['a', 'b'], { hold: false });
    // a has no table: its fault is answered with a whole table (585), which is still on its way...
    const fault = h.fault('a', 'read', 3, 4);
    expect(sendsOf(h.msgRaw(fault)).map((s) => [s.to, s.message.type])).toEqual([['a', 'replaceTable']]);
    const g = h.disk().committed.generation;
    // ... when the disk is deleted: a is told to drop, at the generation every table sent so far is at or below.
    const drops = sendsOf(h.admin({ type: 'deleteDisk', disk: D, force: true }));
    expect(drops.map((s) => [s.to, s.message])).toEqual([['a', { type: 'dropTable', epoch: h.epoch('a'), disk: D, generation: g }]]);
    // a drops; its fault is not answered with a table any more (one reaching it after the drop would be a copy nobody tracks).
    const after = [...h.msg({ type: 'dropped', agent: 'a', epoch: h.epoch('a'), disk: D, generation: g }), ...h.tick(1000), ...h.tick(2000)];
    expect(sendsOf(after).filter((s) => s.message.type === 'replaceTable' || s.message.type === 'setEntries' || s.message.type === 'refreshTable')).toEqual([]);
    expect(resolvedOf(after).map((r) => r.faultId)).toEqual([fault.faultId]);
    // The deletion goes on: nobody may hold a copy.
    expect(persistsOf(after).flatMap((p) => p.records.map((r) => r.type))).toContain('deleteTable');
  });

  it('an attached agent that refused a table as older than its drop gets the generation raised above the mark', () => {
    const h = boot(['a']);
    const g = h.disk().committed.generation;
    const raised = persistsOf(h.msg({ type: 'dropped', agent: 'a', epoch: h.epoch('a'), disk: D, generation: g + 3 }));
    expect(raised.map((p) => p.records)).toEqual([[{ type: 'updateTable', disk: D, fromGeneration: g, generation: g + 4, changes: [] }]]);
    // A second answer while the raise is on its way raises nothing more.
    expect(persistsOf(h.msg({ type: 'dropped', agent: 'a', epoch: h.epoch('a'), disk: D, generation: g + 3 }))).toEqual([]);
    h.persisted();
    expect(h.disk().committed.generation).toBe(g + 4);
    // The next change of the disk continues from the raised generation.
    allocateSegment(h, 'a', 1);
    expect(h.disk().committed.generation).toBe(g + 5);
    // The agent is still counted as a holder, and converges (a tick re-sends what it lacks).
    expect(h.state.agents.get('a')?.copies.get(D)?.mayHold).toBe(true);
    h.drive(h.tick(1000));
    expect(h.gen('a')).toBe(g + 5);
  });

  it('a drop mark past any reachable generation, and an acknowledgement of a generation never committed, are refused and change nothing', () => {
    const h = boot(['a']);
    const g = h.disk().committed.generation;
    const huge = h.msg({ type: 'dropped', agent: 'a', epoch: h.epoch('a'), disk: D, generation: Number.MAX_SAFE_INTEGER });
    expect(huge.filter((c) => c.type === 'refused')).toHaveLength(1);
    expect(persistsOf(huge)).toEqual([]);
    expect(h.disk().working.generation).toBe(g);
    const acked = h.state.agents.get('a')!.copies.get(D)!.acked;
    const future = h.msg({ type: 'tableAck', agent: 'a', epoch: h.epoch('a'), disk: D, generation: g + 7 });
    expect(future).toMatchObject([{ type: 'refused', why: expect.stringContaining(`generation ${g + 7} was never committed`) }]);
    expect(h.state.agents.get('a')!.copies.get(D)!.acked).toBe(acked);
  });

  it('a drop mark at or below what is committed raises nothing', () => {
    const h = boot(['a']);
    allocateSegment(h, 'a', 0);
    const g = h.disk().committed.generation;
    expect(persistsOf(h.msg({ type: 'dropped', agent: 'a', epoch: h.epoch('a'), disk: D, generation: g - 1 }))).toEqual([]);
    // Not attached: a plain answer to a dropTable, nothing raised either.
    expect(persistsOf(h.msg({ type: 'dropped', agent: 'z', epoch: 1, disk: D, generation: g + 5 }))).toEqual([]);
  });
});
