/**
 * The agent runtime: drives the pure mapping-agent machine (`agentStep`) over the caller's
 * adapters, and gives the host side `read` and `write` (docs/design.md#fault-resolution,
 * docs/design.md#adapter-contracts).
 *
 * Every event goes through a serial queue, so the machine sees one event at a time in arrival
 * order: host requests, messages from the controller, a periodic `tick`, and the results of the
 * storage I/O it issued. Commands are carried out as follows:
 *
 * - `issueIo`: every piece is performed at once (reads: `storage.read` per primary or alternate
 *   piece, zero pieces are left as zeros, all assembled in virtual order; writes:
 *   `storage.write` of the matching slice of the host data). Once EVERY piece has settled,
 *   `ioDone` is fed, or `ioFailed` with the first error. Waiting for all of them matters: the
 *   machine acknowledges table changes only when no I/O under an old entry is still at storage;
 * - `send`: `transport.send(controller, message)`;
 * - `completeIo`: the host promise resolves (a read with the data of its last issued attempt);
 * - `failIo`: the host promise rejects with an `Error` whose message names the request and
 *   includes the reason;
 * - `flush`: `storage.flush` of each LUN (nothing for a write-through adapter without `flush`),
 *   then `flushDone` or `flushFailed` (docs/design.md#ordering-rules).
 *
 * A host request is held, never failed, while it waits behind a fault: the promise settles
 * only when the I/O is really done. A restart is `stop()` and a new runtime with a higher epoch
 * on a new transport endpoint; the new life holds no tables and recovers them through faults.
 */
import { isBlockNumber, show } from '../errors.js';
import type { BlockStorage, Clock, TimerHandle, Transport } from '../adapters/types.js';
import { agentStep, initialAgentState } from '../agent/agent.js';
import type { AgentCommand, AgentEvent, AgentLimits, AgentState, HostOp } from '../agent/types.js';
import { MAX_SEGMENT_COUNT } from '../table/table.js';
import type { AgentId, AgentMessage, ControllerMessage, DiskId } from '../protocol/messages.js';
import type { Op, Variant } from '../translate/translate.js';
import { flushLuns } from './durability.js';
import { attempt, createSerialQueue, errorMessage } from './serial.js';

/**
 * What an agent runtime drives: the storage it issues translated I/O to, its transport
 * endpoint, and time.
 *
 * @example
 * const adapters: AgentAdapters = { storage, transport: network.transport('a1'), clock };
 */
export interface AgentAdapters {
  readonly storage: BlockStorage;
  readonly transport: Transport<AgentMessage, ControllerMessage>;
  readonly clock: Clock;
}

/**
 * One life of an agent. `agent` is also the agent's transport peer id as the controller knows
 * it; `epoch` must be higher than that of every earlier life. `faultTimeout` (ms, default 100)
 * is how long an unanswered fault waits before it is sent again, `tickInterval` (ms, default
 * `faultTimeout / 5`) how often time is fed to the machine, and `controller` the controller's
 * transport peer id (default `'controller'`). `limits` bounds what one controller message may
 * ask of the agent (default `DEFAULT_AGENT_LIMITS`); `onRefused` hears every event the machine
 * refused (a malformed or oversized message, or the proof that this life must stop: see
 * `AgentState.fenced`), for the caller's log.
 *
 * @example
 * const config: AgentRuntimeConfig = { agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100, tickInterval: 20 };
 */
export interface AgentRuntimeConfig {
  readonly agent: AgentId;
  readonly epoch: number;
  readonly variant?: Variant;
  readonly faultTimeout?: number;
  /** Leases (docs/design.md#leases-and-liveness): the lease to ask for (ms), the re-send backoff cap and jitter seed. */
  readonly leaseDuration?: number;
  readonly backoffCap?: number;
  readonly seed?: number;
  readonly tickInterval?: number;
  readonly controller?: string;
  /** What one controller message may ask of the agent; default `DEFAULT_AGENT_LIMITS`. */
  readonly limits?: Partial<AgentLimits>;
  /** Hears why each refused event was refused (the machine's `refused` commands), for a log. */
  readonly onRefused?: (why: string) => void;
}

/**
 * A running agent life: the host side of a virtual disk.
 *
 * @example
 * await agent.write('vol', 16, new Uint8Array(2 * storage.blockSize).fill(7));
 * const data = await agent.read('vol', 16, 2); // the 7s back
 * agent.stop();
 */
export interface AgentRuntime {
  /**
   * Reads `length` blocks of `disk` from block `start`: `length * blockSize` bytes, zeros where
   * the disk was never written. Held while the agent waits for the controller; rejects with an
   * `Error` naming the request and the reason when the I/O fails (a failed segment, a storage
   * error, a malformed request, an unknown disk).
   */
  read(disk: DiskId, start: number, length: number): Promise<Uint8Array>;
  /**
   * Writes `data` (a whole number of blocks) to `disk` from block `start`; resolves once it is
   * done at storage and, where the protocol needs it, durable in the controller's tables. The
   * data is copied at the call: the caller may reuse its buffer at once.
   */
  write(disk: DiskId, start: number, data: Uint8Array, options?: WriteOptions): Promise<void>;
  // --- durability (docs/design.md#ordering-rules) ---------------------------------------------
  /**
   * Resolves once everything written to `disk` through this agent (this life) before the call
   * is durable: a power loss of storage, controller or agent afterwards loses none of it. That
   * includes the zeros of `discard` and `writeZeros`, and whatever landed of a write that failed.
   * Rejects when storage cannot vouch for it (it lost its cache since): those writes may be lost.
   *
   * @example
   * await agent.write('vol', 0, data);
   * await agent.flush('vol'); // data survives a power loss from here on
   */
  flush(disk: DiskId): Promise<void>;
  // --- host discard and write-zeroes ---
  /**
   * Discards `length` blocks of `disk` from block `start` (NBD trim, SCSI UNMAP). Afterwards the
   * blocks read as zeros (deterministic read-zeroes-after-discard, which NBD and SCSI allow):
   * every whole segment in the range becomes `zero` at the controller and its space is released
   * (what a snapshot still shares stays); the blocks of partly covered segments are written as
   * zeros. Rejects with an `Error` naming the request and the reason for an unknown disk, a range
   * outside the disk, a zero or malformed length, or a segment marked failed.
   *
   * @example
   * await agent.discard('vol', 0, 1024);
   * const data = await agent.read('vol', 0, 8); // all zeros
   */
  discard(disk: DiskId, start: number, length: number): Promise<void>;
  /**
   * Writes zeros to `length` blocks of `disk` from block `start` (NBD write-zeroes, SCSI WRITE
   * SAME with zeros) without sending data: the same effect and errors as {@link discard}, whole
   * segments included (a zero segment reads as zeros and holds no space).
   *
   * @example
   * await agent.writeZeros('vol', 16, 4);
   */
  writeZeros(disk: DiskId, start: number, length: number): Promise<void>;
  // --- end of host discard and write-zeroes ---
  /** The machine's current state (read-only). */
  state(): AgentState;
  /**
   * Follows a new active controller (failover): from now on messages go to transport peer
   * `peer`, and only messages from it are taken. Faults and marks still waiting reach it at the
   * next re-send, or at once when its first message shows a newer controller epoch. Throws an
   * `Error` when `peer` is not a non-empty string.
   */
  setController(peer: string): void;
  /** The transport peer id of the controller this agent currently follows. */
  controller(): string;
  /**
   * Ends this life: stops ticking and handling, and rejects every host request still open.
   * Storage I/O already issued is not recalled.
   */
  stop(): void;
  readonly stopped: boolean;
}

/**
 * Options of {@link AgentRuntime.write}. `fua` (forced unit access): the write resolves only once
 * its data is durable, as if followed by a flush of just that write.
 *
 * @example
 * await agent.write('vol', 0, journalBlock, { fua: true });
 */
export interface WriteOptions {
  readonly fua?: boolean;
}

/** A host request of this life, from `read`/`write` to its completion. */
interface HostIo {
  readonly op: HostOp;
  /** How the request is named in errors (`discard` and `write-zeroes` are both `zero` requests). */
  readonly name: string;
  readonly disk: DiskId;
  readonly start: number;
  readonly length: number;
  /** The data to write (a private copy), or null for a read. */
  readonly data: Uint8Array | null;
  /** Issued attempts so far; only the last one's data is returned. */
  attempts: number;
  /** Data read by the last attempt that finished. */
  result: Uint8Array | null;
  readonly resolve: (data: Uint8Array) => void;
  readonly reject: (error: Error) => void;
}

const VARIANTS: ReadonlySet<string> = /* @__PURE__ */ new Set<Variant>(['centralized', 'distributed']);
/** Every controller message type, listed as a record so that a new one cannot be forgotten here (leases once were). */
const CONTROLLER_MESSAGE_TYPES: ReadonlySet<string> = /* @__PURE__ */ (() =>
  new Set(
    Object.keys({
      setEntries: true, replaceTable: true, refreshTable: true, retry: true, failIo: true, confirmMark: true, dropTable: true,
      faultAccepted: true, leaseGranted: true, leaseRevoked: true,
    } satisfies Record<ControllerMessage['type'], true>),
  ))();


const isPositive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;

/**
 * Starts one life of an agent: a fresh machine with no tables, ticking on the clock and
 * listening on the transport. Throws an `Error` listing every problem when `config` is
 * malformed (a programming error, not a runtime condition).
 *
 * The network and clock must deliver messages and fire timers by themselves for the awaited
 * calls to settle: a real transport and clock, or the in-memory ones in auto mode
 * (`createMemoryNetwork({ delivery: 'auto' })`, `createRealClock()`). With a manual network, the
 * caller delivers (`network.deliverAll()`) and advances the clock itself. `createLocalCluster`
 * wires all of it in one call.
 *
 * @example
 * const network = E.getOrElseW(() => { throw new Error('bad options'); })(createMemoryNetwork({ delivery: 'auto' }));
 * const clock = createRealClock();
 * const agent = createAgent({ storage, transport: network.transport('a1'), clock }, { agent: 'a1', epoch: 1 });
 * await agent.write('vol', 0, new Uint8Array(storage.blockSize).fill(1));
 * // restart: a new life, with a higher epoch, on a new endpoint
 * agent.stop();
 * const again = createAgent({ storage, transport: network.transport('a1'), clock }, { agent: 'a1', epoch: 2 });
 * await again.read('vol', 0, 1); // faults, fetches the table, then reads the 1s
 */
export const createAgent = (adapters: AgentAdapters, config: AgentRuntimeConfig): AgentRuntime => {
  if (typeof adapters !== 'object' || adapters === null) throw new Error(`createAgent: adapters must be { storage, transport, clock }, got ${show(adapters)}`);
  if (typeof config !== 'object' || config === null) throw new Error(`createAgent: config must be { agent, epoch, ... }, got ${show(config)}`);
  const { storage, transport, clock } = adapters;
  const { agent, epoch, variant = 'centralized', faultTimeout = 100, limits, onRefused } = config;
  // The active controller's peer id: changes on failover (setController).
  let controller = config.controller ?? 'controller';
  const tickInterval = config.tickInterval ?? faultTimeout / 5;
  const problems: string[] = [];
  if (typeof agent !== 'string' || agent.length === 0) problems.push(`agent must be a non-empty string, got ${show(agent)}`);
  if (!isBlockNumber(epoch)) problems.push(`epoch must be a non-negative safe integer, got ${show(epoch)}`);
  if (!VARIANTS.has(variant)) problems.push(`variant must be 'centralized' or 'distributed', got ${show(variant)}`);
  if (!isPositive(faultTimeout)) problems.push(`faultTimeout must be a positive number of milliseconds, got ${show(faultTimeout)}`);
  if (!isPositive(tickInterval)) problems.push(`tickInterval must be a positive number of milliseconds, got ${show(tickInterval)}`);
  if (typeof controller !== 'string' || controller.length === 0) problems.push(`controller must be a non-empty transport peer id, got ${show(controller)}`);
  if (!isPositive(storage?.blockSize)) problems.push(`storage.blockSize must be a positive number of bytes, got ${show(storage?.blockSize)}`);
  if (typeof transport?.send !== 'function' || typeof transport?.onMessage !== 'function') problems.push(`transport must have send and onMessage, got ${show(transport)}`);
  if (typeof clock?.now !== 'function' || typeof clock?.setTimer !== 'function') problems.push(`clock must have now, setTimer and clearTimer, got ${show(clock)}`);
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) problems.push(`limits must be { maxSegments?, maxChanges? }, got ${show(limits)}`);
  else if (limits !== undefined) {
    if (limits.maxSegments !== undefined && !(isBlockNumber(limits.maxSegments) && limits.maxSegments <= MAX_SEGMENT_COUNT))
      problems.push(`limits.maxSegments must be an integer from 0 to ${MAX_SEGMENT_COUNT}, got ${show(limits.maxSegments)}`);
    if (limits.maxChanges !== undefined && !isBlockNumber(limits.maxChanges)) problems.push(`limits.maxChanges must be a non-negative safe integer, got ${show(limits.maxChanges)}`);
  }
  if (onRefused !== undefined && typeof onRefused !== 'function') problems.push(`onRefused must be a function, got ${show(onRefused)}`);
  if (problems.length > 0) throw new Error(`createAgent: ${problems.join('; ')}`);

  const blockSize = storage.blockSize;
  const liveness = {
    ...(config.leaseDuration === undefined ? {} : { leaseDuration: config.leaseDuration }),
    ...(config.backoffCap === undefined ? {} : { backoffCap: config.backoffCap }),
    ...(config.seed === undefined ? {} : { seed: config.seed }),
  };
  let state = initialAgentState({ agent, epoch, variant, faultTimeout, ...liveness, ...(limits === undefined ? {} : { limits: { ...limits } }) });
  let stopped = false;
  let timer: TimerHandle | null = null;
  let nextIo = 1;
  const ios = new Map<number, HostIo>();
  /** Host flushes of this life, by request id. */
  const flushes = new Map<number, { readonly disk: DiskId; readonly resolve: () => void; readonly reject: (error: Error) => void }>();
  /** Settles the host flush `ioId` (failed when `reason` is a string); false if it is not one. */
  const settleFlush = (ioId: number, reason: string | null): boolean => {
    const f = flushes.get(ioId);
    if (f === undefined) return false;
    flushes.delete(ioId);
    if (reason === null) f.resolve();
    else f.reject(new Error(`flush of disk ${show(f.disk)} through agent ${show(agent)} failed: ${reason}`));
    return true;
  };

  const describe = (io: { name: string; disk: unknown; start: unknown; length: unknown }): string =>
    `${io.name} of ${show(io.length)} blocks at block ${show(io.start)} of disk ${show(io.disk)} through agent ${show(agent)}`;

  const feed = (event: AgentEvent): void => {
    if (!stopped) queue.push(event);
  };

  /** Performs every piece of an issued I/O, then reports it once all have settled. */
  const issue = (c: Extract<AgentCommand, { type: 'issueIo' }>): void => {
    const io = ios.get(c.ioId);
    if (io === undefined) return feed({ type: 'ioFailed', ioId: c.ioId, error: `no host request ${c.ioId} is open` });
    const attemptNo = ++io.attempts;
    const buffer = c.op === 'read' ? new Uint8Array(io.length * blockSize) : null;
    const work = c.pieces.map(async (p): Promise<void> => {
      if (p.kind === 'zero') return; // reads: the buffer is zeros already; writes never get zero pieces
      const { lun, start } = p;
      if (lun === undefined || start === undefined) throw new Error(`${p.kind} piece at virtual block ${p.virtualStart} has no location`);
      const offset = (p.virtualStart - io.start) * blockSize;
      const bytes = p.length * blockSize;
      if (buffer !== null) {
        const got = await attempt(() => storage.read(lun, start, p.length));
        if (!(got instanceof Uint8Array) || got.length !== bytes)
          throw new Error(`storage read of ${p.length} blocks from LUN ${lun} at ${start} returned ${got instanceof Uint8Array ? `${got.length} bytes` : show(got)}, expected ${bytes} bytes`);
        buffer.set(got, offset);
      } else if (io.op === 'zero') {
        await attempt(() => storage.writeZeros(lun, start, p.length)); // the write pieces of a discard or write-zeroes
      } else {
        await attempt(() => storage.write(lun, start, io.data!.subarray(offset, offset + bytes)));
      }
    });
    void Promise.allSettled(work).then((results) => {
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure !== undefined) return feed({ type: 'ioFailed', ioId: c.ioId, error: errorMessage(failure.reason) });
      if (attemptNo === io.attempts) io.result = buffer;
      feed({ type: 'ioDone', ioId: c.ioId });
    });
  };

  const execute = (c: AgentCommand): void => {
    switch (c.type) {
      case 'issueIo':
        return issue(c);
      case 'send':
        transport.send(controller, c.message);
        return;
      case 'flush':
        flushLuns(storage, c.luns).then(
          () => feed({ type: 'flushDone', flushId: c.flushId }),
          (e: unknown) => feed({ type: 'flushFailed', flushId: c.flushId, error: errorMessage(e) }),
        );
        return;
      case 'completeIo': {
        if (settleFlush(c.ioId, null)) return;
        const io = ios.get(c.ioId);
        if (io === undefined) return;
        ios.delete(c.ioId);
        if (io.op !== 'read') return io.resolve(new Uint8Array(0));
        if (io.result === null && io.length > 0) return io.reject(new Error(`${describe(io)} failed: it completed without data (a bug in vdisk-map)`));
        return io.resolve(io.result ?? new Uint8Array(0));
      }
      case 'failIo': {
        if (settleFlush(c.ioId, c.reason)) return;
        const io = ios.get(c.ioId);
        if (io === undefined) return;
        ios.delete(c.ioId);
        return io.reject(new Error(`${describe(io)} failed: ${c.reason}`));
      }
      case 'refused':
        onRefused?.(c.why);
        return;
    }
  };

  /** The time of the last tick the machine saw: the machine reads time only at ticks. */
  let lastTick = -Infinity;
  const queue = createSerialQueue<AgentEvent>((event) => {
    if (event.type === 'tick') lastTick = event.now;
    else {
      // After a stall (a process pause, a late timer) the machine's time is stale: read the clock
      // first, so it never acts on a lease that ended meanwhile (docs/design.md#leases-and-liveness).
      const now = clock.now();
      if (now - lastTick >= tickInterval) {
        lastTick = now;
        state = step(state, { type: 'tick', now });
      }
    }
    state = step(state, event);
  });

  /** One machine step and its commands (the first error thrown by a command is rethrown after the rest ran). */
  const step = (from: AgentState, event: AgentEvent): AgentState => {
    const [next, commands] = agentStep(from, event);
    state = next;
    let failed = false;
    let first: unknown;
    for (const c of commands) {
      if (stopped) break;
      try {
        execute(c);
      } catch (e) {
        if (!failed) [failed, first] = [true, e];
      }
    }
    if (failed) throw first;
    return state;
  };

  const arm = (): void => {
    timer = clock.setTimer(tickInterval, () => {
      if (stopped) return;
      arm();
      feed({ type: 'tick', now: clock.now() });
    });
  };
  feed({ type: 'tick', now: clock.now() });
  arm();

  transport.onMessage((from, message) => {
    if (stopped || from !== controller) return;
    let type: unknown;
    try {
      type = (message as { type?: unknown } | null)?.type;
    } catch {
      return onRefused?.('a message from the controller could not be read');
    }
    if (typeof type !== 'string' || !CONTROLLER_MESSAGE_TYPES.has(type)) return onRefused?.(`a message from the controller has an unknown type ${show(type)}`);
    feed({ type: 'message', message });
  });

  const submit = (op: HostOp, disk: DiskId, start: number, length: number, data: Uint8Array | null, fua = false, name: string = op): Promise<Uint8Array> => {
    if (stopped) return Promise.reject(new Error(`${describe({ name, disk, start, length })} failed: agent ${show(agent)} (epoch ${epoch}) is stopped`));
    const ioId = nextIo++;
    return new Promise<Uint8Array>((resolve, reject) => {
      ios.set(ioId, { op, name, disk, start, length, data, attempts: 0, result: null, resolve, reject });
      feed({ type: 'hostIo', ioId, disk, op, start, length, ...(fua ? { fua: true } : {}) });
    });
  };

  return {
    read: (disk, start, length) => submit('read', disk, start, length, null),
    async write(disk, start, data, options) {
      if (!(data instanceof Uint8Array))
        throw new Error(`write at block ${show(start)} of disk ${show(disk)} through agent ${show(agent)}: data must be a Uint8Array, got ${show(data)}`);
      if (data.length % blockSize !== 0)
        throw new Error(
          `write at block ${show(start)} of disk ${show(disk)} through agent ${show(agent)}: data length ${data.length} bytes is not a multiple of the block size (${blockSize} bytes)`,
        );
      await submit('write', disk, start, data.length / blockSize, data.slice(), options?.fua === true);
    },
    flush(disk) {
      if (stopped) return Promise.reject(new Error(`flush of disk ${show(disk)} failed: agent ${show(agent)} (epoch ${epoch}) is stopped`));
      const ioId = nextIo++;
      return new Promise<void>((resolve, reject) => {
        flushes.set(ioId, { disk, resolve, reject });
        feed({ type: 'hostFlush', ioId, disk });
      });
    },
    // --- host discard and write-zeroes (the machine checks disk, range and length) ---
    async discard(disk, start, length) {
      await submit('zero', disk, start, length, null, false, 'discard');
    },
    async writeZeros(disk, start, length) {
      await submit('zero', disk, start, length, null, false, 'write-zeroes');
    },
    state: () => state,
    setController(peer) {
      if (typeof peer !== 'string' || peer.length === 0) throw new Error(`setController: peer must be a non-empty transport peer id, got ${show(peer)}`);
      controller = peer;
    },
    controller: () => controller,
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== null) clock.clearTimer(timer);
      queue.close();
      const open = [...ios.values()];
      ios.clear();
      for (const io of open) io.reject(new Error(`${describe(io)} failed: agent ${show(agent)} (epoch ${epoch}) stopped before it completed`));
      for (const id of [...flushes.keys()]) settleFlush(id, `agent ${show(agent)} (epoch ${epoch}) stopped before it completed`);
    },
    get stopped() {
      return stopped;
    },
  };
};
