/**
 * The simulated world the cluster's participants live in: simulated time and its agenda, the
 * run's one source of randomness, the network between controller and agents, the LUNs' blocks
 * and the controller's durable store. Every random choice comes from the one seeded PRNG, in a
 * fixed order, so a run replays bit for bit.
 *
 * Simulation assumptions, stated because they are the protocol's too:
 * - storage fencing: when a node restarts, its storage I/O that has not landed yet never lands;
 * - a persist that reached the store stays there even if the controller dies before hearing so;
 * - storage has a volatile write cache per LUN (docs/design.md#ordering-rules): a landed write
 *   is visible at once but durable only once a flush of its LUN lands; a power loss of storage
 *   leaves each block with its durable value or any value cached since (tearing multi-block
 *   writes), fails the storage operations in flight, and fails the next flush of every issuer
 *   that had written since its last flush (as a device reports a reset).
 */
import * as E from 'fp-ts/lib/Either.js';
import { createPrng, type Prng } from '../adapters/prng.js';
import { applyPersistRecord, EMPTY_DURABLE_STATE, type DurableState } from '../controller/persist-record.js';
import type { AdminEvent, ControllerCommand, PersistedState, PersistRecord } from '../controller/types.js';
import type { AgentMessage, ControllerMessage } from '../protocol/messages.js';
import { encodeTable, type TableDocument } from '../table/codec.js';
import type { MappingTable } from '../table/table.js';
import type { Op, Piece } from '../translate/translate.js';
import type { InjectedFaultKind, SimAction, SimConfig, SimFaults, SimSummary } from './config.js';
import { EventQueue } from './queue.js';

/** A background copy or zeroing the controller asked storage for. */
export type CopyCommand = Extract<ControllerCommand, { type: 'copyBlocks' | 'writeZeros' }>;

/**
 * What can happen at a point of simulated time. `life` and `epoch` name the controller or agent
 * life that started an effect, so that effects of a dead life are fenced.
 */
export type WorldEvent =
  | { readonly kind: 'tick' }
  /** A flush command reaching storage, from the controller (`agent` -1) or an agent life; `storage`: the power epoch it was issued in. */
  | { readonly kind: 'flush'; readonly agent: number; readonly life: number; readonly flushId: number; readonly luns: ReadonlyArray<number>; readonly storage: number; readonly aborted?: true }
  | { readonly kind: 'toController'; readonly msg: AgentMessage }
  | { readonly kind: 'toAgent'; readonly agent: number; readonly msg: ControllerMessage }
  | { readonly kind: 'agentIo'; readonly agent: number; readonly epoch: number; readonly ioId: number; readonly op: Op; readonly pieces: ReadonlyArray<Piece>; readonly storage?: number; readonly aborted?: true }
  | { readonly kind: 'persist'; readonly life: number; readonly persistId: number; readonly records: ReadonlyArray<PersistRecord> }
  | { readonly kind: 'copy'; readonly life: number; readonly cmd: CopyCommand; readonly storage?: number; readonly aborted?: true }
  | { readonly kind: 'arrival' }
  | { readonly kind: 'action'; readonly action: SimAction }
  | { readonly kind: 'heal'; readonly agent: number }
  /** A paused process (the controller: `agent` -1) steps again, if `life` is still its life. */
  | { readonly kind: 'resume'; readonly agent: number; readonly life: number }
  /** A duplicate of an admin request, delivered to controller life `life` only. */
  | { readonly kind: 'adminDuplicate'; readonly life: number; readonly event: AdminEvent };

/** What storage does with a write or copy of `blocks` blocks: all of it, or the first `landed` blocks and then an error. */
export type WriteOutcome = { readonly landed: number; readonly error: string | null };

/** A message on its way: to the controller, or to agent `agent`. */
export type MessageEvent = Extract<WorldEvent, { kind: 'toController' | 'toAgent' }>;

/** Default delay ranges, in simulated milliseconds. */
const NETWORK_DELAY: readonly [number, number] = [1, 5];
const STORAGE_DELAY: readonly [number, number] = [1, 4];

/**
 * The blocks of every LUN, behind a volatile write cache per LUN. A block holds the value of the
 * host write that last landed on it (0: never written), which is all the content checks need.
 * Writes are visible at once; each LUN keeps, per block, the values written since its last
 * flush, which a power loss may or may not keep. Writers are named (`issuer`) so that a flush
 * can fail for a writer whose cached writes a power loss took.
 */
export class LunBlocks {
  private readonly luns = new Map<number, Float64Array>();
  private readonly durable = new Map<number, Float64Array>();
  /** Per LUN: block -> values written since they were last made durable, oldest first, with their writers. */
  private readonly cached = new Map<number, Map<number, { readonly value: number; readonly issuer: string }[]>>();
  /** Per issuer: LUNs it wrote since its last flush of them. */
  private readonly dirty = new Map<string, Set<number>>();
  /** Per issuer: LUNs whose unflushed writes a power loss took; its next flush of them fails. */
  private readonly lost = new Map<string, Set<number>>();

  constructor(sizes: Readonly<Record<number, number>>) {
    for (const [lun, size] of Object.entries(sizes)) {
      this.luns.set(Number(lun), new Float64Array(size));
      this.durable.set(Number(lun), new Float64Array(size));
      this.cached.set(Number(lun), new Map());
    }
  }

  private put(issuer: string, lun: number, start: number, values: ArrayLike<number> | number, length: number): void {
    const data = this.luns.get(lun)!;
    const cache = this.cached.get(lun)!;
    for (let k = 0; k < length; k++) {
      const v = typeof values === 'number' ? values : values[k]!;
      data[start + k] = v;
      const list = cache.get(start + k);
      if (list === undefined) cache.set(start + k, [{ value: v, issuer }]);
      else list.push({ value: v, issuer });
    }
    let set = this.dirty.get(issuer);
    if (set === undefined) this.dirty.set(issuer, (set = new Set()));
    set.add(lun);
  }

  /** Writes `value` on a piece's blocks (zero pieces have none). */
  write(p: Piece, value: number, issuer = 'host'): void {
    if (p.kind !== 'zero') this.put(issuer, p.lun!, p.start!, value, p.length);
  }

  /** Reads the pieces of a host read of `length` blocks from `start`. */
  read(pieces: ReadonlyArray<Piece>, start: number, length: number): Float64Array {
    const data = new Float64Array(length);
    for (const p of pieces) if (p.kind !== 'zero') data.set(this.luns.get(p.lun!)!.subarray(p.start!, p.start! + p.length), p.virtualStart - start);
    return data;
  }

  /** Carries out a controller's copy or zeroing. */
  copy(c: CopyCommand, issuer = 'controller'): void {
    if (c.type === 'copyBlocks') this.put(issuer, c.to.lun, c.to.start, this.luns.get(c.from.lun)!.slice(c.from.start, c.from.start + c.length), c.length);
    else this.put(issuer, c.to.lun, c.to.start, 0, c.length);
  }

  /**
   * A flush of `luns` by `issuer`: every write of this issuer cached on them becomes durable, and
   * no more (vdisk-map relies on no other writer's flush: the simulated device is as weak as the
   * contract allows). False, and nothing flushed, when a power loss took writes of this issuer
   * on one of them since its last flush: the flush must fail.
   */
  flush(issuer: string, luns: ReadonlyArray<number>): boolean {
    const lost = this.lost.get(issuer);
    if (lost !== undefined && luns.some((l) => lost.has(l))) {
      for (const l of luns) lost.delete(l);
      return false;
    }
    for (const lun of luns) {
      const cache = this.cached.get(lun);
      if (cache === undefined) continue;
      const durable = this.durable.get(lun)!;
      for (const [b, list] of cache) {
        let last = -1;
        for (let i = list.length - 1; i >= 0; i--)
          if (list[i]!.issuer === issuer) {
            last = i;
            break;
          }
        if (last < 0) continue;
        durable[b] = list[last]!.value;
        if (last === list.length - 1) cache.delete(b);
        else cache.set(b, list.slice(last + 1));
      }
    }
    const dirty = this.dirty.get(issuer);
    if (dirty !== undefined) for (const l of luns) dirty.delete(l);
    return true;
  }

  /**
   * Power loss of storage: each cached block keeps its durable value or any value written since,
   * at random (so a multi-block write may land in part). Returns how many blocks changed.
   */
  powerLoss(rng: Prng): number {
    let changed = 0;
    for (const [lun, cache] of this.cached) {
      const data = this.luns.get(lun)!;
      const durable = this.durable.get(lun)!;
      for (const [b, values] of cache) {
        const pick = rng.int(values.length + 1);
        const v = pick === values.length ? durable[b]! : values[pick]!.value;
        if (v !== data[b]) changed++;
        data[b] = v;
        durable[b] = v;
      }
      cache.clear();
    }
    for (const [issuer, luns] of this.dirty) {
      let lost = this.lost.get(issuer);
      if (lost === undefined) this.lost.set(issuer, (lost = new Set()));
      for (const l of luns) lost.add(l);
    }
    this.dirty.clear();
    return changed;
  }

  /** The value of one block. */
  block(lun: number, block: number): number {
    return this.luns.get(lun)![block]!;
  }
}

/**
 * The controller's durable store: records applied by {@link applyPersistRecord}, as any store
 * would. A retried `updateTable` that had already landed (its acknowledgement was lost) is
 * skipped, as the controller runtime does after reloading the store; any other refusal is a bug
 * of the controller or the simulator, and stops the run.
 */
export class DurableStore {
  private state: DurableState = EMPTY_DURABLE_STATE;

  get tables(): ReadonlyMap<string, MappingTable> {
    return this.state.tables;
  }

  /** The agents the store lists as attached to each disk. */
  get attachments(): ReadonlyMap<string, ReadonlyArray<string>> {
    return this.state.attachments;
  }

  apply(record: PersistRecord): void {
    if (record.type === 'updateTable' && this.state.tables.get(record.disk)?.generation === record.generation) return;
    // A retried deletion that had already landed (the runtime skips it likewise).
    if (record.type === 'deleteTable' && !this.state.tables.has(record.disk)) return;
    const next = applyPersistRecord(this.state, record);
    if (E.isLeft(next)) throw new Error(`simulator: persistence refused ${next.left}`);
    this.state = next.right;
  }

  /** What a restarting controller loads. */
  restored(): PersistedState {
    const tables: { disk: string; table: TableDocument }[] = [];
    for (const [disk, table] of this.state.tables) tables.push({ disk, table: encodeTable(table) });
    // Agents still dropping a copy (a plain detach) and the generation floor (deletions) survive a restart too.
    const dropping = this.state.dropping ?? new Map<string, ReadonlyArray<string>>();
    const disks = [...new Set([...this.state.attachments.keys(), ...dropping.keys()])];
    const attachments = disks.map((disk) => {
      const leaving = dropping.get(disk) ?? [];
      return { disk, agents: this.state.attachments.get(disk) ?? [], ...(leaving.length > 0 ? { dropping: leaving } : {}) };
    });
    const floor = this.state.generationFloor ?? 0;
    return { tables, attachments, ...(floor > 0 ? { generationFloor: floor } : {}) };
  }
}

/** Simulated time, its agenda, randomness and the effects of the world on messages and I/O. */
export class World {
  now = 0;
  readonly queue = new EventQueue<WorldEvent>();
  readonly rng: Prng;
  faults: SimFaults;
  readonly blocks: LunBlocks;
  readonly store = new DurableStore();
  /** When the last injected fault ended (a dropped message, a failed operation, a partition healing). */
  lastFaultAt = 0;
  /** Bumped by each power loss of storage: operations issued before it fail. */
  storageEpoch = 0;

  constructor(
    private readonly config: SimConfig,
    private readonly summary: SimSummary,
  ) {
    this.rng = createPrng(config.seed);
    this.faults = config.faults ?? {};
    this.blocks = new LunBlocks(config.luns);
  }

  /** An injected fault lasts until `until` (simulated ms). */
  noteFault(until: number = this.now): void {
    this.lastFaultAt = Math.max(this.lastFaultAt, until);
  }

  /** Schedules `event` after a storage delay. */
  afterStorageDelay(event: WorldEvent): void {
    this.queue.push(this.now + this.delay(this.config.storageDelay, STORAGE_DELAY), event);
  }

  /**
   * Sends a message over the simulated network: lost when its agent is cut off, maybe dropped,
   * maybe duplicated, always delayed.
   */
  transmit(event: MessageEvent, agentCutOff: boolean): void {
    this.summary.messagesSent++;
    if (agentCutOff || this.rng.chance(this.faults.dropRate ?? 0)) {
      this.summary.messagesDropped++;
      // A partition is one fault of its agent's (see the cluster), not one per message it loses.
      if (!agentCutOff) this.noteFault();
      return;
    }
    this.queue.push(this.now + this.delay(this.config.networkDelay, NETWORK_DELAY), event);
    if (this.rng.chance(this.faults.duplicateRate ?? 0)) {
      this.summary.messagesDuplicated++;
      this.noteFault();
      this.queue.push(this.now + this.delay(this.config.networkDelay, NETWORK_DELAY), event);
    }
  }

  /** Counts an injected fault of `kind`, which lasts until `until`. */
  inject(kind: InjectedFaultKind, until: number = this.now): void {
    this.summary.injected[kind] = (this.summary.injected[kind] ?? 0) + 1;
    this.noteFault(until);
  }

  /**
   * Schedules a storage operation (agent I/O, copy, flush) after a storage delay, or, when it
   * hangs, late: it lands (or is aborted by the storage path, `aborted`) within `maxIoLifetime`,
   * the documented bound (docs/design.md#leases-and-liveness).
   */
  afterStorageIo<T extends Extract<WorldEvent, { kind: 'agentIo' | 'copy' | 'flush' }>>(event: T, maxIoLifetime: number): void {
    if (!this.rng.chance(this.faults.hangRate ?? 0)) return this.afterStorageDelay(event);
    const at = this.now + Math.max(1, Math.floor(maxIoLifetime / 2) + this.rng.int(Math.ceil(maxIoLifetime / 2)));
    const aborted = this.rng.chance(0.5);
    this.inject(aborted ? 'abortedIo' : 'lateIo', at);
    this.queue.push(at, aborted ? { ...event, aborted: true } : event);
  }

  /**
   * What storage does with a write or copy of `blocks` blocks that did not fail outright: all
   * of it; all of it but the answer is an error (`lostAckRate`); or, for more than one block, a
   * part and then an error (`partialWriteRate`).
   */
  writeOutcome(blocks: number): WriteOutcome {
    if (this.rng.chance(this.faults.lostAckRate ?? 0)) {
      this.inject('lostAck');
      return { landed: blocks, error: 'injected error after the write landed' };
    }
    if (blocks > 1 && this.rng.chance(this.faults.partialWriteRate ?? 0)) {
      this.inject('partialWrite');
      return { landed: 1 + this.rng.int(blocks - 1), error: 'injected error after part of the write landed' };
    }
    return { landed: blocks, error: null };
  }

  /** Whether to inject a storage error into the operation at hand. */
  storageFails(): boolean {
    if (!this.rng.chance(this.faults.storageErrorRate ?? 0)) return false;
    this.summary.storageErrors++;
    this.noteFault();
    return true;
  }

  private delay(range: readonly [number, number] | undefined, fallback: readonly [number, number]): number {
    const [lo, hi] = range ?? fallback;
    return lo + this.rng.int(hi - lo + 1);
  }
}
