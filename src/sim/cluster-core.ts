/**
 * The simulated cluster's state, construction and event loop (see cluster.ts for the simulator
 * itself): the base every part of the cluster builds on.
 */
import { agentStep } from '../agent/agent.js';
import type { AgentCommand, AgentEvent, AgentState, HostOp } from '../agent/types.js';
import { controllerStep } from '../controller/controller.js';
import type { AdminEvent, ControllerCommand, ControllerEvent, ControllerState, PersistRecord } from '../controller/types.js';
import type { AgentId, DiskId, Step } from '../protocol/messages.js';
import type { Piece, Variant } from '../translate/translate.js';
import { agentName, FrozenPrimaries, type BrokenProperty } from './checkers.js';
import { createDiskRequest, diskBlocks, emptySummary, simConfigErrors, type SimAction, type SimConfig, type SimResult, type SimSummary, type TraceRecord, type Violation } from './config.js';
import { DiskModel } from './disk-model.js';
import { DurabilityModel, type TrackedWrite } from './durability-model.js';
import { LivenessRecorder } from './latency.js';
import { describeAgentMessage, describeControllerMessage } from './labels.js';
import { WorkloadGenerator, type HostIo } from './workload.js';
import { World, type CopyCommand, type MessageEvent, type WorldEvent } from './world.js';

export interface AgentNode {
  readonly id: AgentId;
  state: AgentState;
  /** The agent's life: bumped by each restart, fencing the storage I/O of earlier lives. */
  epoch: number;
  /** Until when the agent is cut off from the network (-1: it is not). */
  cutUntil: number;
  /** Which way the cut loses messages. */
  cutDirection: 'both' | 'toController' | 'fromController';
  /** Dead for good (`loseAgent`): never steps again. */
  lost: boolean;
  /** Until when the agent's process is paused (-1: it is not), and what reached it meanwhile. */
  pausedUntil: number;
  inbox: AgentEvent[];
  /** Its clock: `origin + rate * now` (drift within the documented bound, docs/design.md#leases-and-liveness). */
  readonly clock: { readonly rate: number; readonly origin: number };
}

/** An admin request waiting for its answer, with the disk image a snapshot starts from. */
export interface AdminRequest {
  readonly event: AdminEvent;
  before?: DiskModel;
  /** A rollback: the disk's model and its block versions when it was asked (see {@link DiskModel.rolledBack}). */
  seen?: Uint32Array;
  model?: DiskModel;
  /** For a snapshot: what the source might hold after a power loss at the request, and where its write log was. */
  durableBefore?: { readonly model: DurabilityModel; readonly log: number };
  /** Asked by the workload (`attachAgent` / `detachAgent` actions), not by the setup. */
  workload?: boolean;
}

/** Unwinds the run from wherever a property was found broken. */
export class Violated extends Error {
  constructor(readonly violation: BrokenProperty) {
    super(violation.message);
  }
}

export const fail = (broken: BrokenProperty | undefined): void => {
  if (broken !== undefined) throw new Violated(broken);
};

/** Disks and attachments the cluster sets up itself; their requests are not workload actions. */
export const isSetup = (event: AdminEvent): boolean => event.type === 'createDisk' || event.type === 'attachAgent';

/** The state machines a cluster steps (see `SimConfig.testHooks`). */
export interface SimMachines {
  readonly agentStep: typeof agentStep;
  readonly controllerStep: typeof controllerStep;
}


/**
 * The state of a simulated cluster, its construction and its event loop; the handlers live in
 * the modules stacked on it (cluster-controller, host-io, cluster-admin, cluster-faults) and the
 * public face in cluster.ts. One object, split by concept: every handler sees the same state.
 */
export abstract class ClusterCore {
  readonly summary: SimSummary = emptySummary();
  readonly trace: TraceRecord[] = [];

  protected readonly world: World;
  protected controller!: ControllerState;
  /** The controller's life: bumped by each restart, fencing the effects of earlier lives. */
  protected controllerLife = 0;
  protected readonly agents: AgentNode[] = [];
  /** Agent index by id, for routing the controller's messages. */
  protected readonly agentIndex = new Map<AgentId, number>();
  /** The expected content of every disk the cluster writes to. */
  protected readonly models = new Map<DiskId, DiskModel>();
  /** The image every snapshot must keep. */
  protected readonly snapshotImages = new Map<DiskId, DiskModel>();
  /** The disk each disk was ultimately snapshotted from (itself for an original). */
  protected readonly families = new Map<DiskId, DiskId>();
  protected readonly frozen = new FrozenPrimaries();
  protected readonly hostIos = new Map<number, HostIo>();
  // Durability (docs/design.md#ordering-rules)
  /** What each disk, and each snapshot, may hold after a power loss. */
  protected readonly durability = new Map<DiskId, DurabilityModel>();
  /** Orders writes and flushes for the durability model. */
  protected seq = 0;
  /** Host flushes in flight: ioId -> the agent life and disk, and when submitted. */
  protected readonly hostFlushes = new Map<number, { readonly agent: number; readonly epoch: number; readonly disk: DiskId; readonly seq: number }>();
  /** Persist commands of this controller life not yet landed: a power loss may land a prefix of one. */
  protected readonly persistsInFlight = new Map<number, ReadonlyArray<PersistRecord>>();
  protected readonly stepController: typeof controllerStep;
  protected readonly stepAgent: typeof agentStep;
  protected readonly adminRequests = new Map<number, AdminRequest>();
  /**
   * Writes open when their disk was deleted and created again: the new disk's models, whose
   * blocks they leave unknown (content) or possible but never guaranteed (durability).
   */
  protected readonly crossing = new Map<number, { readonly model: DiskModel; readonly durable: DurabilityModel; readonly tracked?: TrackedWrite }>();
  protected nextIo = 1;
  protected nextRequest = 1;
  protected nextValue = 1;
  protected readonly tickInterval: number;
  protected readonly variant: Variant;
  protected pendingArrivals = 0;
  protected pendingActions = 0;
  protected generator: WorkloadGenerator | null = null;
  protected readonly liveness = new LivenessRecorder();
  protected readonly livenessBound: number;
  /** When each agent's latest partition ends (liveness checker). */
  protected readonly cutEnds: number[] = [];
  protected get lease(): { duration: number; maxClockDrift?: number; maxIoLifetime?: number } | null {
    return this.config.lease === undefined ? { duration: 2000 } : this.config.lease;
  }
  /** The longest a storage I/O takes to land or be aborted (the bound hung I/O stays within). */
  protected get maxIoLifetime(): number {
    return this.lease?.maxIoLifetime ?? 500;
  }
  // --- process pauses and controller crashes (docs/design.md#leases-and-liveness) ---
  /** Until when the controller's process is paused (-1: it is not), and what reached it meanwhile. */
  protected controllerPausedUntil = -1;
  protected controllerInbox: ControllerEvent[] = [];
  /** A scripted crash waiting for the next persist answer that fans a change out. */
  protected armedCrash: 'beforeFanOut' | 'midFanOut' | null = null;

  constructor(readonly config: SimConfig) {
    const errors = simConfigErrors(config);
    if (errors.length > 0) throw new Error(`createCluster: ${errors.map((e) => e.message).join('; ')}`);
    this.stepController = config.testHooks?.controllerStep ?? controllerStep;
    this.stepAgent = config.testHooks?.agentStep ?? agentStep;
    this.world = new World(config, this.summary);
    this.tickInterval = config.tickInterval ?? 10;
    this.variant = config.variant ?? 'centralized';
    this.livenessBound = config.livenessBound ?? defaultLivenessBound(this.tickInterval);
    // Drawn only when asked for, so that runs without drift replay as before.
    const drift = this.lease === null ? 0 : ((config.faults?.clockDrift ?? 0) * (this.lease.maxClockDrift ?? 100)) / this.lease.duration;
    for (let i = 0; i < config.agents; i++) {
      const epoch = 1;
      this.agentIndex.set(agentName(i), i);
      const clock = drift > 0 ? { rate: 1 + drift * (2 * this.world.rng.next() - 1), origin: this.world.rng.int(10_000) } : { rate: 1, origin: 0 };
      this.agents.push({ id: agentName(i), epoch, state: this.freshAgent(agentName(i), epoch), cutUntil: -1, cutDirection: 'both', lost: false, pausedUntil: -1, inbox: [], clock });
    }
    this.bootController();
    // Disks are created and attached through the controller itself, like any administrator would.
    for (const disk of config.disks) {
      this.admin(createDiskRequest(disk));
      this.models.set(disk.id, new DiskModel(diskBlocks(disk)));
      this.durability.set(disk.id, new DurabilityModel(diskBlocks(disk)));
      this.families.set(disk.id, disk.id);
      for (const a of disk.agents ?? this.agents.map((_, i) => i)) this.admin({ type: 'attachAgent', requestId: 0, disk: disk.id, agent: agentName(a) });
    }
    this.world.queue.push(this.tickInterval, { kind: 'tick' });
    this.runUntil(() => this.adminRequests.size === 0, 100_000);
  }

  protected result(violation: Violation | null): SimResult {
    this.summary.simulatedTime = this.world.now;
    const l = this.liveness;
    this.summary.latency = l.figures();
    this.summary.distinctFaults = l.distinctFaults;
    this.summary.faultMessagesPerFault = l.distinctFaults === 0 ? 0 : l.faultMessages / l.distinctFaults;
    this.summary.livenessBound = this.livenessBound;
    this.summary.worstAfterLastFault = l.worstAfterQuiet;
    this.summary.maxLatencyByAgent = { ...l.maxByAgent };
    return { seed: this.config.seed, summary: { ...this.summary }, violation, trace: this.trace };
  }

  protected scheduledActions(): number {
    let n = this.pendingActions;
    for (const r of this.adminRequests.values()) if (!isSetup(r.event)) n++;
    return n;
  }

  /** Processes events until `done()` holds or the step budget runs out (a stuck run). */
  protected runUntil(done: () => boolean, maxSteps: number): void {
    const world = this.world;
    let steps = 0;
    while (!done()) {
      const next = world.queue.pop();
      if (next === undefined) break;
      world.now = Math.max(world.now, next.time);
      this.summary.steps++;
      this.process(next.item);
      if (++steps > maxSteps) throw new Violated({ kind: 'stuck', message: `no progress after ${maxSteps} steps: ${this.hostIos.size + this.hostFlushes.size} host I/Os still open` });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Event processing

  protected process(event: WorldEvent): void {
    const now = this.world.now;
    switch (event.kind) {
      case 'tick': {
        this.toController({ type: 'tick', now });
        for (let i = 0; i < this.agents.length; i++) this.toAgent(i, { type: 'tick', now: this.agentNow(i) });
        // Keep ticking while anything could still need time to move on.
        this.world.queue.push(now + this.tickInterval, { kind: 'tick' });
        return;
      }
      case 'toController':
        this.record(event.msg.agent, 'controller', () => describeAgentMessage(event.msg));
        return this.toController({ type: 'message', message: event.msg });
      case 'toAgent': {
        const node = this.agents[event.agent]!;
        this.record('controller', node.id, () => describeControllerMessage(event.msg));
        return this.toAgent(event.agent, { type: 'message', message: event.msg });
      }
      case 'agentIo':
        return this.landAgentIo(event);
      case 'persist':
        return this.landPersist(event);
      case 'copy':
        return this.landCopy(event.life, event.cmd, event.storage, event.aborted === true);
      case 'flush':
        return this.landFlush(event);
      case 'arrival':
        return this.arrival();
      case 'action':
        this.pendingActions--;
        return this.act(event.action);
      case 'heal':
        if (this.agents[event.agent]!.cutUntil <= now && !this.agents[event.agent]!.lost) this.agents[event.agent]!.cutUntil = -1;
        return;
      case 'resume':
        return this.resume(event.agent, event.life);
      case 'adminDuplicate':
        // A request to a controller that has since died is lost with its connection.
        if (event.life !== this.controllerLife) return;
        this.record('admin', 'controller', () => `${event.event.type} (duplicate of request ${event.event.requestId})`);
        return this.toController(event.event);
    }
  }

  /** What agent `i`'s clock reads now. */
  protected agentNow(i: number): number {
    const c = this.agents[i]!.clock;
    return c.origin + c.rate * this.world.now;
  }

  /** Adds a trace line; `label` is only built when the run keeps a trace. */
  protected record(from: string, to: string, label: () => string, step?: Step): void {
    if (this.config.trace !== true) return;
    const time = this.world.now;
    this.trace.push(step === undefined ? { time, from, to, label: label() } : { time, from, to, label: label(), step });
  }

  /** Sends a message between the controller and agent `agent`, who may be cut off. */
  protected transmit(event: MessageEvent, agent: number): void {
    const node = this.agents[agent]!;
    const way = event.kind === 'toController' ? 'toController' : 'fromController';
    this.world.transmit(event, node.cutUntil > this.world.now && (node.cutDirection === 'both' || node.cutDirection === way));
  }

  // -------------------------------------------------------------------------------------------
  // Handlers defined by the modules stacked on this class

  protected abstract bootController(): void;
  protected abstract toController(event: ControllerEvent): void;
  protected abstract controllerCommand(c: ControllerCommand): void;
  protected abstract landPersist(event: Extract<WorldEvent, { kind: 'persist' }>): void;
  protected abstract landCopy(life: number, c: CopyCommand, storage: number | undefined, aborted: boolean): void;
  protected abstract admin(event: AdminEvent): void;
  protected abstract adminDone(requestId: number, error: string | null): void;
  protected abstract rollbackDone(req: AdminRequest, done: boolean | 'unknown'): void;
  protected abstract deleted(disk: DiskId): void;
  protected abstract snapshots(family?: DiskId): DiskId[];
  protected abstract act(action: SimAction): void;
  protected abstract freshAgent(agent: AgentId, epoch: number): AgentState;
  protected abstract restartAgent(i: number, reused?: number): void;
  protected abstract restartController(): void;
  protected abstract arrival(): void;
  protected abstract submit(agent: number, disk: DiskId, op: HostOp, start: number, length: number, fua?: boolean): void;
  protected abstract submitFlush(agent: number, disk: DiskId): void;
  protected abstract toAgent(i: number, event: AgentEvent): void;
  protected abstract agentCommand(i: number, c: AgentCommand): void;
  protected abstract closeIo(io: HostIo, ok: boolean): void;
  protected abstract landAgentIo(event: Extract<WorldEvent, { kind: 'agentIo' }>): void;
  protected abstract landWrite(io: HostIo | undefined, p: Piece): void;
  protected abstract landFlush(event: Extract<WorldEvent, { kind: 'flush' }>): void;
  protected abstract powerLoss(target: 'storage' | 'controller' | 'agent', agent: number): void;
  protected abstract resume(agent: number, life: number): void;
  protected abstract loseAgent(i: number): void;
  protected abstract pause(agent: number, duration: number): void;
  protected abstract reuseEpoch(i: number, earlier: boolean, duration: number): void;
  protected abstract verify(): void;
}

/**
 * The default liveness bound (simulated ms) for a tick interval: generous against the protocol's
 * own timers (retry intervals, lease expiry, backoff caps), so that it fires only on a stall.
 */
export const defaultLivenessBound = (tickInterval: number): number => 10_000 + 200 * tickInterval;
