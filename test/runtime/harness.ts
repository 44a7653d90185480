/**
 * The in-memory system both runtime test files drive: storage, a lossy network, persistence and
 * a manual clock, and the controller and agent runtimes over them. Time and delivery move only
 * when a test says so: messages by `network.deliverAll()`, timers by `clock.advance()`, adapter
 * promises by draining microtasks.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  createManualClock,
  createMemoryNetwork,
  createMemoryPersistence,
  createMemoryStorage,
  type ManualClock,
  type MemoryNetwork,
  type MemoryPersistence,
  type MemoryStorage,
  type MemoryStorageOptions,
} from '../../src/adapters/memory.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerCommand } from '../../src/controller/types.js';
import { createAgent, type AgentRuntime } from '../../src/runtime/agent-runtime.js';
import { createController, type ControllerRuntime, type ControllerRuntimeConfig } from '../../src/runtime/controller-runtime.js';
import type { Variant } from '../../src/translate/translate.js';

export const BS = 16; // bytes per block
export const TICK = 10; // ms per round

export const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

export interface Env {
  readonly storage: MemoryStorage;
  readonly network: MemoryNetwork;
  readonly persistence: MemoryPersistence;
  readonly clock: ManualClock;
  readonly luns: Readonly<Record<number, number>>;
  readonly variant: Variant;
  /** Every command the controller runtime reported. */
  readonly commands: ControllerCommand[];
}

export interface EnvOptions {
  /** LUN sizes in blocks. */
  readonly luns: Readonly<Record<number, number>>;
  readonly variant?: Variant;
  readonly seed?: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  readonly maxDelay?: number;
  /** Storage faults (src/adapters/memory/storage.ts), seeded with `seed`; hangs run on the env's manual clock. */
  readonly storageFaults?: Pick<MemoryStorageOptions, 'failureRate' | 'lostAckRate' | 'partialWriteRate' | 'hangRate' | 'maxHang'>;
}

export const makeEnv = (o: EnvOptions): Env => {
  const clock = right(createManualClock(1000));
  const faults = o.storageFaults === undefined ? {} : { ...o.storageFaults, clock, seed: o.seed ?? 1 };
  return {
    storage: right(createMemoryStorage({ blockSize: BS, luns: o.luns, ...faults })),
    network: right(createMemoryNetwork({ seed: o.seed ?? 1, dropRate: o.dropRate ?? 0, duplicateRate: o.duplicateRate ?? 0, maxDelay: o.maxDelay ?? 0 })),
    persistence: createMemoryPersistence(),
    clock,
    luns: o.luns,
    variant: o.variant ?? 'centralized',
    commands: [],
  };
};

export const startController = (env: Env, config: ControllerRuntimeConfig = {}): Promise<ControllerRuntime> =>
  createController(
    // Each runtime life is its own connection to storage: a power loss fails its next flush (docs/design.md#ordering-rules).
    { storage: env.storage.connect(), transport: env.network.transport('controller'), persistence: env.persistence, clock: env.clock, allocator: right(createAllocator(env.luns)) },
    { variant: env.variant, retryInterval: 50, tickInterval: TICK, onCommand: (c) => env.commands.push(c), ...config },
  );

export const startAgent = (env: Env, agent: string, epoch = 1): AgentRuntime =>
  createAgent({ storage: env.storage.connect(), transport: env.network.transport(agent), clock: env.clock }, { agent, epoch, variant: env.variant, faultTimeout: 50, tickInterval: TICK });

export const microtasks = async (n = 30): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

/** One round: let adapter promises settle, deliver every message in flight, move time on by a tick. */
export const round = async (env: Env): Promise<void> => {
  await microtasks();
  env.network.deliverAll();
  await microtasks();
  right(env.clock.advance(TICK));
};
