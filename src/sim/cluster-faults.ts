/**
 * Faults in the simulated cluster: agent and controller restarts, flushes reaching storage, and
 * power loss (docs/design.md#ordering-rules).
 */
import { agentEpoch, agentTable, initialAgentState } from '../agent/agent.js';
import type { AgentState } from '../agent/types.js';
import type { AdminEvent } from '../controller/types.js';
import type { AgentId, DiskId } from '../protocol/messages.js';
import { agentName, checkAllocation, checkDurability, checkStoredTables } from './checkers.js';
import type { WorldEvent } from './world.js';
import { fail, isSetup, type AdminRequest } from './cluster-core.js';
import { ClusterAdmin } from './cluster-admin.js';

/** The cluster with faults: restarts, flushes reaching storage, and power loss. */
export abstract class ClusterFaults extends ClusterAdmin {
  /**
   * Rollbacks a controller restart left unanswered, with the disk's generation at the restore:
   * the restarted controller still brings the agents to it, so the rollback may take effect
   * until every agent's copy has reached it. Until then every block stays as if being written.
   */
  // Declared, not initialized: the cluster's constructor already runs events (the setup).
  private declare unsettledRollbacks: { readonly req: AdminRequest; readonly disk: DiskId; readonly generation: number }[] | undefined;

  protected override process(event: WorldEvent): void {
    super.process(event);
    if (event.kind === 'tick' && (this.unsettledRollbacks?.length ?? 0) > 0) this.settleRollbacks();
  }

  /** Ends each unanswered rollback once no agent holds a copy of its disk older than the restore (its outcome unknown). */
  private settleRollbacks(): void {
    const unsettled = this.unsettledRollbacks!;
    for (let k = unsettled.length - 1; k >= 0; k--) {
      const { req, disk, generation } = unsettled[k]!;
      const behind = this.models.get(disk) === req.model && this.agents.some((node) => (agentTable(node.state, disk)?.generation ?? generation) < generation);
      if (behind) continue;
      unsettled.splice(k, 1);
      this.rollbackDone(req, 'unknown');
    }
  }

  protected freshAgent(agent: AgentId, epoch: number): AgentState {
    const lease = this.lease;
    return initialAgentState({ agent, epoch, variant: this.variant, faultTimeout: this.tickInterval * 5, ...(lease === null ? {} : { leaseDuration: lease.duration }) });
  }

  /**
   * A new life of agent `i`. `node.epoch` numbers its lives (fencing their storage I/O); the
   * epoch it announces is the same, above every epoch it used, unless `reused` gives one it
   * already used (`reuseEpoch`).
   */
  protected restartAgent(i: number, reused?: number): void {
    const node = this.agents[i];
    if (node === undefined || node.lost) return;
    this.summary.agentRestarts++;
    this.world.noteFault();
    const life = node.epoch;
    // Above every epoch the agent used, evictions included.
    node.epoch = Math.max(node.epoch, agentEpoch(node.state)) + 1;
    node.state = this.freshAgent(node.id, reused ?? node.epoch);
    // A restart ends a pause: what waited for the old process is gone with it.
    node.pausedUntil = -1;
    node.inbox = [];
    this.record('sim', node.id, () => `restart (epoch ${reused ?? node.epoch}${reused === undefined ? '' : ', reused'})`);
    this.endLife(i, life);
  }

  /** The host sees every I/O of agent `i`'s life `life` (the one that just ended) fail. */
  private endLife(i: number, life: number): void {
    const node = this.agents[i]!;
    // The host sees every I/O of the old life fail; writes among them may or may not have landed.
    for (const io of [...this.hostIos.values()]) if (io.agent === i) this.closeIo(io, false);
    // Its flushes fail too, and what it wrote but never flushed is guaranteed by nobody.
    for (const [id, f] of [...this.hostFlushes]) if (f.agent === i) this.hostFlushes.delete(id);
    for (const m of this.durability.values()) m.forgetWriter(`${node.id}#${life}`);
  }

  /** Agent `i` dies for good: never the last one alive. Its storage I/O in flight never lands (fenced). */
  protected loseAgent(i: number): void {
    const node = this.agents[i];
    if (node === undefined || node.lost || this.agents.filter((a) => !a.lost).length <= 1) return;
    this.world.inject('agentLost');
    this.record('sim', node.id, () => 'lost for good');
    const life = node.epoch;
    node.epoch = Math.max(node.epoch, agentEpoch(node.state)) + 1;
    node.lost = true;
    node.cutUntil = Infinity;
    node.inbox = [];
    this.endLife(i, life);
  }

  /** Agent `i` restarts with an epoch it already used; after `duration` ms it is restarted properly. */
  protected reuseEpoch(i: number, earlier: boolean, duration: number): void {
    const node = this.agents[i];
    if (node === undefined || node.lost) return;
    const current = agentEpoch(node.state);
    const epoch = earlier && current > 1 ? 1 + this.world.rng.int(current - 1) : current;
    this.world.inject('epochReuse', this.world.now + duration);
    this.restartAgent(i, epoch);
    this.pendingActions++;
    this.world.queue.push(this.world.now + duration, { kind: 'action', action: { type: 'restartAgent', agent: i } });
  }

  /** The controller (`agent` -1) or agent `agent` stops stepping for `duration` ms. */
  protected pause(agent: number, duration: number): void {
    const until = this.world.now + duration;
    if (agent < 0) {
      this.world.inject('controllerPause', until);
      this.controllerPausedUntil = Math.max(this.controllerPausedUntil, until);
      this.record('sim', 'controller', () => `paused for ${duration} ms`);
      this.world.queue.push(this.controllerPausedUntil, { kind: 'resume', agent: -1, life: this.controllerLife });
      return;
    }
    const node = this.agents[agent];
    if (node === undefined || node.lost) return;
    // Like a partition: a fault for everyone when it starts, and for its own I/O until it ends.
    this.world.inject('agentPause');
    this.cutEnds[agent] = Math.max(this.cutEnds[agent] ?? 0, until);
    node.pausedUntil = Math.max(node.pausedUntil, until);
    this.record('sim', node.id, () => `paused for ${duration} ms`);
    this.world.queue.push(node.pausedUntil, { kind: 'resume', agent, life: node.epoch });
  }

  /**
   * A paused process steps again: it reads its clock first (a tick, as a runtime does before
   * handling anything after a stall), then handles what waited, in order.
   */
  protected resume(agent: number, life: number): void {
    const now = this.world.now;
    if (agent < 0) {
      if (life !== this.controllerLife || this.controllerPausedUntil > now || this.controllerPausedUntil < 0) return;
      this.controllerPausedUntil = -1;
      const inbox = this.controllerInbox;
      this.controllerInbox = [];
      this.toController({ type: 'tick', now });
      for (const e of inbox) this.toController(e);
      return;
    }
    const node = this.agents[agent]!;
    if (life !== node.epoch || node.lost || node.pausedUntil > now || node.pausedUntil < 0) return;
    node.pausedUntil = -1;
    const inbox = node.inbox;
    node.inbox = [];
    this.toAgent(agent, { type: 'tick', now: this.agentNow(agent) });
    for (const e of inbox) this.toAgent(agent, e);
  }

  protected restartController(): void {
    this.summary.controllerRestarts++;
    // A crash ends a pause: what waited for the old process is gone with it.
    this.controllerPausedUntil = -1;
    this.controllerInbox = [];
    this.world.noteFault();
    this.record('sim', 'controller', () => 'restart');
    const interrupted: DiskId[] = [];
    const setup: AdminEvent[] = [];
    const rollbacks: AdminRequest[] = [];
    for (const [id, r] of this.adminRequests) {
      // Setup requests of the first boot are answered before any restart; later ones (a disk
      // created again after a deletion) are asked again of the new controller.
      if (isSetup(r.event)) setup.push(r.event);
      else if (r.event.type === 'deleteDisk') interrupted.push(r.event.disk);
      else if (r.event.type === 'rollback') rollbacks.push(r);
      this.adminRequests.delete(id);
    }
    this.bootController();
    for (const r of rollbacks) {
      const disk = r.event.type === 'rollback' ? r.event.disk : '';
      (this.unsettledRollbacks ??= []).push({ req: r, disk, generation: this.controller.disks.get(disk)?.committed.generation ?? -1 });
    }
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
  // Durability: flushes and power loss (docs/design.md#ordering-rules)

  /** A flush reaches storage: it fails if storage lost power since it was issued, or lost the issuer's unflushed writes. */
  protected landFlush(event: Extract<WorldEvent, { kind: 'flush' }>): void {
    const world = this.world;
    const fromController = event.agent < 0;
    if (fromController ? event.life !== this.controllerLife : this.agents[event.agent]!.epoch !== event.life) return; // fenced
    const issuer = fromController ? `controller#${event.life}` : `${this.agents[event.agent]!.id}#${event.life}`;
    const ok = event.storage === world.storageEpoch && event.aborted !== true && !world.storageFails() && world.blocks.flush(issuer, event.luns);
    const error = 'storage could not vouch for the writes';
    if (fromController) this.toController(ok ? { type: 'flushed', flushId: event.flushId } : { type: 'flushFailed', flushId: event.flushId, error });
    else this.toAgent(event.agent, ok ? { type: 'flushDone', flushId: event.flushId } : { type: 'flushFailed', flushId: event.flushId, error });
  }

  protected powerLoss(target: 'storage' | 'controller' | 'agent', agent: number): void {
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

}
