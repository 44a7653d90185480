/**
 * The controller runtime: drives the pure controller machine (`controllerStep`) over the
 * caller's adapters (docs/design.md#fault-resolution, docs/design.md#adapter-contracts).
 *
 * It loads the persisted tables and feeds them as `restored`, then feeds every later event in
 * order through a serial queue: messages from agents, a periodic `tick` from the clock, admin
 * requests, and the results of the commands it carries out:
 *
 * - `persist`: each record is saved in order; then `persisted`, or `persistFailed` with the
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
import { controllerStep, initialControllerState } from '../controller/controller.js';
import type { AdminEvent, AdminResult, ControllerCommand, ControllerConfig, ControllerEvent, ControllerState } from '../controller/types.js';
import type { AgentMessage, ControllerMessage } from '../protocol/messages.js';
import { flushLuns } from './durability.js';
import { attempt, createSerialQueue, errorMessage } from './serial.js';

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
export type ControllerRuntimeConfig = Partial<ControllerConfig> & {
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

const ADMIN_TYPES: ReadonlySet<string> = new Set<AdminEvent['type']>([
  'createDisk',
  'attachAgent',
  'detachAgent',
  'snapshot',
  'migrate',
  'markFailed',
  'resize',
  // deletion and rollback
  'deleteDisk',
  'rollback',
]);
const AGENT_MESSAGE_TYPES: ReadonlySet<string> = new Set<AgentMessage['type']>([
  'ioFault',
  'markBits',
  'tableAck',
  'fetchTable',
  'dropped',
  // host discard and write-zeroes
  'zeroSegment',
]);


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
 * and listens on the transport. Rejects when the configuration is malformed or the store
 * cannot be loaded.
 *
 * @example
 * const allocator = E.getOrElseW(() => { throw new Error('bad LUNs'); })(createAllocator({ 1: 4096, 2: 4096 }));
 * const controller = await createController(
 *   { storage, transport: network.transport('controller'), persistence, clock, allocator },
 *   { retryInterval: 100, tickInterval: 20 },
 * );
 * await controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 64 });
 * await controller.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
 */
export const createController = async (adapters: ControllerAdapters, config: ControllerRuntimeConfig = {}): Promise<ControllerRuntime> => {
  const { storage, transport, persistence, clock, allocator } = adapters;
  const { tickInterval: tickOption, onCommand, ...machineConfig } = config;
  let state = initialControllerState(allocator, machineConfig);
  const tickInterval = tickOption ?? state.config.retryInterval / 5;
  if (!(typeof tickInterval === 'number' && Number.isFinite(tickInterval) && tickInterval > 0))
    throw new Error(`controller tickInterval must be a positive number of milliseconds, got ${show(tickInterval)}`);

  let loaded: PersistedState;
  try {
    loaded = await persistence.load();
  } catch (e) {
    throw new Error(`controller could not load its persisted state: ${errorMessage(e)}`);
  }

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
      for (const record of todo) {
        if (stopped) return; // a stopped controller's writes that have not started never do
        await persistence.save(record);
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

  const queue = createSerialQueue<ControllerEvent>((event) => {
    const [next, commands] = controllerStep(state, event);
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
    const { type, agent } = m as { type?: unknown; agent?: unknown };
    // Agents are named by their transport peer ids: a message about another agent is not taken.
    if (typeof type !== 'string' || !AGENT_MESSAGE_TYPES.has(type) || agent !== from) return;
    feed({ type: 'message', message });
  });

  return {
    admin(request) {
      if (stopped) return Promise.resolve({ ok: false, error: 'the controller is stopped' });
      const type = (request as { type?: unknown } | null | undefined)?.type;
      if (typeof type !== 'string' || !ADMIN_TYPES.has(type))
        return Promise.resolve({ ok: false, error: `unknown admin request type ${show(type)} (expected one of ${[...ADMIN_TYPES].join(', ')})` });
      const requestId = nextRequest++;
      return new Promise<AdminResult>((resolve) => {
        pendingAdmin.set(requestId, resolve);
        feed({ ...request, requestId } as AdminEvent);
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
