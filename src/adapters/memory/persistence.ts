/**
 * Table persistence in memory, for tests and simulation, with failure injection (including a
 * save that lands but whose acknowledgement is lost). Records are applied by
 * {@link applyPersistRecord}, like every other store of vdisk-map.
 *
 * Each call takes effect atomically at the moment it is made and its promise settles on a later
 * microtask. Injected failures are {@link InjectedFault}s.
 */
import * as E from 'fp-ts/lib/Either.js';
import { isBlockNumber, show, validationError, type ValidationError } from '../../errors.js';
import { applyPersistRecord, EMPTY_DURABLE_STATE, encodeDurableState, type DurableState } from '../../controller/persist-record.js';
import type { DiskId } from '../../protocol/messages.js';
import type { MappingTable } from '../../table/table.js';
import type { PersistedState, PersistRecord, TablePersistence } from '../types.js';
import { InjectedFault } from './injection.js';

/**
 * Failure injection for {@link MemoryPersistence}: the next `count` calls of `op` (default
 * `'save'`) reject. With `applied: true` a failing save is applied first and only its
 * acknowledgement is lost, as when a write reaches the disk but the reply does not.
 *
 * @example
 * persistence.failNext(1, { applied: true });
 */
export interface PersistFailOptions {
  readonly op?: 'save' | 'load';
  readonly applied?: boolean;
}

/**
 * {@link TablePersistence} in memory. Its state outlives any controller: hand the same object to
 * a restarted controller and `load` returns what the old one saved.
 *
 * @example
 * const p = createMemoryPersistence();
 * await p.save({ type: 'saveTable', disk: 'vol', table: doc });
 * (await p.load()).tables; // [{ disk: 'vol', table: doc }]
 */
export interface MemoryPersistence extends TablePersistence {
  /**
   * Makes the next `count` calls of `options.op` (default `save`) reject with an
   * {@link InjectedFault}; see {@link PersistFailOptions}. Left when `count` is not a positive
   * safe integer or `op` is unknown.
   */
  failNext(count: number, options?: PersistFailOptions): E.Either<ValidationError[], void>;
  /** The durable state right now, synchronously (no failure injection). */
  peek(): PersistedState;
  /** The stored table of `disk`, decoded, if any. */
  table(disk: DiskId): MappingTable | undefined;
  /** Called synchronously with each record as it becomes durable. Returns an unsubscribe function. */
  onSave(listener: (record: PersistRecord) => void): () => void;
  /**
   * Power loss (docs/design.md#ordering-rules): the store keeps what it acknowledged and the
   * first `keep` (default 0) of the records whose `save` has not resolved yet; the rest of that
   * unacknowledged tail is lost, the first lost one as a torn record that is discarded. Every
   * unacknowledged `save` rejects (those kept have landed: their acknowledgement is lost).
   * Returns how many records were lost.
   *
   * @example
   * const saving = persistence.save(record); // not yet acknowledged
   * persistence.powerLoss();                 // 1: the record is gone, and `saving` rejects
   */
  powerLoss(keep?: number): number;
}

/**
 * Table persistence in memory, applying each record with {@link applyPersistRecord}. Refuses, with
 * a clear error and without any change: an `updateTable` whose
 * `fromGeneration` is not the stored generation (or whose `generation` is not above it), updates,
 * deletions and attachments of a disk with no stored table, and malformed tables or entries.
 *
 * @example
 * const persistence = createMemoryPersistence();
 * await persistence.save({ type: 'updateTable', disk: 'vol', fromGeneration: 9, generation: 10, changes: [] });
 * // rejects: 'updateTable for disk "vol": no table is stored for this disk'
 */
export const createMemoryPersistence = (): MemoryPersistence => {
  let state: DurableState = EMPTY_DURABLE_STATE;
  /** What has been acknowledged: `state` without the records still in flight. */
  let acked: DurableState = EMPTY_DURABLE_STATE;
  /** Saves applied but not yet acknowledged, oldest first. */
  const inFlight: { readonly record: PersistRecord; lost: boolean }[] = [];
  const rules: { count: number; op: 'save' | 'load'; applied: boolean }[] = [];
  const listeners = new Set<(record: PersistRecord) => void>();

  const takeRule = (op: 'save' | 'load'): { applied: boolean } | undefined => {
    const i = rules.findIndex((r) => r.op === op);
    if (i < 0) return undefined;
    const rule = rules[i]!;
    rule.count--;
    if (rule.count <= 0) rules.splice(i, 1);
    return rule;
  };

  const peek = (): PersistedState => encodeDurableState(state);

  return {
    async save(record) {
      const rule = takeRule('save');
      if (rule !== undefined && !rule.applied) throw new InjectedFault(`save of ${show(record?.type)} for disk ${show(record?.disk)} failed: injected fault (nothing was saved)`);
      const applied = applyPersistRecord(state, record);
      if (E.isLeft(applied)) throw new Error(`persistence refused ${applied.left}`);
      state = applied.right;
      // The caller may reuse its record; listeners get their own copy.
      if (listeners.size > 0) {
        const copy = structuredClone(record);
        for (const l of [...listeners]) l(copy);
      }
      // Acknowledged on a later microtask: until then a power loss may take it.
      const entry = { record: structuredClone(record), lost: false };
      inFlight.push(entry);
      await Promise.resolve();
      inFlight.splice(inFlight.indexOf(entry), 1);
      if (entry.lost) throw new InjectedFault(`save of ${show(record.type)} for disk ${show(record.disk)} failed: power loss before it was acknowledged (it may or may not have landed)`);
      acked = E.getOrElse(() => acked)(applyPersistRecord(acked, entry.record));
      if (rule !== undefined) throw new InjectedFault(`save of ${show(record.type)} for disk ${show(record.disk)} failed: injected fault (the record was saved, the acknowledgement lost)`);
    },
    async load() {
      if (takeRule('load') !== undefined) throw new InjectedFault('load failed: injected fault');
      return peek();
    },
    failNext(count, options = {}) {
      const errs: ValidationError[] = [];
      if (!(isBlockNumber(count) && count > 0)) errs.push(validationError('count', count, 'must be a positive safe integer'));
      const op = options.op ?? 'save';
      if (op !== 'save' && op !== 'load') errs.push(validationError('options.op', op, "must be 'save' or 'load'"));
      if (errs.length > 0) return E.left(errs);
      rules.push({ count, op, applied: options.applied === true });
      return E.right(undefined);
    },
    peek,
    powerLoss(keep = 0) {
      let next = acked;
      let lost = 0;
      inFlight.forEach((entry, i) => {
        entry.lost = true; // every unacknowledged save rejects, kept or not
        const applied = i < keep ? applyPersistRecord(next, entry.record) : null;
        if (applied !== null && E.isRight(applied)) next = applied.right;
        else lost++;
      });
      state = next;
      acked = next;
      return lost;
    },
    table: (disk) => state.tables.get(disk),
    onSave(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
};

