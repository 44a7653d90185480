/**
 * Entry changes staged in a step and written to the disk's working table once, when something
 * reads it. A step that stages thousands of changes (a flush or an acknowledgement releasing a
 * storm of jobs, each staging its own) then makes one table update, copying each chunk it
 * touches and the chunk list once, instead of one update per job.
 *
 * Nothing can read a stale table: while changes are pending, the disk draft's `working` is an
 * accessor that writes them first (and becomes a plain field again). The stage path itself reads
 * through {@link workingEntry} and {@link workingShape}, which see the pending changes without
 * writing them. Only a draft of the step is ever given pending changes (`Working.disks.get`), so
 * the state a step hands back holds plain tables.
 */
import type { MappingEntry } from '../table/entry.js';
import { entryAt, setEntries, type MappingTable } from '../table/table.js';
import { unwrap } from './basics.js';
import * as R from './refcounts.js';
import type { DiskDraft, Working } from './working.js';

interface Pending {
  /** The working table the changes apply to. */
  readonly table: MappingTable;
  readonly generation: number;
  /** By segment; a later change of a segment replaces an earlier one, as a later update would. */
  readonly changes: Map<number, MappingEntry>;
}

/** A disk draft's changes not yet written to its working table. Not state: emptied within the step that fills it. */
const pendingOf = /* @__PURE__ */ new WeakMap<object, Pending>();
/** Disk drafts whose working table got entry changes in their step (a draft lives for one step). */
const writtenBefore = /* @__PURE__ */ new WeakSet<object>();

/**
 * The working table as entries are concerned: the entry of `segment` with the pending changes.
 * Reading it writes nothing.
 */
export const workingEntry = (d: { readonly working: MappingTable }, segment: number): MappingEntry => {
  const p = pendingOf.get(d);
  if (p === undefined) return entryAt(d.working, segment);
  return p.changes.get(segment) ?? entryAt(p.table, segment);
};

/**
 * A table with the working table's shape (segment count and lengths, grain) and generation
 * source, but possibly older entries: for the sizes of segments, never for their entries.
 */
export const workingShape = (d: { readonly working: MappingTable }): MappingTable => pendingOf.get(d)?.table ?? d.working;

/** The generation the working table has (pending changes included). */
export const workingGeneration = (d: { readonly working: MappingTable }): number => pendingOf.get(d)?.generation ?? d.working.generation;

/**
 * Sets entries of the disk's working table at `generation`, as `setEntries` then `setWorking`
 * would, but writes them only when something reads `working` (at once when that is certain to be
 * soon, or when chunks shared with a snapshot must be handed over by this update: refcounts.ts).
 */
export const setEntriesLater = (s: Working, d: DiskDraft, changes: ReadonlyArray<readonly [number, MappingEntry]>, generation: number): void => {
  let p = pendingOf.get(d);
  if (p !== undefined && p.generation !== generation) {
    writePending(s, d);
    p = undefined;
  }
  if (p === undefined) {
    // With no persist in flight the change goes to the store now, which reads the table at once;
    // chunks shared with a snapshot are handed over by each update as it is made.
    // And a step's first change of the disk is written at once: most steps stage one, and the
    // accessor is worth its cost only to a step that stages many.
    if (s.persist === null || s.refs.shares.length > 0 || !writtenBefore.has(d)) {
      writtenBefore.add(d);
      return setWorkingNow(s, d, unwrap(setEntries(d.working, changes.map(([segment, entry]) => ({ segment, entry })), { generation }), 'setEntries'));
    }
    p = { table: d.working, generation, changes: new Map() };
    pendingOf.set(d, p);
    Object.defineProperty(d, 'working', {
      configurable: true,
      enumerable: true,
      get: () => writePending(s, d),
      set: (table: MappingTable) => {
        writePending(s, d);
        d.working = table;
      },
    });
  }
  for (const [segment, entry] of changes) p.changes.set(segment, entry);
};

/** Writes the pending changes of `d` to its working table, which becomes a plain field again. */
const writePending = (s: Working, d: DiskDraft): MappingTable => {
  const p = pendingOf.get(d)!;
  pendingOf.delete(d);
  Object.defineProperty(d, 'working', { configurable: true, enumerable: true, writable: true, value: p.table });
  const updates = [...p.changes].map(([segment, entry]) => ({ segment, entry }));
  setWorkingNow(s, d, unwrap(setEntries(p.table, updates, { generation: p.generation }), 'setEntries'));
  return d.working;
};

/** `setWorking` of commit.ts (not imported from there, which imports this module). */
const setWorkingNow = (s: Working, d: { working: MappingTable }, table: MappingTable): void => {
  s.refs = R.retireChunks(s.refs, d.working, table);
  d.working = table;
};
