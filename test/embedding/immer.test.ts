/**
 * Embedding: tables, bitmaps and agent states kept inside a caller's immer state. Immer freezes
 * what `produce` returns (deeply, for plain objects, arrays, Maps and Sets) and drafts what a
 * recipe touches; our values must come out untouched (same objects, not copies) and keep
 * working, whether they were merely carried along, replaced inside a recipe, or used after the
 * freeze.
 */
import * as E from 'fp-ts/lib/Either.js';
import { enableMapSet, freeze, original, produce } from 'immer';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/bitmap/bitmap.js';
import { agentStep, agentTable, initialAgentState } from '../../src/agent/agent.js';
import type { AgentEvent, AgentState } from '../../src/agent/types.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable, getEntry, setEntry, type MappingTable } from '../../src/table/table.js';
import { translate } from '../../src/translate/translate.js';

enableMapSet();

const right = <A>(e: E.Either<unknown, A>): A => (E.isRight(e) ? e.right : expect.fail(JSON.stringify(e.left)));

// Large enough to have several chunks, some with alternates, and the shared record array.
const table = right(
  createTable({
    segmentBlocks: 8,
    segmentCount: 1000,
    entries: (s) => (s % 7 === 0 ? { location: { lun: 1, start: s * 8 }, noWrite: true, alternate: { lun: 2, start: s * 8, blocks: [1, 5] } } : { location: { lun: 1, start: s * 8 } }),
  }),
);
const bitmap = right(B.fromOffsets(40, [1, 2, 39]));

interface AppState {
  readonly name: string;
  readonly count: number;
  readonly disks: { readonly vol: MappingTable; readonly history: ReadonlyArray<MappingTable> };
  readonly marks: Map<string, B.Bitmap>;
  readonly agent: AgentState;
}

const CONFIG = { agent: 'a1', epoch: 1, variant: 'centralized', faultTimeout: 100 } as const;
const replace: AgentEvent = { type: 'message', message: { type: 'replaceTable', epoch: 1, disk: 'vol', table: encodeTable(table) } };
const read: AgentEvent = { type: 'hostIo', ioId: 1, disk: 'vol', op: 'read', start: 0, length: 16 };

const initial = (): AppState => ({ name: 'app', count: 0, disks: { vol: table, history: [table] }, marks: new Map([['m', bitmap]]), agent: initialAgentState(CONFIG) });

/** The table still maps exactly as built, through every entry point. */
const expectWorks = (t: MappingTable): void => {
  expect(right(getEntry(t, 7)).alternate?.start).toBe(56);
  expect(right(translate(t, { op: 'read', start: 56, length: 8 })).map((p) => p.kind).join()).toBe('primary,alternate,primary,alternate,primary');
  expect(right(setEntry(t, 3, { zero: true })).generation).toBe(t.generation + 1);
  expect(encodeTable(t)).toEqual(encodeTable(table));
};

describe('embedding in immer state', () => {
  it('values carried through produce come out as the very same objects, frozen state or not', () => {
    const s0 = initial();
    const s1 = produce(s0, (d) => {
      d.count += 1;
      d.name = 'renamed';
    });
    expect(Object.isFrozen(s1)).toBe(true);
    expect(s1.disks.vol).toBe(table);
    expect(s1.disks.history[0]).toBe(table);
    expect(s1.marks.get('m')).toBe(bitmap);
    expectWorks(s1.disks.vol);
    expect(B.format(s1.marks.get('m')!)).toBe('1-2,39');
  });

  it('a table read and replaced inside a recipe is not drafted or copied, and the result works', () => {
    const s1 = produce(initial(), (d) => {
      expect(d.disks.vol).toBe(table); // frozen class instances are never drafted
      d.disks.vol = right(setEntry(d.disks.vol as MappingTable, 7, { zero: true })) as never;
      d.disks.history.push(d.disks.vol);
      d.marks.set('n', right(B.setRange(d.marks.get('m')!, 10, 3)));
    });
    const t = s1.disks.vol;
    expect(t).toBe(s1.disks.history[1]);
    expect(t.chunks[1]).toBe(table.chunks[1]); // structure sharing survives
    expect(right(getEntry(t, 7)).zero).toBe(true);
    expect(right(getEntry(table, 7)).zero).toBe(false);
    expectWorks(table);
    expect(B.format(s1.marks.get('n')!)).toBe('1-2,10-12,39');
  });

  it('tables and bitmaps tolerate deep freezing (immer freeze and Object.freeze)', () => {
    const frozen = freeze({ t: table, b: bitmap, list: [table] }, true);
    expect(frozen.t).toBe(table);
    expect(Object.isFrozen(table)).toBe(true);
    expect(Object.isFrozen(bitmap)).toBe(true);
    expectWorks(frozen.t);
    expect(B.count(frozen.b)).toBe(3);
  });

  it('an agent state stored in immer state, and frozen by it, keeps stepping', () => {
    let s = initial();
    for (const event of [replace, read]) {
      const [next] = agentStep(s.agent, event);
      s = produce(s, (d) => {
        d.agent = next as never;
      });
    }
    expect(Object.isFrozen(s.agent)).toBe(true);
    expect(agentTable(s.agent, 'vol')).toBeDefined();
    // The frozen state's Maps cannot be written; stepping copies them instead.
    const [next, commands] = agentStep(s.agent, { type: 'ioDone', ioId: 1 });
    expect(commands.map((c) => c.type)).toEqual(['completeIo']);
    expect(s.agent.ios.has(1)).toBe(true);
    expect(next.ios.has(1)).toBe(false);
  });

  it('an agent state stepped inside a recipe, from the draft or from original(draft), gives the same result', () => {
    const s = produce(initial(), (d) => {
      d.agent = agentStep(d.agent as AgentState, replace)[0] as never;
    });
    const viaDraft = produce(s, (d) => {
      d.agent = agentStep(d.agent as AgentState, read)[0] as never;
    });
    const viaOriginal = produce(s, (d) => {
      d.agent = agentStep(original(d.agent) as AgentState, read)[0] as never;
    });
    expect(agentTable(viaDraft.agent, 'vol')).toBe(agentTable(s.agent, 'vol'));
    expect([...viaDraft.agent.ios.keys()]).toEqual([...viaOriginal.agent.ios.keys()]);
    expect(viaDraft.agent.ios.get(1)?.status).toBe('inFlight');
    const [, commands] = agentStep(viaDraft.agent, { type: 'ioDone', ioId: 1 });
    expect(commands.map((c) => c.type)).toEqual(['completeIo']);
  });
});
