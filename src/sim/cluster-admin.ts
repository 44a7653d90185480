/**
 * Administration in the simulated cluster: admin requests and their answers (snapshots,
 * deletions, rollbacks) as the disk models see them, and scripted workload actions.
 */
import type { AdminEvent } from '../controller/types.js';
import type { DiskId } from '../protocol/messages.js';
import { agentName } from './checkers.js';
import { createDiskRequest, diskBlocks, type SimAction } from './config.js';
import { DiskModel } from './disk-model.js';
import { DurabilityModel } from './durability-model.js';
import { isSetup, type AdminRequest } from './cluster-core.js';
import { ClusterHostIo } from './host-io.js';

/** The cluster with administration: admin requests, their answers, and scripted actions. */
export abstract class ClusterAdmin extends ClusterHostIo {
  // -------------------------------------------------------------------------------------------
  // Administration and scripted actions

  /** An admin request; `workload`: asked by the workload (an attachment it counts), not by the setup. */
  protected admin(event: AdminEvent, workload = false): void {
    const requestId = this.nextRequest++;
    const e = { ...event, requestId } as AdminEvent;
    const entry: AdminRequest = workload ? { event: e, workload } : { event: e };
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
      // From the request on, a power loss may find the rollback's record durable.
      this.durability.get(e.disk)?.allowRollbackTo(this.durability.get(e.snapshot) ?? null);
    }
    this.adminRequests.set(requestId, entry);
    this.record('admin', 'controller', () => ('disk' in e ? `${e.type} ${e.disk}` : e.type));
    const life = this.controllerLife;
    this.toController(e);
    // The same request delivered again (a client's retry, a duplicating network): it must be answered once, done once.
    if (!isSetup(e) && this.world.rng.chance(this.world.faults.duplicateAdminRate ?? 0)) {
      this.world.inject('duplicateAdmin');
      this.world.queue.push(this.world.now + this.world.rng.int(20), { kind: 'adminDuplicate', life, event: e });
    }
  }

  protected adminDone(requestId: number, error: string | null): void {
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
    if (e.type === 'resize' && error === null) this.summary.resizes++;
    if (e.type === 'splitSegment' && error === null) this.summary.splits++;
    if (e.type === 'mergeSegments' && error === null) this.summary.merges++;
    if (e.type === 'attachAgent' && error === null && req.workload === true) this.summary.attaches++;
    if (e.type === 'detachAgent' && error === null) this.summary.detaches++;
  }

  /**
   * Whether the store lists `agent` as attached to a disk other than `disk` that no detach asked
   * for yet may take it from: it then stays known to a restarted controller.
   */
  protected anchoredElsewhere(agent: number, disk: DiskId): boolean {
    const name = agentName(agent);
    const leaving = (other: DiskId): boolean => [...this.adminRequests.values()].some((r) => r.event.type === 'detachAgent' && r.event.disk === other && r.event.agent === name);
    for (const [other, agents] of this.world.store.attachments) if (other !== disk && agents.includes(name) && !leaving(other)) return true;
    return false;
  }

  /** The agents (indexes) the controller has attached to `disk` now. */
  protected attachedTo(disk: DiskId): number[] {
    const out: number[] = [];
    for (const name of this.controller.disks.get(disk)?.agents ?? []) {
      const i = this.agentIndex.get(name);
      if (i !== undefined) out.push(i);
    }
    return out;
  }

  /**
   * A rollback ended: done (the model takes the snapshot's image; a snapshot the run does not
   * model leaves every block unknown), refused, or cut short by a restart (unknown either way).
   */
  protected rollbackDone(req: AdminRequest, done: boolean | 'unknown'): void {
    const e = req.event;
    const model = req.model;
    if (e.type !== 'rollback' || req.seen === undefined || model === undefined) return;
    if (done === false) return model.rollbackEnded();
    if (done === true) this.summary.rollbacks++;
    const image = done === true ? (this.snapshotImages.get(e.snapshot) ?? this.models.get(e.snapshot)) : undefined;
    model.rolledBack(image ?? new DiskModel(0), req.seen);
  }

  /**
   * A disk or snapshot is gone: a snapshot's image is forgotten; a disk of the configuration is
   * created again, empty, with new models of its content and of what a power loss may leave: the
   * guarantees flushes gave the old disk say nothing of the new one.
   */
  protected deleted(disk: DiskId): void {
    this.summary.deletions++;
    this.snapshotImages.delete(disk);
    this.durability.delete(disk);
    const config = this.config.disks.find((d) => d.id === disk);
    if (config === undefined) return;
    this.models.get(disk)?.forgetAll();
    const blocks = diskBlocks(config);
    const model = new DiskModel(blocks);
    const durable = new DurabilityModel(blocks);
    this.models.set(disk, model);
    this.durability.set(disk, durable);
    // Host I/O still open was issued to the old disk and may be served by the new one: its
    // writes may land on either, so they leave the new disk's blocks unknown, and possible after
    // a power loss without ever being guaranteed there.
    for (const io of this.hostIos.values())
      if (io.disk === disk && io.op !== 'read') {
        model.writeStarted(io.start, io.length);
        this.crossing.set(io.id, { model, durable, tracked: durable.writeStarted(io.start, io.length, io.value, ++this.seq) });
      }
    this.admin(createDiskRequest(config, disk));
    for (const a of config.agents ?? this.agents.map((_, i) => i)) this.admin({ type: 'attachAgent', requestId: 0, disk, agent: agentName(a) });
  }

  /** The snapshots that exist now, in creation order (of `family` only, when given). */
  protected snapshots(family?: DiskId): DiskId[] {
    return [...this.snapshotImages.keys()].filter((d) => this.controller.disks.has(d) && (family === undefined || this.families.get(d) === family));
  }

  protected act(action: SimAction): void {
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
      case 'resize':
      case 'splitSegment':
      case 'mergeSegments':
        return this.admin({ ...action, requestId: 0 } as AdminEvent);
      case 'attachAgent':
      case 'detachAgent':
        if (this.agents[action.agent] === undefined) return;
        return this.admin({ type: action.type, requestId: 0, disk: action.disk, agent: agentName(action.agent) }, true);
      case 'restartAgent':
        return this.restartAgent(action.agent);
      case 'restartController':
        return this.restartController();
      case 'isolateController':
        this.world.inject('isolateController');
        for (let i = 0; i < this.agents.length; i++) this.act({ type: 'cutAgent', agent: i, duration: action.duration });
        return;
      case 'powerLoss':
        return this.powerLoss(action.target, action.agent ?? 0);
      case 'loseAgent':
        return this.loseAgent(action.agent);
      case 'pause':
        return this.pause(action.target === 'controller' ? -1 : (action.agent ?? 0), action.duration);
      case 'reuseEpoch':
        return this.reuseEpoch(action.agent, action.earlier === true, action.duration ?? 300);
      case 'crashController':
        this.armedCrash = action.at;
        return;
      case 'cutAgent': {
        const node = this.agents[action.agent];
        if (node === undefined) return;
        node.cutUntil = this.world.now + action.duration;
        node.cutDirection = action.direction ?? 'both';
        // The liveness checker: the cut is a fault for everyone when it starts, and for the cut
        // agent's own I/O until it heals.
        this.world.inject('cut');
        this.cutEnds[action.agent] = Math.max(this.cutEnds[action.agent] ?? 0, node.cutUntil);
        this.record('sim', node.id, () => `cut off for ${action.duration} ms${node.cutDirection === 'both' ? '' : ` (${node.cutDirection} only)`}`);
        this.world.queue.push(node.cutUntil, { kind: 'heal', agent: action.agent });
        return;
      }
    }
  }

}
