/**
 * The controller runtime: drives the pure controller machine (`controllerStep`) over the
 * caller's adapters (docs/design.md#fault-resolution, docs/design.md#adapter-contracts).
 *
 * It loads the persisted tables and feeds them as `restored`, then feeds every later event in
 * order through a serial queue (those that arrive while a step runs are fed together, as one
 * `batch` event): messages from agents, a periodic `tick` from the clock, admin requests, and
 * the results of the commands it carries out:
 *
 * - `persist`: the records are saved in order (one `saveBatch` when the store has it, else one
 *   `save` each); then `persisted`, or `persistFailed` with the
 *   error. A rejected save may still have landed (adapters/types.ts), so the next persist after
 *   a failure first reloads the store and skips the `updateTable` records that are already
 *   there (saving them again would be refused as coming from an old generation);
 * - `send`: `transport.send(to, message)` (agent ids are transport peer ids);
 * - `copyBlocks` / `writeZeros`: the storage operation, then `copyDone` or `copyFailed`;
 * - `flush`: `storage.flush` of each LUN (nothing for a write-through adapter without `flush`),
 *   then `flushed` or `flushFailed`;
 * - `adminDone`: resolves the promise of the matching {@link ControllerRuntime.admin} call;
 * - every command, these included, is shown to the `onCommand` observer first.
 *
 * A restart is `stop()` followed by a new runtime on the same persistence store (and the same
 * transport peer id): it reloads the tables and carries on; agents it has not heard from yet
 * are asked to refresh their copies.
 */
import { show } from '../errors.js';
import type { BlockStorage, Clock, PersistedState, PersistRecord, TablePersistence, TimerHandle, Transport, FenceAgent } from '../adapters/types.js';
import type { Allocator } from '../controller/allocator.js';
import { describeValue, readLimits, readPersistedState } from '../controller/admin-validation.js';
import { controllerStep, initialControllerState } from '../controller/controller.js';
import { adminTypes } from '../controller/jobs/index.js';
import { defaultControllerLimits, type AdminEvent, type AdminResult, type ControllerCommand, type ControllerEvent, type ControllerOptions, type ControllerState } from '../controller/types.js';
import type { AgentMessage, ControllerMessage } from '../protocol/messages.js';
import { flushLuns } from './durability.js';
import { attempt, createBatchQueue, errorMessage } from './serial.js';

/**
 * What a controller runtime drives: storage for background copies, the transport endpoint the
 * agents send to, the durable table store, time, and the free space of every LUN before any
 * table is taken into account.
 *
 * @example
 * const adapters: ControllerAdapters = { storage, transport: network.transport('controller'), persistence, clock, allocator };
 */
export interface ControllerAdapters {
  readonly storage: BlockStorage;
  readonly transport: Transport<ControllerMessage, AgentMessage>;
  readonly persistence: TablePersistence;
  readonly clock: Clock;
  readonly allocator: Allocator;
  /** Optional: cuts an evicted agent's storage path (the `fence` command; leases). */
  readonly fence?: FenceAgent;
}

/**
 * Machine configuration plus runtime options. `tickInterval` (ms, default `retryInterval / 5`)
 * is how often time is fed to the machine; `onCommand` observes every command before it is
 * carried out (traces, metrics, `resolved` and `released` notices).
 *
 * @example
 * const config: ControllerRuntimeConfig = { variant: 'centralized', retryInterval: 100, tickInterval: 20, onCommand: (c) => trace.push(c) };
 */
export type ControllerRuntimeConfig = ControllerOptions & {
  readonly tickInterval?: number;
  /** Sees every command before the runtime carries it out; if it throws, the command is still carried out. */
  readonly onCommand?: (command: ControllerCommand) => void;
};

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * An administrative request as the caller writes it: an {@link AdminEvent} without its
 * `requestId`, which the runtime assigns.
 *
 * @example
 * const request: AdminRequest = { type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 64 };
 */
export type AdminRequest = DistributiveOmit<AdminEvent, 'requestId'>;

/**
 * A running controller.
 *
 * @example
 * const result = await controller.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
 * if (!result.ok) console.error(result.error);
 * controller.state().disks.get('vol')?.committed.generation;
 * controller.stop();
 */
export interface ControllerRuntime {
  /**
   * Runs an administrative request; resolves with its result once the machine answers it
   * (`adminDone`). Never rejects: a malformed request, or one still open when the runtime
   * stops, resolves with `{ ok: false, error }` (for the latter, the change may or may not
   * have become durable: a restarted controller's state tells).
   */
  admin(request: AdminRequest): Promise<AdminResult>;
  /** The machine's current state (read-only). */
  state(): ControllerState;
  /** Stops ticking and handling: later messages, adapter results and requests are ignored. */
  stop(): void;
  readonly stopped: boolean;
}

/** Every agent message type, listed as a record so that a new one cannot be forgotten here (leases once were). */
const AGENT_MESSAGE_TYPES: ReadonlySet<string> = /* @__PURE__ */ (() =>
  new Set(Object.keys({ ioFault: true, markBits: true, tableAck: true, fetchTable: true, dropped: true, zeroSegment: true, renewLease: true } satisfies Record<AgentMessage['type'], true>)))();

/** True when `record` is already in the store (it landed although its save was rejected). */
const landed = (stored: PersistedState, record: PersistRecord): boolean => {
  if (record.type === 'updateTable') {
    const t = stored.tables.find((x) => x.disk === record.disk)?.table;
    return t !== undefined && t.generation >= record.generation;
  }
  if (record.type === 'deleteTable') return !stored.tables.some((x) => x.disk === record.disk);
  return false; // saveTable and attachments are idempotent: saving them again is harmless
};

/**
 * Starts a controller: loads the persisted state, feeds it to a fresh machine, starts ticking
 * and listens on the transport. Rejects with an `Error` naming every malformed adapter or option,
 * or when the store cannot be loaded or holds an unreadable state.
 *
 * With the in-memory adapters, awaited calls finish by themselves only if messages and time move
 * by themselves: create the network with `delivery: 'auto'` and use `createRealClock()` (or let
 * `createLocalCluster` wire everything). With the default manual network and clock, the caller
 * moves them (`network.deliverAll()`, `clock.advance(ms)`), as the simulator and tests do.
 *
 * @example
 * const allocator = E.getOrElseW(() => { throw new Error('bad LUNs'); })(createAllocator({ 1: 4096, 2: 4096 }));
 * const network = E.getOrElseW(() => { throw new Error('bad options'); })(createMemoryNetwork({ seed: 1, delivery: 'auto' }));
 * const clock = createRealClock();
 * const controller = await createController(
 *   { storage, transport: network.transport('controller'), persistence, clock, allocator },
 *   { retryInterval: 100, tickInterval: 20 },
 * );
 * await controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 64 });
 * await controller.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
 */
export const createController = async (adapters: ControllerAdapters, config: ControllerRuntimeConfig = {}): Promise<ControllerRuntime> => {
  const problems = runtimeProblems(adapters, config);
  if (problems.length > 0) throw new Error(`createController: ${problems.join('; ')}`);
  const { storage, transport, persistence, clock, allocator } = adapters;
  const { tickInterval: tickOption, onCommand, ...machineConfig } = config;
  let state = initialControllerState(allocator, machineConfig);
  const tickInterval = tickOption ?? state.config.retryInterval / 5;
  if (!(typeof tickInterval === 'number' && Number.isFinite(tickInterval) && tickInterval > 0))
    throw new Error(`controller tickInterval must be a positive number of milliseconds, got ${show(tickInterval)}`);
  const { controllerEpoch } = state.config;
  if (!(Number.isSafeInteger(controllerEpoch) && controllerEpoch >= 0))
    throw new Error(`controller controllerEpoch must be a non-negative safe integer, got ${show(controllerEpoch)}`);

  let loaded: PersistedState;
  try {
    loaded = await persistence.load();
  } catch (e) {
    throw new Error(`controller could not load its persisted state: ${errorMessage(e)}`);
  }
  const readable = readPersistedState(loaded, state.config.limits);
  if (!readable.ok) throw new Error(`controller could not load its persisted state: ${readable.error}`);
  loaded = readable.value;

  let stopped = false;
  let timer: TimerHandle | null = null;
  let nextRequest = 1;
  const pendingAdmin = new Map<number, (result: AdminResult) => void>();
  /** A save was rejected since the last successful persist: the store may hold more than we were told. */
  let uncertain = false;

  const feed = (event: ControllerEvent): void => {
    if (!stopped) queue.push(event);
  };

  const persist = async (persistId: number, records: ReadonlyArray<PersistRecord>): Promise<void> => {
    try {
      let todo = records;
      if (uncertain) {
        const stored = await persistence.load();
        todo = records.filter((r) => !landed(stored, r));
      }
      if (stopped) return; // a stopped controller's writes that have not started never do
      if (typeof persistence.saveBatch === 'function') {
        // One group commit per persist command, when the store can do it.
        if (todo.length > 0) await persistence.saveBatch(todo);
      } else {
        for (const record of todo) {
          if (stopped) return;
          await persistence.save(record);
        }
      }
      uncertain = false;
      feed({ type: 'persisted', persistId });
    } catch (e) {
      uncertain = true;
      feed({ type: 'persistFailed', persistId, error: errorMessage(e) });
    }
  };

  const copied = (copyId: number, work: Promise<void>): void => {
    work.then(
      () => feed({ type: 'copyDone', copyId }),
      (e: unknown) => feed({ type: 'copyFailed', copyId, error: errorMessage(e) }),
    );
  };

  const execute = (c: ControllerCommand): void => {
    switch (c.type) {
      case 'persist':
        void persist(c.persistId, c.records);
        return;
      case 'send':
        transport.send(c.to, c.message);
        return;
      case 'copyBlocks':
        return copied(c.copyId, attempt(() => storage.copy(c.from, c.to, c.length)));
      case 'writeZeros':
        return copied(c.copyId, attempt(() => storage.writeZeros(c.to.lun, c.to.start, c.length)));
      case 'flush':
        flushLuns(storage, c.luns).then(
          () => feed({ type: 'flushed', flushId: c.flushId }),
          (e: unknown) => feed({ type: 'flushFailed', flushId: c.flushId, error: errorMessage(e) }),
        );
        return;
      case 'adminDone': {
        const resolve = pendingAdmin.get(c.requestId);
        pendingAdmin.delete(c.requestId);
        resolve?.(c.result);
        return;
      }
      case 'fence':
        // Leases (docs/design.md#leases-and-liveness): best effort; the lease bound already holds.
        if (adapters.fence !== undefined) void attempt(() => adapters.fence!(c.agent, c.epoch)).catch(() => undefined);
        return;
      default:
        return; // released, resolved, refused: for the observer only
    }
  };

  // Events that arrived while a step ran are stepped together, as one batch: the same state and
  // commands as one at a time, for less (controller.ts `stepBatch`).
  const queue = createBatchQueue<ControllerEvent>((events) => {
    const [next, commands] = controllerStep(state, events.length === 1 ? events[0]! : { type: 'batch', events });
    state = next;
    // Every command is carried out even if one of them throws (a transport refusing a message,
    // a failing observer); the first error is rethrown afterwards.
    let failed = false;
    let first: unknown;
    for (const c of commands) {
      if (stopped) break;
      // The observer sees the command first; a throwing observer does not stop it being carried out.
      for (const run of [() => onCommand?.(c), () => execute(c)]) {
        try {
          run();
        } catch (e) {
          if (!failed) [failed, first] = [true, e];
        }
      }
    }
    if (failed) throw first;
  });

  feed({ type: 'restored', state: loaded, now: clock.now() });

  const arm = (): void => {
    timer = clock.setTimer(tickInterval, () => {
      if (stopped) return;
      arm();
      feed({ type: 'tick', now: clock.now() });
    });
  };
  arm();

  transport.onMessage((from, message) => {
    if (stopped) return;
    const m = message as unknown;
    if (typeof m !== 'object' || m === null) return;
    let type: unknown;
    let agent: unknown;
    try {
      ({ type, agent } = m as { type?: unknown; agent?: unknown });
    } catch {
      return; // unreadable: not a message from an agent
    }
    // Agents are named by their transport peer ids: a message about another agent is not taken.
    if (typeof type !== 'string' || !AGENT_MESSAGE_TYPES.has(type) || agent !== from) return;
    feed({ type: 'message', message });
  });

  return {
    admin(request) {
      if (stopped) return Promise.resolve({ ok: false, error: 'the controller is stopped' });
      // Read once, field by field, into a plain object: the machine checks every field.
      const copy: Record<string, unknown> = {};
      try {
        if (typeof request !== 'object' || request === null) throw new Error(`an admin request must be an object, got ${describeValue(request)}`);
        for (const key of Object.keys(request)) copy[key] = (request as unknown as Record<string, unknown>)[key];
      } catch (e) {
        return Promise.resolve({ ok: false, error: `unreadable admin request: ${errorMessage(e)}` });
      }
      if (typeof copy.type !== 'string' || !adminTypes.has(copy.type))
        return Promise.resolve({ ok: false, error: `unknown admin request type ${describeValue(copy.type)} (expected one of ${[...adminTypes].join(', ')})` });
      const requestId = nextRequest++;
      return new Promise<AdminResult>((resolve) => {
        pendingAdmin.set(requestId, resolve);
        feed({ ...copy, requestId } as unknown as AdminEvent);
      });
    },
    state: () => state,
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== null) clock.clearTimer(timer);
      queue.close();
      const open = [...pendingAdmin.values()];
      pendingAdmin.clear();
      for (const resolve of open) resolve({ ok: false, error: 'the controller stopped before the request finished' });
    },
    get stopped() {
      return stopped;
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Validation of what createController is given

const VARIANTS: ReadonlySet<unknown> = /* @__PURE__ */ new Set(['centralized', 'distributed']);
const isPositiveNumber = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;
const isPositiveInt = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;

/** Every problem with the adapters and configuration, each naming the field and the value. */
const runtimeProblems = (adapters: unknown, config: unknown): string[] => {
  const problems: string[] = [];
  try {
    if (typeof adapters !== 'object' || adapters === null) return [`adapters must be { storage, transport, persistence, clock, allocator }, got ${describeValue(adapters)}`];
    const { storage, transport, persistence, clock, allocator } = adapters as Record<string, Record<string, unknown> | undefined>;
    const needs = (name: string, value: Record<string, unknown> | undefined, methods: ReadonlyArray<string>): void => {
      if (typeof value !== 'object' || value === null || methods.some((m) => typeof value[m] !== 'function'))
        problems.push(`${name} must have ${methods.join(', ')}, got ${describeValue(value)}`);
    };
    needs('storage', storage, ['copy', 'writeZeros']);
    needs('transport', transport, ['send', 'onMessage']);
    needs('persistence', persistence, ['load', 'save']);
    needs('clock', clock, ['now', 'setTimer', 'clearTimer']);
    needs('allocator', allocator, ['reserve']);
    if (typeof config !== 'object' || config === null) return [...problems, `config must be an object, got ${describeValue(config)}`];
    const { variant, retryInterval, historyLimit, copyConcurrency, limits, onCommand } = config as Record<string, unknown>;
    if (variant !== undefined && !VARIANTS.has(variant)) problems.push(`variant must be 'centralized' or 'distributed', got ${describeValue(variant)}`);
    if (retryInterval !== undefined && !isPositiveNumber(retryInterval)) problems.push(`retryInterval must be a positive number of milliseconds, got ${describeValue(retryInterval)}`);
    if (historyLimit !== undefined && !isPositiveInt(historyLimit)) problems.push(`historyLimit must be a positive safe integer, got ${describeValue(historyLimit)}`);
    if (copyConcurrency !== undefined && !isPositiveInt(copyConcurrency)) problems.push(`copyConcurrency must be a positive safe integer, got ${describeValue(copyConcurrency)}`);
    const l = readLimits(limits, defaultControllerLimits);
    if (!l.ok) problems.push(l.error);
    if (onCommand !== undefined && typeof onCommand !== 'function') problems.push(`onCommand must be a function, got ${describeValue(onCommand)}`);
  } catch (e) {
    problems.push(`the adapters or config could not be read (${errorMessage(e)})`);
  }
  return problems;
};
