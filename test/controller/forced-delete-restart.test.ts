/**
 * A forced deletion, a change committed while it waits, then a controller restart before the
 * deletion is durable (bench/sim-snapshot-sweep.ts seed 1959515581, `read-mismatch`).
 *
 * A forced `deleteDisk` detaches the disk's agents in memory and tells them to drop their copies at
 * once, but the store keeps listing them as attached until `deleteTable` (so a restarted controller
 * knows who may hold a copy). An agent that has dropped no longer holds the disk, so a change
 * staged meanwhile (a first write whose zero-fill was still running when the deletion began) saw
 * a single possible holder, the one agent cut off, and was committed without a fence. The
 * controller restarted before the deletion was durable: the store gave the disk back with every
 * agent attached, the agents that had dropped fetched the new table and wrote through the changed
 * entry, while the cut-off agent, still within its lease, read the same block through its older
 * table (zeros).
 *
 * Ordering rule (docs/design.md#ordering-rules): an agent the store lists as attached counts as a
 * possible holder of the disk, when the controller decides whether a change must be fenced, until
 * the record that detaches it (or the deletion) is durable.
 *
 * The real controller and agent machines, a store applying records with `applyPersistRecord`,
 * storage holding one value per block, and a network that delivers at once unless an agent is cut off.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { agentStep, agentTable, initialAgentState, type AgentState } from '../../src/agent/agent.js';
import type { AgentEvent } from '../../src/agent/types.js';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { applyPersistRecord, EMPTY_DURABLE_STATE, encodeDurableState, type DurableState } from '../../src/controller/persist-record.js';
import type { AdminEvent, ControllerCommand, ControllerEvent, ControllerOptions, ControllerState } from '../../src/controller/types.js';
import type { AgentId, AgentMessage, ControllerMessage } from '../../src/protocol/messages.js';
import { entryAt } from '../../src/table/table.js';

const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

const ALLOCATOR = right(createAllocator({ 1: 1000 }));
const D = 'd';
const LEASE = 1000;
const CONTROLLER: ControllerOptions = { leaseDuration: LEASE, maxClockDrift: 0, maxIoLifetime: 10, retryInterval: 50 };

type Copy = Extract<ControllerCommand, { type: 'copyBlocks' | 'writeZeros' }>;

/**
 * A controller, its store, its storage and agents. Persist commands land at once; copies and
 * zero-fills too unless `holdCopies` is set; messages are delivered at once, except to and from
 * agents in `cut`.
 */
class Cluster {
  controller: ControllerState;
  store: DurableState = EMPTY_DURABLE_STATE;
  readonly agents = new Map<AgentId, AgentState>();
  readonly cut = new Set<AgentId>();
  readonly answers = new Map<number, boolean>();
  /** Storage: the value of each block (`lun:block`), 0 when never written. */
  readonly blocks = new Map<string, number>();
  /** Host I/O outcomes: ioId -> the value read (reads), 'done' (writes), or the failure. */
  readonly ios = new Map<number, number | string>();
  holdCopies = false;
  readonly heldCopies: Copy[] = [];
  now = 0;
  private nextRequest = 1;
  private nextIo = 1;
  /** What each I/O writes, and what each read last read from storage. */
  private readonly values = new Map<number, number>();
  private readonly reads = new Set<number>();
  private readonly toAgents: { to: AgentId; message: ControllerMessage }[] = [];
  private readonly toController: AgentMessage[] = [];

  constructor(agents: ReadonlyArray<AgentId>) {
    for (const agent of agents) this.agents.set(agent, initialAgentState({ agent, epoch: 1, variant: 'centralized', faultTimeout: 20, leaseDuration: LEASE }));
    this.controller = initialControllerState(ALLOCATOR, CONTROLLER);
    this.step({ type: 'restored', state: encodeDurableState(this.store), now: this.now });
  }

  /** The controller crashes and a new one loads the store: everything in memory is gone. */
  restart(): void {
    this.controller = initialControllerState(ALLOCATOR, CONTROLLER);
    this.toAgents.length = 0;
    this.heldCopies.length = 0;
    this.step({ type: 'restored', state: encodeDurableState(this.store), now: this.now });
  }

  step(event: ControllerEvent): void {
    const [next, cmds] = controllerStep(this.controller, event);
    this.controller = next;
    for (const c of cmds) {
      if (c.type === 'send') this.toAgents.push({ to: c.to, message: c.message });
      else if (c.type === 'adminDone') this.answers.set(c.requestId, c.result.ok);
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
      if (c.type === 'send') this.toController.push(c.message);
      else if (c.type === 'issueIo') {
        // Storage answers at once; a read keeps the value of its (one-block) piece.
        for (const p of c.pieces) {
          const key = `${p.lun}:${p.start}`;
          if (c.op === 'write' && p.lun !== undefined) this.blocks.set(key, this.values.get(c.ioId)!);
          if (c.op === 'read') this.values.set(c.ioId, p.kind === 'zero' || p.lun === undefined ? 0 : (this.blocks.get(key) ?? 0));
        }
        this.agentStep(agent, { type: 'ioDone', ioId: c.ioId });
      } else if (c.type === 'flush') this.agentStep(agent, { type: 'flushDone', flushId: c.flushId });
      else if (c.type === 'completeIo') this.ios.set(c.ioId, this.reads.has(c.ioId) ? (this.values.get(c.ioId) ?? 0) : 'done');
      else if (c.type === 'failIo') this.ios.set(c.ioId, c.reason);
    }
  }

  /** A one-block host write of `value` through `agent`; returns its id. */
  write(agent: AgentId, block: number, value: number): number {
    const ioId = this.nextIo++;
    this.values.set(ioId, value);
    this.agentStep(agent, { type: 'hostIo', ioId, disk: D, op: 'write', start: block, length: 1 });
    this.pump();
    return ioId;
  }

  /** A one-block host read through `agent`; returns its id (`ios` gets the value read). */
  read(agent: AgentId, block: number): number {
    const ioId = this.nextIo++;
    this.reads.add(ioId);
    this.agentStep(agent, { type: 'hostIo', ioId, disk: D, op: 'read', start: block, length: 1 });
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
}

/**
 * Disk `d` attached to a0 and a1, both holding its table; a1's first write to segment 0 is
 * zero-filling (held) when `d` is deleted by force with a0 cut off; a1 drops its copy; then the
 * zero-fill lands and the change is committed. Returns the cluster and a1's write.
 */
const deletionWaitingOnCutAgent = (): { c: Cluster; firstWrite: number } => {
  const c = new Cluster(['a0', 'a1']);
  c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
  for (const agent of ['a0', 'a1']) c.admin({ type: 'attachAgent', disk: D, agent } as AdminEvent);
  c.advance(50);
  c.read('a0', 1);
  c.read('a1', 1);
  c.advance(50);
  expect(agentTable(c.agents.get('a0')!, D)).toBeDefined();
  expect(agentTable(c.agents.get('a1')!, D)).toBeDefined();
  c.holdCopies = true;
  const firstWrite = c.write('a1', 1, 7);
  c.advance(20);
  expect(c.heldCopies.length).toBeGreaterThan(0); // the zero-fill of segment 0 is under way
  c.cut.add('a0');
  const deletion = c.admin({ type: 'deleteDisk', disk: D, force: true } as AdminEvent);
  c.advance(20);
  expect(agentTable(c.agents.get('a1')!, D)).toBeUndefined(); // a1 dropped its copy
  expect(agentTable(c.agents.get('a0')!, D)).toBeDefined(); // a0 never heard of the deletion
  c.releaseCopies();
  c.advance(20);
  expect(c.answers.has(deletion)).toBe(false); // it waits for a0
  expect(c.store.attachments.get(D)).toEqual(['a0', 'a1']); // the store still lists both
  return { c, firstWrite };
};

describe('a forced deletion waiting for a cut-off agent, then a controller restart', () => {
  it('a change committed meanwhile is fenced: the store may still give the disk back to every agent it lists', () => {
    const { c } = deletionWaitingOnCutAgent();
    const stored = c.store.tables.get(D)!;
    expect(stored.generation).toBeGreaterThan(0); // the change was committed
    // Segment 0 is either untouched (zero) or fenced (invalid) in what the store holds: never
    // mapped somewhere a0, which holds the older table, does not read it from.
    const e = entryAt(stored, 0);
    expect(e.invalid || (e.zero && e.location === null)).toBe(true);
  });

  it('an agent that dropped its copy and gets the disk back after the restart never writes a block the cut-off agent reads elsewhere (seed 1959515581)', () => {
    const { c } = deletionWaitingOnCutAgent();
    c.restart();
    c.advance(50);
    // a1 is attached again in the restored store: it fetches the table and writes block 2.
    const write = c.write('a1', 2, 9);
    c.advance(100);
    const read = c.read('a0', 2); // a0: cut off, still within its lease, its older table
    c.advance(20);
    expect(c.ios.get(write) === 'done' && c.ios.get(read) === 0, `a1's write ${String(c.ios.get(write))}, a0's read ${String(c.ios.get(read))}`).toBe(false);
    // Once a0 is heard from again, everything converges and the write is served.
    c.cut.delete('a0');
    c.advance(3 * LEASE);
    expect(c.ios.get(write)).toBe('done');
    const again = c.read('a0', 2);
    c.advance(100);
    expect(c.ios.get(again)).toBe(9);
  });
});
