/**
 * Stepping the pure agent machine in tests: events in, every command out, and an agent already
 * holding a table of disk `d`. Not a test file itself.
 */
import * as E from 'fp-ts/lib/Either.js';
import { agentStep, initialAgentState, type AgentCommand, type AgentConfig, type AgentEvent, type AgentState } from '../../src/agent/agent.js';
import type { AgentMessage, ControllerMessage } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import type { MappingTable } from '../../src/table/table.js';

export const D = 'd';

export const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

export const msg = (message: ControllerMessage): AgentEvent => ({ type: 'message', message });

/** Steps the machine through `events`, returning the last state and every command. */
export const run = (state: AgentState, ...events: AgentEvent[]): [AgentState, AgentCommand[]] => {
  const all: AgentCommand[] = [];
  for (const e of events) {
    const [next, commands] = agentStep(state, e);
    state = next;
    all.push(...commands);
  }
  return [state, all];
};

/** A new agent of `config` that has been sent `table` for disk `d` (in its own epoch). */
export const holdingTable = (config: AgentConfig, table: MappingTable): AgentState =>
  run(initialAgentState(config), msg({ type: 'replaceTable', epoch: config.epoch, disk: D, table: encodeTable(table) }))[0];

/** The messages among `commands`, in order. */
export const sent = (commands: AgentCommand[]): AgentMessage[] => commands.flatMap((c) => (c.type === 'send' ? [c.message] : []));
