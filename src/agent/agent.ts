/**
 * The mapping agent as a pure state machine: `agentStep(state, event) -> [state, commands]`.
 *
 * The agent translates host I/O through its volatile copies of the tables and never blocks: what
 * it cannot finish it parks behind one outstanding fault per segment and leaves to the
 * controller (docs/design.md#fault-resolution), which answers with table changes and then
 * `retry`, `failIo` or (distributed variant) `confirmMark`. Its copy of a table only ever
 * changes by the controller's messages, so it always equals some controller generation.
 *
 * Restart: the machine has no restart event. The runtime throws the state away and starts a new
 * life with `initialAgentState({ ...config, epoch: newEpoch })`, a higher epoch than any before.
 * The new life holds no tables, so its first I/O faults and fetches them; the controller fences
 * messages of the old epoch, and the agent ignores controller messages meant for another life.
 */
import { Stepper } from './stepper.js';
import * as E from 'fp-ts/lib/Either.js';
import { show, thrownReason, type ValidationError } from '../errors.js';
import { configErrors } from './config.js';
import type { ControllerMessage, DiskId } from '../protocol/messages.js';
import { readControllerMessage } from '../protocol/messages.js';
import type { MappingTable } from '../table/table.js';
import { initialLease } from './lease.js';
import type { AgentCommand, AgentConfig, AgentEvent, AgentState } from './types.js';

export { segmentKey } from './host-io.js';
export { DEFAULT_AGENT_LIMITS } from './config.js';
export type {
  AgentCommand,
  AgentConfig,
  AgentEvent,
  AgentLimits,
  AgentState,
  DiskCopy,
  HostOp,
  HostRequest,
  IoState,
  MarkSpan,
  Outstanding,
  PendingAck,
  PendingFlush,
} from './types.js';

/**
 * A new life of an agent from a config that comes from outside: validates every field (the
 * variant, the epoch, the timeout, the limits) and answers the state of
 * {@link initialAgentState}, or the errors naming each bad field and its value. Never throws.
 *
 * @example
 * createAgentState({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100 }) // Right(state)
 * createAgentState({ agent: 'a1', epoch: 1, variant: 'bogus', faultTimeout: 100 } as never) // Left([{ field: 'variant', ... }])
 */
export const createAgentState = (config: AgentConfig): E.Either<ValidationError[], AgentState> => {
  try {
    const read = configErrors(config);
    return read.config === undefined ? E.left(read.errors) : E.right(initialAgentState(read.config));
  } catch (thrown) {
    return E.left([{ field: 'config', value: undefined, message: `config could not be read (${thrownReason(thrown)})` }]);
  }
};

/**
 * A new life of an agent: no tables, so every I/O faults until the controller answers. Takes the
 * config as given (a program's own constant); use {@link createAgentState} for one that comes
 * from outside.
 *
 * @example
 * const state = initialAgentState({ agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100 });
 */
export const initialAgentState = (config: AgentConfig): AgentState => ({
  config,
  now: 0,
  nextFaultId: 1,
  disks: new Map(),
  ios: new Map(),
  outstanding: new Map(),
  faultsBySegment: new Map(),
  lease: initialLease(config),
  dirty: new Map(),
  flushes: new Map(),
  lost: new Map(),
});

/**
 * The epoch the agent lives in now: its configuration's, or higher after evictions.
 *
 * @example
 * agentEpoch(initialAgentState(config)) // config.epoch
 */
export const agentEpoch = (state: AgentState): number => state.config.epoch;

/**
 * The agent's copy of `disk`'s table, if it holds one.
 *
 * @example
 * agentTable(state, 'd')?.generation // 4
 */
export const agentTable = (state: AgentState, disk: DiskId): MappingTable | undefined => state.disks.get(disk)?.table;

/**
 * How many host I/Os are parked behind a fault or mark.
 *
 * @example
 * agentParkedCount(initialAgentState(config)) // 0
 */
export const agentParkedCount = (state: AgentState): number => {
  let n = 0;
  for (const io of state.ios.values()) if (io.status === 'parked') n++;
  return n;
};

/** A controller message: epoch fencing, the controller epoch, then the per-type handler. */
function message(s: Stepper, raw: ControllerMessage): void {
  const read = readControllerMessage(raw);
  if (E.isLeft(read)) return s.refuse(raw, `malformed controller message: ${read.left.map((e) => e.message).join('; ')}`);
  const m = read.right;
  if (!acceptControllerEpoch(s, m)) return;
  const epoch = s.config.epoch;
  if (m.epoch > epoch) {
    // The controller knows a later life of this agent: this one must stop serving I/O.
    return s.fence(m, `agent ${s.config.agent} epoch ${epoch} is superseded: the controller sent a ${m.type} for epoch ${m.epoch}`);
  }
  if (s.fenced !== undefined) return;
  // A table message meant for an earlier life: the controller does not know this life yet and
  // may be waiting for the old one. Introduce this life by asking for the table it lacks. This
  // changes nothing here (the message itself is not applied), and without it the controller
  // could wait for the old life's acknowledgements for ever.
  if ((m.type === 'setEntries' || m.type === 'replaceTable' || m.type === 'refreshTable') && m.epoch >= 0 && m.epoch < epoch) {
    s.fetch(m.disk, s.disks.get(m.disk)?.table.generation ?? -1);
    return;
  }
  switch (m.type) {
    case 'retry':
      return s.retry(m);
    case 'failIo':
      return s.failIo(m);
    case 'confirmMark':
      return s.confirmMark(m);
    case 'setEntries':
      return m.epoch === epoch ? s.setEntries(m) : undefined;
    case 'replaceTable':
      return m.epoch === epoch ? s.replaceTable(m) : undefined;
    case 'refreshTable':
      return m.epoch === epoch || m.epoch === -1 ? s.refreshTable(m.disk, m.generation) : undefined;
    case 'dropTable':
      // Meant for an earlier life: this life must not map the disk either, and its `dropped`
      // tells the controller that the earlier life is gone (a deletion waits for it).
      return m.epoch === epoch || (typeof m.epoch === 'number' && m.epoch < epoch && typeof m.disk === 'string') ? s.dropTable(m.disk, m.generation) : undefined;
    case 'faultAccepted':
      return s.faultAccepted(m.epoch, m.faultId);
    case 'leaseGranted':
      return s.leaseGranted(m);
    case 'leaseRevoked':
      return s.leaseRevoked(m);
  }
}


// --- controller epoch (docs/design.md#fault-resolution: failover) --------------------------

/**
 * Refuses a message of an older controller epoch (a deposed controller). On a newer one,
 * adopts it and re-sends at once every fault and mark still waiting: the new controller
 * restored from the store and knows none of them, and the host I/O behind them is held.
 */
function acceptControllerEpoch(s: Stepper, m: ControllerMessage): boolean {
  const seen = m.controllerEpoch ?? 0;
  if (seen < s.controllerEpoch) {
    s.refuse(m, `${m.type}: controllerEpoch ${seen} is older than controller epoch ${s.controllerEpoch} already seen: the message comes from a deposed controller`);
    return false;
  }
  if (seen > s.controllerEpoch) {
    s.controllerEpoch = seen;
    if (s.fenced === undefined) s.resend(() => true);
  }
  return true;
}


/**
 * One step of the agent: the new state and the commands for the runtime, in order. Never
 * throws. Events that make no sense in the current state (unknown ids, answers meant for another
 * life, duplicates) change nothing and produce no commands; malformed, oversized or undecodable
 * input changes nothing and produces one `refused` command naming the field and the value.
 * A controller message whose `controllerEpoch` (absent: 0) is lower than the highest seen comes
 * from a deposed controller: it is refused. A higher one is adopted, and every fault and mark
 * still waiting is sent again at once, before the message itself is handled.
 * Two cases do produce commands:
 * - a table message (`setEntries`, `replaceTable`, `refreshTable`) meant for an EARLIER life is
 *   not applied, but answered by one `fetchTable` at this life's epoch. Adopting nothing keeps
 *   it safe; the fetch is what tells a controller still waiting for the old life that a new one
 *   exists (it fences the old epoch and sends this life the table), so it keeps the protocol live;
 * - any controller message for a LATER epoch, or an answer at this epoch to a fault this life
 *   never raised, proves that another life holds this agent's name: the life is fenced (see
 *   `AgentState.fenced`), every open host I/O fails with the reason, and so does every later one.
 *
 * @example
 * const [s1, c1] = agentStep(initialAgentState(config), { type: 'hostIo', ioId: 1, disk: 'd', op: 'read', start: 0, length: 5 });
 * // c1: [{ type: 'send', message: { type: 'ioFault', faultId: 1, segment: -1, reason: 'invalid', generation: -1, ... } }]
 * const [s2, c2] = agentStep(s1, { type: 'message', message: { type: 'replaceTable', epoch: 1, disk: 'd', table: doc } });
 * // c2: [{ type: 'send', message: { type: 'tableAck', disk: 'd', generation: doc.generation, ... } }]
 * const [s3, c3] = agentStep(s2, { type: 'message', message: { type: 'retry', epoch: 1, faultId: 1 } });
 * // c3: [{ type: 'issueIo', ioId: 1, disk: 'd', op: 'read', pieces: [...] }]
 */
export const agentStep = (state: AgentState, event: AgentEvent): readonly [AgentState, ReadonlyArray<AgentCommand>] => {
  try {
    return stepUnguarded(state, event);
  } catch (thrown) {
    // Only an event whose getters or proxy traps throw gets here; the state given is untouched.
    return [state, [{ type: 'refused', event: undefined, why: `the event could not be read (${thrownReason(thrown)})` }]];
  }
};

const stepUnguarded = (state: AgentState, event: AgentEvent): readonly [AgentState, ReadonlyArray<AgentCommand>] => {
  const step = new Stepper(state);
  if (typeof event !== 'object' || event === null) {
    step.refuse(event, `the event must be an object with a type, got ${show(event)}`);
    return [state, step.commands];
  }
  switch (event.type) {
    case 'hostIo':
      step.hostIo(event);
      break;
    case 'ioDone':
      step.ioDone(event.ioId);
      break;
    case 'ioFailed':
      step.ioFailed(event.ioId, event.error);
      break;
    case 'message':
      message(step, event.message);
      break;
    case 'tick':
      step.tick(event.now);
      break;
    // durability (docs/design.md#ordering-rules)
    case 'hostFlush':
      step.hostFlush(event);
      break;
    case 'flushDone':
      step.flushDone(event.flushId);
      break;
    case 'flushFailed':
      step.flushFailed(event.flushId, event.error);
      break;
    default:
      step.refuse(event, `the event type must be hostIo, ioDone, ioFailed, message, tick, hostFlush, flushDone or flushFailed, got ${show((event as { type?: unknown }).type)}`);
  }
  return [step.result(), step.commands];
};
