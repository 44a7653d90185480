/**
 * The agent's drop marks (docs/design.md#ordering-rules): once it dropped a disk at the
 * generation its `dropTable` carried, a table message of the disk at or below that generation
 * was sent before the drop (late or duplicated) and never gives the copy back; a newer one does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentTable, initialAgentState, type AgentConfig, type AgentEvent } from '../../src/agent/agent.js';
import { encodeEntry, encodeTable } from '../../src/table/codec.js';
import { createTable, type MappingTable } from '../../src/table/table.js';
import { D, msg, right, run, sent } from './steps.js';

const EPOCH = 2;
const CONFIG: AgentConfig = { agent: 'a1', epoch: EPOCH, variant: 'centralized', faultTimeout: 100 };
const table = (generation: number): MappingTable => right(createTable({ segmentBlocks: 8, entries: [{ location: { lun: 1, start: 0 } }, { zero: true }], generation }));
const replace = (generation: number): AgentEvent => msg({ type: 'replaceTable', epoch: EPOCH, disk: D, table: encodeTable(table(generation)) });
const delta = (from: number, to: number): AgentEvent =>
  msg({ type: 'setEntries', epoch: EPOCH, disk: D, fromGeneration: from, generation: to, changes: [{ segment: 1, entry: encodeEntry({ zero: true, location: null, alternate: null, noWrite: false, invalid: false, error: false }) }] });
const drop = (generation?: number): AgentEvent => msg(generation === undefined ? { type: 'dropTable', epoch: EPOCH, disk: D } : { type: 'dropTable', epoch: EPOCH, disk: D, generation });

describe('agent: stale tables after a drop', () => {
  it('a table sent before the dropTable (at or below its generation) is refused and answered with dropped', () => {
    const [dropped, c1] = run(initialAgentState(CONFIG), replace(7), drop(7));
    expect(sent(c1).at(-1)).toEqual({ type: 'dropped', agent: 'a1', epoch: EPOCH, disk: D, generation: 7 });
    expect(agentTable(dropped, D)).toBeUndefined();
    for (const late of [replace(7), replace(3), delta(6, 7)]) {
      const [after, cmds] = run(dropped, late);
      expect(agentTable(after, D)).toBeUndefined();
      expect(sent(cmds)).toEqual([{ type: 'dropped', agent: 'a1', epoch: EPOCH, disk: D, generation: 7 }]);
      expect(cmds.some((c) => c.type === 'refused')).toBe(true);
    }
  });

  it('a newer table (the disk attached again, or created again) is installed and lifts the mark', () => {
    const [dropped] = run(initialAgentState(CONFIG), replace(7), drop(7));
    const [back, cmds] = run(dropped, replace(8));
    expect(agentTable(back, D)?.generation).toBe(8);
    expect(sent(cmds)).toEqual([{ type: 'tableAck', agent: 'a1', epoch: EPOCH, disk: D, generation: 8 }]);
    expect(back.dropped).toBeUndefined();
    // The mark is gone: after a second drop at a lower generation (a disk created again), only that one counts.
    const [again] = run(back, drop(2), replace(3));
    expect(agentTable(again, D)?.generation).toBe(3);
  });

  it('a dropTable without a generation marks nothing (an older controller): later tables are taken as before', () => {
    const [dropped, c1] = run(initialAgentState(CONFIG), replace(7), drop());
    expect(sent(c1).at(-1)).toEqual({ type: 'dropped', agent: 'a1', epoch: EPOCH, disk: D });
    expect(agentTable(run(dropped, replace(7))[0], D)?.generation).toBe(7);
  });

  it('whatever order a drop and earlier tables arrive in, the agent ends without a copy (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 6 }), (gens, at) => {
        // Tables sent before the drop carry generations at most the drop's (the committed one).
        const mark = Math.max(...gens);
        const events = gens.map(replace);
        events.splice(Math.min(at, events.length), 0, drop(mark));
        const [state] = run(initialAgentState(CONFIG), ...events);
        // Only tables that arrived before the drop were installed, and the drop took them.
        expect(agentTable(state, D)).toBeUndefined();
        expect(state.dropped?.get(D)).toBe(mark);
      }),
    );
  });
});
