/**
 * The fault protocol, step by step: two agents share the reference disk, agent a1 writes to the
 * no-write segment 1, and the controller resolves the fault (570, 575, the acknowledgements,
 * 595). The pure machines are driven by hand here, so every message is visible.
 *
 *   npx tsx examples/protocol.ts
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  agentStep,
  agentTable,
  controllerStep,
  createAllocator,
  createTable,
  encodeTable,
  formatTable,
  initialAgentState,
  initialControllerState,
  tablesEqual,
  type AgentCommand,
  type AgentEvent,
  type AgentState,
  type ControllerCommand,
  type ControllerEvent,
  type ControllerState,
  type MappingTable,
  type Piece,
} from '../src/index.js';

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

// The reference table; the controller's alternates will come from LUN 3.
const reference = right(
  createTable({
    segmentBlocks: 10,
    entries: [
      { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
      { location: { lun: 2, start: 0 }, noWrite: true },
      { location: { lun: 1, start: 10 } },
    ],
  }),
);

let controller: ControllerState = initialControllerState(right(createAllocator({ 1: 20, 2: 20, 3: 100 })));
const agents = new Map<string, AgentState>([
  ['a1', initialAgentState({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 1000 })],
  ['a2', initialAgentState({ agent: 'a2', epoch: 1, variant: 'centralized', faultTimeout: 1000 })],
]);

/** Messages and storage completions waiting to be delivered, in order. */
const pending: Array<() => void> = [];
let verbose = false;
const say = (line: string) => verbose && console.log(line);

const pieces = (ps: ReadonlyArray<Piece>) => ps.map((p) => (p.kind === 'zero' ? `zeros ${p.length}` : `${p.kind} LUN ${p.lun} block ${p.start}+${p.length}`)).join(', ');

const toController = (event: ControllerEvent): void => {
  const [next, commands] = controllerStep(controller, event);
  controller = next;
  commands.forEach(onControllerCommand);
};

const onControllerCommand = (c: ControllerCommand): void => {
  switch (c.type) {
    case 'persist':
      for (const r of c.records) {
        if (r.type !== 'updateTable') continue;
        // A fence: the segment becomes invalid at every agent before any of its blocks move.
        const fence = r.changes.some((x) => x.entry.invalid === true) ? ' (fence: segment invalid everywhere before blocks move)' : '';
        say(`  570  controller persists ${r.disk} generation ${r.fromGeneration} -> ${r.generation}${fence}; waits for the store`);
      }
      pending.push(() => {
        say('       store confirms: the change is durable');
        toController({ type: 'persisted', persistId: c.persistId });
      });
      return;
    case 'send': {
      const m = c.message;
      const what = m.type === 'setEntries' ? `setEntries generation ${m.fromGeneration} -> ${m.generation} (segments ${m.changes.map((x) => x.segment).join(', ')})` : m.type;
      say(`  ${c.step ?? '   '}  controller -> ${c.to}: ${what}`);
      pending.push(() => toAgent(c.to, { type: 'message', message: m }));
      return;
    }
    case 'copyBlocks':
      say(`       controller copies ${c.length} block(s) LUN ${c.from.lun}:${c.from.start} -> LUN ${c.to.lun}:${c.to.start}`);
      pending.push(() => toController({ type: 'copyDone', copyId: c.copyId }));
      return;
    case 'resolved':
      say(`  597  fault ${c.faultId} of ${c.agent} resolved (${c.outcome}) through ${c.path.join(' -> ')}`);
      return;
    case 'released':
      say(`       LUN ${c.extent.lun} blocks ${c.extent.start}+${c.extent.length} released`);
      return;
    default:
      return;
  }
};

const toAgent = (agent: string, event: AgentEvent): void => {
  const [next, commands] = agentStep(agents.get(agent)!, event);
  agents.set(agent, next);
  for (const c of commands) onAgentCommand(agent, c);
};

const onAgentCommand = (agent: string, c: AgentCommand): void => {
  switch (c.type) {
    case 'send': {
      const m = c.message;
      const what = m.type === 'ioFault' ? `I/O fault #${m.faultId}: ${m.op} blocks ${m.start}+${m.length}, segment ${m.segment}, reason ${m.reason}` : m.type === 'tableAck' ? `acknowledges generation ${m.generation}` : m.type;
      say(`       ${agent} -> controller: ${what}`);
      pending.push(() => toController({ type: 'message', message: m }));
      return;
    }
    case 'issueIo':
      say(`       ${agent} issues ${c.op}: ${pieces(c.pieces)}`);
      pending.push(() => toAgent(agent, { type: 'ioDone', ioId: c.ioId }));
      return;
    case 'completeIo':
      say(`       ${agent}: host I/O ${c.ioId} complete`);
      return;
    case 'failIo':
      say(`       ${agent}: host I/O ${c.ioId} failed: ${c.reason}`);
      return;
  }
};

const drain = (): void => {
  for (let n = 0; pending.length > 0 && n < 10_000; n++) pending.shift()!();
};

// Start: the controller loads the persisted table; both agents learn it by faulting once.
toController({ type: 'restored', now: 0, state: { tables: [{ disk: 'vd1', table: encodeTable(reference) }], attachments: [{ disk: 'vd1', agents: ['a1', 'a2'] }] } });
toAgent('a1', { type: 'hostIo', ioId: 1, disk: 'vd1', op: 'read', start: 0, length: 1 });
toAgent('a2', { type: 'hostIo', ioId: 1, disk: 'vd1', op: 'read', start: 0, length: 1 });
drain();

console.log('Controller table before the write:\n');
console.log(formatTable(controller.disks.get('vd1')!.committed));
console.log('\nAgent a1 writes blocks 12-13, which live on the frozen (no-write) primary of segment 1:\n');
verbose = true;
toAgent('a1', { type: 'hostIo', ioId: 2, disk: 'vd1', op: 'write', start: 12, length: 2 });
drain();

// Time passes: the background copy of the rest of segment 1 finishes and is promoted.
verbose = false;
for (let now = 100; now <= 1000; now += 100) {
  toController({ type: 'tick', now });
  for (const a of agents.keys()) toAgent(a, { type: 'tick', now });
  drain();
}

const committed: MappingTable = controller.disks.get('vd1')!.committed;
console.log('\nController table once the background copy has been promoted:\n');
console.log(formatTable(committed));
for (const [name, state] of agents) {
  const copy = agentTable(state, 'vd1');
  console.log(`\n${name}'s copy equals the controller's: ${copy !== undefined && copy.generation === committed.generation && tablesEqual(copy, committed)}`);
}
