/**
 * A deterministic cluster simulator: one controller, N agents, disks, LUNs, a network, storage
 * and a persistence store, all driven by one seeded, single-threaded agenda. The same seed and
 * inputs give the same run, bit for bit.
 *
 * It steps the pure machines directly (no promises, no real time), injects faults, and checks
 * the protocol's properties after every step, stopping at the first violation. The world they
 * live in is world.ts, the host workload workload.ts, the properties checkers.ts.
 */
import type { AgentState } from '../agent/types.js';
import type { ControllerState } from '../controller/types.js';
import { checkAllocation, checkContent, checkDurability, checkConvergence, checkFinalTables, checkFreeReferenced, isQuiet } from './checkers.js';
import { workloadErrors, type SimConfig, type SimResult, type Workload } from './config.js';
import { WorkloadGenerator } from './workload.js';
import { Violated, fail, type SimMachines } from './cluster-core.js';
import { ClusterFaults } from './cluster-faults.js';
export { defaultLivenessBound, type SimMachines } from './cluster-core.js';

/**
 * A simulated cluster. Build with {@link createCluster}; run a workload with `run`.
 *
 * @example
 * const cluster = createCluster({ seed: 1, agents: 2, disks: [{ id: 'd0', segmentBlocks: 8, segmentCount: 64 }], luns: { 1: 4096 } });
 * const result = cluster.run({ ios: 500 });
 * result.violation // null when every property held
 */
export class Cluster extends ClusterFaults {
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
    this.generator = new WorkloadGenerator(this.config, workload, world.rng, this.agents.length, (disk) => this.attachedTo(disk), (agent, disk) => this.anchoredElsewhere(agent, disk));
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

  // -------------------------------------------------------------------------------------------
  // Final checks

  /** Heals everything, lets the cluster go quiet, and checks convergence, tables and content. */
  protected verify(): void {
    this.world.faults = {};
    // Lost agents stay lost: the rest of the cluster must converge without them.
    const alive = this.agents.filter((a) => !a.lost);
    for (const a of alive) a.cutUntil = -1;
    const quiet = (): boolean => isQuiet(this.controller, alive, this.hostIos.size + this.hostFlushes.size);
    this.runUntil(quiet, 500_000);
    if (!quiet()) throw new Violated({ kind: 'no-convergence', message: 'the cluster never went quiet' });
    fail(checkConvergence(this.controller, alive));
    fail(checkFinalTables(this.controller, this.families, this.config.luns));
    fail(checkFreeReferenced(this.controller));
    // Every block of every disk reads back as the model says, through the controller's tables.
    fail(checkContent(this.controller, this.models, this.snapshotImages, this.world.blocks));
    fail(checkDurability(new Map([...this.controller.disks].map(([disk, d]) => [disk, d.committed])), this.durability, this.world.blocks, 'at the end of the run'));
    fail(checkAllocation(this.controller));
  }
}

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
