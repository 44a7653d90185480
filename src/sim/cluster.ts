/**
 * A deterministic cluster simulator: one controller, N agents, disks, LUNs, a network, storage
 * and a persistence store, all driven by one seeded, single-threaded agenda. The same seed and
 * inputs give the same run, bit for bit.
 *
 * It steps the pure machines directly (no promises, no real time), injects faults, and checks
 * the protocol's properties after every step, stopping at the first violation. The world they
 * live in is world.ts, the host workload workload.ts, the properties checkers.ts.
 */
import * as E from 'fp-ts/lib/Either.js';
import { agentEpoch, agentStep, initialAgentState } from '../agent/agent.js';
import type { AgentCommand, AgentEvent, AgentState, HostOp } from '../agent/types.js';
import { createAllocator } from '../controller/allocator.js';
import { controllerStep, initialControllerState } from '../controller/controller.js';
import type { AdminEvent, ControllerCommand, ControllerEvent, ControllerState, PersistRecord } from '../controller/types.js';
import type { AgentId, DiskId, Step } from '../protocol/messages.js';
import type { Piece, Variant } from '../translate/translate.js';
import {
  agentName,
  checkAllocation,
  checkContent,
  checkDurability,
  checkStoredTables,
  checkConvergence,
  checkFinalTables,
  checkFreeReferenced,
  checkRead,
  FrozenPrimaries,
  isQuiet,
  type BrokenProperty,
} from './checkers.js';
import { emptySummary, simConfigErrors, workloadErrors, type SimAction, type SimConfig, type SimResult, type SimSummary, type TraceRecord, type Violation, type Workload } from './config.js';
import { DiskModel } from './disk-model.js';
import { DurabilityModel } from './durability-model.js';
import { LivenessRecorder } from './latency.js';
import { describeAgentMessage, describeControllerMessage, describePieces, describeRecord } from './labels.js';
import { WorkloadGenerator, type HostIo } from './workload.js';
import { World, type CopyCommand, type MessageEvent, type WorldEvent } from './world.js';

interface AgentNode {
  readonly id: AgentId;
  state: AgentState;
  /** The agent's life: bumped by each restart, fencing the storage I/O of earlier lives. */
  epoch: number;
  /** Until when the agent is cut off from the network (-1: it is not). */
  cutUntil: number;
  /** Which way the cut loses messages. */
  cutDirection: 'both' | 'toController' | 'fromController';
}

/** An admin request waiting for its answer, with the disk image a snapshot starts from. */
interface AdminRequest {
  readonly event: AdminEvent;
  before?: DiskModel;
  /** A rollback: the disk's model and its block versions when it was asked (see {@link DiskModel.rolledBack}). */
  seen?: Uint32Array;
  model?: DiskModel;
  /** For a snapshot: what the source might hold after a power loss at the request, and where its write log was. */
  durableBefore?: { readonly model: DurabilityModel; readonly log: number };
}

/** Unwinds the run from wherever a property was found broken. */
class Violated extends Error {
  constructor(readonly violation: BrokenProperty) {
    super(violation.message);
  }
}

const fail = (broken: BrokenProperty | undefined): void => {
  if (broken !== undefined) throw new Violated(broken);
};

/** Disks and attachments the cluster sets up itself; their requests are not workload actions. */
const isSetup = (event: AdminEvent): boolean => event.type === 'createDisk' || event.type === 'attachAgent';

/** The state machines a cluster steps (see `SimConfig.testHooks`). */
export interface SimMachines {
  readonly agentStep: typeof agentStep;
  readonly controllerStep: typeof controllerStep;
}


/**
 * A simulated cluster. Build with {@link createCluster}; run a workload with `run`.
 *
 * @example
 * const cluster = createCluster({ seed: 1, agents: 2, disks: [{ id: 'd0', segmentBlocks: 8, segmentCount: 64 }], luns: { 1: 4096 } });
 * const result = cluster.run({ ios: 500 });
 * result.violation // null when every property held
 */
export class Cluster {
  readonly summary: SimSummary = emptySummary();
  readonly trace: TraceRecord[] = [];

  private readonly world: World;
  private controller!: ControllerState;
  /** The controller's life: bumped by each restart, fencing the effects of earlier lives. */
  private controllerLife = 0;
  private readonly agents: AgentNode[] = [];
  /** Agent index by id, for routing the controller's messages. */
  private readonly agentIndex = new Map<AgentId, number>();
  /** The expected content of every disk the cluster writes to. */
  private readonly models = new Map<DiskId, DiskModel>();
  /** The image every snapshot must keep. */
  private readonly snapshotImages = new Map<DiskId, DiskModel>();
  /** The disk each disk was ultimately snapshotted from (itself for an original). */
  private readonly families = new Map<DiskId, DiskId>();
  private readonly frozen = new FrozenPrimaries();
  private readonly hostIos = new Map<number, HostIo>();
  // Durability (docs/design.md#ordering-rules)
  /** What each disk, and each snapshot, may hold after a power loss. */
  private readonly durability = new Map<DiskId, DurabilityModel>();
  /** Orders writes and flushes for the durability model. */
  private seq = 0;
  /** Host flushes in flight: ioId -> the agent life and disk, and when submitted. */
  private readonly hostFlushes = new Map<number, { readonly agent: number; readonly epoch: number; readonly disk: DiskId; readonly seq: number }>();
  /** Persist commands of this controller life not yet landed: a power loss may land a prefix of one. */
  private readonly persistsInFlight = new Map<number, ReadonlyArray<PersistRecord>>();
  private readonly stepController: typeof controllerStep;
  private readonly stepAgent: typeof agentStep;
  private readonly adminRequests = new Map<number, AdminRequest>();
  /** Writes open when their disk was deleted and created again: the new disk's model they leave unknown. */
  private readonly crossing = new Map<number, DiskModel>();
  private nextIo = 1;
  private nextRequest = 1;
  private nextValue = 1;
  private readonly tickInterval: number;
  private readonly variant: Variant;
  private pendingArrivals = 0;
  private pendingActions = 0;
  private generator: WorkloadGenerator | null = null;
  private readonly liveness = new LivenessRecorder();
  private readonly livenessBound: number;
  /** When each agent's latest partition ends (liveness checker). */
  private readonly cutEnds: number[] = [];
  private get lease(): { duration: number; maxClockDrift?: number; maxIoLifetime?: number } | null {
    return this.config.lease === undefined ? { duration: 2000 } : this.config.lease;
  }

  constructor(readonly config: SimConfig) {
    const errors = simConfigErrors(config);
    if (errors.length > 0) throw new Error(`createCluster: ${errors.map((e) => e.message).join('; ')}`);
    this.stepController = config.testHooks?.controllerStep ?? controllerStep;
    this.stepAgent = config.testHooks?.agentStep ?? agentStep;
    this.world = new World(config, this.summary);
    this.tickInterval = config.tickInterval ?? 10;
    this.variant = config.variant ?? 'centralized';
    this.livenessBound = config.livenessBound ?? defaultLivenessBound(this.tickInterval);
    for (let i = 0; i < config.agents; i++) {
      const epoch = 1;
      this.agentIndex.set(agentName(i), i);
      this.agents.push({ id: agentName(i), epoch, state: this.freshAgent(agentName(i), epoch), cutUntil: -1, cutDirection: 'both' });
    }
    this.bootController();
    // Disks are created and attached through the controller itself, like any administrator would.
    for (const disk of config.disks) {
      this.admin({ type: 'createDisk', requestId: 0, disk: disk.id, segmentBlocks: disk.segmentBlocks, segmentCount: disk.segmentCount });
      this.models.set(disk.id, new DiskModel(disk.segmentBlocks * disk.segmentCount));
      this.durability.set(disk.id, new DurabilityModel(disk.segmentBlocks * disk.segmentCount));
      this.families.set(disk.id, disk.id);
      for (const a of disk.agents ?? this.agents.map((_, i) => i)) this.admin({ type: 'attachAgent', requestId: 0, disk: disk.id, agent: agentName(a) });
    }
    this.world.queue.push(this.tickInterval, { kind: 'tick' });
    this.runUntil(() => this.adminRequests.size === 0, 100_000);
  }

  // -------------------------------------------------------------------------------------------
  // Public driving API

  /**
   * Runs a workload to its end, then (by default) a quiet period and the final checks. Throws an
   * `Error` naming every malformed field of `workload` ({@link workloadErrors} lists them as values).
   */
  run(workload: Workload): SimResult {
    const problems = workloadErrors(workload);
    if (problems.length > 0) throw new Error(`Cluster.run: ${problems.map((e) => e.message).join('; ')}`);
    const world = this.world;
    this.generator = new WorkloadGenerator(this.config, workload, world.rng, this.agents.length);
    this.pendingArrivals = workload.ios;
    for (const { at, action } of workload.schedule ?? []) {
      this.pendingActions++;
      world.queue.push(Math.max(world.now, at), { kind: 'action', action });
    }
    if (this.pendingArrivals > 0) world.queue.push(world.now, { kind: 'arrival' });
    try {
      this.runUntil(() => this.pendingArrivals === 0 && this.hostIos.size === 0 && this.hostFlushes.size === 0 && this.scheduledActions() === 0, 200 * workload.ios + 200_000);
      if (workload.verify !== false) this.verify();
    } catch (e) {
      if (e instanceof Violated) return this.result({ ...e.violation, seed: this.config.seed, step: this.summary.steps, time: world.now });
      throw e;
    }
    return this.result(null);
  }

  /** The controller's current state (read-only). */
  controllerState(): ControllerState {
    return this.controller;
  }

  /** An agent's current state (read-only). */
  agentState(agent: number): AgentState {
    return this.agents[agent]!.state;
  }

  private result(violation: Violation | null): SimResult {
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

  private scheduledActions(): number {
    let n = this.pendingActions;
    for (const r of this.adminRequests.values()) if (!isSetup(r.event)) n++;
    return n;
  }

  /** Processes events until `done()` holds or the step budget runs out (a stuck run). */
  private runUntil(done: () => boolean, maxSteps: number): void {
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

  private process(event: WorldEvent): void {
    const now = this.world.now;
    switch (event.kind) {
      case 'tick': {
        this.toController({ type: 'tick', now });
        for (let i = 0; i < this.agents.length; i++) this.toAgent(i, { type: 'tick', now });
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
        return this.landCopy(event.life, event.cmd, event.storage);
      case 'flush':
        return this.landFlush(event);
      case 'arrival':
        return this.arrival();
      case 'action':
        this.pendingActions--;
        return this.act(event.action);
      case 'heal':
        if (this.agents[event.agent]!.cutUntil <= now) this.agents[event.agent]!.cutUntil = -1;
        return;
    }
  }

  /** Adds a trace line; `label` is only built when the run keeps a trace. */
  private record(from: string, to: string, label: () => string, step?: Step): void {
    if (this.config.trace !== true) return;
    const time = this.world.now;
    this.trace.push(step === undefined ? { time, from, to, label: label() } : { time, from, to, label: label(), step });
  }

  /** Sends a message between the controller and agent `agent`, who may be cut off. */
  private transmit(event: MessageEvent, agent: number): void {
    const node = this.agents[agent]!;
    const way = event.kind === 'toController' ? 'toController' : 'fromController';
    this.world.transmit(event, node.cutUntil > this.world.now && (node.cutDirection === 'both' || node.cutDirection === way));
  }

  // -------------------------------------------------------------------------------------------
  // Controller

  private bootController(): void {
    const alloc = createAllocator(this.config.luns);
    if (E.isLeft(alloc)) throw new Error(`bad LUN sizes: ${alloc.left.map((e) => e.message).join('; ')}`);
    this.controllerLife++;
    this.persistsInFlight.clear();
    const lease = this.lease;
    this.controller = initialControllerState(alloc.right, {
      variant: this.variant,
      retryInterval: this.tickInterval * 5,
      ...(lease === null ? {} : { leaseDuration: lease.duration, maxClockDrift: lease.maxClockDrift ?? 100, maxIoLifetime: lease.maxIoLifetime ?? 500 }),
    });
    this.toController({ type: 'restored', now: this.world.now, state: this.world.store.restored() });
    this.frozen.resetFrom(this.world.store.tables);
  }

  private toController(event: ControllerEvent): void {
    const before = this.controller;
    const [next, commands] = this.stepController(this.controller, event);
    this.controller = next;
    if (event.type === 'persisted') this.frozen.noteCommits(before, next);
    for (const c of commands) this.controllerCommand(c);
  }

  private controllerCommand(c: ControllerCommand): void {
    switch (c.type) {
      case 'persist':
        this.record('controller', 'persistence', () => `persist ${c.records.map(describeRecord).join(', ')}`, 570);
        this.persistsInFlight.set(c.persistId, c.records);
        this.world.afterStorageDelay({ kind: 'persist', life: this.controllerLife, persistId: c.persistId, records: c.records });
        return;
      case 'send': {
        const i = this.agentIndex.get(c.to) ?? -1;
        if (i < 0) return;
        this.record('controller', c.to, () => `send ${c.message.type}`, c.step);
        this.transmit({ kind: 'toAgent', agent: i, msg: c.message }, i);
        return;
      }
      case 'copyBlocks':
      case 'writeZeros':
        this.record('controller', 'storage', () => c.type === 'copyBlocks' ? `copy ${c.length} blocks ${c.from.lun}:${c.from.start} -> ${c.to.lun}:${c.to.start}` : `zero ${c.length} blocks at ${c.to.lun}:${c.to.start}`);
        this.world.afterStorageDelay({ kind: 'copy', life: this.controllerLife, cmd: c, storage: this.world.storageEpoch });
        return;
      case 'flush':
        this.record('controller', 'storage', () => `flush LUNs ${c.luns.join(', ')}`);
        this.world.afterStorageDelay({ kind: 'flush', agent: -1, life: this.controllerLife, flushId: c.flushId, luns: c.luns, storage: this.world.storageEpoch });
        return;
      case 'resolved': {
        const key = c.path.join('-');
        this.summary.resolutionsByPath[key] = (this.summary.resolutionsByPath[key] ?? 0) + 1;
        this.summary.resolutionsByOutcome[c.outcome] = (this.summary.resolutionsByOutcome[c.outcome] ?? 0) + 1;
        this.record('controller', c.agent, () => `resolved fault ${c.faultId} (${c.reason}): ${c.outcome} via ${key}`, 597);
        return;
      }
      case 'adminDone':
        return this.adminDone(c.requestId, c.result.ok ? null : c.result.error);
      case 'fence':
        this.summary.evictions++;
        this.record('controller', c.agent, () => `evicted epoch ${c.epoch} (lease expired): fence`);
        return;
      case 'released':
      case 'refused':
        return;
    }
  }

  /** The store carries out a persist command. */
  private landPersist(event: Extract<WorldEvent, { kind: 'persist' }>): void {
    // Storage fencing: a dead controller's writes that had not landed never do.
    if (event.life !== this.controllerLife) return;
    this.persistsInFlight.delete(event.persistId);
    const world = this.world;
    if (world.rng.chance(world.faults.persistErrorRate ?? 0)) {
      this.summary.persistFailures++;
      world.noteFault();
      // Half the failures lose only the answer: the records did land.
      if (world.rng.chance(0.5)) for (const r of event.records) world.store.apply(r);
      this.toController({ type: 'persistFailed', persistId: event.persistId, error: 'injected persistence failure' });
      return;
    }
    for (const r of event.records) world.store.apply(r);
    this.toController({ type: 'persisted', persistId: event.persistId });
  }

  /** Storage carries out a copy or zeroing for the controller. */
  private landCopy(life: number, c: CopyCommand, storage: number | undefined): void {
    if (life !== this.controllerLife) return; // fenced: the controller that asked is gone
    if (storage !== undefined && storage !== this.world.storageEpoch) return this.toController({ type: 'copyFailed', copyId: c.copyId, error: 'storage lost power' });
    if (this.world.storageFails()) return this.toController({ type: 'copyFailed', copyId: c.copyId, error: 'injected storage error' });
    this.world.blocks.copy(c, `controller#${this.controllerLife}`);
    this.toController({ type: 'copyDone', copyId: c.copyId });
  }

  // -------------------------------------------------------------------------------------------
  // Administration and scripted actions

  private admin(event: AdminEvent): void {
    const requestId = this.nextRequest++;
    const e = { ...event, requestId } as AdminEvent;
    const entry: AdminRequest = { event: e };
    if (e.type === 'snapshot') {
      const before = this.models.get(e.disk)?.snapshot();
      if (before !== undefined) entry.before = before;
      const durable = this.durability.get(e.disk);
      if (durable !== undefined) entry.durableBefore = { model: durable.copy(), log: durable.logLength };
      // Declared as shared from the request on: a restart may leave the snapshot made but unanswered.
      this.families.set(e.snapshot, this.families.get(e.disk) ?? e.disk);
    }
    if (e.type === 'rollback') {
      const model = this.models.get(e.disk);
      if (model !== undefined) {
        entry.seen = model.rollbackStarted();
        entry.model = model;
      }
    }
    this.adminRequests.set(requestId, entry);
    this.record('admin', 'controller', () => e.type);
    this.toController(e);
  }

  private adminDone(requestId: number, error: string | null): void {
    const req = this.adminRequests.get(requestId);
    if (req === undefined) return;
    this.adminRequests.delete(requestId);
    const e = req.event;
    if (e.type === 'snapshot' && error === null) {
      this.summary.snapshots++;
      // Writes that overlapped the snapshot may or may not be in it.
      const now = this.models.get(e.disk)!.snapshot();
      const before = req.before!;
      for (let b = 0; b < now.blocks; b++) if (now.values[b] !== before.values[b]) now.values[b] = -1;
      this.snapshotImages.set(e.snapshot, now);
      if (req.durableBefore !== undefined) this.durability.set(e.snapshot, DurabilityModel.snapshot(req.durableBefore.model, this.durability.get(e.disk)!, req.durableBefore.log));
    }
    if (e.type === 'migrate' && error === null) this.summary.migrations++;
    if (e.type === 'deleteDisk' && error === null) this.deleted(e.disk);
    if (e.type === 'rollback') this.rollbackDone(req, error === null);
    if (e.type === 'markFailed' && error === null) this.summary.errorMarkings++;
  }

  /**
   * A rollback ended: done (the model takes the snapshot's image; a snapshot the run does not
   * model leaves every block unknown), refused, or cut short by a restart (unknown either way).
   */
  private rollbackDone(req: AdminRequest, done: boolean | 'unknown'): void {
    const e = req.event;
    const model = req.model;
    if (e.type !== 'rollback' || req.seen === undefined || model === undefined) return;
    if (done === false) return model.rollbackEnded();
    if (done === true) this.summary.rollbacks++;
    const image = done === true ? (this.snapshotImages.get(e.snapshot) ?? this.models.get(e.snapshot)) : undefined;
    model.rolledBack(image ?? new DiskModel(0), req.seen);
  }

  /** A disk or snapshot is gone: a snapshot's image is forgotten; a disk of the configuration is created again, empty. */
  private deleted(disk: DiskId): void {
    this.summary.deletions++;
    this.snapshotImages.delete(disk);
    const config = this.config.disks.find((d) => d.id === disk);
    if (config === undefined) return;
    this.models.get(disk)?.forgetAll();
    const model = new DiskModel(config.segmentBlocks * config.segmentCount);
    this.models.set(disk, model);
    // Host I/O still open was issued to the old disk and may be served by the new one: its
    // writes may land on either, so they leave the new disk's blocks unknown.
    for (const io of this.hostIos.values())
      if (io.disk === disk && io.op !== 'read') {
        model.writeStarted(io.start, io.length);
        this.crossing.set(io.id, model);
      }
    this.admin({ type: 'createDisk', requestId: 0, disk, segmentBlocks: config.segmentBlocks, segmentCount: config.segmentCount });
    for (const a of config.agents ?? this.agents.map((_, i) => i)) this.admin({ type: 'attachAgent', requestId: 0, disk, agent: agentName(a) });
  }

  /** The snapshots that exist now, in creation order (of `family` only, when given). */
  private snapshots(family?: DiskId): DiskId[] {
    return [...this.snapshotImages.keys()].filter((d) => this.controller.disks.has(d) && (family === undefined || this.families.get(d) === family));
  }

  private act(action: SimAction): void {
    switch (action.type) {
      case 'hostIo':
        return this.submit(action.agent, action.disk, action.op, action.start, action.length, action.fua === true);
      case 'hostFlush':
        return this.submitFlush(action.agent, action.disk);
      case 'snapshot':
      case 'migrate':
      case 'markFailed':
      case 'deleteDisk':
      case 'rollback':
        return this.admin({ ...action, requestId: 0 } as AdminEvent);
      case 'restartAgent':
        return this.restartAgent(action.agent);
      case 'restartController':
        return this.restartController();
      case 'isolateController':
        for (let i = 0; i < this.agents.length; i++) this.act({ type: 'cutAgent', agent: i, duration: action.duration });
        return;
      case 'powerLoss':
        return this.powerLoss(action.target, action.agent ?? 0);
      case 'cutAgent': {
        const node = this.agents[action.agent];
        if (node === undefined) return;
        node.cutUntil = this.world.now + action.duration;
        node.cutDirection = action.direction ?? 'both';
        // The liveness checker: the cut is a fault for everyone when it starts, and for the cut
        // agent's own I/O until it heals.
        this.world.noteFault();
        this.cutEnds[action.agent] = Math.max(this.cutEnds[action.agent] ?? 0, node.cutUntil);
        this.record('sim', node.id, () => `cut off for ${action.duration} ms${node.cutDirection === 'both' ? '' : ` (${node.cutDirection} only)`}`);
        this.world.queue.push(node.cutUntil, { kind: 'heal', agent: action.agent });
        return;
      }
    }
  }

  private freshAgent(agent: AgentId, epoch: number): AgentState {
    const lease = this.lease;
    return initialAgentState({ agent, epoch, variant: this.variant, faultTimeout: this.tickInterval * 5, ...(lease === null ? {} : { leaseDuration: lease.duration }) });
  }

  private restartAgent(i: number): void {
    const node = this.agents[i];
    if (node === undefined) return;
    this.summary.agentRestarts++;
    this.world.noteFault();
    // Above every epoch the agent used, evictions included.
    node.epoch = Math.max(node.epoch, agentEpoch(node.state)) + 1;
    node.state = this.freshAgent(node.id, node.epoch);
    this.record('sim', node.id, () => `restart (epoch ${node.epoch})`);
    // The host sees every I/O of the old life fail; writes among them may or may not have landed.
    for (const io of [...this.hostIos.values()]) if (io.agent === i) this.closeIo(io, false);
    // Its flushes fail too, and what it wrote but never flushed is guaranteed by nobody.
    for (const [id, f] of [...this.hostFlushes]) if (f.agent === i) this.hostFlushes.delete(id);
    for (const m of this.durability.values()) m.forgetWriter(`${node.id}#${node.epoch - 1}`);
  }

  private restartController(): void {
    this.summary.controllerRestarts++;
    this.world.noteFault();
    this.record('sim', 'controller', () => 'restart');
    const interrupted: DiskId[] = [];
    const setup: AdminEvent[] = [];
    for (const [id, r] of this.adminRequests) {
      // Setup requests of the first boot are answered before any restart; later ones (a disk
      // created again after a deletion) are asked again of the new controller.
      if (isSetup(r.event)) setup.push(r.event);
      else if (r.event.type === 'deleteDisk') interrupted.push(r.event.disk);
      else if (r.event.type === 'rollback') this.rollbackDone(r, 'unknown');
      this.adminRequests.delete(id);
    }
    this.bootController();
    for (const e of setup) this.admin(e);
    // A forced deletion cut short may have detached the disk's agents, or deleted it unanswered:
    // a disk of the configuration gets its agents back (or is created again), as an operator would.
    for (const disk of interrupted) {
      const config = this.config.disks.find((d) => d.id === disk);
      if (config === undefined) {
        if (!this.controller.disks.has(disk)) this.snapshotImages.delete(disk);
        continue;
      }
      if (!this.controller.disks.has(disk)) {
        this.deleted(disk);
        continue;
      }
      for (const a of config.agents ?? this.agents.map((_, i) => i)) this.admin({ type: 'attachAgent', requestId: 0, disk, agent: agentName(a) });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Host I/O

  private arrival(): void {
    const generator = this.generator!;
    if (this.pendingArrivals <= 0) return;
    this.pendingArrivals--;
    generator.drawActions((action) => this.act(action), () => this.nextRequest, (family) => this.snapshots(family));
    const io = generator.drawHostIo();
    if (io.flush === true) this.submitFlush(io.agent, io.disk);
    else this.submit(io.agent, io.disk, io.op, io.start, io.length, io.fua === true);
    if (this.pendingArrivals > 0) this.world.queue.push(this.world.now + generator.drawInterval(), { kind: 'arrival' });
  }

  private submit(agent: number, disk: DiskId, op: HostOp, start: number, length: number, fua = false): void {
    const node = this.agents[agent];
    const model = this.models.get(disk);
    if (node === undefined || model === undefined || start < 0 || length < 1 || start + length > model.blocks) return;
    const id = this.nextIo++;
    // A discard or write-zeroes is a write of zeros as far as the content is concerned.
    const value = op === 'write' ? this.nextValue++ : 0;
    if (op !== 'read') {
      this.summary.writes++;
      if (op === 'zero') this.summary.zeroes++;
      model.writeStarted(start, length);
    } else this.summary.reads++;
    const io: HostIo = { id, submittedAt: this.world.now, agent, epoch: node.epoch, disk, op, start, length, value, seen: op === 'read' ? model.readStarted(start, length) : null, data: null, model };
    if (op === 'write') {
      io.tracked = this.durability.get(disk)!.writeStarted(start, length, value, ++this.seq);
      if (fua) io.fua = true;
    }
    this.hostIos.set(id, io);
    this.record('host', node.id, () => `${op} ${disk} ${start}+${length}${op === 'write' ? ` (value ${value}${fua ? ', FUA' : ''})` : ''} io${id}`);
    this.toAgent(agent, { type: 'hostIo', ioId: id, disk, op, start, length, ...(fua ? { fua: true } : {}) });
  }

  /** A host flush of `disk` through `agent`. */
  private submitFlush(agent: number, disk: DiskId): void {
    const node = this.agents[agent];
    if (node === undefined || !this.models.has(disk)) return;
    const id = this.nextIo++;
    this.summary.flushes++;
    this.hostFlushes.set(id, { agent, epoch: node.epoch, disk, seq: ++this.seq });
    this.record('host', node.id, () => `flush ${disk} io${id}`);
    this.toAgent(agent, { type: 'hostFlush', ioId: id, disk });
  }

  private toAgent(i: number, event: AgentEvent): void {
    const node = this.agents[i]!;
    const [next, commands] = this.stepAgent(node.state, event);
    node.state = next;
    for (const c of commands) this.agentCommand(i, c);
  }

  private agentCommand(i: number, c: AgentCommand): void {
    const node = this.agents[i]!;
    switch (c.type) {
      case 'send':
        if (c.message.type === 'ioFault' || c.message.type === 'markBits') {
          this.liveness.noteFaultMessage(c.message);
          this.summary.faultsRaised++;
          const reason = c.message.type === 'markBits' ? 'mark' : c.message.reason;
          this.summary.faultsByReason[reason] = (this.summary.faultsByReason[reason] ?? 0) + 1;
        }
        if (c.message.type === 'zeroSegment') this.summary.faultsByReason['zero-segment'] = (this.summary.faultsByReason['zero-segment'] ?? 0) + 1;
        this.transmit({ kind: 'toController', msg: c.message }, i);
        return;
      case 'issueIo':
        this.record(node.id, 'storage', () => `io${c.ioId} ${c.op} ${describePieces(c.pieces)}`);
        this.world.afterStorageDelay({ kind: 'agentIo', agent: i, epoch: node.epoch, ioId: c.ioId, op: c.op, pieces: c.pieces, storage: this.world.storageEpoch });
        return;
      case 'flush':
        this.record(node.id, 'storage', () => `flush${c.flushId} LUNs ${c.luns.join(', ')}`);
        this.world.afterStorageDelay({ kind: 'flush', agent: i, life: node.epoch, flushId: c.flushId, luns: c.luns, storage: this.world.storageEpoch });
        return;
      case 'completeIo':
      case 'failIo': {
        const f = this.hostFlushes.get(c.ioId);
        if (f !== undefined) {
          this.hostFlushes.delete(c.ioId);
          this.record(node.id, 'host', () => `flush io${c.ioId} ${c.type === 'completeIo' ? 'done' : 'failed'}`);
          if (c.type === 'completeIo') {
            this.summary.flushesCompleted++;
            this.durability.get(f.disk)?.flushed(`${node.id}#${f.epoch}`, f.seq);
          } else this.durability.get(f.disk)?.flushFailed(`${node.id}#${f.epoch}`, ++this.seq);
          return;
        }
        const io = this.hostIos.get(c.ioId);
        if (io === undefined) return;
        this.record(node.id, 'host', () => c.type === 'completeIo' ? `io${io.id} ${io.op} done` : `io${io.id} ${io.op} failed: ${c.reason}`);
        this.closeIo(io, c.type === 'completeIo');
        return;
      }
    }
  }

  private closeIo(io: HostIo, ok: boolean): void {
    this.hostIos.delete(io.id);
    const open = this.liveness.noteEnded(io.submittedAt, this.world.now, Math.max(this.world.lastFaultAt, Math.min(this.world.now, this.cutEnds[io.agent] ?? 0)), agentName(io.agent));
    if (open > this.livenessBound)
      fail({ kind: 'liveness', message: `io${io.id} (${io.op} ${io.disk} ${io.start}+${io.length} by ${agentName(io.agent)}) ended ${open} ms after the last injected fault, over the bound of ${this.livenessBound} ms` });
    if (ok) this.summary.iosCompleted++;
    else this.summary.iosFailed++;
    const crossed = this.crossing.get(io.id);
    if (crossed !== undefined) {
      this.crossing.delete(io.id);
      crossed.writeFailed(io.start, io.length);
    }
    if (io.op !== 'read') {
      if (ok) io.model.writeAcknowledged(io.start, io.length, io.value);
      else io.model.writeFailed(io.start, io.length);
      if (io.tracked !== undefined) this.durability.get(io.disk)?.writeEnded(io.tracked, ok, ++this.seq, `${agentName(io.agent)}#${io.epoch}`, io.fua === true);
      return;
    }
    if (!ok || io.data === null || io.seen === null) return;
    this.summary.readsChecked++;
    fail(checkRead(io));
  }

  /** Storage performs an agent's pieces. */
  private landAgentIo(event: Extract<WorldEvent, { kind: 'agentIo' }>): void {
    const node = this.agents[event.agent]!;
    if (node.epoch !== event.epoch) return; // fenced: that life is gone
    const io = this.hostIos.get(event.ioId);
    if (event.storage !== undefined && event.storage !== this.world.storageEpoch) return this.toAgent(event.agent, { type: 'ioFailed', ioId: event.ioId, error: 'storage lost power' });
    if (this.world.storageFails()) return this.toAgent(event.agent, { type: 'ioFailed', ioId: event.ioId, error: 'injected storage error' });
    if (event.op === 'write') {
      for (const p of event.pieces) this.landWrite(io, p);
    } else if (io !== undefined) io.data = this.world.blocks.read(event.pieces, io.start, io.length);
    this.toAgent(event.agent, { type: 'ioDone', ioId: event.ioId });
  }

  private landWrite(io: HostIo | undefined, p: Piece): void {
    if (p.kind === 'primary' && io !== undefined) fail(this.frozen.checkWrite(this.controller, io, p));
    this.world.blocks.write(p, io?.value ?? 0, io === undefined ? 'host' : `${agentName(io.agent)}#${io.epoch}`);
  }

  // -------------------------------------------------------------------------------------------
  // Durability: flushes and power loss (docs/design.md#ordering-rules)

  /** A flush reaches storage: it fails if storage lost power since it was issued, or lost the issuer's unflushed writes. */
  private landFlush(event: Extract<WorldEvent, { kind: 'flush' }>): void {
    const world = this.world;
    const fromController = event.agent < 0;
    if (fromController ? event.life !== this.controllerLife : this.agents[event.agent]!.epoch !== event.life) return; // fenced
    const issuer = fromController ? `controller#${event.life}` : `${this.agents[event.agent]!.id}#${event.life}`;
    const ok = event.storage === world.storageEpoch && !world.storageFails() && world.blocks.flush(issuer, event.luns);
    const error = 'storage could not vouch for the writes';
    if (fromController) this.toController(ok ? { type: 'flushed', flushId: event.flushId } : { type: 'flushFailed', flushId: event.flushId, error });
    else this.toAgent(event.agent, ok ? { type: 'flushDone', flushId: event.flushId } : { type: 'flushFailed', flushId: event.flushId, error });
  }

  private powerLoss(target: 'storage' | 'controller' | 'agent', agent: number): void {
    if (target === 'agent') {
      if (this.agents[agent] === undefined) return;
      this.summary.agentPowerLosses++;
      this.restartAgent(agent);
    } else if (target === 'controller') {
      this.summary.controllerPowerLosses++;
      // The store may have taken a prefix of the records in flight (a torn batch); the rest never lands.
      for (const records of this.persistsInFlight.values()) {
        const n = this.world.rng.int(records.length + 1);
        for (const r of records.slice(0, n)) this.world.store.apply(r);
      }
      this.restartController();
    } else {
      this.summary.storagePowerLosses++;
      this.world.storageEpoch++;
      const changed = this.world.blocks.powerLoss(this.world.rng);
      this.record('sim', 'storage', () => `power loss (${changed} blocks reverted or torn)`);
      // Host reads can no longer expect the last acknowledged value where a power loss may have taken it.
      for (const [disk, m] of this.durability) {
        const image = this.models.get(disk) ?? this.snapshotImages.get(disk);
        if (image !== undefined) for (let b = 0; b < m.blocks; b++) if (m.isUncertain(b)) image.forget(b);
      }
      fail(checkDurability(this.world.store.tables, this.durability, this.world.blocks, 'after a power loss of storage'));
    }
    fail(checkStoredTables(this.world.store.tables, this.families, this.config.luns));
    fail(checkAllocation(this.controller));
  }

  // -------------------------------------------------------------------------------------------
  // Final checks

  /** Heals everything, lets the cluster go quiet, and checks convergence, tables and content. */
  private verify(): void {
    this.world.faults = {};
    for (const a of this.agents) a.cutUntil = -1;
    const quiet = (): boolean => isQuiet(this.controller, this.agents, this.hostIos.size + this.hostFlushes.size);
    this.runUntil(quiet, 500_000);
    if (!quiet()) throw new Violated({ kind: 'no-convergence', message: 'the cluster never went quiet' });
    fail(checkConvergence(this.controller, this.agents));
    fail(checkFinalTables(this.controller, this.families, this.config.luns));
    fail(checkFreeReferenced(this.controller));
    // Every block of every disk reads back as the model says, through the controller's tables.
    fail(checkContent(this.controller, this.models, this.snapshotImages, this.world.blocks));
    fail(checkDurability(new Map([...this.controller.disks].map(([disk, d]) => [disk, d.committed])), this.durability, this.world.blocks, 'at the end of the run'));
    fail(checkAllocation(this.controller));
  }
}

/**
 * The default liveness bound (simulated ms) for a tick interval: generous against the protocol's
 * own timers (retry intervals, lease expiry, backoff caps), so that it fires only on a stall.
 */
export const defaultLivenessBound = (tickInterval: number): number => 10_000 + 200 * tickInterval;

/**
 * Builds a simulated cluster from a plain configuration: creates the disks (all `zero`, thin)
 * and attaches the agents through the controller itself. Throws an `Error` naming every
 * malformed field of `config` (a programming error; {@link simConfigErrors} lists them as values).
 *
 * @example
 * const result = createCluster({ seed: 7, agents: 3, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 32 }], luns: { 1: 2048, 2: 2048 } })
 *   .run({ ios: 1000, rates: { restartAgent: 0.01 } });
 */
export const createCluster = (config: SimConfig): Cluster => new Cluster(config);

/** A cluster stepping `machines` instead of the real ones (through `testHooks`): for tests of the checkers. */
export const createClusterWith = (config: SimConfig, machines: Partial<SimMachines>): Cluster => new Cluster({ ...config, testHooks: { ...config.testHooks, ...machines } });
