/**
 * What a persistence store does with a {@link PersistRecord}: the one definition of applying a
 * record, shared by the in-memory persistence adapter, the simulator's store and the controller
 * tests, so that they cannot drift apart.
 *
 * Tables are kept decoded, so an `updateTable` copies only the chunks it touches.
 */
import { segmentLengthAt } from '../table/segments.js';
import * as E from 'fp-ts/lib/Either.js';
import { isBlockNumber, show, type ValidationError } from '../errors.js';
import type { AgentId, DiskId, EntryChange } from '../protocol/messages.js';
import { decodeTable, encodeTable, TABLE_FORMAT, TABLE_VARIABLE_VERSION, TABLE_VERSION } from '../table/codec.js';
import { entryAt, freezeTable, resizeTable, setEntries, type MappingTable } from '../table/table.js';
import type { PersistedState, PersistRecord } from './types.js';
import { applySegmentChanges } from './segment-changes.js';

/**
 * The durable state of a table store, decoded: every stored table, the agents attached to each
 * disk (a disk with no attached agents has no entry), the agents detached from each disk that
 * have not confirmed dropping their copy (absent or no entry: none), and the generation floor
 * (absent: 0).
 *
 * @example
 * const state: DurableState = { tables: new Map([['vol', table]]), attachments: new Map([['vol', ['a1']]]) };
 */
export interface DurableState {
  readonly tables: ReadonlyMap<DiskId, MappingTable>;
  readonly attachments: ReadonlyMap<DiskId, ReadonlyArray<AgentId>>;
  readonly dropping?: ReadonlyMap<DiskId, ReadonlyArray<AgentId>>;
  readonly generationFloor?: number;
}

/**
 * A store that holds nothing yet.
 *
 * @example
 * const state = E.getOrElse(() => EMPTY_DURABLE_STATE)(applyPersistRecord(EMPTY_DURABLE_STATE, { type: 'saveTable', disk: 'vol', table: doc }));
 */
export const EMPTY_DURABLE_STATE: DurableState = { tables: new Map(), attachments: new Map() };

/** At most this many validation errors are spelled out in one message. */
const MAX_REPORTED = 5;

const describeErrors = (errors: ReadonlyArray<ValidationError>): string => {
  const shown = errors.slice(0, MAX_REPORTED).map((e) => e.message);
  return errors.length > MAX_REPORTED ? `${shown.join('; ')}; and ${errors.length - MAX_REPORTED} more` : shown.join('; ');
};

/** The entries of `changes`, validated as table entries, with errors named `changes[i].entry...`. */
const decodeChanges = (changes: ReadonlyArray<EntryChange>, table: MappingTable): E.Either<string, MappingTable> => {
  const entries = changes.map((c) => (typeof c === 'object' && c !== null ? c.entry : undefined));
  // A variable table's entries are read at their own segment's length (1 for a segment number
  // that is not one of the table's: setEntries names that error).
  const lengthOf = (c: EntryChange): number => {
    const seg: unknown = typeof c === 'object' && c !== null ? c.segment : undefined;
    return typeof seg === 'number' && Number.isSafeInteger(seg) && seg >= 0 && seg < table.segmentCount ? segmentLengthAt(table, seg) : 1;
  };
  const decoded = decodeTable(
    table.segmentStarts === null
      ? { format: TABLE_FORMAT, version: TABLE_VERSION, segmentBlocks: table.segmentBlocks, segmentCount: changes.length, generation: 0, entries }
      : {
          format: TABLE_FORMAT,
          version: TABLE_VARIABLE_VERSION,
          segmentBlocks: 0,
          segmentLengths: changes.map(lengthOf),
          segmentCount: changes.length,
          generation: 0,
          entries,
        },
  );
  if (E.isRight(decoded)) return decoded;
  return E.left(describeErrors(decoded.left.map((e) => ({ ...e, message: e.message.replace(/entries\[(\d+)\]/g, 'changes[$1].entry').replace(/^segment \d+: /, '') }))));
};

const withTable = (state: DurableState, disk: DiskId, table: MappingTable): DurableState => ({ ...state, tables: new Map(state.tables).set(disk, table) });

const isAgentList = (agents: unknown): agents is ReadonlyArray<AgentId> => Array.isArray(agents) && agents.every((a) => typeof a === 'string');

/** `map` with `disk` set to `agents`, or without it when the list is empty. */
const withList = (map: ReadonlyMap<DiskId, ReadonlyArray<AgentId>> | undefined, disk: DiskId, agents: ReadonlyArray<AgentId>): Map<DiskId, ReadonlyArray<AgentId>> => {
  const next = new Map(map ?? []);
  if (agents.length === 0) next.delete(disk);
  else next.set(disk, [...agents]);
  return next;
};

const applyUpdate = (state: DurableState, record: Extract<PersistRecord, { type: 'updateTable' }>, what: string): E.Either<string, DurableState> => {
  const stored = state.tables.get(record.disk);
  if (stored === undefined) return E.left(`${what}: no table is stored for this disk`);
  if (record.fromGeneration !== stored.generation)
    return E.left(`${what}: the stored table is at generation ${stored.generation}, but the update is from generation ${show(record.fromGeneration)} (a lost or reordered update)`);
  if (!(isBlockNumber(record.generation) && record.generation > stored.generation))
    return E.left(`${what}: generation must be a safe integer above ${stored.generation}, got ${show(record.generation)}`);
  if (!Array.isArray(record.changes)) return E.left(`${what}: changes must be an array, got ${show(record.changes)}`);
  if (record.freeze !== undefined && record.freeze !== true) return E.left(`${what}: freeze must be true when present, got ${show(record.freeze)}`);
  let table = stored;
  if (record.freeze === true) {
    const frozen = freezeTable(table, { generation: record.generation });
    if (E.isLeft(frozen)) return E.left(`${what}: ${describeErrors(frozen.left)}`);
    table = frozen.right;
  }
  if (record.segmentCount !== undefined) {
    const resized = resizeTable(table, record.segmentCount, { zero: true }, { generation: record.generation });
    if (E.isLeft(resized)) return E.left(`${what}: ${describeErrors(resized.left)}`);
    table = resized.right;
  }
  if (record.segments !== undefined) {
    const reshaped = applySegmentChanges(table, record.segments, record.generation);
    if (E.isLeft(reshaped)) return E.left(`${what}: ${reshaped.left}`);
    table = reshaped.right;
  }
  const entries = decodeChanges(record.changes, table);
  if (E.isLeft(entries)) return E.left(`${what}: ${entries.left}`);
  const updated = setEntries(
    table,
    record.changes.map((c, i) => ({ segment: c.segment, entry: entryAt(entries.right, i) })),
    { generation: record.generation },
  );
  if (E.isLeft(updated)) return E.left(`${what}: ${describeErrors(updated.left).replace(/updates\[/g, 'changes[')}`);
  return E.right(withTable(state, record.disk, updated.right));
};

/**
 * Applies one record to a store's state: the new state, or why the record is refused (the state
 * is then unchanged). Refused: an `updateTable` whose `fromGeneration` is not the stored
 * generation (a lost, reordered or replayed update) or whose `generation` is not above it, or
 * whose `freeze` is present but not `true`, or whose `segments` (changes of segment bounds,
 * `segment-changes.ts`) cannot be applied, naming `segments[i]` and the field; a `cloneTable` whose source is not stored (or is
 * the disk itself);
 * updates, deletions and attachments of a disk with no stored table; malformed tables, entries
 * and records (the record may come from untyped code). `deleteTable` also forgets the disk's
 * attachments and raises the store's generation floor to its `generationFloor` (the floor only
 * grows), and an empty attachment list removes the disk's entry.
 *
 * @example
 * applyPersistRecord(EMPTY_DURABLE_STATE, { type: 'deleteTable', disk: 'vol' });
 * // Left('"deleteTable" for disk "vol": no table is stored for this disk')
 */
export const applyPersistRecord = (state: DurableState, record: PersistRecord): E.Either<string, DurableState> => {
  if (typeof record !== 'object' || record === null) return E.left(`a record must be an object, got ${show(record)}`);
  const what = `${show(record.type)} for disk ${show(record.disk)}`;
  if (typeof record.disk !== 'string') return E.left(`${what}: disk must be a string`);
  switch (record.type) {
    case 'saveTable': {
      const decoded = decodeTable(record.table);
      if (E.isLeft(decoded)) return E.left(`${what}: the table document is invalid: ${describeErrors(decoded.left)}`);
      return E.right(withTable(state, record.disk, decoded.right));
    }
    case 'updateTable':
      return applyUpdate(state, record, what);
    case 'cloneTable': {
      if (typeof record.source !== 'string') return E.left(`${what}: source must be a string, got ${show(record.source)}`);
      const source = state.tables.get(record.source);
      if (record.source === record.disk) return E.left(`${what}: source must name another disk, got ${show(record.source)}`);
      if (source === undefined) return E.left(`${what}: no table is stored for source ${show(record.source)}`);
      // Tables are values: the clone shares every chunk with its source.
      return E.right(withTable(state, record.disk, source));
    }
    case 'deleteTable': {
      if (!state.tables.has(record.disk)) return E.left(`${what}: no table is stored for this disk`);
      const floor = record.generationFloor;
      if (floor !== undefined && !isBlockNumber(floor)) return E.left(`${what}: generationFloor must be a non-negative safe integer when present, got ${show(floor)}`);
      const tables = new Map(state.tables);
      tables.delete(record.disk);
      const generationFloor = Math.max(state.generationFloor ?? 0, floor ?? 0);
      return E.right({
        tables,
        attachments: withList(state.attachments, record.disk, []),
        ...(state.dropping === undefined ? {} : { dropping: withList(state.dropping, record.disk, []) }),
        ...(generationFloor > 0 ? { generationFloor } : {}),
      });
    }
    case 'attachments': {
      if (!state.tables.has(record.disk)) return E.left(`${what}: no table is stored for this disk`);
      const { agents, dropping } = record;
      if (!isAgentList(agents)) return E.left(`${what}: agents must be an array of strings, got ${show(agents)}`);
      if (dropping !== undefined && !isAgentList(dropping)) return E.left(`${what}: dropping must be an array of strings when present, got ${show(dropping)}`);
      const attachments = withList(state.attachments, record.disk, agents);
      // A record without `dropping` (an older controller) says nobody is dropping, as it always meant.
      const droppingNow = dropping === undefined && state.dropping === undefined ? undefined : withList(state.dropping, record.disk, dropping ?? []);
      return E.right({ ...state, attachments, ...(droppingNow === undefined ? {} : { dropping: droppingNow }) });
    }
    default:
      return E.left(`unknown record type ${show((record as { type: unknown }).type)} (expected saveTable, updateTable, cloneTable, deleteTable or attachments)`);
  }
};

/**
 * The state as a controller loads it: table documents and attachment lists, sorted by disk
 * (`dropping` only where some agent is dropping, `generationFloor` only when above 0).
 *
 * @example
 * encodeDurableState(EMPTY_DURABLE_STATE); // { tables: [], attachments: [] }
 */
export const encodeDurableState = (state: DurableState): PersistedState => {
  const dropping = state.dropping ?? new Map<DiskId, ReadonlyArray<AgentId>>();
  const disks = [...new Set([...state.attachments.keys(), ...dropping.keys()])].sort();
  const floor = state.generationFloor ?? 0;
  return {
    tables: [...state.tables.keys()].sort().map((disk) => ({ disk, table: encodeTable(state.tables.get(disk)!) })),
    attachments: disks.map((disk) => {
      const leaving = dropping.get(disk) ?? [];
      return { disk, agents: [...(state.attachments.get(disk) ?? [])], ...(leaving.length > 0 ? { dropping: [...leaving] } : {}) };
    }),
    ...(floor > 0 ? { generationFloor: floor } : {}),
  };
};
