/**
 * One etcd transaction per group commit, with today's controller runtime.
 *
 * The runtime saves the records of a `persist` command one `save` at a time
 * (src/runtime/controller-runtime.ts). Its `onCommand` observer sees the whole command first, so
 * this adapter learns the batch there, and the first `save` of a record of that batch commits it
 * and every later record of the batch with one `saveBatch`; their own `save` calls then resolve
 * at once, in order, as already durable. Records the runtime skips because they already landed
 * (after a failed save it reloads and leaves those out) are left out here too, by the same rule.
 *
 * Interim: once `TablePersistence` has an optional `saveBatch` that the runtime calls with a
 * persist command's records, the store is handed to the runtime directly.
 */
import type { ControllerCommand, PersistedState, PersistRecord, TablePersistence } from '../../../src/index.js';
import type { EtcdTableStore } from './etcd-store.js';

/**
 * The persistence to give the runtime, and the observer to give it as `onCommand`.
 *
 * @example
 * const group = groupCommits(store);
 * const controller = await createController({ ...adapters, persistence: group.persistence }, { onCommand: group.onCommand });
 */
export interface GroupCommits {
  readonly persistence: TablePersistence;
  readonly onCommand: (command: ControllerCommand) => void;
  /** Group commits made so far, and the records they held. */
  stats(): { readonly commits: number; readonly records: number };
}

/** The runtime's rule for a record that already landed (src/runtime/controller-runtime.ts). */
const landed = (stored: PersistedState, record: PersistRecord): boolean => {
  if (record.type === 'updateTable') {
    const t = stored.tables.find((x) => x.disk === record.disk)?.table;
    return t !== undefined && t.generation >= record.generation;
  }
  if (record.type === 'deleteTable') return !stored.tables.some((x) => x.disk === record.disk);
  return false;
};

/**
 * Wraps `store` so that each persist command of the runtime is one `saveBatch`.
 *
 * @example
 * const { persistence, onCommand } = groupCommits(createEtcdTableStore(client, { fence }));
 */
export const groupCommits = (store: EtcdTableStore, observe?: (command: ControllerCommand) => void): GroupCommits => {
  /** The records of the persist command being carried out, in order. */
  let batch: ReadonlyArray<PersistRecord> = [];
  /** Records of `batch` already committed by an earlier save of the same batch. */
  const committed = new WeakSet<PersistRecord>();
  /** What the store held when the runtime last loaded it (for the `landed` rule). */
  let lastLoad: PersistedState | null = null;
  let commits = 0;
  let records = 0;

  return {
    persistence: {
      async save(record) {
        if (committed.has(record)) return; // durable with the group commit of an earlier record
        const at = batch.indexOf(record);
        if (at < 0) return store.save(record); // not announced: on its own
        const rest = batch.slice(at).filter((r) => lastLoad === null || r === record || !landed(lastLoad, r));
        await store.saveBatch(rest);
        commits++;
        records += rest.length;
        for (const r of rest) committed.add(r);
      },
      async load() {
        const state = await store.load();
        lastLoad = state;
        return state;
      },
    },
    onCommand(command) {
      if (command.type === 'persist') {
        batch = command.records;
        lastLoad = null; // a load after this command is the runtime's check for landed records
      }
      observe?.(command);
    },
    stats: () => ({ commits, records }),
  };
};
