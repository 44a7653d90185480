/**
 * The adapters a runtime drives: the effectful edge of vdisk-map
 * (docs/design.md#adapter-contracts).
 *
 * The pure state machines never touch these; runtimes carry out their commands through them.
 * Convention for every asynchronous method: it resolves when the effect is done (durable, for
 * persistence) and REJECTS with an `Error` whose message says what failed and where when it
 * cannot be done, whether the cause is bad arguments, an out-of-range address or a device
 * failure. A runtime treats any rejection as "did not happen" for storage and persistence
 * (a rejected save may in fact have landed: see {@link TablePersistence}).
 * Transports are fire and forget and never report failure: messages may simply be lost.
 */

/**
 * Block storage behind the LUNs: what agents issue translated I/O to, and what the controller
 * copies and zeroes segments with. Block numbers are LUN-relative; data is `blockSize` bytes per
 * block.
 *
 * @example
 * const data = await storage.read(1, 20, 2);       // 2 * storage.blockSize bytes
 * await storage.write(2, 0, data);
 * await storage.copy({ lun: 1, start: 20 }, { lun: 2, start: 100 }, 10);
 */
export interface BlockStorage {
  /** Bytes per block. */
  readonly blockSize: number;
  /** Reads `length` blocks from `start`: `length * blockSize` bytes. */
  read(lun: number, start: number, length: number): Promise<Uint8Array>;
  /** Writes `data` (a whole, positive number of blocks) from block `start`. */
  write(lun: number, start: number, data: Uint8Array): Promise<void>;
  /** Copies `length` blocks, as if read whole first (overlapping ranges are safe). */
  copy(from: { readonly lun: number; readonly start: number }, to: { readonly lun: number; readonly start: number }, length: number): Promise<void>;
  /** Makes `length` blocks from `start` read as zeros. */
  writeZeros(lun: number, start: number, length: number): Promise<void>;
  // --- durability (docs/design.md#adapter-contracts) -------------------------------------------
  /**
   * Resolves once every write, copy and writeZeros to `lun` that completed (resolved) through
   * this adapter before the call is durable: it survives a power loss of the storage. Rejects
   * when it cannot vouch for that, in particular when the storage lost its write cache (power
   * loss, reset) since those writes completed: the caller must then assume they may be lost.
   *
   * Storage with a volatile write cache must implement it. An adapter without `flush` declares
   * that its writes are durable the moment they resolve (write-through), which is what every
   * adapter written before flush existed promised implicitly; runtimes then treat a flush as
   * done at once.
   *
   * @example
   * await storage.write(2, 0, data);
   * await storage.flush?.(2); // data survives a power loss from here on
   */
  flush?(lun: number): Promise<void>;
}

/**
 * A message channel between the controller and agents. `send` is fire and forget: a message may
 * be lost, duplicated, delayed or reordered, and the protocol copes. Messages are plain data and
 * are delivered as copies.
 *
 * @example
 * transport.onMessage((from, message) => console.log(from, message.type));
 * transport.send('controller', { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'vol', generation: 4 });
 */
export interface Transport<Out, In> {
  /** Sends `message` to peer `to`; returns at once, without any guarantee of delivery. */
  send(to: string, message: Out): void;
  /** Registers a handler for messages addressed to this endpoint. */
  onMessage(handler: (from: string, message: In) => void): void;
}

export type { PersistRecord, PersistedState } from '../controller/types.js';
import type { PersistRecord, PersistedState } from '../controller/types.js';

/**
 * The controller's durable store. `save` resolves once the record is durable, and records are
 * applied in the order their `save` calls were made. A rejected `save` may or may not have
 * landed (a lost acknowledgement); a controller recovers by reloading, never by assuming.
 *
 * @example
 * await persistence.save({ type: 'saveTable', disk: 'vol', table: encodeTable(table) });
 * await persistence.saveBatch?.([{ type: 'attachments', disk: 'vol', agents: ['a1'] }, { type: 'deleteTable', disk: 'old' }]);
 * const { tables } = await persistence.load();
 */
export interface TablePersistence {
  /** Makes `record` durable, after every record whose `save` was called before it. */
  save(record: PersistRecord): Promise<void>;
  /**
   * Optional: makes every record of `records` durable, in order, as one group commit (one
   * transaction, one sync). When present, the controller runtime calls it once per persist
   * command instead of `save` per record. Atomic or not, a rejection means "some prefix may
   * have landed", as for `save`.
   */
  saveBatch?(records: ReadonlyArray<PersistRecord>): Promise<void>;
  /** Everything saved so far, as a controller needs it to restart. */
  load(): Promise<PersistedState>;
}

/**
 * Opaque handle of a timer; only the clock that made it can clear it.
 *
 * @example
 * const handle: TimerHandle = clock.setTimer(100, () => {});
 */
export interface TimerHandle {
  readonly _tag: 'TimerHandle';
}

/**
 * Time for timeouts and retries, in milliseconds. Injected so simulations control it.
 *
 * @example
 * const handle = clock.setTimer(500, () => resend());
 * clock.clearTimer(handle);
 */
export interface Clock {
  /** The current time in milliseconds, from any fixed origin: only differences matter. */
  now(): number;
  /** Calls `callback` once, `ms` from now (like `setTimeout`: a negative or NaN delay means 0). */
  setTimer(ms: number, callback: () => void): TimerHandle;
  /** Cancels a timer; clearing a fired, cleared or foreign timer does nothing. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * Optional: cuts the storage path of an agent life the controller evicted because its lease had
 * certainly expired (docs/design.md#leases-and-liveness), for products that cannot trust the
 * lease and the I/O lifetime bound alone (SCSI persistent reservations, a Ceph blocklist). It
 * resolves once the agent's writes can no longer land; a rejection is logged, not retried.
 *
 * @example
 * const fence: FenceAgent = async (agent, epoch) => { await blocklist.add(`${agent}/${epoch}`); };
 */
export type FenceAgent = (agent: string, epoch: number) => Promise<void>;

