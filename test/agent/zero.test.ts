/**
 * The agent machine's `zero` host requests (discard and write-zeroes) and its answer to a
 * `dropTable` meant for an earlier life.
 */
import { describe, expect, it } from 'vitest';
import { initialAgentState, type AgentConfig, type AgentEvent, type AgentState } from '../../src/agent/agent.js';
import { encodeTable } from '../../src/table/codec.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { createTable, type MappingTable } from '../../src/table/table.js';
import { D, holdingTable, msg, right, run, sent } from './steps.js';

const EPOCH = 3;
const CONFIG: AgentConfig = { agent: 'a1', epoch: EPOCH, variant: 'centralized', faultTimeout: 100 };

/** Segments of 10 blocks: 0 located, 1 zero, 2 located and no-write, 3 failed, 4 zero with an alternate. */
const ENTRIES: EntrySpec[] = [
  { location: { lun: 1, start: 0 } },
  { zero: true },
  { location: { lun: 1, start: 20 }, noWrite: true },
  { location: { lun: 1, start: 30 }, error: true },
  { zero: true, alternate: { lun: 2, start: 0, blocks: [1] } },
];
const table = (generation = 5, entries = ENTRIES): MappingTable => right(createTable({ segmentBlocks: 10, entries, generation }));

const zero = (ioId: number, start: number, length: number): AgentEvent => ({ type: 'hostIo', ioId, disk: D, op: 'zero', start, length });

/** An agent holding `t` for disk `d`. */
const holding = (t = table()): AgentState => holdingTable(CONFIG, t);

describe('agent: zero host requests', () => {
  it('a segment that reads as zeros already needs nothing: the request completes at once', () => {
    const [, cmds] = run(holding(), zero(1, 10, 10));
    expect(cmds).toEqual([{ type: 'completeIo', ioId: 1 }]);
    expect(run(holding(), zero(2, 12, 3))[1]).toEqual([{ type: 'completeIo', ioId: 2 }]);
  });

  it('a whole located segment is asked of the controller and parked; the retry finds it zero and completes', () => {
    const [s1, c1] = run(holding(), zero(1, 0, 20));
    expect(sent(c1)).toEqual([{ type: 'zeroSegment', agent: 'a1', epoch: EPOCH, faultId: 1, disk: D, segment: 0, generation: 5 }]);
    expect(s1.ios.get(1)).toMatchObject({ status: 'parked', behind: 1 });
    // A read of that segment waits behind the zero request.
    const [s2, c2] = run(s1, { type: 'hostIo', ioId: 2, disk: D, op: 'read', start: 3, length: 1 });
    expect(c2).toEqual([]);
    const zeroed = table(6, [{ zero: true }, ...ENTRIES.slice(1)]);
    const [, c3] = run(s2, msg({ type: 'replaceTable', epoch: EPOCH, disk: D, table: encodeTable(zeroed) }), msg({ type: 'retry', epoch: EPOCH, faultId: 1 }));
    expect(c3.filter((c) => c.type !== 'send')).toEqual([
      { type: 'completeIo', ioId: 1 },
      { type: 'issueIo', ioId: 2, disk: D, op: 'read', pieces: [{ kind: 'zero', virtualStart: 3, length: 1 }] }, // reads as zeros, no storage
    ]);
  });

  it('partly covered segments are written through the write path: zero pieces at the primary, a fault for a no-write segment', () => {
    const [s1, c1] = run(holding(), zero(1, 5, 3));
    expect(c1).toEqual([{ type: 'issueIo', ioId: 1, disk: D, op: 'write', pieces: [{ kind: 'primary', virtualStart: 5, length: 3, lun: 1, start: 5 }] }]);
    expect(s1.ios.get(1)).toMatchObject({ status: 'inFlight' });
    const [, c2] = run(holding(), zero(2, 25, 2));
    expect(sent(c2)).toEqual([{ type: 'ioFault', agent: 'a1', epoch: EPOCH, faultId: 1, disk: D, segment: 2, op: 'write', start: 25, length: 2, reason: 'no-write', generation: 5 }]);
  });

  it('a zero segment with an alternate holds data: a whole request asks the controller', () => {
    const [, cmds] = run(holding(), zero(1, 40, 10));
    expect(sent(cmds)).toMatchObject([{ type: 'zeroSegment', segment: 4 }]);
  });

  it('fails a request touching a failed segment, a zero length, or a range past the disk, with the reason', () => {
    const failed = (e: AgentEvent) => run(holding(), e)[1];
    expect(failed(zero(1, 28, 4))).toEqual([{ type: 'failIo', ioId: 1, reason: 'error: segment 3 is marked failed' }]);
    expect(failed(zero(2, 0, 0))).toEqual([{ type: 'failIo', ioId: 2, reason: 'invalid request: length must be at least 1 for a discard or write-zeroes, got 0' }]);
    expect(failed(zero(3, 45, 10))[0]).toMatchObject({ type: 'failIo', reason: expect.stringMatching(/^out of range: start 45 length 10 ends past the 50 blocks/) });
  });

  it('with no table, the request faults for the table first like any I/O', () => {
    const [, cmds] = run(initialAgentState(CONFIG), zero(1, 0, 10));
    expect(sent(cmds)).toMatchObject([{ type: 'ioFault', segment: -1, op: 'write', generation: -1 }]);
  });
});

describe('agent: dropTable meant for an earlier life', () => {
  it('is carried out and answered with this life\'s epoch, so a controller waiting for the old life learns it is gone', () => {
    const [s, cmds] = run(holding(), msg({ type: 'dropTable', epoch: EPOCH - 1, disk: D }));
    expect(sent(cmds)).toEqual([{ type: 'dropped', agent: 'a1', epoch: EPOCH, disk: D }]);
    expect(s.disks.has(D)).toBe(false);
    // One meant for a later life is not carried out: it fences this life (a newer one exists).
    const [later, laterCmds] = run(holding(), msg({ type: 'dropTable', epoch: EPOCH + 1, disk: D }));
    expect(sent(laterCmds)).toEqual([]);
    expect(later.fenced).toContain(`epoch ${EPOCH}`);
  });
});
