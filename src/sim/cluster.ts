/**
 * A deterministic cluster simulator: one controller, N agents, disks, LUNs, a network, storage
 * and a persistence store, all driven by one seeded, single-threaded agenda. The same seed and
 * inputs give the same run, bit for bit.
 *
 * It steps the pure machines directly (no promises, no real time), injects faults, and checks
 * the protocol's properties after every step, stopping at the first violation.
 *
 * Simulation assumptions, stated because they are the protocol's too:
 * - storage fencing: when a node restarts, its storage I/O that has not landed yet never lands;
 * - a persist that reached the store stays there even if the controller dies before hearing so.
 */
import * as E from 'fp-ts/lib/Either.js';
import { agentStep, agentTable, initialAgentState } from '../agent/agent.js';
import type { AgentCommand, AgentEvent, AgentState } from '../agent/types.js';
import { createPrng, type Prng } from '../adapters/prng.js';
import { checkTables, type Finding } from '../check/check.js';
import { createAllocator } from '../controller/allocator.js';
import { controllerStep, initialControllerState } from '../controller/controller.js';
import type { AdminEvent, ControllerCommand, ControllerEvent, ControllerState, PersistRecord } from '../controller/types.js';
import type { AgentId, AgentMessage, ControllerMessage, DiskId, Step } from '../protocol/messages.js';
import { decodeEntry, decodeTable, encodeTable } from '../table/codec.js';
import { diffTables, entryAt, resizeTable, setEntries, type MappingTable } from '../table/table.js';
import { translate, type Op, type Piece, type Variant } from '../translate/translate.js';
import { DiskModel } from './disk-model.js';
import { EventQueue } from './queue.js';

// ---------------------------------------------------------------------------------------------
// Configuration

/**
 * One virtual disk of a simulated cluster. It starts thin (every segment `zero`) and is created
 * and attached through the controller, as an administrator would.
 *
 * @example
 * const disk: SimDiskConfig = { id: 'vol', segmentBlocks: 8, segmentCount: 64, agents: [0, 1] };
 */
export interface SimDiskConfig {
  readonly id: DiskId;
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  /** Indexes of the agents that map the disk; all agents when absent. */
  readonly agents?: ReadonlyArray<number>;
}

/**
 * Rates are probabilities per message or per operation; delays are in simulated milliseconds.
 * Everything is drawn from the run's seed, so a failing run replays exactly.
 *
 * @example
 * const faults: SimFaults = { dropRate: 0.05, duplicateRate: 0.02, storageErrorRate: 0.001, persistErrorRate: 0.01 };
 */
export interface SimFaults {
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  /** Storage operations that fail, per operation. */
  readonly storageErrorRate?: number;
  /** Persist commands that fail, per command. */
  readonly persistErrorRate?: number;
}

/**
 * Everything that defines a simulated cluster: the seed, the agents, the disks and LUNs, and the
 * faults to inject. The same configuration and workload always give the same run.
 *
 * @example
 * const config: SimConfig = {
 *   seed: 42, agents: 3, variant: 'distributed', trace: true,
 *   disks: [{ id: 'vol', segmentBlocks: 8, segmentCount: 64 }],
 *   luns: { 1: 4096, 2: 4096 },
 *   faults: { dropRate: 0.05 },
 * };
 */
export interface SimConfig {
  readonly seed: number;
  readonly variant?: Variant;
  readonly agents: number;
  readonly disks: ReadonlyArray<SimDiskConfig>;
  /** LUN sizes in blocks. */
  readonly luns: Readonly<Record<number, number>>;
  readonly faults?: SimFaults;
  /** Message delay range (ms). Defaults to 1..5. */
  readonly networkDelay?: readonly [number, number];
  /** Storage delay range (ms). Defaults to 1..4. */
  readonly storageDelay?: readonly [number, number];
  /** Interval of time ticks (ms). Defaults to 10. */
  readonly tickInterval?: number;
  /** Keep a trace of every message and step (costs memory at scale). */
  readonly trace?: boolean;
}

/**
 * A scripted action, run at simulated time `at`: to reproduce a scenario exactly, instead of
 * leaving it to the random rates of a {@link Workload}.
 *
 * @example
 * const action: SimAction = { type: 'restartController' };
 * createCluster(config).run({ ios: 500, schedule: [{ at: 100, action }] });
 */
export type SimAction =
  | { readonly type: 'hostIo'; readonly agent: number; readonly disk: DiskId; readonly op: Op; readonly start: number; readonly length: number }
  | { readonly type: 'snapshot'; readonly disk: DiskId; readonly snapshot: DiskId }
  | { readonly type: 'migrate'; readonly disk: DiskId; readonly segments?: ReadonlyArray<number>; readonly lun: number }
  | { readonly type: 'markFailed'; readonly lun: number; readonly start: number; readonly length: number }
  | { readonly type: 'restartAgent'; readonly agent: number }
  | { readonly type: 'restartController' }
  | { readonly type: 'cutAgent'; readonly agent: number; readonly duration: number };

/**
 * What {@link Cluster.run} drives the cluster with: host I/O and, optionally, random or
 * scripted admin actions, restarts and partitions. Afterwards, by default, the run is checked for
 * convergence and for the content of every block.
 *
 * @example
 * const workload: Workload = { ios: 2000, readRatio: 0.5, pattern: 'hotspot', rates: { snapshot: 0.001, restartAgent: 0.002 } };
 */
export interface Workload {
  /** Host I/Os to issue. */
  readonly ios: number;
  /** Mean simulated milliseconds between host I/Os (default 1). */
  readonly interval?: number;
  /** Share of reads (default 0.7). */
  readonly readRatio?: number;
  readonly pattern?: 'random' | 'sequential' | 'hotspot';
  /** Longest request, in blocks (default 16). */
  readonly maxLength?: number;
  /** Per host I/O, chance of each random action (default none). */
  readonly rates?: {
    readonly snapshot?: number;
    readonly migrate?: number;
    readonly markFailed?: number;
    readonly restartAgent?: number;
    readonly restartController?: number;
    readonly cutAgent?: number;
  };
  /** Scripted actions at fixed times. */
  readonly schedule?: ReadonlyArray<{ readonly at: number; readonly action: SimAction }>;
  /** Verify convergence and content after the workload (default true). */
  readonly verify?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Results

/**
 * The first property a run broke, with what is needed to replay it: the `seed`, and the `step`
 * and simulated `time` at which it was found.
 *
 * - `read-mismatch`: a read returned something other than the last acknowledged write;
 * - `frozen-primary-write`: an agent wrote to a primary the controller had frozen;
 * - `table-check`: `checkTables` found corruption or a leak in the final tables;
 * - `no-convergence`: the cluster never went quiet, or an agent's copy differs from the controller's;
 * - `lost-write`, `snapshot-changed`: a disk or a snapshot does not read back as it should;
 * - `stuck`: no progress within the step budget.
 *
 * @example
 * const { violation } = createCluster(config).run({ ios: 1000 });
 * if (violation) console.error(`${violation.kind} at step ${violation.step} (seed ${violation.seed}): ${violation.message}`);
 */
export interface Violation {
  readonly kind: 'read-mismatch' | 'frozen-primary-write' | 'table-check' | 'no-convergence' | 'lost-write' | 'snapshot-changed' | 'stuck';
  readonly message: string;
  readonly seed: number;
  readonly step: number;
  readonly time: number;
}

/**
 * One entry of a run's trace (with `trace: true`): a message or an effect from one participant
 * (`host`, the agents `a0`, `a1`, ..., `controller`, `persistence`, `storage`, and `admin` or
 * `sim` for scripted actions) to another, with the flowchart `step` it carries out, if any.
 * {@link traceToMermaid} and {@link traceToTimeline} render a list of them.
 *
 * @example
 * const record: TraceRecord = { time: 3, from: 'controller', to: 'a0', label: 'send setEntries', step: 575 };
 */
export interface TraceRecord {
  readonly time: number;
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly step?: Step;
}

/**
 * Counters of a run, for judging what it exercised (how many faults, restarts and resolutions of
 * each kind) as well as whether it passed.
 *
 * @example
 * const { summary } = createCluster(config).run({ ios: 1000 });
 * console.log(`${summary.faultsRaised} faults, ${summary.iosFailed} failed I/Os in ${summary.simulatedTime} ms`);
 */
export interface SimSummary {
  iosCompleted: number;
  iosFailed: number;
  reads: number;
  writes: number;
  readsChecked: number;
  faultsRaised: number;
  faultsByReason: Record<string, number>;
  resolutionsByPath: Record<string, number>;
  resolutionsByOutcome: Record<string, number>;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  agentRestarts: number;
  controllerRestarts: number;
  snapshots: number;
  migrations: number;
  errorMarkings: number;
  storageErrors: number;
  persistFailures: number;
  steps: number;
  simulatedTime: number;
}

/**
 * The outcome of {@link Cluster.run}: the seed, the counters, the first violation (`null` when
 * every property held) and the trace (empty unless the configuration asked for one).
 *
 * @example
 * const result: SimResult = createCluster({ ...config, trace: true }).run({ ios: 200 });
 * if (result.violation !== null) console.log(traceToTimeline(result.trace));
 */
export interface SimResult {
  readonly seed: number;
  readonly summary: SimSummary;
  readonly violation: Violation | null;
  readonly trace: ReadonlyArray<TraceRecord>;
}

// ---------------------------------------------------------------------------------------------
// Internals

type Item =
  | { readonly k: 'tick' }
  | { readonly k: 'toController'; readonly msg: AgentMessage }
  | { readonly k: 'toAgent'; readonly agent: number; readonly msg: ControllerMessage }
  | { readonly k: 'agentIo'; readonly agent: number; readonly epoch: number; readonly ioId: number; readonly op: Op; readonly pieces: ReadonlyArray<Piece> }
  | { readonly k: 'persist'; readonly life: number; readonly persistId: number; readonly records: ReadonlyArray<PersistRecord> }
  | { readonly k: 'copy'; readonly life: number; readonly cmd: ControllerCommand & { type: 'copyBlocks' | 'writeZeros' } }
  | { readonly k: 'arrival' }
  | { readonly k: 'action'; readonly action: SimAction }
  | { readonly k: 'heal'; readonly agent: number };

interface HostIo {
  readonly id: number;
  readonly agent: number;
  readonly epoch: number;
  readonly disk: DiskId;
  readonly op: Op;
  readonly start: number;
  readonly length: number;
  readonly value: number;
  readonly seen: Uint32Array | null;
  data: Float64Array | null;
  /** Disk content model this I/O is checked against (the disk's at submission). */
  readonly model: DiskModel;
}

interface AgentNode {
  readonly id: AgentId;
  state: AgentState;
  epoch: number;
  cutUntil: number;
}

const agentName = (i: number): AgentId => `a${i}`;

class Violated extends Error {
  constructor(readonly violation: Omit<Violation, 'seed' | 'step' | 'time'>) {
    super(violation.message);
  }
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
  readonly summary: SimSummary = {
    iosCompleted: 0,
    iosFailed: 0,
    reads: 0,
    writes: 0,
    readsChecked: 0,
    faultsRaised: 0,
    faultsByReason: {},
    resolutionsByPath: {},
    resolutionsByOutcome: {},
    messagesSent: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    agentRestarts: 0,
    controllerRestarts: 0,
    snapshots: 0,
    migrations: 0,
    errorMarkings: 0,
    storageErrors: 0,
    persistFailures: 0,
    steps: 0,
    simulatedTime: 0,
  };
  readonly trace: TraceRecord[] = [];

  private readonly rng: Prng;
  private readonly queue = new EventQueue<Item>();
  private now = 0;
  private controller!: ControllerState;
  private controllerLife = 0;
  private readonly agents: AgentNode[] = [];
  /** Agent index by id, for routing the controller's messages. */
  private readonly agentIndex = new Map<AgentId, number>();
  private readonly storage = new Map<number, Float64Array>();
  private readonly durable = new Map<DiskId, MappingTable>();
  private readonly durableAttachments = new Map<DiskId, ReadonlyArray<AgentId>>();
  private readonly models = new Map<DiskId, DiskModel>();
  private readonly families = new Map<DiskId, DiskId>();
  private readonly frozenSince = new Map<DiskId, Map<number, number>>();
  private readonly hostIos = new Map<number, HostIo>();
  private readonly adminRequests = new Map<number, { event: AdminEvent; versions?: Uint32Array; before?: DiskModel }>();
  private readonly snapshotImages = new Map<DiskId, DiskModel>();
  private nextIo = 1;
  private nextRequest = 1;
  private nextValue = 1;
  private faults: SimFaults;
  private readonly tickInterval: number;
  private readonly variant: Variant;
  private pendingArrivals = 0;
  private pendingActions = 0;
  private workload: Workload | null = null;
  private cursor = 0;

  constructor(readonly config: SimConfig) {
    this.rng = createPrng(config.seed);
    this.faults = config.faults ?? {};
    this.tickInterval = config.tickInterval ?? 10;
    this.variant = config.variant ?? 'centralized';
    for (const [lun, size] of Object.entries(config.luns)) this.storage.set(Number(lun), new Float64Array(size));
    for (let i = 0; i < config.agents; i++) {
      const epoch = 1;
      this.agentIndex.set(agentName(i), i);
      this.agents.push({ id: agentName(i), epoch, state: initialAgentState({ agent: agentName(i), epoch, variant: this.variant, faultTimeout: this.tickInterval * 5 }), cutUntil: -1 });
    }
    this.bootController();
    // Disks are created and attached through the controller itself, like any administrator would.
    for (const disk of config.disks) {
      this.admin({ type: 'createDisk', requestId: 0, disk: disk.id, segmentBlocks: disk.segmentBlocks, segmentCount: disk.segmentCount });
      this.models.set(disk.id, new DiskModel(disk.segmentBlocks * disk.segmentCount));
      this.families.set(disk.id, disk.id);
      for (const a of disk.agents ?? this.agents.map((_, i) => i)) this.admin({ type: 'attachAgent', requestId: 0, disk: disk.id, agent: agentName(a) });
    }
    this.queue.push(this.tickInterval, { k: 'tick' });
    this.runUntil(() => this.adminRequests.size === 0, 100_000);
  }

  // -------------------------------------------------------------------------------------------
  // Public driving API

  /** Runs a workload to its end, then (by default) a quiet period and the final checks. */
  run(workload: Workload): SimResult {
    this.workload = workload;
    this.pendingArrivals = workload.ios;
    for (const { at, action } of workload.schedule ?? []) {
      this.pendingActions++;
      this.queue.push(Math.max(this.now, at), { k: 'action', action });
    }
    if (this.pendingArrivals > 0) this.queue.push(this.now, { k: 'arrival' });
    try {
      this.runUntil(() => this.pendingArrivals === 0 && this.hostIos.size === 0 && this.scheduledActions() === 0, 200 * workload.ios + 200_000);
      if (workload.verify !== false) this.verify();
    } catch (e) {
      if (e instanceof Violated) return this.result({ ...e.violation, seed: this.config.seed, step: this.summary.steps, time: this.now });
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
    this.summary.simulatedTime = this.now;
    return { seed: this.config.seed, summary: { ...this.summary }, violation, trace: this.trace };
  }

  private scheduledActions(): number {
    let n = this.pendingActions;
    for (const r of this.adminRequests.values()) if (r.event.type !== 'createDisk' && r.event.type !== 'attachAgent') n++;
    return n;
  }

  /** Processes events until `done()` holds or the step budget runs out (a stuck run). */
  private runUntil(done: () => boolean, maxSteps: number): void {
    let steps = 0;
    while (!done()) {
      const next = this.queue.pop();
      if (next === undefined) break;
      this.now = Math.max(this.now, next.time);
      this.summary.steps++;
      this.process(next.item);
      if (++steps > maxSteps) throw new Violated({ kind: 'stuck', message: `no progress after ${maxSteps} steps: ${this.hostIos.size} host I/Os still open` });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Event processing

  private process(item: Item): void {
    switch (item.k) {
      case 'tick': {
        this.toController({ type: 'tick', now: this.now });
        for (let i = 0; i < this.agents.length; i++) this.toAgent(i, { type: 'tick', now: this.now });
        // Keep ticking while anything could still need time to move on.
        this.queue.push(this.now + this.tickInterval, { k: 'tick' });
        return;
      }
      case 'toController':
        this.record(item.msg.agent, 'controller', () => describeAgentMessage(item.msg));
        return this.toController({ type: 'message', message: item.msg });
      case 'toAgent': {
        const node = this.agents[item.agent]!;
        this.record('controller', node.id, () => describeControllerMessage(item.msg));
        return this.toAgent(item.agent, { type: 'message', message: item.msg });
      }
      case 'agentIo':
        return this.landAgentIo(item);
      case 'persist': {
        // Storage fencing: a dead controller's writes that had not landed never do.
        if (item.life !== this.controllerLife) return;
        if (this.rng.chance(this.faults.persistErrorRate ?? 0)) {
          this.summary.persistFailures++;
          // Half the failures lose only the answer: the records did land.
          if (this.rng.chance(0.5)) for (const r of item.records) this.applyDurable(r);
          this.toController({ type: 'persistFailed', persistId: item.persistId, error: 'injected persistence failure' });
          return;
        }
        for (const r of item.records) this.applyDurable(r);
        if (item.life === this.controllerLife) this.toController({ type: 'persisted', persistId: item.persistId });
        return;
      }
      case 'copy':
        return this.landCopy(item.life, item.cmd);
      case 'arrival':
        return this.arrival();
      case 'action':
        this.pendingActions--;
        return this.act(item.action);
      case 'heal':
        if (this.agents[item.agent]!.cutUntil <= this.now) this.agents[item.agent]!.cutUntil = -1;
        return;
    }
  }

  /** Adds a trace line; `label` is only built when the run keeps a trace. */
  private record(from: string, to: string, label: () => string, step?: Step): void {
    if (this.config.trace !== true) return;
    this.trace.push(step === undefined ? { time: this.now, from, to, label: label() } : { time: this.now, from, to, label: label(), step });
  }

  private delay(range: readonly [number, number] | undefined, fallback: readonly [number, number]): number {
    const [lo, hi] = range ?? fallback;
    return lo + this.rng.int(hi - lo + 1);
  }

  /** Sends a message over the simulated network: maybe dropped, maybe duplicated, always delayed. */
  private transmit(item: Item & ({ k: 'toController' } | { k: 'toAgent' }), agent: number): void {
    this.summary.messagesSent++;
    const node = this.agents[agent]!;
    if (node.cutUntil > this.now || this.rng.chance(this.faults.dropRate ?? 0)) {
      this.summary.messagesDropped++;
      return;
    }
    this.queue.push(this.now + this.delay(this.config.networkDelay, [1, 5]), item);
    if (this.rng.chance(this.faults.duplicateRate ?? 0)) {
      this.summary.messagesDuplicated++;
      this.queue.push(this.now + this.delay(this.config.networkDelay, [1, 5]), item);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Controller

  private bootController(): void {
    const alloc = createAllocator(this.config.luns);
    if (E.isLeft(alloc)) throw new Error(`bad LUN sizes: ${alloc.left.map((e) => e.message).join('; ')}`);
    this.controllerLife++;
    this.controller = initialControllerState(alloc.right, { variant: this.variant, retryInterval: this.tickInterval * 5 });
    this.toController({
      type: 'restored',
      now: this.now,
      state: {
        tables: [...this.durable].map(([disk, table]) => ({ disk, table: encodeTable(table) })),
        attachments: [...this.durableAttachments].map(([disk, agents]) => ({ disk, agents })),
      },
    });
    // After a restart the freeze generations are unknown: count them from the current tables.
    for (const [disk, table] of this.durable) {
      const frozen = new Map<number, number>();
      for (let seg = 0; seg < table.segmentCount; seg++) if (entryAt(table, seg).noWrite) frozen.set(seg, table.generation);
      this.frozenSince.set(disk, frozen);
    }
  }

  private toController(event: ControllerEvent): void {
    const before = this.controller;
    const [next, commands] = controllerStep(this.controller, event);
    this.controller = next;
    if (event.type === 'persisted') this.noteCommits(before, next);
    for (const c of commands) this.controllerCommand(c);
  }

  /** Tracks since when each segment has been frozen, for the frozen-primary check. */
  private noteCommits(before: ControllerState, after: ControllerState): void {
    for (const [disk, d] of after.disks) {
      const prev = before.disks.get(disk)?.committed;
      if (prev === d.committed) continue;
      let frozen = this.frozenSince.get(disk);
      if (frozen === undefined) this.frozenSince.set(disk, (frozen = new Map()));
      const segments = prev === undefined ? Array.from({ length: d.committed.segmentCount }, (_, i) => i) : diffTables(prev, d.committed);
      for (const seg of segments) {
        if (seg >= d.committed.segmentCount) {
          frozen.delete(seg);
          continue;
        }
        const e = entryAt(d.committed, seg);
        if (!e.noWrite) frozen.delete(seg);
        else if (!frozen.has(seg)) frozen.set(seg, d.committed.generation);
      }
    }
  }

  private controllerCommand(c: ControllerCommand): void {
    switch (c.type) {
      case 'persist':
        this.record('controller', 'persistence', () => `persist ${c.records.map(describeRecord).join(', ')}`, 570);
        this.queue.push(this.now + this.delay(this.config.storageDelay, [1, 4]), { k: 'persist', life: this.controllerLife, persistId: c.persistId, records: c.records });
        return;
      case 'send': {
        const i = this.agentIndex.get(c.to) ?? -1;
        if (i < 0) return;
        this.record('controller', c.to, () => `send ${c.message.type}`, c.step);
        this.transmit({ k: 'toAgent', agent: i, msg: c.message }, i);
        return;
      }
      case 'copyBlocks':
      case 'writeZeros':
        this.record('controller', 'storage', () => c.type === 'copyBlocks' ? `copy ${c.length} blocks ${c.from.lun}:${c.from.start} -> ${c.to.lun}:${c.to.start}` : `zero ${c.length} blocks at ${c.to.lun}:${c.to.start}`);
        this.queue.push(this.now + this.delay(this.config.storageDelay, [1, 4]), { k: 'copy', life: this.controllerLife, cmd: c });
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
      case 'released':
      case 'refused':
        return;
    }
  }

  private applyDurable(r: PersistRecord): void {
    switch (r.type) {
      case 'saveTable': {
        const t = decodeTable(r.table);
        if (E.isRight(t)) this.durable.set(r.disk, t.right);
        return;
      }
      case 'updateTable': {
        let t = this.durable.get(r.disk);
        if (t !== undefined && t.generation === r.generation) return; // a retried record that had landed
        if (t === undefined || t.generation !== r.fromGeneration) throw new Error(`persistence: update of ${r.disk} from generation ${r.fromGeneration} but the store holds ${t?.generation}`);
        if (r.segmentCount !== undefined) t = unwrapOr(resizeTable(t, r.segmentCount, { zero: true }, { generation: t.generation }));
        const updates = r.changes.map((ch) => ({ segment: ch.segment, entry: unwrapOr(decodeEntry(ch.entry, t!.segmentBlocks, ch.segment)) }));
        this.durable.set(r.disk, unwrapOr(setEntries(t, updates, { generation: r.generation })));
        return;
      }
      case 'deleteTable':
        this.durable.delete(r.disk);
        return;
      case 'attachments':
        this.durableAttachments.set(r.disk, [...r.agents]);
        return;
    }
  }

  private landCopy(life: number, c: ControllerCommand & { type: 'copyBlocks' | 'writeZeros' }): void {
    if (life !== this.controllerLife) return; // fenced: the controller that asked is gone
    if (this.rng.chance(this.faults.storageErrorRate ?? 0)) {
      this.summary.storageErrors++;
      return this.toController({ type: 'copyFailed', copyId: c.copyId, error: 'injected storage error' });
    }
    const to = this.storage.get(c.to.lun)!;
    if (c.type === 'copyBlocks') to.set(this.storage.get(c.from.lun)!.subarray(c.from.start, c.from.start + c.length), c.to.start);
    else to.fill(0, c.to.start, c.to.start + c.length);
    this.toController({ type: 'copyDone', copyId: c.copyId });
  }

  // -------------------------------------------------------------------------------------------
  // Administration

  private admin(event: AdminEvent): void {
    const requestId = this.nextRequest++;
    const e = { ...event, requestId } as AdminEvent;
    const entry: { event: AdminEvent; versions?: Uint32Array; before?: DiskModel } = { event: e };
    if (e.type === 'snapshot') {
      entry.before = this.models.get(e.disk)?.snapshot();
      // Declared as shared from the request on: a restart may leave the snapshot made but unanswered.
      this.families.set(e.snapshot, this.families.get(e.disk) ?? e.disk);
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
    }
    if (e.type === 'migrate' && error === null) this.summary.migrations++;
    if (e.type === 'markFailed' && error === null) this.summary.errorMarkings++;
  }

  private act(action: SimAction): void {
    switch (action.type) {
      case 'hostIo':
        return this.submit(action.agent, action.disk, action.op, action.start, action.length);
      case 'snapshot':
      case 'migrate':
      case 'markFailed':
        return this.admin({ ...action, requestId: 0 } as AdminEvent);
      case 'restartAgent':
        return this.restartAgent(action.agent);
      case 'restartController':
        return this.restartController();
      case 'cutAgent': {
        const node = this.agents[action.agent];
        if (node === undefined) return;
        node.cutUntil = this.now + action.duration;
        this.record('sim', node.id, () => `cut off for ${action.duration} ms`);
        this.queue.push(node.cutUntil, { k: 'heal', agent: action.agent });
        return;
      }
    }
  }

  private restartAgent(i: number): void {
    const node = this.agents[i];
    if (node === undefined) return;
    this.summary.agentRestarts++;
    node.epoch++;
    node.state = initialAgentState({ agent: node.id, epoch: node.epoch, variant: this.variant, faultTimeout: this.tickInterval * 5 });
    this.record('sim', node.id, () => `restart (epoch ${node.epoch})`);
    // The host sees every I/O of the old life fail; writes among them may or may not have landed.
    for (const io of [...this.hostIos.values()]) if (io.agent === i) this.closeIo(io, false);
  }

  private restartController(): void {
    this.summary.controllerRestarts++;
    this.record('sim', 'controller', () => 'restart');
    for (const [id, r] of this.adminRequests) if (r.event.type !== 'createDisk' && r.event.type !== 'attachAgent') this.adminRequests.delete(id);
    this.bootController();
  }

  // -------------------------------------------------------------------------------------------
  // Host I/O

  private arrival(): void {
    const w = this.workload!;
    if (this.pendingArrivals <= 0) return;
    this.pendingArrivals--;
    const rates = w.rates ?? {};
    const disks = this.config.disks;
    if (this.rng.chance(rates.snapshot ?? 0)) {
      const src = disks[this.rng.int(disks.length)]!;
      this.act({ type: 'snapshot', disk: src.id, snapshot: `${src.id}.s${this.nextRequest}` });
    }
    if (this.rng.chance(rates.migrate ?? 0)) {
      const d = disks[this.rng.int(disks.length)]!;
      const luns = Object.keys(this.config.luns).map(Number);
      const segs = Array.from({ length: 1 + this.rng.int(4) }, () => this.rng.int(d.segmentCount));
      this.act({ type: 'migrate', disk: d.id, segments: [...new Set(segs)], lun: luns[this.rng.int(luns.length)]! });
    }
    if (this.rng.chance(rates.markFailed ?? 0)) {
      const luns = Object.entries(this.config.luns);
      const [lun, size] = luns[this.rng.int(luns.length)]!;
      this.act({ type: 'markFailed', lun: Number(lun), start: this.rng.int(size), length: 1 });
    }
    if (this.rng.chance(rates.restartAgent ?? 0)) this.act({ type: 'restartAgent', agent: this.rng.int(this.agents.length) });
    if (this.rng.chance(rates.restartController ?? 0)) this.act({ type: 'restartController' });
    if (this.rng.chance(rates.cutAgent ?? 0)) this.act({ type: 'cutAgent', agent: this.rng.int(this.agents.length), duration: 20 + this.rng.int(200) });

    const disk = disks[this.rng.int(disks.length)]!;
    const mappers = disk.agents ?? this.agents.map((_, i) => i);
    const agent = mappers[this.rng.int(mappers.length)]!;
    const blocks = disk.segmentBlocks * disk.segmentCount;
    const length = 1 + this.rng.int(Math.min(w.maxLength ?? 16, blocks));
    let start: number;
    switch (w.pattern ?? 'random') {
      case 'sequential':
        start = this.cursor % Math.max(1, blocks - length + 1);
        this.cursor += length;
        break;
      case 'hotspot':
        // Nine in ten I/Os go to the first tenth of the disk.
        start = this.rng.chance(0.9) ? this.rng.int(Math.max(1, Math.floor(blocks / 10) - length + 1)) : this.rng.int(blocks - length + 1);
        break;
      default:
        start = this.rng.int(blocks - length + 1);
    }
    const op: Op = this.rng.chance(w.readRatio ?? 0.7) ? 'read' : 'write';
    this.submit(agent, disk.id, op, start, length);
    if (this.pendingArrivals > 0) this.queue.push(this.now + this.rng.int(2 * (w.interval ?? 1) + 1), { k: 'arrival' });
  }

  private submit(agent: number, disk: DiskId, op: Op, start: number, length: number): void {
    const node = this.agents[agent];
    const model = this.models.get(disk);
    if (node === undefined || model === undefined || start < 0 || length < 1 || start + length > model.blocks) return;
    const id = this.nextIo++;
    const value = op === 'write' ? this.nextValue++ : 0;
    if (op === 'write') {
      this.summary.writes++;
      model.writeStarted(start, length);
    } else this.summary.reads++;
    const io: HostIo = { id, agent, epoch: node.epoch, disk, op, start, length, value, seen: op === 'read' ? model.readStarted(start, length) : null, data: null, model };
    this.hostIos.set(id, io);
    this.record('host', node.id, () => `${op} ${disk} ${start}+${length}${op === 'write' ? ` (value ${value})` : ''} io${id}`);
    this.toAgent(agent, { type: 'hostIo', ioId: id, disk, op, start, length });
  }

  private toAgent(i: number, event: AgentEvent): void {
    const node = this.agents[i]!;
    const [next, commands] = agentStep(node.state, event);
    node.state = next;
    for (const c of commands) this.agentCommand(i, c);
  }

  private agentCommand(i: number, c: AgentCommand): void {
    const node = this.agents[i]!;
    switch (c.type) {
      case 'send':
        if (c.message.type === 'ioFault' || c.message.type === 'markBits') {
          this.summary.faultsRaised++;
          const reason = c.message.type === 'markBits' ? 'mark' : c.message.reason;
          this.summary.faultsByReason[reason] = (this.summary.faultsByReason[reason] ?? 0) + 1;
        }
        this.transmit({ k: 'toController', msg: c.message }, i);
        return;
      case 'issueIo':
        this.record(node.id, 'storage', () => `io${c.ioId} ${c.op} ${c.pieces.map((p) => (p.kind === 'zero' ? `zero ${p.virtualStart}+${p.length}` : `${p.kind} ${p.virtualStart}+${p.length}@${p.lun}:${p.start}${p.marksAlternate === true ? ' marks' : ''}`)).join(', ')}`);
        this.queue.push(this.now + this.delay(this.config.storageDelay, [1, 4]), { k: 'agentIo', agent: i, epoch: node.epoch, ioId: c.ioId, op: c.op, pieces: c.pieces });
        return;
      case 'completeIo':
      case 'failIo': {
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
    if (ok) this.summary.iosCompleted++;
    else this.summary.iosFailed++;
    if (io.op === 'write') {
      if (ok) io.model.writeAcknowledged(io.start, io.length, io.value);
      else io.model.writeFailed(io.start, io.length);
      return;
    }
    if (!ok || io.data === null || io.seen === null) return;
    this.summary.readsChecked++;
    const bad = io.model.checkRead(io.start, io.data, io.seen);
    if (bad !== undefined)
      throw new Violated({ kind: 'read-mismatch', message: `read of ${io.disk} block ${bad.block} by ${agentName(io.agent)} returned ${bad.got}, expected ${bad.expected}` });
  }

  /** Storage performs an agent's pieces. */
  private landAgentIo(item: Item & { k: 'agentIo' }): void {
    const node = this.agents[item.agent]!;
    if (node.epoch !== item.epoch) return; // fenced: that life is gone
    const io = this.hostIos.get(item.ioId);
    if (this.rng.chance(this.faults.storageErrorRate ?? 0)) {
      this.summary.storageErrors++;
      return this.toAgent(item.agent, { type: 'ioFailed', ioId: item.ioId, error: 'injected storage error' });
    }
    if (item.op === 'write') {
      for (const p of item.pieces) {
        if (p.kind === 'zero') continue;
        if (p.kind === 'primary' && io !== undefined) this.checkFrozen(io, p);
        this.storage.get(p.lun!)!.fill(io?.value ?? 0, p.start!, p.start! + p.length);
      }
    } else if (io !== undefined) {
      const data = new Float64Array(io.length);
      for (const p of item.pieces) {
        if (p.kind === 'zero') continue;
        data.set(this.storage.get(p.lun!)!.subarray(p.start!, p.start! + p.length), p.virtualStart - io.start);
      }
      io.data = data;
    }
    this.toAgent(item.agent, { type: 'ioDone', ioId: item.ioId });
  }

  /**
   * No write may land on a frozen primary: one whose no-write flag every agent holding the disk
   * has acknowledged (acks promise that nothing issued under the old entry is still in flight).
   */
  private checkFrozen(io: HostIo, p: Piece): void {
    const d = this.controller.disks.get(io.disk);
    const frozen = this.frozenSince.get(io.disk);
    if (d === undefined || frozen === undefined || frozen.size === 0) return;
    const sb = d.committed.segmentBlocks;
    for (let seg = Math.floor(p.virtualStart / sb); seg * sb < p.virtualStart + p.length; seg++) {
      const since = frozen.get(seg);
      if (since === undefined || seg >= d.committed.segmentCount) continue;
      const e = entryAt(d.committed, seg);
      const physical = p.start! + (Math.max(seg * sb, p.virtualStart) - p.virtualStart);
      if (!e.noWrite || e.location === null || e.location.lun !== p.lun || physical < e.location.start || physical >= e.location.start + sb) continue;
      const inForce = [...d.agents, ...d.dropping].every((a) => {
        const c = this.controller.agents.get(a)?.copies.get(io.disk);
        return c === undefined || !c.mayHold || c.acked >= since;
      });
      if (inForce)
        throw new Violated({ kind: 'frozen-primary-write', message: `${agentName(io.agent)} wrote segment ${seg} of ${io.disk} at LUN ${p.lun} block ${physical}, a primary frozen since generation ${since}` });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Final checks

  /** Heals everything, lets the cluster go quiet, and checks convergence, tables and content. */
  private verify(): void {
    this.faults = {};
    for (const a of this.agents) a.cutUntil = -1;
    const quiet = () => {
      const c = this.controller;
      if (c.jobs.size > 0 || c.persist !== null || this.hostIos.size > 0) return false;
      for (const [disk, d] of c.disks) {
        for (const node of this.agents) {
          const t = agentTable(node.state, disk);
          if (t !== undefined && t.generation !== d.committed.generation) return false;
        }
      }
      return true;
    };
    this.runUntil(quiet, 500_000);
    if (!quiet()) throw new Violated({ kind: 'no-convergence', message: 'the cluster never went quiet' });
    const c = this.controller;
    for (const [disk, d] of c.disks) {
      for (const node of this.agents) {
        const t = agentTable(node.state, disk);
        if (t === undefined) continue;
        const diff = diffTables(t, d.committed);
        if (diff.length > 0) throw new Violated({ kind: 'no-convergence', message: `${node.id}'s table of ${disk} differs from the controller's at segments ${diff.slice(0, 5).join(', ')}` });
      }
    }
    const tables = new Map([...c.disks].map(([disk, d]) => [disk, d.committed]));
    const families = new Map<DiskId, DiskId[]>();
    for (const disk of tables.keys()) {
      const f = this.families.get(disk) ?? disk;
      families.set(f, [...(families.get(f) ?? []), disk]);
    }
    const report = checkTables(tables, { lunSizes: this.config.luns, sharing: [...families.values()] });
    const bad = report.findings.find((f: Finding) => f.severity !== 'info');
    if (bad !== undefined) throw new Violated({ kind: 'table-check', message: `${bad.code}: ${bad.message}` });
    // Every block of every disk reads back as the model says, through the controller's tables.
    for (const [disk, d] of c.disks) {
      const model = this.models.get(disk) ?? this.snapshotImages.get(disk);
      if (model === undefined) continue;
      const kind = this.models.has(disk) ? 'lost-write' : 'snapshot-changed';
      const table = d.committed;
      for (let seg = 0; seg < table.segmentCount; seg++) {
        const pieces = translate(table, { op: 'read', start: seg * table.segmentBlocks, length: table.segmentBlocks });
        if (E.isLeft(pieces)) continue; // error-marked segments cannot be read back
        for (const p of pieces.right)
          for (let i = 0; i < p.length; i++) {
            const b = p.virtualStart + i;
            if (!model.isCertain(b)) continue;
            const got = p.kind === 'zero' ? 0 : this.storage.get(p.lun!)![p.start! + i]!;
            if (got !== model.values[b]) throw new Violated({ kind, message: `${disk} block ${b} holds ${got}, expected ${model.values[b]}` });
          }
      }
    }
  }
}

const unwrapOr = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`simulator: ${JSON.stringify(e.left).slice(0, 300)}`);
  return e.right;
};

const describeAgentMessage = (m: AgentMessage): string => {
  switch (m.type) {
    case 'ioFault':
      return `ioFault #${m.faultId} ${m.op} seg ${m.segment} (${m.reason}) g${m.generation}`;
    case 'markBits':
      return `markBits #${m.faultId} seg ${m.segment} g${m.generation}`;
    case 'tableAck':
      return `tableAck ${m.disk} g${m.generation}`;
    case 'fetchTable':
      return `fetchTable ${m.disk} from g${m.generation}`;
    case 'dropped':
      return `dropped ${m.disk}`;
  }
};

const describeControllerMessage = (m: ControllerMessage): string => {
  switch (m.type) {
    case 'setEntries':
      return `setEntries ${m.disk} g${m.fromGeneration}->g${m.generation} (${m.changes.length} entries)`;
    case 'replaceTable':
      return `replaceTable ${m.disk} g${m.table.generation}`;
    case 'refreshTable':
      return `refreshTable ${m.disk} to g${m.generation}`;
    case 'retry':
    case 'confirmMark':
      return `${m.type} #${m.faultId}`;
    case 'failIo':
      return `failIo #${m.faultId}: ${m.reason}`;
    case 'dropTable':
      return `dropTable ${m.disk}`;
  }
};

const describeRecord = (r: PersistRecord): string =>
  r.type === 'updateTable' ? `${r.disk} g${r.fromGeneration}->g${r.generation}` : r.type === 'saveTable' ? `${r.disk} (new)` : `${r.type} ${r.disk}`;

/**
 * Builds a simulated cluster from a plain configuration: creates the disks (all `zero`, thin)
 * and attaches the agents through the controller itself.
 *
 * @example
 * const result = createCluster({ seed: 7, agents: 3, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 32 }], luns: { 1: 2048, 2: 2048 } })
 *   .run({ ios: 1000, rates: { restartAgent: 0.01 } });
 */
export const createCluster = (config: SimConfig): Cluster => new Cluster(config);
