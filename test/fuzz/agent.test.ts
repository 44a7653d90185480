/**
 * Fuzz: the agent machine, its config and message readers, and the agent runtime answer a value
 * (a state and commands, a Left, a rejected promise) for any input, never an exception.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createManualClock, createMemoryNetwork, createMemoryStorage } from '../../src/adapters/memory.js';
import { agentStep, createAgentState, initialAgentState } from '../../src/agent/agent.js';
import type { AgentCommand, AgentConfig, AgentState } from '../../src/agent/types.js';
import { readControllerMessage } from '../../src/protocol/messages.js';
import { freezeTableDocument } from '../../src/protocol/shared-documents.js';
import { encodeEntry, encodeTable } from '../../src/table/codec.js';
import { createTable, type MappingTable } from '../../src/table/table.js';
import { createAgent } from '../../src/runtime/agent-runtime.js';
import { expectEither, hostileArb, hostileProperty, noThrow, plant, RUNS } from './hostile.js';

const CONFIG: AgentConfig = { agent: 'a1', epoch: 3, variant: 'distributed', faultTimeout: 100 };
const table = E.getOrElseW(() => expect.fail('fixture'))(
  createTable({ segmentBlocks: 8, generation: 2, entries: [{ location: { lun: 1, start: 0 } }, { zero: true }, { location: { lun: 1, start: 8 }, noWrite: true, alternate: { lun: 2, start: 0, blocks: [1] } }] }),
) as MappingTable;
const doc = freezeTableDocument(encodeTable(table));

/** A state holding disk `d`, with a read parked behind a fault on disk `e`. */
const holding = (): AgentState => {
  let s = initialAgentState(CONFIG);
  [s] = agentStep(s, { type: 'message', message: { type: 'replaceTable', epoch: 3, disk: 'd', table: doc } });
  [s] = agentStep(s, { type: 'hostIo', ioId: 1, disk: 'e', op: 'read', start: 0, length: 1 });
  return s;
};

const messages = [
  { type: 'setEntries', epoch: 3, disk: 'd', fromGeneration: 2, generation: 3, segmentCount: 4, changes: [{ segment: 1, entry: encodeEntry({ location: { lun: 1, start: 16 }, invalid: false, noWrite: false, zero: false, error: false, alternate: null }) }] },
  { type: 'replaceTable', epoch: 3, disk: 'd', table: encodeTable(table) },
  { type: 'refreshTable', epoch: 3, disk: 'd', generation: 9 },
  { type: 'retry', epoch: 3, faultId: 1 },
  { type: 'failIo', epoch: 3, faultId: 1, reason: 'no' },
  { type: 'confirmMark', epoch: 3, faultId: 1 },
  { type: 'dropTable', epoch: 3, disk: 'd' },
];
const messageArb = fc.oneof(...messages.map(plant), hostileArb);
const eventArb = fc.oneof(
  fc.record({ type: fc.constant('message'), message: messageArb }),
  plant({ type: 'hostIo', ioId: 9, disk: 'd', op: 'write', start: 3, length: 10 }),
  plant({ type: 'ioDone', ioId: 9 }),
  plant({ type: 'ioFailed', ioId: 9, error: 'x' }),
  plant({ type: 'tick', now: 1000 }),
  hostileArb,
);

const unwrap = <A>(e: E.Either<unknown, A>): A => (E.isRight(e) ? e.right : expect.fail(JSON.stringify(e.left)));

const KNOWN: ReadonlySet<AgentCommand['type']> = new Set(['issueIo', 'send', 'completeIo', 'failIo', 'refused']);

describe('fuzz: agent', () => {
  it('agentStep: a state and well-formed commands for any event; the given state is untouched', () => {
    const base = holding();
    fc.assert(
      hostileProperty(eventArb, (event) => {
        const before = { disks: base.disks, ios: base.ios, now: base.now };
        const [next, commands] = noThrow(() => agentStep(base, event as never));
        expect(typeof next).toBe('object');
        expect(Number.isFinite(next.now)).toBe(true);
        for (const c of commands) {
          expect(KNOWN.has(c.type)).toBe(true);
          if (c.type === 'refused') expect(c.why.length).toBeGreaterThan(0);
        }
        expect({ disks: base.disks, ios: base.ios, now: base.now }).toEqual(before);
      }),
      { numRuns: RUNS },
    );
  });

  it('createAgentState and readControllerMessage', () => {
    fc.assert(
      hostileProperty(fc.oneof(plant({ ...CONFIG, limits: { maxSegments: 10, maxChanges: 4 } }), hostileArb), messageArb, (config, message) => {
        expectEither(noThrow(() => createAgentState(config as never)), (s) => s.nextFaultId === 1);
        expectEither(noThrow(() => readControllerMessage(message)), (m) => typeof m.type === 'string');
      }),
      { numRuns: RUNS },
    );
  });

  it('the runtime rejects hostile host requests and survives hostile controller messages', async () => {
    const clock = unwrap(createManualClock());
    const network = unwrap(createMemoryNetwork({ seed: 1 }));
    const storage = unwrap(createMemoryStorage({ blockSize: 16, luns: { 1: 64 } }));
    const refused: string[] = [];
    const agent = createAgent({ storage, transport: network.transport('a1') as never, clock }, { agent: 'a1', epoch: 1, onRefused: (why) => refused.push(why) });
    const controller = network.transport('controller') as unknown as { send(to: string, m: unknown): void };
    await fc.assert(
      fc.asyncProperty(fc.tuple(hostileArb, hostileArb, hostileArb, messageArb), async (raw) => {
        const [disk, start, length, message] = raw.map((x) => x) as unknown[];
        noThrow(() => controller.send('a1', message));
        noThrow(() => network.deliverAll());
        const read = noThrow(() => agent.read(disk as never, start as never, length as never));
        const write = noThrow(() => agent.write(disk as never, start as never, length as never));
        expect(read).toBeInstanceOf(Promise);
        read.catch(() => {});
        await expect(write).rejects.toThrow();
      }),
      { numRuns: 30 },
    );
    agent.stop();
  });
});
