/**
 * A whole cluster in one process, in one call: a controller and agents over in-memory storage,
 * persistence and a network that deliver by themselves, on real time. For tests, demos and
 * first steps; production wires `createController` and `createAgent` to real adapters instead.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createRealClock } from '../adapters/memory/clock.js';
import { createMemoryNetwork, type MemoryNetwork } from '../adapters/memory/network.js';
import { createMemoryPersistence, type MemoryPersistence } from '../adapters/memory/persistence.js';
import { createMemoryStorage, type MemoryStorage } from '../adapters/memory/storage.js';
import type { Clock } from '../adapters/types.js';
import { describeValue } from '../controller/admin-validation.js';
import { createAllocator } from '../controller/allocator.js';
import type { AgentId } from '../protocol/messages.js';
import type { Variant } from '../translate/translate.js';
import { createAgent, type AgentRuntime } from './agent-runtime.js';
import { createController, type ControllerRuntime, type ControllerRuntimeConfig } from './controller-runtime.js';

/**
 * Options of {@link createLocalCluster}; every field has a default: LUNs 1 and 2 of 65,536
 * blocks, 512-byte blocks, agents `a1` and `a2`, the centralized variant, seed 1.
 *
 * @example
 * const options: LocalClusterOptions = { luns: { 1: 4096, 2: 4096 }, blockSize: 4096, agents: ['host-a', 'host-b'] };
 */
export interface LocalClusterOptions {
  /** LUN sizes in blocks. */
  readonly luns?: Readonly<Record<number, number>>;
  readonly blockSize?: number;
  /** Agent ids; each is also the agent's peer id on the network. */
  readonly agents?: ReadonlyArray<AgentId>;
  readonly variant?: Variant;
  /** Seeds the network's delivery order. */
  readonly seed?: number;
  /** Controller tuning and limits (the variant is `variant`). */
  readonly controller?: Omit<ControllerRuntimeConfig, 'variant'>;
}

/**
 * A running local cluster. Disks are created and agents attached through `controller.admin`, as
 * in production. Restarts keep the storage and the persisted tables.
 *
 * @example
 * const cluster = await createLocalCluster();
 * await cluster.controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 64 });
 * await cluster.controller.admin({ type: 'attachAgent', disk: 'vol', agent: 'a1' });
 * await cluster.agent('a1').write('vol', 0, new Uint8Array(cluster.storage.blockSize).fill(7));
 * cluster.stop();
 */
export interface LocalCluster {
  /** The controller's current life. */
  readonly controller: ControllerRuntime;
  /** The current life of agent `id`; throws for an id the cluster was not made with (a programming error). */
  agent(id: AgentId): AgentRuntime;
  readonly agents: ReadonlyArray<AgentId>;
  readonly storage: MemoryStorage;
  readonly persistence: MemoryPersistence;
  readonly network: MemoryNetwork;
  readonly clock: Clock;
  /** Stops agent `id` and starts its next life (a higher epoch); its open requests reject. */
  restartAgent(id: AgentId): AgentRuntime;
  /** Stops the controller and starts a new one on the same store; open admin requests resolve with an error. */
  restartController(): Promise<ControllerRuntime>;
  /** Stops every runtime (their timers too, so a Node process can exit). */
  stop(): void;
}

const DEFAULTS = { luns: { 1: 65_536, 2: 65_536 }, blockSize: 512, agents: ['a1', 'a2'], variant: 'centralized' as Variant, seed: 1 };

/**
 * Starts a controller and one agent per id over fresh in-memory adapters, wired together, with
 * messages delivered and timers fired by the event loop. Rejects with an `Error` naming every
 * malformed option.
 *
 * @example
 * const cluster = await createLocalCluster({ agents: ['a1', 'a2'] });
 * await cluster.controller.admin({ type: 'createDisk', disk: 'vol', segmentBlocks: 8, segmentCount: 64 });
 * for (const a of cluster.agents) await cluster.controller.admin({ type: 'attachAgent', disk: 'vol', agent: a });
 * const data = await cluster.agent('a2').read('vol', 0, 1);
 * cluster.stop();
 */
export const createLocalCluster = async (options: LocalClusterOptions = {}): Promise<LocalCluster> => {
  if (typeof options !== 'object' || options === null) throw new Error(`createLocalCluster: options must be an object, got ${describeValue(options)}`);
  const { luns = DEFAULTS.luns, blockSize = DEFAULTS.blockSize, agents = DEFAULTS.agents, variant = DEFAULTS.variant, seed = DEFAULTS.seed, controller: tuning = {} } = options;
  const problems: string[] = [];
  const storage = createMemoryStorage({ blockSize, luns });
  if (E.isLeft(storage)) problems.push(...storage.left.map((e) => e.message));
  const allocator = createAllocator(luns);
  if (E.isLeft(allocator) && E.isRight(storage)) problems.push(...allocator.left.map((e) => e.message));
  const network = createMemoryNetwork({ seed, delivery: 'auto' });
  if (E.isLeft(network)) problems.push(...network.left.map((e) => e.message));
  const ids = Array.isArray(agents) ? [...(agents as unknown[])] : null;
  if (ids === null || ids.some((a) => typeof a !== 'string' || a.length === 0 || a === 'controller') || new Set(ids).size !== ids.length)
    problems.push(`agents must be distinct non-empty strings other than "controller", got ${describeValue(agents)}`);
  if (variant !== 'centralized' && variant !== 'distributed') problems.push(`variant must be 'centralized' or 'distributed', got ${describeValue(variant)}`);
  if (typeof tuning !== 'object' || tuning === null) problems.push(`controller must be an object of controller options, got ${describeValue(tuning)}`);
  if (problems.length > 0 || E.isLeft(storage) || E.isLeft(allocator) || E.isLeft(network) || ids === null)
    throw new Error(`createLocalCluster: ${problems.join('; ')}`);

  const clock = createRealClock();
  const persistence = createMemoryPersistence();
  const agentIds = ids as AgentId[];
  const startController = (): Promise<ControllerRuntime> =>
    createController({ storage: storage.right, transport: network.right.transport('controller'), persistence, clock, allocator: allocator.right }, { ...tuning, variant });
  const startAgent = (agent: AgentId, epoch: number): AgentRuntime =>
    createAgent({ storage: storage.right, transport: network.right.transport(agent), clock }, { agent, epoch, variant });

  let controller = await startController();
  const lives = new Map<AgentId, { runtime: AgentRuntime; epoch: number }>();
  for (const id of agentIds) lives.set(id, { runtime: startAgent(id, 1), epoch: 1 });
  const life = (id: AgentId) => {
    const l = lives.get(id);
    if (l === undefined) throw new Error(`no agent ${describeValue(id)} in this cluster (agents: ${agentIds.join(', ')})`);
    return l;
  };

  return {
    get controller() {
      return controller;
    },
    agent: (id) => life(id).runtime,
    agents: agentIds,
    storage: storage.right,
    persistence,
    network: network.right,
    clock,
    restartAgent(id) {
      const l = life(id);
      l.runtime.stop();
      const next = { runtime: startAgent(id, l.epoch + 1), epoch: l.epoch + 1 };
      lives.set(id, next);
      return next.runtime;
    },
    async restartController() {
      controller.stop();
      controller = await startController();
      return controller;
    },
    stop() {
      controller.stop();
      for (const l of lives.values()) l.runtime.stop();
    },
  };
};
