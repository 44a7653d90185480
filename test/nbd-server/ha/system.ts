/**
 * A controller and one agent over the in-memory storage and network, with the persistence the
 * test gives: the HA tests drive real controller records into the etcd store with it.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  createAgent,
  createAllocator,
  createController,
  createManualClock,
  createMemoryNetwork,
  createMemoryStorage,
  type AdminRequest,
  type AgentRuntime,
  type ControllerCommand,
  type ControllerRuntime,
  type MemoryStorage,
  type TablePersistence,
} from '../../../src/index.js';

export const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

export const BLOCK_SIZE = 64;
export const LUNS = { 1: 1 << 16, 2: 1 << 16 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The LUNs of a system; hand the same one to a restarted system. */
export const newStorage = (): MemoryStorage => right(createMemoryStorage({ blockSize: BLOCK_SIZE, luns: LUNS }));

export interface System {
  readonly storage: MemoryStorage;
  readonly controller: ControllerRuntime;
  readonly agent: AgentRuntime;
  /** Runs messages and time until `promise` settles; rejects after `timeout` real ms. */
  settle<T>(promise: Promise<T>, timeout?: number): Promise<T>;
  admin(request: AdminRequest, timeout?: number): Promise<void>;
  /** `admin`, tried again (at most 50 times) while the disk is busy with background work. */
  adminWhenIdle(request: AdminRequest): Promise<void>;
  stop(): void;
}

/**
 * Starts a controller on `persistence` and agent `a1`. Manual time advances 10 ms per round,
 * and each round also waits a real millisecond so that etcd's answers come in.
 */
export const startSystem = async (
  persistence: TablePersistence,
  storage: MemoryStorage = newStorage(),
  onCommand?: (command: ControllerCommand) => void,
): Promise<System> => {
  const network = right(createMemoryNetwork({ seed: 11 }));
  const clock = right(createManualClock(0));
  const controller = await createController(
    { storage, transport: network.transport('controller'), persistence, clock, allocator: right(createAllocator(LUNS)) },
    { tickInterval: 10, retryInterval: 100, ...(onCommand === undefined ? {} : { onCommand }) },
  );
  const agent = createAgent({ storage, transport: network.transport('a1'), clock }, { agent: 'a1', epoch: 1, tickInterval: 10, faultTimeout: 100 });

  const settle = async <T>(promise: Promise<T>, timeout = 20_000): Promise<T> => {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    const deadline = Date.now() + timeout;
    while (!done) {
      if (Date.now() > deadline) throw new Error(`no progress within ${timeout} ms`);
      network.deliverAll();
      right(clock.advance(10));
      await sleep(1);
    }
    return watched;
  };

  return {
    storage,
    controller,
    agent,
    settle,
    async admin(request, timeout) {
      const result = await settle(controller.admin(request), timeout);
      if (!result.ok) throw new Error(`${request.type}: ${result.error}`);
    },
    async adminWhenIdle(request) {
      for (let attempt = 0; ; attempt++) {
        const result = await settle(controller.admin(request));
        if (result.ok) return;
        if (attempt >= 50 || !/busy/.test(result.error)) throw new Error(`${request.type}: ${result.error}`);
        await settle(sleep(20));
      }
    },
    stop() {
      agent.stop();
      controller.stop();
    },
  };
};
