/**
 * The host side of a simulation: the random workload generator (host I/O and the random admin
 * actions, restarts and partitions that go with it) and the record of a host I/O in flight.
 */
import type { Prng } from '../adapters/prng.js';
import type { HostOp } from '../agent/types.js';
import type { DiskId } from '../protocol/messages.js';
import { diskBlocks, type SimAction, type SimConfig, type Workload } from './config.js';
import type { DiskModel } from './disk-model.js';
import { segmentLengthAt, segmentStartAt } from '../table/segments.js';
import type { MappingTable } from '../table/table.js';
import type { DurabilityModel, TrackedWrite } from './durability-model.js';

/** A host I/O the workload asks an agent for. */
export interface HostIoRequest {
  readonly agent: number;
  readonly disk: DiskId;
  readonly op: HostOp;
  readonly start: number;
  readonly length: number;
  /** A host flush of the disk instead (docs/design.md#ordering-rules). */
  readonly flush?: true;
  /** A FUA write. */
  readonly fua?: true;
}

/** A host I/O in flight, with what is needed to check it when it ends. */
export interface HostIo extends HostIoRequest {
  readonly id: number;
  /** Simulated time it was submitted. */
  readonly submittedAt: number;
  /** The life of the agent it was issued to. */
  readonly epoch: number;
  /** The value a write writes to every block (0 for reads, discards and write-zeroes). */
  readonly value: number;
  /** For reads: what the model allowed at submission (see {@link DiskModel.readStarted}). */
  readonly seen: Uint32Array | null;
  /** For reads: what storage returned. */
  data: Float64Array | null;
  /** Disk content model this I/O is checked against (the disk's at submission). */
  readonly model: DiskModel;
  /** A write: its record in the durability model (the disk's at submission), and whether it is FUA. */
  tracked?: TrackedWrite;
  durable?: DurabilityModel;
  fua?: true;
}

/**
 * Draws a {@link Workload}'s host I/Os and random actions from the run's PRNG. The order of the
 * draws is part of a run's identity: changing it changes every seed's run.
 */
export class WorkloadGenerator {
  /** Where the next sequential I/O starts. */
  private cursor = 0;

  constructor(
    private readonly config: SimConfig,
    private readonly workload: Workload,
    private readonly rng: Prng,
    private readonly agentCount: number,
    /** The agents attached to a disk now (indexes), for the attachment actions and the host I/O that follows them. */
    private readonly attachedTo: (disk: DiskId) => ReadonlyArray<number> = () => [],
    /** Whether an agent stays attached to a disk other than `disk` whatever happens to this one (see `detachAgent`). */
    private readonly anchoredElsewhere: (agent: number, disk: DiskId) => boolean = () => false,
  ) {}

  /** Whether the workload changes attachments: host I/O then follows them (else the configuration's, as runs always did). */
  private get attaching(): boolean {
    const rates = this.workload.rates ?? {};
    return (rates.attachAgent ?? 0) > 0 || (rates.detachAgent ?? 0) > 0;
  }

  /**
   * Draws the random actions that go with one host I/O, handing each to `act` as it is drawn
   * (acting draws from the same PRNG). `nextRequestId` names a new snapshot after the admin
   * request that will make it; `snapshots` lists the snapshots that exist now, of one family
   * when given a disk (for deletions and rollbacks). Actions whose rate is 0 draw nothing, so
   * adding one leaves older runs as they were.
   */
  drawActions(
    act: (action: SimAction) => void,
    nextRequestId: () => number,
    snapshots: (family?: DiskId) => ReadonlyArray<DiskId> = () => [],
    tableOf: (disk: DiskId) => MappingTable | undefined = () => undefined,
  ): void {
    const rates = this.workload.rates ?? {};
    const disks = this.config.disks;
    const rng = this.rng;
    if (rng.chance(rates.snapshot ?? 0)) {
      const src = disks[rng.int(disks.length)]!;
      act({ type: 'snapshot', disk: src.id, snapshot: `${src.id}.s${nextRequestId()}` });
    }
    if (rng.chance(rates.migrate ?? 0)) {
      const d = disks[rng.int(disks.length)]!;
      const luns = Object.keys(this.config.luns).map(Number);
      const segs = Array.from({ length: 1 + rng.int(4) }, () => rng.int(d.segmentCount));
      act({ type: 'migrate', disk: d.id, segments: [...new Set(segs)], lun: luns[rng.int(luns.length)]! });
    }
    if (rng.chance(rates.markFailed ?? 0)) {
      const luns = Object.entries(this.config.luns);
      const [lun, size] = luns[rng.int(luns.length)]!;
      act({ type: 'markFailed', lun: Number(lun), start: rng.int(size), length: 1 });
    }
    if (rng.chance(rates.restartAgent ?? 0)) act({ type: 'restartAgent', agent: rng.int(this.agentCount) });
    if (rng.chance(rates.restartController ?? 0)) act({ type: 'restartController' });
    if (rng.chance(rates.cutAgent ?? 0)) act({ type: 'cutAgent', agent: rng.int(this.agentCount), duration: 20 + rng.int(200) });
    // --- deletion and rollback ---
    if ((rates.deleteDisk ?? 0) > 0 && rng.chance(rates.deleteDisk!)) {
      // Mostly snapshots; sometimes a disk of the configuration (its snapshots live on).
      const snaps = snapshots();
      const disk = snaps.length > 0 && rng.chance(0.8) ? snaps[rng.int(snaps.length)]! : disks[rng.int(disks.length)]!.id;
      act({ type: 'deleteDisk', disk, force: true });
    }
    if ((rates.rollback ?? 0) > 0 && rng.chance(rates.rollback!)) {
      const d = disks[rng.int(disks.length)]!;
      const snaps = snapshots(d.id);
      if (snaps.length > 0) act({ type: 'rollback', disk: d.id, snapshot: snaps[rng.int(snaps.length)]! });
    }
    // Segment bounds: drawn only when asked for, so that runs without them replay as before.
    if ((rates.resize ?? 0) > 0 && rng.chance(rates.resize!)) this.drawResize(act, tableOf);
    if ((rates.splitSegment ?? 0) > 0 && rng.chance(rates.splitSegment!)) {
      const d = disks[rng.int(disks.length)]!;
      const t = tableOf(d.id);
      if (t !== undefined && t.segmentCount > 0) {
        const segment = rng.int(t.segmentCount);
        const length = segmentLengthAt(t, segment);
        if (length > 1) act({ type: 'splitSegment', disk: d.id, segment, at: 1 + rng.int(length - 1) });
      }
    }
    if ((rates.mergeSegments ?? 0) > 0 && rng.chance(rates.mergeSegments!)) {
      const d = disks[rng.int(disks.length)]!;
      const t = tableOf(d.id);
      if (t !== undefined && t.segmentCount > 1) act({ type: 'mergeSegments', disk: d.id, segment: rng.int(t.segmentCount - 1) });
    }
    // Durability: drawn only when asked for, so that runs without them replay as before.
    if (rng.chance(rates.storagePowerLoss ?? 0)) act({ type: 'powerLoss', target: 'storage' });
    if (rng.chance(rates.controllerPowerLoss ?? 0)) act({ type: 'powerLoss', target: 'controller' });
    if (rng.chance(rates.agentPowerLoss ?? 0)) act({ type: 'powerLoss', target: 'agent', agent: rng.int(this.agentCount) });
    // What real clusters do besides (docs/design.md#leases-and-liveness); drawn only when asked for.
    const lease = this.config.lease === undefined ? 2000 : (this.config.lease?.duration ?? 2000);
    if (rng.chance(rates.loseAgent ?? 0)) act({ type: 'loseAgent', agent: rng.int(this.agentCount) });
    if (rng.chance(rates.pauseAgent ?? 0)) act({ type: 'pause', target: 'agent', agent: rng.int(this.agentCount), duration: 50 + rng.int(2 * lease) });
    if (rng.chance(rates.pauseController ?? 0)) act({ type: 'pause', target: 'controller', duration: 50 + rng.int(2 * lease) });
    if (rng.chance(rates.reuseEpoch ?? 0)) act({ type: 'reuseEpoch', agent: rng.int(this.agentCount), earlier: rng.chance(0.5), duration: 100 + rng.int(400) });
    // Attachments of a live disk: drawn only when asked for, so that runs without them replay as before.
    if ((rates.attachAgent ?? 0) > 0 && rng.chance(rates.attachAgent!)) {
      const d = disks[rng.int(disks.length)]!;
      const attached = this.attachedTo(d.id);
      const free = Array.from({ length: this.agentCount }, (_, i) => i).filter((i) => !attached.includes(i));
      if (free.length > 0) act({ type: 'attachAgent', disk: d.id, agent: free[rng.int(free.length)]! });
    }
    if ((rates.detachAgent ?? 0) > 0 && rng.chance(rates.detachAgent!)) {
      const d = disks[rng.int(disks.length)]!;
      const attached = this.attachedTo(d.id);
      // Never the disk's last agent, nor an agent's last disk: a restarted controller knows only
      // the agents its store lists, and grants no lease to one attached to nothing, so host I/O
      // still parked on such an agent would wait for ever (not a property of the join rule).
      const elsewhere = attached.filter((i) => this.anchoredElsewhere(i, d.id));
      if (attached.length > 1 && elsewhere.length > 0) act({ type: 'detachAgent', disk: d.id, agent: elsewhere[rng.int(elsewhere.length)]! });
    }
  }

  /**
   * A resize that keeps the configured blocks: 1 to 3 segments past them, or back down to any
   * count that still covers them (host I/O and the content models keep the configured size).
   */
  private drawResize(act: (action: SimAction) => void, tableOf: (disk: DiskId) => MappingTable | undefined): void {
    const rng = this.rng;
    const d = this.config.disks[rng.int(this.config.disks.length)]!;
    const t = tableOf(d.id);
    if (t === undefined) return;
    const blocks = diskBlocks(d);
    let covering = 0; // the fewest segments that cover the configured blocks
    while (covering < t.segmentCount && segmentStartAt(t, covering) < blocks) covering++;
    const grow = covering === t.segmentCount || rng.chance(0.5);
    if (!grow) return act({ type: 'resize', disk: d.id, segmentCount: covering + rng.int(t.segmentCount - covering) });
    const segmentCount = t.segmentCount + 1 + rng.int(3);
    if (t.segmentStarts === null) return act({ type: 'resize', disk: d.id, segmentCount });
    act({ type: 'resize', disk: d.id, segmentCount, segmentLength: 1 + rng.int(Math.max(1, ...(d.segmentLengths ?? [d.segmentBlocks]))) });
  }

  /** Draws the next host I/O: a disk, one of its agents, an extent by the workload's pattern, and read or write. */
  drawHostIo(): HostIoRequest {
    const w = this.workload;
    const rng = this.rng;
    const disks = this.config.disks;
    const disk = disks[rng.int(disks.length)]!;
    const now = this.attaching ? this.attachedTo(disk.id) : [];
    const mappers = now.length > 0 ? now : (disk.agents ?? Array.from({ length: this.agentCount }, (_, i) => i));
    const agent = mappers[rng.int(mappers.length)]!;
    const blocks = diskBlocks(disk);
    const length = 1 + rng.int(Math.min(w.maxLength ?? 16, blocks));
    let start: number;
    switch (w.pattern ?? 'random') {
      case 'sequential':
        start = this.cursor % Math.max(1, blocks - length + 1);
        this.cursor += length;
        break;
      case 'hotspot':
        // Nine in ten I/Os go to the first tenth of the disk.
        start = rng.chance(0.9) ? rng.int(Math.max(1, Math.floor(blocks / 10) - length + 1)) : rng.int(blocks - length + 1);
        break;
      default:
        start = rng.int(blocks - length + 1);
    }
    let op: HostOp = rng.chance(w.readRatio ?? 0.7) ? 'read' : 'write';
    if (op === 'write' && (w.zeroRatio ?? 0) > 0 && rng.chance(w.zeroRatio!)) {
      // A discard or write-zeroes: up to four segments, so whole segments are covered too.
      op = 'zero';
      const zeroLength = 1 + rng.int(Math.min(4 * (disk.segmentBlocks || Math.max(...disk.segmentLengths!)), blocks));
      return { agent, disk: disk.id, op, start: rng.int(blocks - zeroLength + 1), length: zeroLength };
    }
    // Durability: drawn only when asked for, so that runs without them replay as before.
    if (rng.chance(w.flushRatio ?? 0)) return { agent, disk: disk.id, op, start, length, flush: true };
    if (op === 'write' && rng.chance(w.fuaRatio ?? 0)) return { agent, disk: disk.id, op, start, length, fua: true };
    return { agent, disk: disk.id, op, start, length };
  }

  /** Draws the time to the next host I/O. */
  drawInterval(): number {
    return this.rng.int(2 * (this.workload.interval ?? 1) + 1);
  }
}
