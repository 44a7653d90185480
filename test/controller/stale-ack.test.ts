/**
 * An acknowledgement from an earlier life of a disk name (bench/sim-snapshot-sweep.ts seed
 * 1584766335, `stuck`): an agent acknowledged generation 1 of disk `d` just before `d` was
 * deleted; the acknowledgement arrived after `d` was created again (at generation 0) and the agent
 * attached. The controller counted it for the new `d`, answered the agent's no-table fault with a
 * bare retry, the agent concluded that another life used its epoch and fenced itself, and a
 * fenced agent never answers `dropTable`: the next deletion of `d` was re-sent for ever.
 *
 * The pure controller and agent machines, wired by hand so that one message can be held back.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { agentStep, initialAgentState } from '../../src/agent/agent.js';
import type { AgentCommand, AgentEvent, AgentState } from '../../src/agent/types.js';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';

const allocator = E.getOrElseW(() => {
  throw new Error('allocator');
})(createAllocator({ 1: 4096 }));

/** A controller and agents, every message delivered in order unless `hold` keeps it back. */
class Pair {
  controller: ControllerState = controllerStep(initialControllerState(allocator), { type: 'restored', now: 0, state: { tables: [], attachments: [] } })[0];
  readonly agents = new Map<string, AgentState>();
  readonly held: AgentMessage[] = [];
  readonly ios = new Map<string, string>();
  readonly refusals: string[] = [];
  readonly answers = new Map<number, unknown>();
  hold: (m: AgentMessage) => boolean = () => false;
  /** Messages to this agent are lost while set (the controller re-sends on its ticks). */
  cut: string | null = null;
  now = 0;
  private nextRequest = 1;
  private readonly toController: ControllerEvent[] = [];
  private readonly toAgent: Array<[string, AgentEvent]> = [];

  constructor(names: ReadonlyArray<string>) {
    for (const agent of names) this.agents.set(agent, initialAgentState({ agent, epoch: 1, variant: 'distributed', faultTimeout: 50 }));
  }

  admin(event: Record<string, unknown>): number {
    const requestId = this.nextRequest++;
    this.toController.push({ ...event, requestId } as unknown as ControllerEvent);
    this.settle();
    return requestId;
  }

  hostIo(agent: string, ioId: number, op: 'read' | 'write', start: number): void {
    this.toAgent.push([agent, { type: 'hostIo', ioId, disk: 'd', op, start, length: 1 }]);
    this.settle();
  }

  io(agent: string, ioId: number): string | undefined {
    return this.ios.get(`${agent}/${ioId}`);
  }

  deliver(m: AgentMessage): void {
    this.toController.push({ type: 'message', message: m });
    this.settle();
  }

  /** Time passes in ticks of 20 ms, every message delivered in order, until nothing is left. */
  run(ms: number): void {
    for (const end = this.now + ms; this.now < end; ) {
      this.now += 20;
      this.toController.push({ type: 'tick', now: this.now });
      for (const agent of this.agents.keys()) this.toAgent.push([agent, { type: 'tick', now: this.now }]);
      this.settle();
    }
  }

  private settle(): void {
    for (let i = 0; i < 10_000 && (this.toController.length > 0 || this.toAgent.length > 0); i++) {
      const ce = this.toController.shift();
      if (ce !== undefined) {
        const [next, out] = controllerStep(this.controller, ce);
        this.controller = next;
        for (const c of out) this.onController(c);
      }
      const ae = this.toAgent.shift();
      if (ae !== undefined) {
        const [agent, event] = ae;
        const [next, out] = agentStep(this.agents.get(agent)!, event);
        this.agents.set(agent, next);
        for (const c of out) this.onAgent(agent, c);
      }
    }
  }

  private onController(c: ControllerCommand): void {
    if (c.type === 'persist') this.toController.push({ type: 'persisted', persistId: c.persistId });
    else if (c.type === 'copyBlocks' || c.type === 'writeZeros') this.toController.push({ type: 'copyDone', copyId: c.copyId });
    else if (c.type === 'flush') this.toController.push({ type: 'flushed', flushId: c.flushId });
    else if (c.type === 'send' && this.agents.has(c.to) && c.to !== this.cut) this.toAgent.push([c.to, { type: 'message', message: c.message }]);
    else if (c.type === 'adminDone') this.answers.set(c.requestId, c.result);
    else if (c.type === 'refused') this.refusals.push(c.why);
  }

  private onAgent(agent: string, c: AgentCommand): void {
    if (c.type === 'send') {
      if (this.hold(c.message)) this.held.push(c.message);
      else this.toController.push({ type: 'message', message: c.message });
    } else if (c.type === 'issueIo') this.toAgent.push([agent, { type: 'ioDone', ioId: c.ioId }]);
    else if (c.type === 'flush') this.toAgent.push([agent, { type: 'flushDone', flushId: c.flushId }]);
    else if (c.type === 'completeIo') this.ios.set(`${agent}/${c.ioId}`, 'done');
    else if (c.type === 'failIo') this.ios.set(`${agent}/${c.ioId}`, c.reason);
  }
}

/**
 * Disk `d` on `names`; `a` acknowledges generation 1, but that acknowledgement is held back; then
 * `d` is deleted by force (every agent drops it), created again and attached again, and what the
 * controller sends `a` about the new `d` is lost until the caller sets `cut` back.
 */
const recreatedWithAckHeld = (names: ReadonlyArray<string>, before: (p: Pair) => void = () => {}): Pair => {
  const p = new Pair(names);
  p.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 });
  for (const agent of names) p.admin({ type: 'attachAgent', disk: 'd', agent });
  p.hostIo('a', 1, 'read', 0); // a fetches generation 0
  expect(p.io('a', 1)).toBe('done');
  p.hold = (m) => m.type === 'tableAck' && m.agent === 'a' && m.generation >= 1;
  p.hostIo('a', 2, 'write', 5); // a first write to a zero segment commits generation 1
  expect(p.held.map((m) => m.type === 'tableAck' && m.generation)).toEqual([1]);
  p.hold = () => false;
  const deleted = p.admin({ type: 'deleteDisk', disk: 'd', force: true });
  p.run(200);
  expect(p.answers.get(deleted)).toEqual({ ok: true });
  // What the controller sends a about the new life is lost until the old acknowledgement arrives.
  p.cut = 'a';
  p.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 4, segmentCount: 8 });
  before(p);
  for (const agent of names) p.admin({ type: 'attachAgent', disk: 'd', agent });
  return p;
};

/** `a` serves a write of the new `d`, is not fenced, and a later deletion of `d` completes. */
const servesAndDeletes = (p: Pair): void => {
  p.hostIo('a', 3, 'write', 9);
  p.run(1000);
  expect(p.agents.get('a')!.fenced).toBeUndefined();
  expect(p.io('a', 3)).toBe('done');
  const again = p.admin({ type: 'deleteDisk', disk: 'd', force: true });
  p.run(500);
  expect(p.answers.get(again)).toEqual({ ok: true });
};

describe('controller: an acknowledgement from an earlier life of the disk name', () => {
  it('above what the new life committed is refused, and the agent is served a table of the new life (seed 1584766335)', () => {
    const p = recreatedWithAckHeld(['a']);
    // The generation floor: the new life starts above every generation of the old one (1).
    expect(p.controller.disks.get('d')?.committed.generation).toBe(2);
    p.deliver(p.held.shift()!);
    p.cut = null;
    expect(p.refusals).toEqual([expect.stringContaining('generation 1 is older than generation 2 this controller first knew disk d at')]);
    servesAndDeletes(p);
  });

  it('at the generation of a change of the new life still being sent to the agent: the agent is served', () => {
    const p = recreatedWithAckHeld(['a', 'b']);
    // b's first write commits generation 1 of the new life; its fan-out waits for a, which is cut off.
    p.hostIo('b', 1, 'write', 0);
    expect(p.controller.disks.get('d')?.committed.generation).toBeGreaterThan(2); // above the floor, 2
    p.deliver(p.held.shift()!);
    p.cut = null;
    servesAndDeletes(p);
    expect(p.io('b', 1)).toBe('done');
  });

  // The general case (bench/README.md, Liveness): before the generation floor the new life reached
  // generation 1 before `a` attached, so the old acknowledgement of generation 1 passed the guard
  // and was counted; `a`'s no-table fault was answered with a bare retry and `a` fenced itself, as
  // in the seed. With the floor no generation of the new life is one of the old life's.
  it('at a generation the old life reached, after the new life has passed it, does not count for it', () => {
    const p = recreatedWithAckHeld(['a', 'b'], (q) => {
      q.cut = null;
      q.admin({ type: 'attachAgent', disk: 'd', agent: 'b' });
      q.hostIo('b', 1, 'write', 0);
      expect(q.io('b', 1)).toBe('done');
      q.cut = 'a';
    });
    expect(p.controller.disks.get('d')?.committed.generation).toBeGreaterThan(1);
    p.deliver(p.held.shift()!);
    p.cut = null;
    expect(p.refusals).toEqual([expect.stringMatching(/^generation 1 is older than generation \d+ this controller first knew disk d at/)]);
    servesAndDeletes(p);
  });
});
