/**
 * Tests for src/controller/persist-record.ts: random record sequences applied by
 * applyPersistRecord and by a naive model over table documents must agree on every refusal and
 * every resulting state, and applying never changes its input.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { applyPersistRecord, EMPTY_DURABLE_STATE, encodeDurableState, type DurableState } from '../../src/controller/persist-record.js';
import type { PersistedState, PersistRecord } from '../../src/controller/types.js';
import type { EntryDocument, TableDocument } from '../../src/table/codec.js';
import { encodeTable, TABLE_FORMAT, TABLE_VERSION } from '../../src/table/codec.js';
import { createTable } from '../../src/table/table.js';
import { entrySpecArb, tableArb } from '../../src/testing/arbitraries.js';

const SEGMENT_BLOCKS = 4;
const DISKS = ['a', 'b', 'c'] as const;

const right = <L, A>(e: E.Either<L, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got Left ${JSON.stringify(e.left)}`);
  return e.right;
};

// ---------------------------------------------------------------------------------------------
// The naive model: table documents, edited field by field

interface ModelTable {
  readonly generation: number;
  readonly entries: ReadonlyArray<EntryDocument>;
}

interface Model {
  readonly tables: ReadonlyMap<string, ModelTable>;
  readonly attachments: ReadonlyMap<string, ReadonlyArray<string>>;
}

/** The one malformed entry the generator uses: its validity is known without decoding it. */
const BAD_ENTRY: EntryDocument = { location: { lun: -1, start: 0 } };

/** The model's next state, or null when the record must be refused. */
const modelApply = (m: Model, r: PersistRecord): Model | null => {
  const tables = new Map(m.tables);
  const attachments = new Map(m.attachments);
  const stored = m.tables.get(r.disk);
  switch (r.type) {
    case 'saveTable':
      if (r.table.segmentBlocks !== SEGMENT_BLOCKS) return null;
      tables.set(r.disk, { generation: r.table.generation, entries: r.table.entries });
      return { tables, attachments };
    case 'updateTable': {
      if (stored === undefined || r.fromGeneration !== stored.generation || r.generation <= stored.generation) return null;
      const count = r.segmentCount ?? stored.entries.length;
      // A freeze: noWrite on every entry with a location, before the resize and the changes.
      const base = r.freeze === true ? stored.entries.map((e) => (e.location !== undefined && e.location !== null ? { ...e, noWrite: true } : e)) : stored.entries;
      const entries = Array.from({ length: count }, (_, i) => base[i] ?? { zero: true });
      for (const c of r.changes) {
        if (c.segment >= count || c.entry === BAD_ENTRY) return null;
        entries[c.segment] = c.entry;
      }
      tables.set(r.disk, { generation: r.generation, entries });
      return { tables, attachments };
    }
    case 'cloneTable': {
      const source = m.tables.get(r.source);
      if (source === undefined || r.source === r.disk) return null;
      tables.set(r.disk, source);
      return { tables, attachments };
    }
    case 'deleteTable':
      if (stored === undefined) return null;
      tables.delete(r.disk);
      attachments.delete(r.disk);
      return { tables, attachments };
    case 'attachments':
      if (stored === undefined) return null;
      if (r.agents.length === 0) attachments.delete(r.disk);
      else attachments.set(r.disk, r.agents);
      return { tables, attachments };
  }
};

const modelState = (m: Model): PersistedState => {
  const doc = (t: ModelTable): TableDocument => ({
    format: TABLE_FORMAT,
    version: TABLE_VERSION,
    segmentBlocks: SEGMENT_BLOCKS,
    segmentCount: t.entries.length,
    generation: t.generation,
    entries: t.entries,
  });
  return {
    tables: [...m.tables.keys()].sort().map((disk) => ({ disk, table: doc(m.tables.get(disk)!) })),
    attachments: [...m.attachments.keys()].sort().map((disk) => ({ disk, agents: m.attachments.get(disk)! })),
  };
};

// ---------------------------------------------------------------------------------------------
// Records, drawn as templates: generations are relative to what the model holds when the record
// is made, so that most updates chain and some are lost, reordered or replayed.

const validEntryArb: fc.Arbitrary<EntryDocument> = entrySpecArb(SEGMENT_BLOCKS, { maxStart: 100 }).map(
  (spec) => encodeTable(right(createTable({ segmentBlocks: SEGMENT_BLOCKS, entries: [spec] }))).entries[0]!,
);

type Template =
  | { readonly type: 'saveTable'; readonly disk: string; readonly table: TableDocument }
  | {
      readonly type: 'updateTable';
      readonly disk: string;
      readonly fromDelta: number;
      readonly step: number;
      readonly segmentCount?: number;
      readonly freeze?: true;
      /** Segment `pick` modulo the table's segment count, or just past its end when `outside`. */
      readonly changes: ReadonlyArray<{ readonly pick: number; readonly outside: boolean; readonly entry: EntryDocument }>;
    }
  | { readonly type: 'cloneTable'; readonly disk: string; readonly source: string }
  | { readonly type: 'deleteTable'; readonly disk: string }
  | { readonly type: 'attachments'; readonly disk: string; readonly agents: ReadonlyArray<string> };

const diskArb = fc.constantFrom(...DISKS);

/** One of `values`, each drawn with its weight. */
const weighted = <T>(...values: ReadonlyArray<readonly [T, number]>): fc.Arbitrary<T> =>
  fc.oneof(...values.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })));

const templateArb: fc.Arbitrary<Template> = fc.oneof(
  {
    arbitrary: fc
      .tuple(diskArb, tableArb({ segmentBlocks: fc.constant(SEGMENT_BLOCKS), segmentCount: fc.integer({ min: 1, max: 6 }), maxStart: 100 }), fc.nat(5), fc.boolean())
      .map(([disk, t, generation, malformed]): Template => ({
        type: 'saveTable',
        disk,
        table: { ...encodeTable(t), generation, segmentBlocks: malformed ? 0 : SEGMENT_BLOCKS },
      })),
    weight: 2,
  },
  {
    arbitrary: fc.record(
      {
        type: fc.constant('updateTable' as const),
        disk: diskArb,
        fromDelta: weighted([0, 4], [-1, 1], [1, 1]),
        step: weighted([1, 4], [2, 1], [0, 1], [-1, 1]),
        segmentCount: fc.integer({ min: 1, max: 7 }),
        freeze: fc.constant(true as const),
        changes: fc.array(
          fc.record({
            pick: fc.nat(99),
            outside: weighted([false, 19], [true, 1]),
            entry: fc.oneof({ arbitrary: validEntryArb, weight: 19 }, { arbitrary: fc.constant(BAD_ENTRY), weight: 1 }),
          }),
          { maxLength: 4 },
        ),
      },
      { requiredKeys: ['type', 'disk', 'fromDelta', 'step', 'changes'] },
    ),
    weight: 5,
  },
  { arbitrary: fc.record({ type: fc.constant('cloneTable' as const), disk: diskArb, source: diskArb }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('deleteTable' as const), disk: diskArb }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('attachments' as const), disk: diskArb, agents: fc.subarray(['x', 'y', 'z']) }), weight: 2 },
);

const recordOf = (t: Template, m: Model): PersistRecord => {
  if (t.type !== 'updateTable') return t;
  const stored = m.tables.get(t.disk);
  const from = (stored?.generation ?? 0) + t.fromDelta;
  const count = t.segmentCount ?? stored?.entries.length ?? 1;
  const changes = t.changes.map((c) => ({ segment: c.outside ? count : c.pick % count, entry: c.entry }));
  return {
    type: 'updateTable',
    disk: t.disk,
    fromGeneration: from,
    generation: from + t.step,
    ...(t.freeze === undefined ? {} : { freeze: t.freeze }),
    ...(t.segmentCount === undefined ? {} : { segmentCount: t.segmentCount }),
    changes,
  };
};

// ---------------------------------------------------------------------------------------------

describe('applyPersistRecord', () => {
  it('agrees with a naive model of table documents on every refusal and every resulting state', () => {
    let applied = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.array(templateArb, { minLength: 5, maxLength: 30 }), (templates) => {
        let state: DurableState = EMPTY_DURABLE_STATE;
        let model: Model = { tables: new Map(), attachments: new Map() };
        for (const t of templates) {
          const record = recordOf(t, model);
          const before = encodeDurableState(state);
          const result = applyPersistRecord(state, record);
          const expected = modelApply(model, record);
          // Pure: the input state is never changed, whatever the outcome.
          expect(encodeDurableState(state)).toEqual(before);
          if (expected === null) {
            refused++;
            expect(E.isLeft(result) ? result.left : 'applied').toContain(`for disk ${JSON.stringify(record.disk)}`);
            continue;
          }
          applied++;
          state = right(result);
          model = expected;
          expect(encodeDurableState(state)).toEqual(modelState(model));
        }
      }),
      { numRuns: 200 },
    );
    // Both outcomes were exercised, so the agreement above means something.
    expect(applied).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('refuses malformed records from untyped callers, naming what is wrong', () => {
    const doc = encodeTable(right(createTable({ segmentBlocks: SEGMENT_BLOCKS, entries: [{ zero: true }] })));
    const state = right(applyPersistRecord(EMPTY_DURABLE_STATE, { type: 'saveTable', disk: 'a', table: doc }));
    const refusal = (record: unknown): string => {
      const result = applyPersistRecord(state, record as PersistRecord);
      return E.isLeft(result) ? result.left : 'applied';
    };
    expect(refusal(null)).toBe('a record must be an object, got null');
    expect(refusal({ type: 'deleteTable', disk: 7 })).toContain('disk must be a string');
    expect(refusal({ type: 'frob', disk: 'a' })).toContain('unknown record type "frob"');
    expect(refusal({ type: 'updateTable', disk: 'a', fromGeneration: 0, generation: 1, changes: 'all' })).toContain('changes must be an array');
    expect(refusal({ type: 'updateTable', disk: 'a', fromGeneration: 0, generation: 1.5, changes: [] })).toContain('generation must be a safe integer above 0');
    expect(refusal({ type: 'updateTable', disk: 'a', fromGeneration: 0, generation: 1, segmentCount: -1, changes: [] })).toContain('segmentCount');
    expect(refusal({ type: 'attachments', disk: 'a', agents: [1] })).toContain('agents must be an array of strings');
    expect(refusal({ type: 'updateTable', disk: 'a', fromGeneration: 0, generation: 1, freeze: 1, changes: [] })).toContain('freeze must be true when present, got 1');
    expect(refusal({ type: 'updateTable', disk: 'a', fromGeneration: 0, generation: 1, freeze: false, changes: [] })).toContain('freeze must be true when present, got false');
    expect(refusal({ type: 'cloneTable', disk: 'b', source: 7 })).toContain('source must be a string, got 7');
    expect(refusal({ type: 'cloneTable', disk: 'b', source: 'c' })).toContain('no table is stored for source "c"');
    expect(refusal({ type: 'cloneTable', disk: 'a', source: 'a' })).toContain('source must name another disk');
    expect(refusal({ type: 'saveTable', disk: 'b', table: { ...doc, entries: [] } })).toContain('the table document is invalid');
    expect(encodeDurableState(state)).toEqual({ tables: [{ disk: 'a', table: doc }], attachments: [] });
  });
});
