/**
 * A small cluster for ordering tests on the pure machines: the real controller and agent
 * machines, a store applying records with `applyPersistRecord`, storage holding one value per
 * block (so a read returns what it really finds), copies and zero-fills that can be held back,
 * and a network that delivers at once unless an agent is cut off. Not a test file itself.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import { agentStep, initialAgentState, type AgentState } from '../../src/agent/agent.js';
import type { AgentEvent } from '../../src/agent/types.js';
import { createAllocator, type Allocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { applyPersistRecord, EMPTY_DURABLE_STATE, encodeDurableState, type DurableState } from '../../src/controller/persist-record.js';
import type { AdminEvent, ControllerCommand, ControllerEvent, ControllerOptions, ControllerState } from '../../src/controller/types.js';
import type { AgentId, AgentMessage, ControllerMessage } from '../../src/protocol/messages.js';
import { entryAt } from '../../src/table/table.js';

const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

export const D = 'd';
export const LEASE = 1000;
const CONTROLLER: ControllerOptions = { leaseDuration: LEASE, maxClockDrift: 0, maxIoLifetime: 10, retryInterval: 50 };

/** What a test may change: the LUNs and their sizes (default two of 1,000 blocks), and controller options. */
export interface ClusterSetup {
  readonly luns?: Readonly<Record<number, number>>;
  readonly controller?: Partial<ControllerOptions>;
}

type Copy = Extract<ControllerCommand, { type: 'copyBlocks' | 'writeZeros' }>;

/**
 * A controller, its store, its storage and agents. Persist commands land at once; copies and
 * zero-fills too unless `holdCopies` is set; messages are delivered at once, except to and from
 * agents in `cut`.
 */
export class Cluster {
  controller: ControllerState;
  store: DurableState = EMPTY_DURABLE_STATE;
  readonly agents = new Map<AgentId, AgentState>();
  readonly cut = new Set<AgentId>();
  readonly answers = new Map<number, boolean>();
  /** Every command of the controller, in order. */
  readonly log: ControllerCommand[] = [];
  /** Every write issued to storage, in order. */
  readonly writes: { agent: AgentId; disk: string; lun: number; start: number; length: number }[] = [];
  /** Storage: the value of each block (`lun:block`), 0 when never written. */
  readonly blocks = new Map<string, number>();
  /** Host I/O outcomes: ioId -> the value read (reads), 'done' (writes), or the failure. */
  readonly ios = new Map<number, number | string>();
  holdCopies = false;
  readonly heldCopies: Copy[] = [];
  /** Persist commands are held (not yet durable) while set; a restart loses them. */
  holdPersists = false;
  readonly heldPersists: Extract<ControllerCommand, { type: 'persist' }>[] = [];
  /** Rewrites what an agent sends before it leaves (an older agent that leaves out a field). */
  outgoing: (m: AgentMessage) => AgentMessage = (m) => m;
  now = 0;
  private nextRequest = 1;
  private nextIo = 1;
  /** What each I/O writes, and what each read last read from storage. */
  private readonly values = new Map<number, number>();
  private readonly reads = new Set<number>();
  private readonly toAgents: { to: AgentId; message: ControllerMessage }[] = [];
  private readonly toController: AgentMessage[] = [];
  private readonly allocator: Allocator;
  private readonly options: ControllerOptions;

  constructor(agents: ReadonlyArray<AgentId>, setup: ClusterSetup = {}) {
    for (const agent of agents) this.agents.set(agent, initialAgentState({ agent, epoch: 1, variant: 'centralized', faultTimeout: 20, leaseDuration: LEASE }));
    this.allocator = right(createAllocator(setup.luns ?? { 1: 1000, 2: 1000 }));
    this.options = { ...CONTROLLER, ...setup.controller };
    this.controller = initialControllerState(this.allocator, this.options);
    this.step({ type: 'restored', state: encodeDurableState(this.store), now: this.now });
  }

  /** The controller crashes and a new one loads the store: everything in memory is gone. */
  restart(): void {
    this.controller = initialControllerState(this.allocator, this.options);
    this.toAgents.length = 0;
    this.heldCopies.length = 0;
    this.heldPersists.length = 0; // never durable
    this.holdPersists = false;
    this.step({ type: 'restored', state: encodeDurableState(this.store), now: this.now });
  }

  /** Agent `agent` restarts as life `epoch`: its copies and its host I/O are gone. */
  restartAgent(agent: AgentId, epoch: number): void {
    this.agents.set(agent, initialAgentState({ agent, epoch, variant: 'centralized', faultTimeout: 20, leaseDuration: LEASE }));
  }

  /** A message reaches the controller as if `agent` had sent it (late, or duplicated by the network). */
  deliver(message: AgentMessage): void {
    this.step({ type: 'message', message });
    this.pump();
  }

  step(event: ControllerEvent): void {
    const [next, cmds] = controllerStep(this.controller, event);
    this.controller = next;
    for (const c of cmds) {
      this.log.push(c);
      if (c.type === 'send') this.toAgents.push({ to: c.to, message: c.message });
      else if (c.type === 'adminDone') this.answers.set(c.requestId, c.result.ok);
      else if (c.type === 'persist' && this.holdPersists) this.heldPersists.push(c);
      else if (c.type === 'persist') {
        for (const r of c.records) this.store = right(applyPersistRecord(this.store, r));
        this.step({ type: 'persisted', persistId: c.persistId });
      } else if (c.type === 'flush') this.step({ type: 'flushed', flushId: c.flushId });
      else if (c.type === 'copyBlocks' || c.type === 'writeZeros') {
        if (this.holdCopies) this.heldCopies.push(c);
        else this.copy(c);
      }
    }
  }

  /** Makes every persist held so far durable, in order, and answers it (later ones land at once). */
  releasePersists(): void {
    this.holdPersists = false;
    for (const c of this.heldPersists.splice(0)) {
      for (const r of c.records) this.store = right(applyPersistRecord(this.store, r));
      this.step({ type: 'persisted', persistId: c.persistId });
    }
    this.pump();
  }

  /** Carries out a copy or zero-fill and answers it. */
  copy(c: Copy): void {
    for (let k = 0; k < c.length; k++) this.blocks.set(`${c.to.lun}:${c.to.start + k}`, c.type === 'writeZeros' ? 0 : (this.blocks.get(`${c.from.lun}:${c.from.start + k}`) ?? 0));
    this.step({ type: 'copyDone', copyId: c.copyId });
  }

  /** Carries out every copy held so far. */
  releaseCopies(): void {
    this.holdCopies = false;
    for (const c of this.heldCopies.splice(0)) this.copy(c);
    this.pump();
  }

  private agentStep(agent: AgentId, event: AgentEvent): void {
    const [next, cmds] = agentStep(this.agents.get(agent)!, event);
    this.agents.set(agent, next);
    for (const c of cmds) {
      if (c.type === 'send') this.toController.push(this.outgoing(c.message));
      else if (c.type === 'issueIo') {
        // Storage answers at once; a read keeps the value of its (one-block) piece.
        for (const p of c.pieces) {
          const key = `${p.lun}:${p.start}`;
          if (c.op === 'write' && p.lun !== undefined) {
            this.blocks.set(key, this.values.get(c.ioId)!);
            this.writes.push({ agent, disk: c.disk, lun: p.lun, start: p.start!, length: p.length });
          }
          if (c.op === 'read') this.values.set(c.ioId, p.kind === 'zero' || p.lun === undefined ? 0 : (this.blocks.get(key) ?? 0));
        }
        this.agentStep(agent, { type: 'ioDone', ioId: c.ioId });
      } else if (c.type === 'flush') this.agentStep(agent, { type: 'flushDone', flushId: c.flushId });
      else if (c.type === 'completeIo') this.ios.set(c.ioId, this.reads.has(c.ioId) ? (this.values.get(c.ioId) ?? 0) : 'done');
      else if (c.type === 'failIo') this.ios.set(c.ioId, c.reason);
    }
  }

  /** A one-block host write of `value` through `agent`; returns its id. */
  write(agent: AgentId, block: number, value: number, disk = D): number {
    const ioId = this.nextIo++;
    this.values.set(ioId, value);
    this.agentStep(agent, { type: 'hostIo', ioId, disk, op: 'write', start: block, length: 1 });
    this.pump();
    return ioId;
  }

  /** A one-block host read through `agent`; returns its id (`ios` gets the value read). */
  read(agent: AgentId, block: number, disk = D): number {
    const ioId = this.nextIo++;
    this.reads.add(ioId);
    this.agentStep(agent, { type: 'hostIo', ioId, disk, op: 'read', start: block, length: 1 });
    this.pump();
    return ioId;
  }

  /** Delivers messages until none is left (those of cut agents are lost). */
  pump(): void {
    for (let rounds = 0; this.toAgents.length > 0 || this.toController.length > 0; rounds++) {
      if (rounds > 10_000) throw new Error('messages never settle');
      const m = this.toAgents.shift();
      if (m !== undefined && !this.cut.has(m.to) && this.agents.has(m.to)) this.agentStep(m.to, { type: 'message', message: m.message });
      const back = this.toController.shift();
      if (back !== undefined && !this.cut.has(back.agent)) this.step({ type: 'message', message: back });
    }
  }

  /** Time passes in steps of 10 ms: the controller and every agent tick, and messages settle. */
  advance(ms: number): void {
    for (const end = this.now + ms; this.now < end; ) {
      this.now += 10;
      this.step({ type: 'tick', now: this.now });
      for (const a of this.agents.keys()) this.agentStep(a, { type: 'tick', now: this.now });
      this.pump();
    }
  }

  /** An admin request; returns its id (`answers` gets the outcome). */
  admin(event: Omit<AdminEvent, 'requestId'> & { type: AdminEvent['type'] }): number {
    const requestId = this.nextRequest++;
    this.step({ ...event, requestId } as AdminEvent);
    this.pump();
    return requestId;
  }

  /** An admin request that must be answered true within `ms` (the test fails otherwise). */
  adminOk(event: Omit<AdminEvent, 'requestId'> & { type: AdminEvent['type'] }, ms = 200): void {
    const requestId = this.admin(event);
    for (let waited = 0; !this.answers.has(requestId) && waited < ms; waited += 10) this.advance(10);
    expect(this.answers.get(requestId), `${event.type} ${JSON.stringify(event)}`).toBe(true);
  }

  /** Sends a message as an agent would (a late or duplicated one). */
  inject(message: AgentMessage): void {
    this.step({ type: 'message', message });
    this.pump();
  }
}

/**
 * `h` holds disk `D` (segment 0 on LUN 1, block 1 written 5) and is cut off while a migration of
 * segment 0 to LUN 2 commits without a fence (it is the only holder). The caller goes on from there.
 */
export const migrateWhileHolderCut = (c: Cluster): void => {
  c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
  c.admin({ type: 'attachAgent', disk: D, agent: 'h' } as AdminEvent);
  c.advance(50);
  c.read('h', 1);
  c.write('h', 1, 5);
  c.advance(100);
  expect(entryAt(c.controller.disks.get(D)!.committed, 0).location?.lun).toBe(1);
  c.holdCopies = true;
  c.admin({ type: 'migrate', disk: D, lun: 2, segments: [0] } as unknown as AdminEvent);
  c.advance(50);
  expect(c.heldCopies.length).toBeGreaterThan(0); // the copy to LUN 2 is under way
  c.cut.add('h');
  c.releaseCopies();
  c.advance(20);
  expect(entryAt(c.controller.disks.get(D)!.committed, 0).location?.lun).toBe(2); // committed, not fenced
};
