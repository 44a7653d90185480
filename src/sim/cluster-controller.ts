/**
 * The controller side of the simulated cluster: booting the controller, stepping it, and carrying
 * out its commands (persist, send, copy, flush) against the simulated world.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createAllocator } from '../controller/allocator.js';
import { initialControllerState } from '../controller/controller.js';
import type { ControllerCommand, ControllerEvent } from '../controller/types.js';
import { describeRecord } from './labels.js';
import type { CopyCommand, WorldEvent } from './world.js';
import { ClusterCore } from './cluster-core.js';

/** The cluster with its controller side: booting, stepping and carrying out commands. */
export abstract class ClusterControllerSide extends ClusterCore {
  // -------------------------------------------------------------------------------------------
  // Controller

  protected bootController(): void {
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

  protected toController(event: ControllerEvent): void {
    if (this.controllerPausedUntil > this.world.now && event.type !== 'restored') {
      // A paused process: time goes on (its ticks are simply late), everything else waits.
      if (event.type !== 'tick') this.controllerInbox.push(event);
      return;
    }
    const before = this.controller;
    const [next, commands] = this.stepController(this.controller, event);
    this.controller = next;
    if (event.type === 'persisted') this.frozen.noteCommits(before, next);
    const crashAt = event.type === 'persisted' ? this.crashPoint(commands) : null;
    for (let k = 0; k < commands.length; k++) {
      if (crashAt !== null && k === crashAt.index) {
        // The store holds the change; some agents (or none) were told of it.
        this.world.inject(crashAt.kind);
        this.record('sim', 'controller', () => `crash ${crashAt.kind === 'crashBeforeFanOut' ? 'before the fan-out' : `midway through the fan-out (${k} of ${commands.length} commands carried out)`}`);
        return this.restartController();
      }
      this.controllerCommand(commands[k]!);
    }
  }

  /**
   * Where the controller crashes in the commands that answer a persist, if it does: before any
   * of them (`crashBeforeFanOut`), or at one of its sends after the first (`crashMidFanOut`).
   */
  private crashPoint(commands: ReadonlyArray<ControllerCommand>): { index: number; kind: 'crashBeforeFanOut' | 'crashMidFanOut' } | null {
    const sends: number[] = [];
    for (let k = 0; k < commands.length; k++) if (commands[k]!.type === 'send') sends.push(k);
    if (sends.length === 0) return null;
    const faults = this.world.faults;
    const rng = this.world.rng;
    const armed = this.armedCrash;
    if (armed === 'beforeFanOut' || (armed === null && rng.chance(faults.crashBeforeFanOutRate ?? 0))) {
      this.armedCrash = null;
      return { index: 0, kind: 'crashBeforeFanOut' };
    }
    if (sends.length < 2) return null;
    if (armed === 'midFanOut' || (armed === null && rng.chance(faults.crashMidFanOutRate ?? 0))) {
      this.armedCrash = null;
      return { index: sends[1 + rng.int(sends.length - 1)]!, kind: 'crashMidFanOut' };
    }
    return null;
  }

  protected controllerCommand(c: ControllerCommand): void {
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
        this.world.afterStorageIo({ kind: 'copy', life: this.controllerLife, cmd: c, storage: this.world.storageEpoch }, this.maxIoLifetime);
        return;
      case 'flush':
        this.record('controller', 'storage', () => `flush LUNs ${c.luns.join(', ')}`);
        this.world.afterStorageIo({ kind: 'flush', agent: -1, life: this.controllerLife, flushId: c.flushId, luns: c.luns, storage: this.world.storageEpoch }, this.maxIoLifetime);
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
  protected landPersist(event: Extract<WorldEvent, { kind: 'persist' }>): void {
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
  protected landCopy(life: number, c: CopyCommand, storage: number | undefined, aborted = false): void {
    if (life !== this.controllerLife) return; // fenced: the controller that asked is gone
    if (storage !== undefined && storage !== this.world.storageEpoch) return this.toController({ type: 'copyFailed', copyId: c.copyId, error: 'storage lost power' });
    if (aborted) return this.toController({ type: 'copyFailed', copyId: c.copyId, error: 'storage operation timed out (aborted)' });
    if (this.world.storageFails()) return this.toController({ type: 'copyFailed', copyId: c.copyId, error: 'injected storage error' });
    const outcome = this.world.writeOutcome(c.length);
    this.world.blocks.copy(outcome.landed === c.length ? c : { ...c, length: outcome.landed }, `controller#${this.controllerLife}`);
    this.toController(outcome.error === null ? { type: 'copyDone', copyId: c.copyId } : { type: 'copyFailed', copyId: c.copyId, error: outcome.error });
  }

}
