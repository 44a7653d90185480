/**
 * Applying one persistence record to a stored table, with the same rules as the library's
 * in-memory persistence (an `updateTable` must start from the stored generation and raise it;
 * a freeze comes first; new segments of a resize are `zero`), through the public table API only.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  decodeEntry,
  freezeTable,
  resizeTable,
  setEntries,
  type EntryUpdate,
  type MappingTable,
  type PersistRecord,
  type ValidationError,
} from '../../../src/index.js';

const describe = (errors: ReadonlyArray<ValidationError>): string => errors.map((e) => e.message).join('; ');

/**
 * The table after an `updateTable` record, or why the record must be refused. `stored` is the
 * table the store holds for the record's disk.
 *
 * @example
 * applyUpdate(table, { type: 'updateTable', disk: 'vol', fromGeneration: 3, generation: 4, changes: [] })
 */
export const applyUpdate = (
  stored: MappingTable,
  record: Extract<PersistRecord, { type: 'updateTable' }>,
): E.Either<string, MappingTable> => {
  const what = `updateTable for disk ${JSON.stringify(record.disk)}`;
  if (record.fromGeneration !== stored.generation)
    return E.left(`${what}: the stored table is at generation ${stored.generation}, but the update is from generation ${String(record.fromGeneration)} (a lost or reordered update)`);
  if (!(Number.isSafeInteger(record.generation) && record.generation > stored.generation))
    return E.left(`${what}: generation must be a safe integer above ${stored.generation}, got ${String(record.generation)}`);
  if (!Array.isArray(record.changes)) return E.left(`${what}: changes must be an array`);
  if (record.freeze !== undefined && record.freeze !== true) return E.left(`${what}: freeze must be true when present, got ${String(record.freeze)}`);
  let table = stored;
  if (record.freeze === true) {
    // A snapshot of this disk: every located segment noWrite, before the resize and the changes.
    const frozen = freezeTable(table, { generation: record.generation });
    if (E.isLeft(frozen)) return E.left(`${what}: ${describe(frozen.left)}`);
    table = frozen.right;
  }
  if (record.segmentCount !== undefined) {
    const resized = resizeTable(table, record.segmentCount, { zero: true }, { generation: record.generation });
    if (E.isLeft(resized)) return E.left(`${what}: ${describe(resized.left)}`);
    table = resized.right;
  }
  const updates: EntryUpdate[] = [];
  for (let i = 0; i < record.changes.length; i++) {
    const change = record.changes[i]!;
    const entry = decodeEntry(change.entry, table.segmentBlocks, change.segment);
    if (E.isLeft(entry)) return E.left(`${what}: changes[${i}]: ${describe(entry.left)}`);
    updates.push({ segment: change.segment, entry: entry.right });
  }
  const updated = setEntries(table, updates, { generation: record.generation });
  if (E.isLeft(updated)) return E.left(`${what}: ${describe(updated.left).replace(/updates\[/g, 'changes[')}`);
  return E.right(updated.right);
};
