/**
 * Tests of the controller epoch in src/agent/agent.ts: an agent keeps the highest
 * `controllerEpoch` it has seen, refuses controller messages of a lower one (a deposed
 * controller), and on a higher one re-sends every waiting fault and mark at once. A property test
 * checks the machine against a running-maximum model over random message sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentStep, initialAgentState, type AgentCommand, type AgentConfig, type AgentEvent, type AgentState } from '../../src/agent/agent.js';
import * as E from 'fp-ts/lib/Either.js';
import { readControllerMessage, type ControllerMessage, type IoFaultMessage } from '../../src/protocol/messages.js';

const EPOCH = 3;
const CONFIG: AgentConfig = { agent: 'a1', epoch: EPOCH, variant: 'centralized', faultTimeout: 100 };

const run = (state: AgentState, events: ReadonlyArray<AgentEvent>): [AgentState, AgentCommand[]] => {
  const out: AgentCommand[] = [];
  let s = state;
  for (const e of events) {
    const [next, commands] = agentStep(s, e);
    s = next;
    out.push(...commands);
  }
  return [s, out];
};

const read = (ioId: number, disk = 'd'): AgentEvent => ({ type: 'hostIo', ioId, disk, op: 'read', start: 0, length: 1 });
const msg = (message: ControllerMessage): AgentEvent => ({ type: 'message', message });
const faults = (commands: ReadonlyArray<AgentCommand>): IoFaultMessage[] =>
  commands.flatMap((c) => (c.type === 'send' && c.message.type === 'ioFault' ? [c.message] : []));
const refusals = (commands: ReadonlyArray<AgentCommand>): string[] => commands.flatMap((c) => (c.type === 'refused' ? [c.why] : []));

/** An agent with two faults waiting (no table of disks d and e yet), at time 10. */
const waiting = (): AgentState => run(initialAgentState(CONFIG), [{ type: 'tick', now: 10 }, read(1, 'd'), read(2, 'e')])[0];

describe('controller epoch', () => {
  it('starts at 0 and takes messages without the field as epoch 0', () => {
    const [s, commands] = run(waiting(), [msg({ type: 'refreshTable', epoch: -1, disk: 'x', generation: 0 })]);
    expect(s.controllerEpoch ?? 0).toBe(0);
    expect(refusals(commands)).toEqual([]);
    expect(faults(commands)).toEqual([]);
  });

  it('on a higher controller epoch adopts it and re-sends every waiting fault at once, before faultTimeout', () => {
    const s0 = waiting();
    const before = [...s0.outstanding.values()].map((o) => o.message);
    const [s1, commands] = run(s0, [{ type: 'tick', now: 20 }, msg({ type: 'refreshTable', epoch: -1, disk: 'x', generation: 0, controllerEpoch: 2 })]);
    expect(s1.controllerEpoch).toBe(2);
    expect(faults(commands)).toEqual(before);
    expect([...s1.outstanding.values()].every((o) => o.sentAt === 20)).toBe(true);
    // The same epoch again re-sends nothing, and the timeout counts from the re-send.
    const [, again] = run(s1, [msg({ type: 'refreshTable', epoch: -1, disk: 'x', generation: 0, controllerEpoch: 2 }), { type: 'tick', now: 110 }]);
    expect(faults(again)).toEqual([]);
  });

  it('refuses every message of a lower controller epoch, changing nothing: a deposed controller cannot release or fail held I/O', () => {
    const [s1] = run(waiting(), [msg({ type: 'refreshTable', epoch: -1, disk: 'x', generation: 0, controllerEpoch: 5 })]);
    const stale: ControllerMessage[] = [
      { type: 'retry', epoch: EPOCH, faultId: 1, controllerEpoch: 4 },
      { type: 'failIo', epoch: EPOCH, faultId: 2, reason: 'old', controllerEpoch: 4 },
      { type: 'dropTable', epoch: EPOCH, disk: 'd' },
      { type: 'replaceTable', epoch: EPOCH + 1, disk: 'd', table: { segmentBlocks: 1, entries: [] } as never, controllerEpoch: 1 },
    ];
    for (const m of stale) {
      const [s2, commands] = agentStep(s1, msg(m));
      expect(s2).toBe(s1);
      expect(commands).toHaveLength(1);
      expect(refusals(commands)[0]).toMatch(/controllerEpoch \d+ is older than controller epoch 5/);
    }
  });

  it('readControllerMessage keeps a valid controllerEpoch, drops an undefined one and names a bad one', () => {
    expect(readControllerMessage({ type: 'retry', epoch: 1, faultId: 2, controllerEpoch: 3 })).toEqual(E.right({ type: 'retry', epoch: 1, faultId: 2, controllerEpoch: 3 }));
    expect(readControllerMessage({ type: 'retry', epoch: 1, faultId: 2, controllerEpoch: undefined })).toEqual(E.right({ type: 'retry', epoch: 1, faultId: 2 }));
    const bad = readControllerMessage({ type: 'dropTable', epoch: 1, disk: 'd', controllerEpoch: 1.5 });
    expect(E.isLeft(bad) && bad.left[0]!.field).toBe('controllerEpoch');
  });

  it('refuses a malformed controllerEpoch naming the field', () => {
    const [, commands] = agentStep(waiting(), msg({ type: 'retry', epoch: EPOCH, faultId: 1, controllerEpoch: -1 }));
    expect(refusals(commands)[0]).toMatch(/controllerEpoch/);
  });

  it('keeps the running maximum and refuses exactly the messages below it (model)', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.nat(6), { nil: undefined }), { maxLength: 40 }), (epochs) => {
        let s = waiting();
        let model = 0;
        for (const ce of epochs) {
          // A harmless message (a refresh of a disk the agent does not hold), stamped or not.
          const base = { type: 'refreshTable', epoch: -1, disk: 'x', generation: 0 } as const;
          const m: ControllerMessage = ce === undefined ? base : { ...base, controllerEpoch: ce };
          const outstanding = s.outstanding.size;
          const [next, commands] = agentStep(s, msg(m));
          const seen = ce ?? 0;
          expect(refusals(commands).length).toBe(seen < model ? 1 : 0);
          // A newer epoch re-sends every waiting fault; anything else sends nothing.
          expect(faults(commands).length).toBe(seen > model ? outstanding : 0);
          model = Math.max(model, seen);
          expect(next.controllerEpoch ?? 0).toBe(model);
          s = next;
        }
      }),
    );
  });
});
