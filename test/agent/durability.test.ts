/**
 * What a host flush covers (src/agent/durability.ts, docs/design.md#ordering-rules rule D6):
 * every LUN a write of the disk reached since the last host flush, whether the write completed,
 * failed at storage (it may have landed in part), or was the zeros of a discard or write-zeroes.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCommand, AgentConfig, AgentEvent, AgentState } from '../../src/agent/agent.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { createTable, type MappingTable } from '../../src/table/table.js';
import { D, holdingTable, right, run } from './steps.js';

const EPOCH = 4;
const CENTRALIZED: AgentConfig = { agent: 'a1', epoch: EPOCH, variant: 'centralized', faultTimeout: 100 };
const DISTRIBUTED: AgentConfig = { ...CENTRALIZED, variant: 'distributed' };

/** Segments of 10 blocks: 0 on LUN 1, 1 on LUN 2, 2 on LUN 1 and no-write with an empty alternate on LUN 3. */
const ENTRIES: EntrySpec[] = [
  { location: { lun: 1, start: 0 } },
  { location: { lun: 2, start: 0 } },
  { location: { lun: 1, start: 10 }, noWrite: true, alternate: { lun: 3, start: 0, blocks: [] } },
];
const table = (): MappingTable => right(createTable({ segmentBlocks: 10, entries: ENTRIES, generation: 5 }));

const hostIo = (ioId: number, op: 'write' | 'zero', start: number, length: number): AgentEvent => ({ type: 'hostIo', ioId, disk: D, op, start, length });
const hostFlush = (ioId: number): AgentEvent => ({ type: 'hostFlush', ioId, disk: D });

const holding = (config = CENTRALIZED): AgentState => holdingTable(config, table());

/** The LUNs of every `issueIo` piece among `commands`. */
const lunsIssued = (commands: AgentCommand[]): number[] =>
  [...new Set(commands.flatMap((c) => (c.type === 'issueIo' ? c.pieces.flatMap((p) => (p.lun === undefined ? [] : [p.lun])) : [])))].sort((a, b) => a - b);

describe('agent: what a host flush covers', () => {
  it('a write that completed: its LUNs (the baseline the cases below are held to)', () => {
    const [s1, issued] = run(holding(), hostIo(1, 'write', 5, 10));
    expect(lunsIssued(issued)).toEqual([1, 2]);
    const [s2, done] = run(s1, { type: 'ioDone', ioId: 1 });
    expect(done).toEqual([{ type: 'completeIo', ioId: 1 }]);
    expect(run(s2, hostFlush(2))[1]).toEqual([{ type: 'flush', flushId: 2, luns: [1, 2] }]);
  });

  it('a write that failed at storage may have landed in part (a lost acknowledgement, a torn write): the next host flush covers its LUNs', () => {
    const [s1, issued] = run(holding(), hostIo(1, 'write', 5, 10));
    expect(lunsIssued(issued)).toEqual([1, 2]);
    const [s2, failed] = run(s1, { type: 'ioFailed', ioId: 1, error: 'write of 80 bytes to LUN 2 at 0 failed: injected fault' });
    expect(failed).toEqual([{ type: 'failIo', ioId: 1, reason: expect.stringMatching(/injected fault/) }]);
    // The host may read back what landed: a flush that completes must keep it.
    expect(s2.dirty.get(D)).toEqual([1, 2]);
    const [s3, flush] = run(s2, hostFlush(2));
    expect(flush).toEqual([{ type: 'flush', flushId: 2, luns: [1, 2] }]);
    expect(run(s3, { type: 'flushDone', flushId: 2 })[1]).toEqual([{ type: 'completeIo', ioId: 2 }]);
  });

  it('the zeros a write-zeroes or discard writes to partly covered segments: the next host flush covers their LUNs', () => {
    // Blocks 5..14: the end of segment 0 (LUN 1) and the start of segment 1 (LUN 2), written as zeros.
    const [s1, issued] = run(holding(), hostIo(1, 'zero', 5, 10));
    expect(lunsIssued(issued)).toEqual([1, 2]);
    const [s2, done] = run(s1, { type: 'ioDone', ioId: 1 });
    expect(done).toEqual([{ type: 'completeIo', ioId: 1 }]);
    expect(run(s2, hostFlush(2))[1]).toEqual([{ type: 'flush', flushId: 2, luns: [1, 2] }]);
  });

  it('the zeros of a write-zeroes that failed at storage: the next host flush covers their LUNs', () => {
    const [s1] = run(holding(), hostIo(1, 'zero', 5, 10));
    const [s2] = run(s1, { type: 'ioFailed', ioId: 1, error: 'writeZeros of 5 blocks to LUN 1 at 5 failed: injected fault' });
    expect(run(s2, hostFlush(2))[1]).toEqual([{ type: 'flush', flushId: 2, luns: [1, 2] }]);
  });

  it('distributed: the zeros written to an alternate are flushed before the marks that expose them are sent (rule D3)', () => {
    // Blocks 22..24 of no-write segment 2 go to its alternate on LUN 3, and must be marked.
    const [s1, issued] = run(holding(DISTRIBUTED), hostIo(1, 'zero', 22, 3));
    expect(issued).toEqual([{ type: 'issueIo', ioId: 1, disk: D, op: 'write', pieces: [expect.objectContaining({ kind: 'alternate', lun: 3, marksAlternate: true })] }]);
    const [s2, done] = run(s1, { type: 'ioDone', ioId: 1 });
    expect(done).toEqual([{ type: 'flush', flushId: 1, luns: [3] }]);
    const [, flushed] = run(s2, { type: 'flushDone', flushId: 1 });
    expect(flushed).toEqual([{ type: 'send', message: expect.objectContaining({ type: 'markBits', segment: 2, start: 22, length: 3 }) }]);
  });
});
