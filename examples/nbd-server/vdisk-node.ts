/**
 * A node in one of three roles:
 *
 * - `all` (the default): the controller and one agent in one process, over an in-process hub;
 * - `controller`: the controller alone, listening for agents on a socket;
 * - `agent`: one agent, connected to a controller, serving NBD; any number of these may run, in
 *   other processes, sharing the LUN files and `node.json` of the data directory.
 *
 * One agent per process, shared by every client connection: an agent stands for a host's mapping
 * layer, and connections are that host's queues. Attaching an agent per connection would persist
 * an attachment on every connect and make every connection fault its tables in again.
 *
 * Data directory: `node.json` (geometry, LUNs, exports), `lun-<n>.img` (one sparse file per LUN),
 * `checkpoint` and `journal-<n>.log` (the controller store), `<agent>.epoch` (each agent's last
 * epoch, so that every restart is a new, higher one), `control.sock` (the controller's `ctl`
 * channel).
 */
import { createAgent, type AgentMessage, type AgentRuntime, type ControllerMessage } from '../../src/index.js';
import { createAgentBackend } from './agent-side.js';
import { openControllerSide, type ControllerSide } from './controller-side.js';
import { initDataDir, lunSizesOf, nextEpoch, readNodeConfig, type Geometry } from './data-dir.js';
import { openFileStorage } from './file-storage.js';
import { createLocalHub, systemClock } from './local.js';
import { connectToController, listenForAgents, type Address } from './net-transport.js';
import type { ConnectionOptions } from 'node:tls';
import type { LinkGuard } from './link-auth.js';
import type { Backend, Logger } from './server.js';

export interface NodeOptions extends Geometry {
  readonly dir: string;
  /** Disks to create when they do not exist yet: name and size in bytes. */
  readonly create?: ReadonlyArray<{ readonly name: string; readonly bytes: number }>;
  readonly log: Logger;
  readonly compactEvery?: number;
}

/** A node that serves NBD (roles `all` and `agent`). */
export interface DataNode {
  readonly backend: Backend;
  readonly agent: AgentRuntime;
  /** The controller, when it runs in this process. */
  readonly controllerSide: ControllerSide | null;
  close(): Promise<void>;
}

/** Agent id of the agent in an all-in-one process. */
export const LOCAL_AGENT = 'agent-1';

/**
 * The controller and one agent in this process.
 *
 * @example
 * const node = await openNode({ dir: '/var/lib/vdisk', create: [{ name: 'vol', bytes: 1 << 30 }], log });
 * const listener = await listen(node.backend, { socket: '/run/vdisk.sock' }, log);
 */
export const openNode = async (options: NodeOptions): Promise<DataNode> => {
  const { dir, log } = options;
  const config = await initDataDir(dir, options);
  const hub = createLocalHub();
  const side = await openControllerSide({
    dir,
    config,
    transport: hub.endpoint<ControllerMessage, AgentMessage>('controller'),
    log,
    create: options.create,
    compactEvery: options.compactEvery,
  });
  const storage = await openFileStorage(dir, config.blockSize, lunSizesOf(config));
  const epoch = await nextEpoch(dir, LOCAL_AGENT);
  const agent = createAgent({ storage, transport: hub.endpoint<AgentMessage, ControllerMessage>(LOCAL_AGENT), clock: systemClock() }, { agent: LOCAL_AGENT, epoch, faultTimeout: 200 });
  await side.attach(LOCAL_AGENT);
  log.info({ dir, epoch, disks: side.list().map((d) => d.name) }, 'node started');
  const backend = createAgentBackend({ agent, storage, blockSize: config.blockSize, exports: async () => side.config().exports, tableOf: (d) => side.committed(d) });
  return {
    backend,
    agent,
    controllerSide: side,
    async close() {
      agent.stop();
      await side.close();
      await storage.close();
    },
  };
};

/**
 * The controller alone: agents in other processes connect to `agents`.
 *
 * @example
 * const side = await openControllerNode({ dir, log, create: [{ name: 'vol', bytes: 1 << 30 }] }, { socket: '/run/vdisk-agents.sock' });
 */
export const openControllerNode = async (
  options: NodeOptions,
  agents: Address,
  link?: { readonly guard: LinkGuard; readonly mayServe: (agent: string, disk: string) => boolean },
): Promise<{ side: ControllerSide; close(): Promise<void> }> => {
  const { dir, log } = options;
  const config = await initDataDir(dir, options);
  const listener = await listenForAgents(agents, log, link?.guard);
  const side = await openControllerSide({ dir, config, transport: listener.transport, log, create: options.create, compactEvery: options.compactEvery, ...(link === undefined ? {} : { mayServe: link.mayServe }) });
  listener.onHello((agent) => {
    side.attach(agent).catch((e: unknown) => log.error({ agent, err: (e as Error).message }, 'cannot attach the agent'));
  });
  log.info({ dir, disks: side.list().map((d) => d.name) }, 'controller started');
  return {
    side,
    async close() {
      await listener.close();
      await side.close();
    },
  };
};

/**
 * One agent, in this process, connected to the controller at `controller`. The data directory
 * must have been initialized by the controller.
 *
 * @example
 * const node = await openAgentNode({ dir, log }, 'agent-2', { socket: '/run/vdisk-agents.sock' });
 */
export const openAgentNode = async (options: NodeOptions, id: string, controller: Address, linkTls?: ConnectionOptions): Promise<DataNode> => {
  const { dir, log } = options;
  const config = await readNodeConfig(dir);
  if (config === null) throw new Error(`${dir} holds no node.json: start the controller first`);
  const storage = await openFileStorage(dir, config.blockSize, lunSizesOf(config));
  const link = connectToController(controller, id, log, linkTls);
  const epoch = await nextEpoch(dir, id);
  const agent = createAgent({ storage, transport: link.transport, clock: systemClock() }, { agent: id, epoch, faultTimeout: 200 });
  log.info({ dir, agent: id, epoch }, 'agent started');
  const backend = createAgentBackend({
    agent,
    storage,
    blockSize: config.blockSize,
    // The controller adds exports (snapshots) to node.json as it makes them.
    exports: async () => (await readNodeConfig(dir))?.exports ?? [],
    tableOf: () => undefined,
  });
  return {
    backend,
    agent,
    controllerSide: null,
    async close() {
      agent.stop();
      link.close();
      await storage.close();
    },
  };
};
