/**
 * Tests of src/agent/agent.ts: each rule of the agent state machine on the reference table of
 * docs/design.md#address-model (10 blocks per segment; seg0 LUN1 0-9 with alternate LUN2 10-19
 * bits 2,7,8; seg1 LUN2 0-9 noWrite; seg2 LUN1 10-19), then a property test that drives the
 * machine with random event sequences and checks that it never loses, doubles or silently parks
 * an I/O.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  agentParkedCount,
  agentStep,
  agentTable,
  createAgentState,
  DEFAULT_AGENT_LIMITS,
  initialAgentState,
  type AgentCommand,
  type AgentConfig,
  type AgentEvent,
  type AgentState,
} from '../../src/agent/agent.js';
import type {
  AgentMessage,
  ControllerMessage,
  EntryChange,
  IoFaultMessage,
  MarkBitsMessage,
} from '../../src/protocol/messages.js';
import { freezeTableDocument } from '../../src/protocol/shared-documents.js';
import { decodeEntry, encodeEntry, encodeTable, type EntryDocument } from '../../src/table/codec.js';
import type { EntrySpec } from '../../src/table/entry.js';
import { createTable, diffTables, getEntry, setEntry, type MappingTable } from '../../src/table/table.js';
import { translate, type Op, type Piece, type Variant } from '../../src/translate/translate.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const EPOCH = 7;
const CONFIG: AgentConfig = { agent: 'a1', epoch: EPOCH, variant: 'centralized', faultTimeout: 100 };
const DISTRIBUTED: AgentConfig = { ...CONFIG, variant: 'distributed' };
const D = 'd';

const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

const REF_ENTRIES: EntrySpec[] = [
  { location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 10, blocks: [2, 7, 8] } },
  { location: { lun: 2, start: 0 }, noWrite: true },
  { location: { lun: 1, start: 10 } },
];

const refTable = (generation = 3, entries: EntrySpec[] = REF_ENTRIES): MappingTable =>
  right(createTable({ segmentBlocks: 10, entries, generation }));

const doc = (spec: EntrySpec): EntryDocument => encodeEntry(right(getEntry(right(createTable({ segmentBlocks: 10, entries: [spec] })), 0)));

const replaceTable = (table: MappingTable, disk = D, epoch = EPOCH): AgentEvent => ({
  type: 'message',
  message: { type: 'replaceTable', epoch, disk, table: encodeTable(table) },
});

const setEntries = (
  fromGeneration: number,
  generation: number,
  changes: ReadonlyArray<EntryChange>,
  extra: { disk?: string; epoch?: number; segmentCount?: number; freeze?: unknown } = {},
): AgentEvent => ({
  type: 'message',
  message: {
    type: 'setEntries',
    epoch: extra.epoch ?? EPOCH,
    disk: extra.disk ?? D,
    fromGeneration,
    generation,
    changes,
    ...(extra.segmentCount === undefined ? {} : { segmentCount: extra.segmentCount }),
    ...(extra.freeze === undefined ? {} : { freeze: extra.freeze as true }),
  },
});

const msg = (message: ControllerMessage): AgentEvent => ({ type: 'message', message });
const retry = (faultId: number, epoch = EPOCH): AgentEvent => msg({ type: 'retry', epoch, faultId });
const failIoMsg = (faultId: number, reason: string, epoch = EPOCH): AgentEvent => msg({ type: 'failIo', epoch, faultId, reason });
const confirm = (faultId: number, epoch = EPOCH): AgentEvent => msg({ type: 'confirmMark', epoch, faultId });
const io = (ioId: number, op: Op, start: number, length: number, disk = D): AgentEvent => ({ type: 'hostIo', ioId, disk, op, start, length });
const done = (ioId: number): AgentEvent => ({ type: 'ioDone', ioId });
import { backoffCap, retryDelay } from '../../src/agent/backoff.js';
import { agentEpoch } from '../../src/agent/agent.js';
const tick = (now: number): AgentEvent => ({ type: 'tick', now });

/** Drives an agent, keeping the commands of the last step. */
class Harness {
  state: AgentState;
  last: ReadonlyArray<AgentCommand> = [];

  constructor(config: AgentConfig = CONFIG) {
    this.state = initialAgentState(config);
  }

  /** When true, storage answers every `flush` command at once (flushDone) and it is left out of the result. */
  autoFlush = true;

  step(...events: AgentEvent[]): ReadonlyArray<AgentCommand> {
    const all: AgentCommand[] = [];
    const queue = [...events];
    while (queue.length > 0) {
      const [next, commands] = agentStep(this.state, queue.shift()!);
      this.state = next;
      for (const c of commands) {
        if (this.autoFlush && c.type === 'flush') queue.push({ type: 'flushDone', flushId: c.flushId });
        else all.push(c);
      }
    }
    this.last = all;
    return all;
  }
}

const sent = (commands: ReadonlyArray<AgentCommand>): AgentMessage[] =>
  commands.flatMap((c) => (c.type === 'send' ? [c.message] : []));
const faultsIn = (commands: ReadonlyArray<AgentCommand>): IoFaultMessage[] =>
  sent(commands).filter((m): m is IoFaultMessage => m.type === 'ioFault');
const marksIn = (commands: ReadonlyArray<AgentCommand>): MarkBitsMessage[] =>
  sent(commands).filter((m): m is MarkBitsMessage => m.type === 'markBits');
const ack = (disk: string, generation: number): AgentCommand => ({
  type: 'send',
  message: { type: 'tableAck', agent: 'a1', epoch: EPOCH, disk, generation },
});
/** Without a copy (generation -1) a fetch carries the drop mark (-1: none). */
const fetchTable = (disk: string, generation: number, dropMark = -1): AgentCommand => ({
  type: 'send',
  message: generation < 0 ? { type: 'fetchTable', agent: 'a1', epoch: EPOCH, disk, generation, dropMark } : { type: 'fetchTable', agent: 'a1', epoch: EPOCH, disk, generation },
});
const issue = (ioId: number, op: Op, pieces: Piece[], disk = D): AgentCommand => ({ type: 'issueIo', ioId, disk, op, pieces });
const expectedPieces = (table: MappingTable, op: Op, start: number, length: number, variant: Variant = 'centralized'): Piece[] =>
  right(translate(table, { op, start, length }, { variant }));

/** An agent of `config` holding `table` for disk `d`, its acknowledgement already sent. */
const holding = (table: MappingTable = refTable(), config: AgentConfig = CONFIG): Harness => {
  const h = new Harness(config);
  expect(h.step(replaceTable(table))).toEqual([ack(D, table.generation)]);
  return h;
};

// ---------------------------------------------------------------------------------------------
// Step 1: host I/O
// ---------------------------------------------------------------------------------------------

describe('hostIo', () => {
  it('starts with no tables: the first I/O to a disk faults for segment -1', () => {
    const h = new Harness();
    expect(agentTable(h.state, D)).toBeUndefined();
    expect(h.step(io(1, 'read', 5, 12))).toEqual([
      {
        type: 'send',
        message: {
          type: 'ioFault',
          agent: 'a1',
          epoch: EPOCH,
          faultId: 1,
          disk: D,
          segment: -1,
          op: 'read',
          start: 5,
          length: 12,
          reason: 'invalid',
          generation: -1,
        },
      },
    ]);
    expect(agentParkedCount(h.state)).toBe(1);
  });

  it('parks later I/O to a disk without a table behind the one fault; other disks fault on their own', () => {
    const h = new Harness();
    h.step(io(1, 'read', 0, 1));
    expect(h.step(io(2, 'write', 20, 5))).toEqual([]);
    const other = faultsIn(h.step(io(3, 'read', 0, 1, 'e')));
    expect(other).toMatchObject([{ disk: 'e', segment: -1, faultId: 2 }]);
    expect(agentParkedCount(h.state)).toBe(3);
  });

  it('no table -> fault -> replaceTable -> ack -> retry -> issueIo -> ioDone -> completeIo', () => {
    const h = new Harness();
    const [fault] = faultsIn(h.step(io(1, 'read', 0, 10)));
    expect(h.step(replaceTable(refTable(3)))).toEqual([ack(D, 3)]);
    expect(agentTable(h.state, D)?.generation).toBe(3);
    expect(h.step(retry(fault!.faultId))).toEqual([
      issue(1, 'read', [
        { kind: 'primary', virtualStart: 0, length: 2, lun: 1, start: 0 },
        { kind: 'alternate', virtualStart: 2, length: 1, lun: 2, start: 12 },
        { kind: 'primary', virtualStart: 3, length: 4, lun: 1, start: 3 },
        { kind: 'alternate', virtualStart: 7, length: 2, lun: 2, start: 17 },
        { kind: 'primary', virtualStart: 9, length: 1, lun: 1, start: 9 },
      ]),
    ]);
    expect(agentParkedCount(h.state)).toBe(0);
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }]);
    expect(h.state.ios.size).toBe(0);
  });

  it('re-attempts every I/O parked behind the no-table fault, in arrival order', () => {
    const h = new Harness();
    h.step(io(1, 'read', 0, 10), io(2, 'read', 20, 10), io(3, 'write', 15, 2));
    h.step(replaceTable(refTable()));
    const commands = h.step(retry(1));
    expect(commands.map((c) => [c.type, 'ioId' in c ? c.ioId : undefined])).toEqual([
      ['issueIo', 1],
      ['issueIo', 2],
      ['send', undefined], // write 15-16 hits noWrite segment 1
    ]);
    expect(faultsIn(commands)).toMatchObject([{ faultId: 2, segment: 1, reason: 'no-write', start: 15, length: 2, generation: 3 }]);
  });

  it('issues translated pieces and completes on ioDone', () => {
    const h = holding();
    expect(h.step(io(1, 'write', 20, 10))).toEqual([issue(1, 'write', [{ kind: 'primary', virtualStart: 20, length: 10, lun: 1, start: 10 }])]);
    expect(h.step(io(2, 'read', 8, 5))).toEqual([issue(2, 'read', expectedPieces(refTable(), 'read', 8, 5))]);
    expect(h.step(done(2), done(1))).toEqual([
      { type: 'completeIo', ioId: 2 },
      { type: 'completeIo', ioId: 1 },
    ]);
  });

  it('fails malformed requests naming the field and value, table or not', () => {
    for (const h of [new Harness(), holding()]) {
      const [a] = h.step(io(1, 'read', -1, 4));
      expect(a).toMatchObject({ type: 'failIo', ioId: 1 });
      expect((a as { reason: string }).reason).toMatch(/start.*-1/);
      const [b] = h.step(io(2, 'read', 0, 1.5));
      expect((b as { reason: string }).reason).toMatch(/length.*1\.5/);
      const [c] = h.step(io(3, 'erase' as Op, 0, 1));
      expect((c as { reason: string }).reason).toMatch(/op.*"erase"/);
      expect(h.state.ios.size).toBe(0);
    }
  });

  it('fails a request past the end of a table it holds, naming start, length and the disk size', () => {
    const h = holding();
    const [c] = h.step(io(1, 'read', 25, 10));
    expect(c).toMatchObject({ type: 'failIo', ioId: 1 });
    expect((c as { reason: string }).reason).toMatch(/start 25 length 10 .*30 blocks/);
  });

  it('fails I/O to an error segment without a fault', () => {
    const table = refTable(3, [REF_ENTRIES[0]!, REF_ENTRIES[1]!, { location: { lun: 1, start: 10 }, error: true }]);
    const h = holding(table);
    expect(h.step(io(1, 'read', 18, 5))).toEqual([{ type: 'failIo', ioId: 1, reason: 'error: segment 2 is marked failed' }]);
  });

  it('accepts zero-length I/O and reads of zero segments with no storage pieces', () => {
    const table = refTable(3, [REF_ENTRIES[0]!, { zero: true }, REF_ENTRIES[2]!]);
    const h = holding(table);
    expect(h.step(io(1, 'read', 30, 0))).toEqual([issue(1, 'read', [])]);
    expect(h.step(io(2, 'read', 10, 10))).toEqual([issue(2, 'read', [{ kind: 'zero', virtualStart: 10, length: 10 }])]);
  });

  it('ignores a repeated ioId while the first is live', () => {
    const h = holding();
    h.step(io(1, 'read', 0, 1));
    const before = h.state;
    expect(h.step(io(1, 'read', 0, 1))).toEqual([]);
    expect(h.state).toBe(before);
  });

  it('never changes the state it was given', () => {
    const h = new Harness();
    const s0 = h.state;
    h.step(io(1, 'read', 0, 1), replaceTable(refTable()), retry(1));
    expect(s0.ios.size).toBe(0);
    expect(s0.disks.size).toBe(0);
    expect(s0.nextFaultId).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Faults: one per segment, parking behind it
// ---------------------------------------------------------------------------------------------

describe('faults', () => {
  it('faults a write to a noWrite segment once; a second write there parks without a second fault', () => {
    const h = holding();
    expect(faultsIn(h.step(io(1, 'write', 12, 3)))).toEqual([
      { type: 'ioFault', agent: 'a1', epoch: EPOCH, faultId: 1, disk: D, segment: 1, op: 'write', start: 12, length: 3, reason: 'no-write', generation: 3 },
    ]);
    expect(h.step(io(2, 'write', 16, 2))).toEqual([]);
    expect(agentParkedCount(h.state)).toBe(2);
  });

  it('parks a read of a segment with an outstanding fault without translating; other segments go on', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3));
    expect(h.step(io(2, 'read', 5, 10))).toEqual([]); // touches segment 1
    expect(h.step(io(3, 'read', 20, 10))).toEqual([issue(3, 'read', expectedPieces(refTable(), 'read', 20, 10))]);
  });

  it('sends one fault per faulting segment with the part of the request inside it', () => {
    const table = refTable(3, [REF_ENTRIES[0]!, REF_ENTRIES[1]!, { zero: true }]);
    const h = holding(table);
    expect(faultsIn(h.step(io(1, 'write', 8, 15)))).toMatchObject([
      { faultId: 1, segment: 1, reason: 'no-write', start: 10, length: 10 },
      { faultId: 2, segment: 2, reason: 'zero', start: 20, length: 3 },
    ]);
  });

  it('keeps a multi-fault I/O parked until its last fault is answered', () => {
    const table = refTable(3, [REF_ENTRIES[0]!, REF_ENTRIES[1]!, { zero: true }]);
    const h = holding(table);
    h.step(io(1, 'write', 15, 10));
    const fixed = refTable(4, [REF_ENTRIES[0]!, REF_ENTRIES[2]!, { location: { lun: 1, start: 40 } }]);
    h.step(replaceTable(fixed));
    expect(h.step(retry(1))).toEqual([]); // segment 2's fault is still outstanding
    expect(agentParkedCount(h.state)).toBe(1);
    expect(h.step(retry(2))).toEqual([issue(1, 'write', expectedPieces(fixed, 'write', 15, 10))]);
  });

  it('retry re-attempts from translation: a still-faulting I/O raises a new fault, others park behind it and widen it to their blocks', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3), io(2, 'write', 16, 2));
    const commands = h.step(retry(1));
    // One fault for both writes of segment 1 (blocks 12..17), so one resolution serves both.
    expect(faultsIn(commands)).toMatchObject([{ faultId: 2, segment: 1, start: 12, length: 6 }]);
    expect(h.state.outstanding.get(2)?.message).toMatchObject({ start: 12, length: 6 });
    expect(commands).toHaveLength(1);
    expect(agentParkedCount(h.state)).toBe(2);
  });

  it('retry after the controller fixed the entry issues every parked I/O', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3), io(2, 'write', 16, 2), io(3, 'read', 10, 10));
    expect(h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ location: { lun: 2, start: 0 } }) }]))).toEqual([ack(D, 4)]);
    const t = agentTable(h.state, D)!;
    expect(h.step(retry(1))).toEqual([
      issue(1, 'write', expectedPieces(t, 'write', 12, 3)),
      issue(2, 'write', expectedPieces(t, 'write', 16, 2)),
      issue(3, 'read', expectedPieces(t, 'read', 10, 10)),
    ]);
  });

  it('does not re-attempt parked I/O when the table changes: only retry does (step 595)', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3));
    expect(h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ location: { lun: 2, start: 0 } }) }]))).toEqual([ack(D, 4)]);
    expect(agentParkedCount(h.state)).toBe(1);
  });

  it('failIo fails only the I/O that raised the fault and re-attempts the others', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3), io(2, 'write', 16, 2), io(3, 'read', 10, 2));
    const commands = h.step(failIoMsg(1, 'no space'));
    expect(commands[0]).toEqual({ type: 'failIo', ioId: 1, reason: 'no space' });
    // 2 re-attempts and faults again (the entry is unchanged); 3 parks behind that new fault.
    expect(faultsIn(commands)).toMatchObject([{ faultId: 2, start: 16, length: 2 }]);
    expect(commands).toHaveLength(2);
    expect([...h.state.ios.keys()].sort()).toEqual([2, 3]);
  });

  it('failIo of one fault of a multi-fault I/O fails it and takes it off the other fault', () => {
    const table = refTable(3, [REF_ENTRIES[0]!, REF_ENTRIES[1]!, { zero: true }]);
    const h = holding(table);
    h.step(io(1, 'write', 15, 10), io(2, 'write', 16, 1)); // 1 raises faults 1 and 2; both park behind 1
    expect(h.step(failIoMsg(2, 'full'))).toEqual([{ type: 'failIo', ioId: 1, reason: 'full' }]);
    expect(h.state.outstanding.get(1)?.waiting).toEqual([2]);
    // Fault 1's origin is gone: failIo 1 fails nothing of its own and re-attempts 2, which faults anew.
    const commands = h.step(failIoMsg(1, 'full'));
    expect(commands.filter((c) => c.type === 'failIo')).toEqual([]);
    expect(faultsIn(commands)).toMatchObject([{ faultId: 3, segment: 1, start: 16, length: 1 }]);
  });

  it('a re-attempt of a multi-fault I/O parks behind its remaining fault without a new one', () => {
    const table = refTable(3, [REF_ENTRIES[0]!, REF_ENTRIES[1]!, { zero: true }]);
    const h = holding(table);
    h.step(io(1, 'write', 15, 10));
    expect(h.step(retry(1))).toEqual([]);
    expect(h.state.ios.get(1)).toMatchObject({ status: 'parked', behind: 2 });
    expect(h.step(failIoMsg(2, 'full'))).toEqual([{ type: 'failIo', ioId: 1, reason: 'full' }]);
  });

  it('fault ids are unique and increase', () => {
    const h = holding();
    const ids: number[] = [];
    for (let i = 1; i <= 5; i++) {
      h.step(io(i, 'write', 12, 1));
      ids.push(...faultsIn(h.last).map((f) => f.faultId));
      h.step(failIoMsg(ids[ids.length - 1]!, 'x'));
    }
    expect(ids).toEqual([1, 2, 3, 4, 5]);
  });
});

// ---------------------------------------------------------------------------------------------
// Duplicated, late and foreign messages
// ---------------------------------------------------------------------------------------------

describe('stale and duplicated controller messages', () => {
  it('ignores retry, failIo and confirmMark of answered or earlier-epoch faults', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3));
    const before = h.state;
    for (const e of [retry(1, EPOCH - 1), failIoMsg(1, 'x', 6), confirm(1)]) {
      expect(h.step(e)).toEqual([]);
      expect(h.state).toBe(before);
    }
    h.step(retry(1)); // raises fault 2
    const after = h.state;
    expect(h.step(retry(1))).toEqual([]);
    expect(h.step(failIoMsg(1, 'late'))).toEqual([]);
    expect(h.state).toBe(after);
  });

  // A drop request for an earlier life is carried out and answered (test/agent/zero.test.ts): a
  // deletion waits for every copy to be dropped, and a restarted agent must answer for its old life.

  it('fences itself on any message for a later epoch: a newer life exists, so every open and later I/O fails', () => {
    for (const e of [replaceTable(refTable(9), D, 8), msg({ type: 'refreshTable', epoch: 8, disk: D, generation: 9 }), retry(1, EPOCH + 1)]) {
      const h = holding();
      h.step(io(1, 'write', 12, 3)); // parked behind fault 1
      const commands = h.step(e);
      expect(commands.map((c) => c.type)).toEqual(['refused', 'failIo']);
      expect(commands[1]).toMatchObject({ ioId: 1, reason: expect.stringContaining('superseded') });
      expect(h.state.fenced).toContain(`epoch ${EPOCH}`);
      expect(agentTable(h.state, D)).toBeUndefined();
      expect(h.state.outstanding.size).toBe(0);
      expect(h.step(io(2, 'read', 0, 1))).toEqual([{ type: 'failIo', ioId: 2, reason: h.state.fenced }]);
      expect(h.step(tick(10_000))).toEqual([]); // nothing left to re-send
    }
  });

  it('fences itself on an answer to a fault it never raised: another life uses its epoch', () => {
    for (const e of [retry(99), failIoMsg(99, 'x'), confirm(99)]) {
      const h = holding();
      h.step(io(1, 'write', 12, 3));
      const commands = h.step(e);
      expect(commands.map((c) => c.type)).toEqual(['refused', 'failIo']);
      expect(h.state.fenced).toContain('also used by another life');
    }
  });

  it('fences itself when the controller retries its no-table fault without having sent it a table', () => {
    const h = new Harness();
    h.step(io(1, 'read', 0, 1)); // fault 1: no table of the disk
    const commands = h.step(retry(1));
    expect(commands.map((c) => c.type)).toEqual(['refused', 'failIo']);
    expect(h.state.fenced).toMatch(/retried the no-table fault 1 of disk "d"/);
    // With the table first, the same retry is the ordinary path.
    const ok = new Harness();
    ok.step(io(1, 'read', 0, 1), replaceTable(refTable()));
    expect(ok.step(retry(1)).map((c) => c.type)).toEqual(['issueIo']);
  });

  it('fails I/O that comes back from storage after it was fenced', () => {
    const h = holding();
    const issued = h.step(io(1, 'read', 0, 2));
    expect(issued.map((c) => c.type)).toEqual(['issueIo']);
    h.step(retry(1, EPOCH + 1));
    expect(h.step(done(1))).toEqual([{ type: 'failIo', ioId: 1, reason: h.state.fenced }]);
  });

  it('answers table messages meant for an earlier life by asking for the table, so the controller learns this life', () => {
    const h = holding();
    const before = h.state;
    for (const e of [setEntries(3, 4, [{ segment: 2, entry: doc({ zero: true }) }], { epoch: 6 }), msg({ type: 'refreshTable', epoch: 6, disk: D, generation: 9 })]) {
      const commands = h.step(e);
      expect(commands).toHaveLength(1);
      expect(commands[0]).toMatchObject({ type: 'send', message: { type: 'fetchTable', epoch: 7, disk: D, generation: 3 } });
      expect(agentTable(h.state, D)).toBe(agentTable(before, D)); // the table is untouched
    }
  });

  it('re-acknowledges a duplicated or late setEntries and replaceTable without changing the table', () => {
    const h = holding();
    const change = setEntries(3, 4, [{ segment: 2, entry: doc({ zero: true }) }]);
    expect(h.step(change)).toEqual([ack(D, 4)]);
    const table = agentTable(h.state, D);
    expect(h.step(change)).toEqual([ack(D, 4)]);
    expect(h.step(setEntries(2, 3, []))).toEqual([ack(D, 4)]);
    expect(h.step(replaceTable(refTable(4)))).toEqual([ack(D, 4)]);
    expect(h.step(replaceTable(refTable(2)))).toEqual([ack(D, 4)]);
    expect(agentTable(h.state, D)).toBe(table);
  });

  it('refreshTable: acknowledges when current, fetches when behind, and accepts epoch -1', () => {
    const h = holding();
    expect(h.step(msg({ type: 'refreshTable', epoch: EPOCH, disk: D, generation: 3 }))).toEqual([ack(D, 3)]);
    expect(h.step(msg({ type: 'refreshTable', epoch: -1, disk: D, generation: 2 }))).toEqual([ack(D, 3)]);
    expect(h.step(msg({ type: 'refreshTable', epoch: -1, disk: D, generation: 5 }))).toEqual([fetchTable(D, 3)]);
    expect(h.step(msg({ type: 'refreshTable', epoch: EPOCH, disk: 'e', generation: 0 }))).toEqual([fetchTable('e', -1)]);
    // Without a copy the agent refuses tables below the generation asked for, and says so.
    expect(h.step(msg({ type: 'refreshTable', epoch: -1, disk: 'e', generation: 6 }))).toEqual([fetchTable('e', -1, 5)]);
    expect(h.step(msg({ type: 'refreshTable', epoch: -1, disk: 'e', generation: 4 }))).toEqual([fetchTable('e', -1, 5)]);
    const late = h.step(replaceTable(refTable(5), 'e')); // a table sent before the refresh
    expect(late.some((c) => c.type === 'send' && c.message.type === 'dropped' && c.message.generation === 5)).toBe(true);
    expect(agentTable(h.state, 'e')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Table messages
// ---------------------------------------------------------------------------------------------

describe('setEntries', () => {
  it('fetches the whole table when it holds none', () => {
    const h = new Harness();
    expect(h.step(setEntries(3, 4, [{ segment: 0, entry: doc({ zero: true }) }]))).toEqual([fetchTable(D, -1)]);
    expect(agentTable(h.state, D)).toBeUndefined();
  });

  it('applies a change at its generation and acknowledges it', () => {
    const h = holding();
    expect(h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ location: { lun: 5, start: 50 } }) }]))).toEqual([ack(D, 4)]);
    const t = agentTable(h.state, D)!;
    expect(t.generation).toBe(4);
    expect(right(getEntry(t, 1)).location).toEqual({ lun: 5, start: 50 });
    expect(right(getEntry(t, 1)).noWrite).toBe(false);
  });

  it('on a gap fetches from its own generation and keeps its table', () => {
    const h = holding();
    const before = agentTable(h.state, D);
    expect(h.step(setEntries(5, 6, [{ segment: 1, entry: doc({ zero: true }) }]))).toEqual([fetchTable(D, 3)]);
    expect(agentTable(h.state, D)).toBe(before);
  });

  it('resizes first when segmentCount is given; new segments are zero', () => {
    const h = holding();
    expect(h.step(setEntries(3, 4, [{ segment: 4, entry: doc({ location: { lun: 9, start: 0 } }) }], { segmentCount: 5 }))).toEqual([ack(D, 4)]);
    const t = agentTable(h.state, D)!;
    expect(t.segmentCount).toBe(5);
    expect(right(getEntry(t, 3)).zero).toBe(true);
    expect(right(getEntry(t, 4)).location).toEqual({ lun: 9, start: 0 });
    expect(h.step(io(1, 'read', 30, 10))).toEqual([issue(1, 'read', [{ kind: 'zero', virtualStart: 30, length: 10 }])]);
  });

  it('freezes first when freeze is set: every located segment noWrite, then the changes', () => {
    const h = holding();
    expect(h.step(setEntries(3, 4, [{ segment: 2, entry: doc({ location: { lun: 9, start: 0 } }) }], { freeze: true }))).toEqual([ack(D, 4)]);
    const t = agentTable(h.state, D)!;
    expect(t.generation).toBe(4);
    expect(right(getEntry(t, 0))).toMatchObject({ location: { lun: 1, start: 0 }, noWrite: true });
    expect(right(getEntry(t, 0)).alternate?.lun).toBe(2);
    expect(right(getEntry(t, 1)).noWrite).toBe(true);
    expect(right(getEntry(t, 2))).toMatchObject({ location: { lun: 9, start: 0 }, noWrite: false });
    // A write to a frozen segment now faults (no-write) instead of reaching the primary.
    const commands = h.step(io(1, 'write', 3, 1));
    expect(commands).toEqual([expect.objectContaining({ type: 'send', message: expect.objectContaining({ type: 'ioFault', segment: 0, reason: 'no-write' }) })]);
  });

  it('with freeze, acknowledges only once every write in flight anywhere on the disk has left', () => {
    const h = holding();
    h.step(io(1, 'write', 25, 1));
    expect(h.step(setEntries(3, 4, [], { freeze: true }))).toEqual([]);
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }, ack(D, 4)]);
  });

  it('refuses a freeze that is not true, naming the field and the value', () => {
    const h = holding();
    const before = h.state;
    for (const bad of [false, 1, 'yes', null]) {
      expect(h.step(setEntries(3, 4, [], { freeze: bad }))).toEqual([{ type: 'refused', event: expect.anything(), why: expect.stringMatching(/freeze/) }]);
      expect(h.state).toBe(before);
    }
  });

  it('ignores the whole message when any change does not decode or does not fit', () => {
    const h = holding();
    const before = h.state;
    const good = { segment: 2, entry: doc({ zero: true }) };
    for (const bad of [
      { segment: 1, entry: { location: { lun: -1, start: 0 } } },
      { segment: 1, entry: { alternate: { lun: 1, start: 0, blocks: '12' }, location: { lun: 1, start: 0 } } },
      { segment: 3, entry: doc({ zero: true }) },
      { segment: 1, entry: { bogus: true } },
    ]) {
      const commands = h.step(setEntries(3, 4, [good, bad as EntryChange]));
      expect(commands).toEqual([{ type: 'refused', event: expect.anything(), why: expect.stringContaining('changes[1]') }]);
      expect(h.state).toBe(before);
    }
    expect(h.step(setEntries(3, 4, 'nope' as unknown as EntryChange[]))).toEqual([
      { type: 'refused', event: expect.anything(), why: expect.stringContaining('changes must be an array') },
    ]);
    expect(h.state).toBe(before);
  });
});

describe('replaceTable, dropTable', () => {
  it('ignores an undecodable table', () => {
    const h = new Harness();
    expect(h.step(msg({ type: 'replaceTable', epoch: EPOCH, disk: D, table: { nonsense: true } as never }))).toEqual([
      { type: 'refused', event: expect.anything(), why: expect.stringContaining('undecodable') },
    ]);
    expect(agentTable(h.state, D)).toBeUndefined();
  });

  it('replaces an older copy and acknowledges', () => {
    const h = holding();
    const newer = refTable(9, [{ zero: true }, { zero: true }]);
    expect(h.step(replaceTable(newer))).toEqual([ack(D, 9)]);
    expect(agentTable(h.state, D)?.segmentCount).toBe(2);
  });

  it('dropTable fails parked I/O with "detached", forgets their faults and answers dropped', () => {
    const h = holding();
    h.step(io(1, 'write', 12, 3), io(2, 'read', 10, 1), io(3, 'read', 0, 1, 'e'), io(4, 'read', 20, 1));
    const commands = h.step(msg({ type: 'dropTable', epoch: EPOCH, disk: D }));
    expect(commands).toEqual([
      { type: 'failIo', ioId: 1, reason: 'detached' },
      { type: 'failIo', ioId: 2, reason: 'detached' },
      { type: 'send', message: { type: 'dropped', agent: 'a1', epoch: EPOCH, disk: D } },
    ]);
    expect(agentTable(h.state, D)).toBeUndefined();
    expect(h.step(retry(1))).toEqual([]);
    // Disk e's no-table fault (2) is still re-sent; disk d's is gone.
    expect(faultsIn(h.step(tick(1000))).map((f) => f.disk)).toEqual(['e']);
    // The read that was in flight still completes.
    expect(h.step(done(4))).toEqual([{ type: 'completeIo', ioId: 4 }]);
    // Without a table the disk faults again.
    expect(faultsIn(h.step(io(5, 'read', 0, 1)))).toMatchObject([{ segment: -1, disk: D }]);
  });

  it('dropTable of a disk it does not hold still answers dropped', () => {
    const h = new Harness();
    expect(h.step(msg({ type: 'dropTable', epoch: EPOCH, disk: 'x' }))).toEqual([
      { type: 'send', message: { type: 'dropped', agent: 'a1', epoch: EPOCH, disk: 'x' } },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Acknowledgements wait for I/O issued under the old entries
// ---------------------------------------------------------------------------------------------

describe('acknowledgements', () => {
  it('holds the ack while an I/O issued under the old entry is in flight, and sends it on ioDone', () => {
    const h = holding();
    h.step(io(1, 'read', 10, 5));
    expect(h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ location: { lun: 8, start: 0 } }) }]))).toEqual([]);
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }, ack(D, 4)]);
  });

  it('sends the ack at once when the in-flight I/O touches other segments', () => {
    const h = holding();
    h.step(io(1, 'read', 0, 10));
    expect(h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ location: { lun: 8, start: 0 } }) }]))).toEqual([ack(D, 4)]);
  });

  it('does not wait for I/O issued after the change', () => {
    const h = holding();
    h.step(io(1, 'read', 10, 1));
    h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ location: { lun: 8, start: 0 } }) }]));
    h.step(io(2, 'read', 10, 1));
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }, ack(D, 4)]);
  });

  it('releases the ack on ioFailed too', () => {
    const h = holding();
    h.step(io(1, 'write', 20, 5));
    expect(h.step(setEntries(3, 4, [{ segment: 2, entry: doc({ zero: true }) }]))).toEqual([]);
    expect(h.step({ type: 'ioFailed', ioId: 1, error: 'medium error' })).toEqual([
      { type: 'failIo', ioId: 1, reason: 'medium error' },
      ack(D, 4),
    ]);
  });

  it('is cumulative: sends only the highest generation whose drain, and every earlier one, is complete', () => {
    const h = holding();
    h.step(io(1, 'read', 10, 1), io(2, 'read', 20, 1));
    expect(h.step(setEntries(3, 4, [{ segment: 1, entry: doc({ zero: true }) }]))).toEqual([]);
    expect(h.step(setEntries(4, 5, [{ segment: 0, entry: doc({ zero: true }) }]))).toEqual([]); // nothing in flight on 0, but 4 drains
    expect(h.step(setEntries(5, 6, [{ segment: 2, entry: doc({ zero: true }) }]))).toEqual([]);
    expect(h.step(setEntries(5, 6, []))).toEqual([]); // a duplicate while draining: the ack follows on its own
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }, ack(D, 5)]);
    expect(h.step(done(2))).toEqual([{ type: 'completeIo', ioId: 2 }, ack(D, 6)]);
  });

  it('replaceTable waits only for I/O on segments that differ', () => {
    const h = holding();
    h.step(io(1, 'read', 0, 1), io(2, 'read', 20, 1));
    const t = right(setEntry(refTable(3), 2, { zero: true }, { generation: 4 }));
    expect(h.step(replaceTable(t))).toEqual([]);
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }]);
    expect(h.step(done(2))).toEqual([{ type: 'completeIo', ioId: 2 }, ack(D, 4)]);
  });

  it('a resize waits for I/O on the removed segments', () => {
    const h = holding();
    h.step(io(1, 'read', 25, 5));
    expect(h.step(setEntries(3, 4, [], { segmentCount: 2 }))).toEqual([]);
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }, ack(D, 4)]);
  });
});

// ---------------------------------------------------------------------------------------------
// Distributed variant: marking alternates
// ---------------------------------------------------------------------------------------------

describe('durability: host flush and FUA (docs/design.md#ordering-rules)', () => {
  it('a host flush flushes the LUNs written for the disk since the last one, then completes', () => {
    const h = holding();
    h.autoFlush = false;
    h.step(io(1, 'write', 20, 10), io(2, 'write', 0, 2));
    h.step(done(1), done(2));
    const [f] = h.step({ type: 'hostFlush', ioId: 3, disk: D });
    const written = [...expectedPieces(refTable(), 'write', 20, 10), ...expectedPieces(refTable(), 'write', 0, 2)];
    expect(f).toEqual({ type: 'flush', flushId: 3, luns: [...new Set(written.map((p) => p.lun!))].sort((a, b) => a - b) });
    expect(h.step({ type: 'flushDone', flushId: 3 })).toEqual([{ type: 'completeIo', ioId: 3 }]);
    // Nothing written since: the next flush has nothing to wait for.
    expect(h.step({ type: 'hostFlush', ioId: 4, disk: D })).toEqual([{ type: 'completeIo', ioId: 4 }]);
  });

  it('a flush while another is in flight covers its LUNs too, and a failed flush fails the host flush and keeps the LUNs dirty', () => {
    const h = holding();
    h.autoFlush = false;
    h.step(io(1, 'write', 20, 10));
    h.step(done(1));
    expect(h.step({ type: 'hostFlush', ioId: 2, disk: D })).toEqual([{ type: 'flush', flushId: 2, luns: [1] }]);
    // The first flush guarantees nothing yet: the second waits for LUN 1 as well.
    expect(h.step({ type: 'hostFlush', ioId: 3, disk: D })).toEqual([{ type: 'flush', flushId: 3, luns: [1] }]);
    const [failed] = h.step({ type: 'flushFailed', flushId: 2, error: 'cache lost' });
    expect(failed).toMatchObject({ type: 'failIo', ioId: 2, reason: expect.stringMatching(/flush failed: cache lost/) });
    expect(h.state.dirty.get(D)).toEqual([1]);
    // Storage reports a lost cache once: the flush in flight meanwhile cannot vouch for the write either.
    expect(h.step({ type: 'flushDone', flushId: 3 })).toEqual([{ type: 'failIo', ioId: 3, reason: expect.stringMatching(/another flush of the same LUNs failed/) }]);
    // The next flush covers LUN 1 again, and succeeds.
    expect(h.step({ type: 'hostFlush', ioId: 4, disk: D })).toEqual([{ type: 'flush', flushId: 4, luns: [1] }]);
    expect(h.step({ type: 'flushDone', flushId: 4 })).toEqual([{ type: 'completeIo', ioId: 4 }]);
  });

  it('a failed FUA flush makes the next host flush of every disk written to that LUN fail, once', () => {
    const h = holding();
    h.autoFlush = false;
    h.step(io(1, 'write', 0, 2));
    h.step(done(1));
    h.step({ type: 'hostIo', ioId: 2, disk: D, op: 'write', start: 20, length: 1, fua: true });
    h.step(done(2));
    h.step({ type: 'flushFailed', flushId: 2, error: 'cache lost' });
    // Write 1 completed before the loss was reported: a flush cannot vouch for it any more.
    expect(h.step({ type: 'hostFlush', ioId: 3, disk: D })).toEqual([{ type: 'failIo', ioId: 3, reason: expect.stringMatching(/lost writes/) }]);
    expect(h.step({ type: 'hostFlush', ioId: 4, disk: D })[0]).toMatchObject({ type: 'flush', flushId: 4 });
  });

  it('a FUA write completes only after a flush of the LUNs it wrote; a failed flush fails it', () => {
    const h = holding();
    h.autoFlush = false;
    h.step({ type: 'hostIo', ioId: 1, disk: D, op: 'write', start: 20, length: 10, fua: true });
    expect(h.step(done(1))).toEqual([{ type: 'flush', flushId: 1, luns: [1] }]);
    expect(h.step({ type: 'flushDone', flushId: 1 })).toEqual([{ type: 'completeIo', ioId: 1 }]);
    h.step({ type: 'hostIo', ioId: 2, disk: D, op: 'write', start: 20, length: 1, fua: true });
    h.step(done(2));
    expect(h.step({ type: 'flushFailed', flushId: 2, error: 'x' })).toEqual([{ type: 'failIo', ioId: 2, reason: 'flush failed: x' }]);
  });
});

describe('distributed marking', () => {
  /** Segment 1 is noWrite with an empty alternate at LUN 3; segment 0 is the reference one made noWrite. */
  const marking = (generation = 4): MappingTable =>
    refTable(generation, [
      { ...REF_ENTRIES[0]!, noWrite: true },
      { location: { lun: 2, start: 0 }, noWrite: true, alternate: { lun: 3, start: 100, blocks: [] } },
      REF_ENTRIES[2]!,
    ]);

  it('a noWrite segment without an alternate still faults in the distributed variant', () => {
    const h = holding(refTable(), DISTRIBUTED);
    expect(faultsIn(h.step(io(1, 'write', 12, 3)))).toMatchObject([{ segment: 1, reason: 'no-write' }]);
  });

  it('sends markBits after ioDone and completes only on confirmMark', () => {
    const h = holding(marking(), DISTRIBUTED);
    const before = agentTable(h.state, D);
    expect(h.step(io(1, 'write', 12, 3))).toEqual([
      issue(1, 'write', [{ kind: 'alternate', virtualStart: 12, length: 3, lun: 3, start: 102, marksAlternate: true }]),
    ]);
    expect(h.step(done(1))).toEqual([
      { type: 'send', message: { type: 'markBits', agent: 'a1', epoch: EPOCH, faultId: 1, disk: D, segment: 1, start: 12, length: 3, generation: 4 } },
    ]);
    expect(h.state.ios.get(1)?.status).toBe('marking');
    // Later I/O to the segment parks behind the mark; the agent's table is unchanged.
    expect(h.step(io(2, 'read', 10, 10))).toEqual([]);
    expect(agentTable(h.state, D)).toBe(before);
    // The controller persists and fans the bits out, then confirms.
    const withBits = right(setEntry(marking(), 1, { location: { lun: 2, start: 0 }, noWrite: true, alternate: { lun: 3, start: 100, blocks: [2, 3, 4] } }, { generation: 5 }));
    expect(h.step(setEntries(4, 5, [{ segment: 1, entry: encodeEntry(right(getEntry(withBits, 1))) }]))).toEqual([ack(D, 5)]);
    expect(h.step(confirm(1))).toEqual([{ type: 'completeIo', ioId: 1 }, issue(2, 'read', expectedPieces(withBits, 'read', 10, 10))]);
    expect(agentParkedCount(h.state)).toBe(0);
  });

  it('a write completes only when the marks of every segment it touched are confirmed', () => {
    const h = holding(marking(), DISTRIBUTED);
    h.step(io(1, 'write', 5, 10));
    expect(marksIn(h.step(done(1)))).toMatchObject([
      { faultId: 1, segment: 0, start: 5, length: 5 },
      { faultId: 2, segment: 1, start: 10, length: 5 },
    ]);
    expect(h.step(confirm(2))).toEqual([]);
    expect(h.step(confirm(2))).toEqual([]);
    expect(h.step(confirm(1))).toEqual([{ type: 'completeIo', ioId: 1 }]);
  });

  it('a mark spans from the first to the last marked block of its segment', () => {
    const h = holding(marking(), DISTRIBUTED);
    h.step(io(1, 'write', 0, 10)); // bits 2,7,8 already at the alternate: marks 0-1, 3-6, 9
    expect(marksIn(h.step(done(1)))).toMatchObject([{ segment: 0, start: 0, length: 10 }]);
  });

  it('a write that needs no mark completes on ioDone', () => {
    const h = holding(marking(), DISTRIBUTED);
    h.step(io(1, 'write', 7, 2)); // both blocks already at the alternate
    expect(h.step(done(1))).toEqual([{ type: 'completeIo', ioId: 1 }]);
  });

  it('retry of a mark re-translates and re-issues the write, which marks again', () => {
    const h = holding(marking(), DISTRIBUTED);
    const [issued] = h.step(io(1, 'write', 12, 3));
    h.step(done(1));
    expect(h.step(retry(1))).toEqual([issued]);
    expect(marksIn(h.step(done(1)))).toMatchObject([{ faultId: 2, segment: 1, start: 12, length: 3 }]);
    expect(h.step(confirm(1))).toEqual([]); // the old mark is gone
    expect(h.step(confirm(2))).toEqual([{ type: 'completeIo', ioId: 1 }]);
  });

  it('retry of one mark of a two-segment write waits for its other mark, then re-issues it', () => {
    const h = holding(marking(), DISTRIBUTED);
    const [issued] = h.step(io(1, 'write', 5, 10));
    h.step(done(1));
    expect(h.step(retry(1))).toEqual([]); // parks behind its own mark 2
    expect(h.step(confirm(2))).toEqual([issued]);
  });

  it('failIo of a mark fails the write', () => {
    const h = holding(marking(), DISTRIBUTED);
    h.step(io(1, 'write', 12, 3));
    h.step(done(1));
    h.step(io(2, 'write', 15, 1));
    expect(h.step(failIoMsg(1, 'lost'))).toEqual([
      { type: 'failIo', ioId: 1, reason: 'lost' },
      issue(2, 'write', expectedPieces(marking(), 'write', 15, 1, 'distributed')),
    ]);
  });

  it('a marked write whose disk was dropped while in flight fails', () => {
    const h = holding(marking(), DISTRIBUTED);
    h.step(io(1, 'write', 12, 3));
    h.step(msg({ type: 'dropTable', epoch: EPOCH, disk: D }));
    expect(h.step(done(1))).toEqual([{ type: 'failIo', ioId: 1, reason: 'detached' }]);
  });

  it('centralized agents never mark', () => {
    const h = holding(marking(), CONFIG);
    expect(faultsIn(h.step(io(1, 'write', 12, 3)))).toMatchObject([{ segment: 1, reason: 'no-write' }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

describe('tick', () => {
  it('re-sends an unanswered fault after faultTimeout, and not before, with the same id, then backs off', () => {
    const h = holding();
    h.step(tick(1000));
    const [fault] = faultsIn(h.step(io(1, 'write', 12, 3)));
    expect(h.step(tick(1099))).toEqual([]);
    expect(h.state.now).toBe(1099);
    expect(h.step(tick(1100))).toEqual([{ type: 'send', message: fault }]);
    // The next wait is 2 x faultTimeout, shortened by up to a half of it at random.
    const next = 1100 + retryDelay(CONFIG, fault!.faultId, 1);
    expect(next).toBeGreaterThanOrEqual(1200);
    expect(h.step(tick(next - 1))).toEqual([]);
    expect(h.step(tick(next))).toEqual([{ type: 'send', message: fault }]);
    h.step(retry(fault!.faultId)); // raises fault 2
    expect(faultsIn(h.step(tick(next + 100))).map((f) => f.faultId)).toEqual([2]);
  });

  it('stops backing off once the controller accepts the fault, and re-checks it only at the cap', () => {
    const h = holding();
    const [fault] = faultsIn(h.step(io(1, 'write', 12, 3)));
    h.step(msg({ type: 'faultAccepted', epoch: EPOCH, faultId: fault!.faultId }));
    h.step(msg({ type: 'faultAccepted', epoch: EPOCH - 1, faultId: fault!.faultId })); // an earlier life's: ignored
    const cap = backoffCap(CONFIG);
    expect(h.step(tick(100), tick(cap - 1))).toEqual([]);
    expect(h.step(tick(cap))).toEqual([{ type: 'send', message: fault }]);
    expect(h.step(tick(2 * cap - 1))).toEqual([]);
    expect(h.step(tick(2 * cap))).toEqual([{ type: 'send', message: fault }]);
  });

  it('backoff: each wait doubles up to the cap, shortened by at most half at random, and differs between faults', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 500 }), (faultId, attempt, timeout) => {
        const config = { ...CONFIG, faultTimeout: timeout };
        const d = retryDelay(config, faultId, attempt);
        const base = attempt === 0 ? timeout : Math.min(backoffCap(config), timeout * 2 ** attempt);
        expect(d).toBeLessThanOrEqual(base);
        expect(d).toBeGreaterThanOrEqual(Math.max(1, Math.floor(base / 2)));
        expect(retryDelay(config, faultId, attempt)).toBe(d); // a pure function of its inputs
      }),
    );
    const spread = new Set(Array.from({ length: 50 }, (_, i) => retryDelay(CONFIG, i + 1, 3)));
    expect(spread.size).toBeGreaterThan(10);
  });

  it('re-sends unanswered marks, and stops once they are confirmed', () => {
    const h = holding(
      refTable(4, [REF_ENTRIES[0]!, { location: { lun: 2, start: 0 }, noWrite: true, alternate: { lun: 3, start: 0, blocks: [] } }, REF_ENTRIES[2]!]),
      DISTRIBUTED,
    );
    h.step(io(1, 'write', 10, 1));
    const [mark] = marksIn(h.step(done(1)));
    expect(h.step(tick(100))).toEqual([{ type: 'send', message: mark }]);
    h.step(confirm(mark!.faultId));
    expect(h.step(tick(1000))).toEqual([]);
  });
});

describe('robustness', () => {
  it('ignores events it does not know and storage reports for I/O not at storage', () => {
    const h = holding();
    const before = h.state;
    expect(h.step({ type: 'bogus' } as unknown as AgentEvent).map((c) => c.type)).toEqual(['refused']);
    expect(h.step(done(42), { type: 'ioFailed', ioId: 42, error: 'x' })).toEqual([]);
    expect(h.step(msg(null as unknown as ControllerMessage)).map((c) => c.type)).toEqual(['refused']);
    expect(h.state).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random event sequences
// ---------------------------------------------------------------------------------------------

const DISKS = ['d', 'e'] as const;
const ENTRY_DOCS: EntryDocument[] = [
  doc({ location: { lun: 1, start: 0 } }),
  doc({ location: { lun: 2, start: 0 }, noWrite: true }),
  doc({ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 3, start: 100, blocks: [2, 7, 8] } }),
  doc({ location: { lun: 1, start: 0 }, alternate: { lun: 3, start: 100, blocks: [0, 1, 2, 3, 4] } }),
  doc({ location: { lun: 1, start: 0 }, noWrite: true, alternate: { lun: 3, start: 300, blocks: [] } }),
  doc({ zero: true }),
  doc({ zero: true, alternate: { lun: 3, start: 200, blocks: [5] } }),
  doc({ invalid: true }),
  doc({ location: { lun: 1, start: 0 }, error: true }),
  { location: { lun: -1, start: 0 } }, // does not decode
];

type Action =
  | { kind: 'io'; disk: number; op: Op; start: number; length: number }
  | { kind: 'done' | 'failed'; pick: number }
  | { kind: 'tick'; advance: number }
  | { kind: 'answer'; type: 'fit' | 'retry' | 'failIo' | 'confirmMark'; pick: number; epoch: number }
  | { kind: 'set'; disk: number; from: number; gen: number; count: number | undefined; changes: [number, number][]; epoch: number }
  | { kind: 'replace'; disk: number; gen: number; entries: number[]; epoch: number }
  | { kind: 'refresh'; disk: number; gen: number; epoch: number }
  | { kind: 'drop'; disk: number; epoch: number }
  | { kind: 'flush'; disk: number }
  | { kind: 'fuaWrite'; disk: number; start: number; length: number };

const BAD_DOC = ENTRY_DOCS.length - 1;
/** Mostly entries that let I/O through, so that storage, marks and acks get exercised. */
const docArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 2, 3, 4, 4) }, { weight: 3, arbitrary: fc.nat(BAD_DOC) });
const epochArb = fc.constantFrom(EPOCH, EPOCH, EPOCH, EPOCH, EPOCH - 1, -1);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('io' as const), disk: fc.nat(1), op: fc.constantFrom<Op>('read', 'write'), start: fc.integer({ min: -1, max: 40 }), length: fc.nat(12) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constantFrom('done' as const, 'done' as const, 'done' as const, 'failed' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), advance: fc.nat(250) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('answer' as const),
      type: fc.constantFrom('fit' as const, 'fit' as const, 'fit' as const, 'retry' as const, 'failIo' as const, 'confirmMark' as const),
      pick: fc.nat(),
      epoch: epochArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      disk: fc.nat(1),
      from: fc.constantFrom(0, 0, 0, -1, 1),
      gen: fc.integer({ min: -1, max: 3 }),
      count: fc.option(fc.integer({ min: 2, max: 5 }), { nil: undefined }),
      changes: fc.array(fc.tuple(fc.nat(4), docArb), { maxLength: 3 }),
      epoch: epochArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      disk: fc.nat(1),
      gen: fc.integer({ min: -1, max: 3 }),
      entries: fc.array(docArb.filter((k) => k !== BAD_DOC), { minLength: 2, maxLength: 5 }),
      epoch: epochArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('refresh' as const), disk: fc.nat(1), gen: fc.integer({ min: -1, max: 3 }), epoch: epochArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), disk: fc.nat(1), epoch: epochArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const), disk: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fuaWrite' as const), disk: fc.nat(1), start: fc.integer({ min: 0, max: 40 }), length: fc.integer({ min: 1, max: 12 }) }) },
);

/** What the test knows from the outside: requests, finished I/O, storage, and sent fault ids. */
class Observer {
  readonly requests = new Map<number, { disk: string; start: number; length: number }>();
  readonly finished = new Map<number, AgentCommand['type']>();
  readonly atStorage = new Set<number>();
  readonly sentIds = new Set<number>();
  /** Every table the agent held, by disk and generation, since it last dropped the disk. */
  readonly held = new Map<string, Map<number, MappingTable>>();
  readonly lastAck = new Map<string, number>();
  /** The table each I/O at storage was issued under. */
  readonly issuedUnder = new Map<number, MappingTable>();
  nextIo = 1;
  now = 0;
  // Durability: what storage was asked to flush, and what that made durable.
  /** Flush commands at storage: flushId -> LUNs, and the clock when issued. */
  readonly flushing = new Map<number, { luns: ReadonlyArray<number>; at: number }>();
  /** Host flushes: ioId -> disk and the clock when submitted. */
  readonly hostFlushes = new Map<number, { disk: string; at: number }>();
  /** Writes: LUNs of the last issue, clock of the last ioDone, LUNs made durable since. */
  readonly writes = new Map<number, { luns: ReadonlyArray<number>; doneAt: number; durable: Set<number>; fua: boolean; completedAt: number }>();
  clock = 0;

  constructor(readonly config: AgentConfig) {}

  /** Every LUN a write went to was flushed by a flush issued after it reached storage. */
  private isDurable(id: number): boolean {
    const w = this.writes.get(id)!;
    return w.luns.every((l) => w.durable.has(l));
  }

  private noteFlushDone(flushId: number): void {
    const f = this.flushing.get(flushId);
    this.flushing.delete(flushId);
    if (f === undefined) return;
    for (const w of this.writes.values()) if (w.doneAt >= 0 && w.doneAt <= f.at) for (const l of f.luns) w.durable.add(l);
  }

  feed(state: AgentState, event: AgentEvent): AgentState {
    this.clock++;
    // A write that failed at storage may have landed in part: a later host flush must cover it too.
    if (event.type === 'ioFailed' && this.atStorage.has(event.ioId) && this.writes.has(event.ioId)) Object.assign(this.writes.get(event.ioId)!, { doneAt: this.clock, completedAt: this.clock });
    if (event.type === 'ioDone' || event.type === 'ioFailed') this.atStorage.delete(event.ioId);
    if (event.type === 'ioDone' && this.writes.has(event.ioId)) this.writes.get(event.ioId)!.doneAt = this.clock;
    if (event.type === 'flushDone') this.noteFlushDone(event.flushId);
    if (event.type === 'flushFailed') this.flushing.delete(event.flushId);
    const [next, commands] = agentStep(state, event);
    for (const c of commands)
      if (c.type === 'send' && c.message.type === 'dropped') {
        this.held.delete(c.message.disk);
        this.lastAck.delete(c.message.disk);
      }
    for (const disk of DISKS) {
      const t = agentTable(next, disk);
      if (t !== undefined) this.held.set(disk, (this.held.get(disk) ?? new Map()).set(t.generation, t));
    }
    for (const c of commands) {
      switch (c.type) {
        case 'issueIo':
          expect(this.requests.has(c.ioId)).toBe(true);
          expect(this.finished.has(c.ioId)).toBe(false);
          expect(this.atStorage.has(c.ioId)).toBe(false);
          this.atStorage.add(c.ioId);
          this.issuedUnder.set(c.ioId, agentTable(next, c.disk)!);
          if (c.op === 'write') {
            const w = this.writes.get(c.ioId);
            const luns = [...new Set(c.pieces.flatMap((p) => (p.lun === undefined ? [] : [p.lun])))];
            this.writes.set(c.ioId, { luns, doneAt: -1, durable: new Set(), fua: w?.fua ?? false, completedAt: -1 });
          }
          break;
        case 'flush':
          expect(this.flushing.has(c.flushId)).toBe(false);
          this.flushing.set(c.flushId, { luns: c.luns, at: this.clock });
          break;
        case 'completeIo':
        case 'failIo':
          expect(this.requests.has(c.ioId)).toBe(true);
          expect(this.finished.get(c.ioId)).toBeUndefined(); // at most one ending per host I/O
          expect(this.atStorage.has(c.ioId)).toBe(false); // never ends while storage still works on it
          this.finished.set(c.ioId, c.type);
          if (c.type === 'completeIo') this.checkDurableOnCompletion(c.ioId);
          break;
        case 'send':
          expect(c.message).toMatchObject({ agent: this.config.agent, epoch: this.config.epoch });
          if (c.message.type === 'ioFault' || c.message.type === 'markBits') this.sentIds.add(c.message.faultId);
          // docs/design.md#ordering-rules: a distributed write's data is durable before its marks go out.
          if (c.message.type === 'markBits') {
            const origin = [...next.outstanding.values()].find((o) => o.message.faultId === (c.message as { faultId: number }).faultId)?.origin;
            if (origin !== undefined && this.writes.has(origin)) expect(this.isDurable(origin), `marks of write ${origin} sent before its data was flushed`).toBe(true);
          }
          if (c.message.type === 'tableAck') this.checkAck(c.message.disk, c.message.generation);
          break;
      }
    }
    this.check(next);
    return next;
  }

  /**
   * An acknowledged generation was held, acknowledgements never go back, and no I/O issued under
   * an older entry of a segment that differs in the acknowledged table is still at storage.
   */
  checkAck(disk: string, generation: number): void {
    const acked = this.held.get(disk)?.get(generation);
    expect(acked, `ack of ${disk}@${generation}, a generation it never held`).toBeDefined();
    expect(generation).toBeGreaterThanOrEqual(this.lastAck.get(disk) ?? -1);
    this.lastAck.set(disk, generation);
    for (const id of this.atStorage) {
      if (this.requests.get(id)!.disk !== disk) continue;
      const under = this.issuedUnder.get(id)!;
      if (under.generation >= generation || !this.held.get(disk)!.has(under.generation)) continue;
      const { start, length } = this.requests.get(id)!;
      const stale = length > 0 && diffTables(under, acked!).some((seg) => seg * 10 < start + length && start < (seg + 1) * 10);
      expect(stale, `ack of ${disk}@${generation} while I/O ${id} issued under ${under.generation} is at storage`).toBe(false);
    }
  }

  /**
   * A FUA write completes only once durable; a host flush completes only once every write to its
   * disk that completed before the flush was submitted is durable.
   */
  checkDurableOnCompletion(ioId: number): void {
    const w = this.writes.get(ioId);
    if (w !== undefined) {
      w.completedAt = this.clock;
      if (w.fua) expect(this.isDurable(ioId), `FUA write ${ioId} completed before it was durable`).toBe(true);
    }
    const f = this.hostFlushes.get(ioId);
    if (f === undefined) return;
    for (const [id, x] of this.writes)
      if (x.completedAt >= 0 && x.completedAt < f.at && this.requests.get(id)!.disk === f.disk)
        expect(this.isDurable(id), `flush ${ioId} of ${f.disk} completed while write ${id} was not durable`).toBe(true);
  }

  /** Nothing parks silently, and the machine's view of storage matches what it was told. */
  check(state: AgentState): void {
    const inFlight = new Set<number>();
    for (const [id, io] of state.ios) {
      expect(this.finished.has(id)).toBe(false);
      if (io.status === 'inFlight') inFlight.add(id);
      if (io.status === 'parked') {
        const o = state.outstanding.get(io.behind);
        expect(o, `I/O ${id} parked behind ${io.behind}, which is not outstanding`).toBeDefined();
        expect(this.sentIds.has(io.behind)).toBe(true);
        expect(o!.message.disk).toBe(io.request.disk);
        const seg = o!.message.segment;
        const touches = seg === -1 || (seg * 10 < io.request.start + io.request.length && io.request.start < (seg + 1) * 10);
        expect(touches, `I/O ${id} parked behind a fault on segment ${seg} it does not touch`).toBe(true);
      }
      if (io.status === 'marking') for (const m of io.pending) expect(state.outstanding.has(m)).toBe(true);
    }
    expect([...inFlight].sort()).toEqual([...this.atStorage].sort());
    const open = (id: number): boolean => state.ios.has(id) || state.flushes.get(id)?.kind === 'host';
    for (const id of this.requests.keys()) expect(this.finished.has(id) !== open(id)).toBe(true);
  }
}

const tableFor = (gen: number, entries: number[]): MappingTable =>
  right(
    createTable({
      segmentBlocks: 10,
      generation: gen,
      entries: entries.map((k, s) => right(decodeEntry(ENTRY_DOCS[k], 10, s))),
    }),
  );

const nth = <T>(items: ReadonlyArray<T>, pick: number): T | undefined => (items.length === 0 ? undefined : items[pick % items.length]);

const toEvent = (a: Action, state: AgentState, obs: Observer): AgentEvent | undefined => {
  const held = (disk: number) => agentTable(state, DISKS[disk]!)?.generation ?? 0;
  switch (a.kind) {
    case 'io': {
      const ioId = obs.nextIo++;
      obs.requests.set(ioId, { disk: DISKS[a.disk]!, start: a.start, length: a.length });
      return { type: 'hostIo', ioId, disk: DISKS[a.disk]!, op: a.op, start: a.start, length: a.length };
    }
    case 'done':
    case 'failed': {
      // Storage answers an I/O or a flush.
      const pool = [...[...obs.atStorage].sort((x, y) => x - y), ...[...obs.flushing.keys()].map((id) => -id)];
      const picked = nth(pool, a.pick);
      if (picked === undefined) return undefined;
      if (picked < 0) return a.kind === 'done' ? { type: 'flushDone', flushId: -picked } : { type: 'flushFailed', flushId: -picked, error: 'cache lost' };
      const ioId = picked;
      return a.kind === 'done' ? { type: 'ioDone', ioId } : { type: 'ioFailed', ioId, error: 'storage failed' };
    }
    case 'flush': {
      const ioId = obs.nextIo++;
      obs.requests.set(ioId, { disk: DISKS[a.disk]!, start: 0, length: 0 });
      obs.hostFlushes.set(ioId, { disk: DISKS[a.disk]!, at: obs.clock + 1 });
      return { type: 'hostFlush', ioId, disk: DISKS[a.disk]! };
    }
    case 'fuaWrite': {
      const ioId = obs.nextIo++;
      obs.requests.set(ioId, { disk: DISKS[a.disk]!, start: a.start, length: a.length });
      obs.writes.set(ioId, { luns: [], doneAt: -1, durable: new Set(), fua: true, completedAt: -1 });
      return { type: 'hostIo', ioId, disk: DISKS[a.disk]!, op: 'write', start: a.start, length: a.length, fua: true };
    }
    case 'tick':
      obs.now += a.advance;
      return { type: 'tick', now: obs.now };
    case 'answer': {
      // Mostly outstanding ids; sometimes answered ones (duplicates) or ids never sent.
      const live = [...state.outstanding.keys()];
      const pool = a.pick % 4 === 0 ? [...obs.sentIds, 1000] : live;
      const faultId = nth(pool, Math.floor(a.pick / 4)) ?? 0;
      const type = a.type !== 'fit' ? a.type : state.outstanding.get(faultId)?.message.type === 'markBits' ? 'confirmMark' : 'retry';
      const message: ControllerMessage =
        type === 'failIo' ? { type: 'failIo', epoch: a.epoch, faultId, reason: 'refused' } : { type, epoch: a.epoch, faultId };
      return { type: 'message', message };
    }
    case 'set': {
      const from = held(a.disk) + a.from;
      return {
        type: 'message',
        message: {
          type: 'setEntries',
          epoch: a.epoch,
          disk: DISKS[a.disk]!,
          fromGeneration: from,
          generation: from + a.gen,
          ...(a.count === undefined ? {} : { segmentCount: a.count }),
          changes: a.changes.map(([segment, k]) => ({ segment, entry: ENTRY_DOCS[k]! })),
        },
      };
    }
    case 'replace':
      return {
        type: 'message',
        message: { type: 'replaceTable', epoch: a.epoch, disk: DISKS[a.disk]!, table: encodeTable(tableFor(Math.max(0, held(a.disk) + a.gen), a.entries)) },
      };
    case 'refresh':
      return { type: 'message', message: { type: 'refreshTable', epoch: a.epoch, disk: DISKS[a.disk]!, generation: held(a.disk) + a.gen } };
    case 'drop':
      return { type: 'message', message: { type: 'dropTable', epoch: a.epoch, disk: DISKS[a.disk]! } };
  }
};

describe('property: random event sequences', () => {
  it('never throws, ends each host I/O at most once, never parks an I/O silently, and settles once answered', () => {
    fc.assert(
      fc.property(fc.constantFrom<Variant>('centralized', 'distributed'), fc.array(actionArb, { minLength: 10, maxLength: 120 }), (variant, actions) => {
        const config: AgentConfig = { ...CONFIG, variant };
        const obs = new Observer(config);
        let state = initialAgentState(config);
        for (const a of actions) {
          const event = toEvent(a, state, obs);
          if (event !== undefined) state = obs.feed(state, event);
        }
        // A cooperative controller and storage: tables without faults, every fault retried,
        // every mark confirmed, every I/O finished. Every host I/O must then end.
        const settled = variant === 'distributed' ? [0, 4, 2] : [0, 0, 3];
        for (let round = 0; round < 20 && (state.ios.size > 0 || state.flushes.size > 0); round++) {
          for (const disk of DISKS) {
            const gen = (agentTable(state, disk)?.generation ?? 0) + 1;
            state = obs.feed(state, replaceTable(tableFor(gen, settled), disk, EPOCH));
          }
          for (const id of [...obs.atStorage]) state = obs.feed(state, done(id));
          for (const id of [...obs.flushing.keys()]) state = obs.feed(state, { type: 'flushDone', flushId: id });
          for (const [id, o] of [...state.outstanding]) {
            if (!state.outstanding.has(id)) continue;
            state = obs.feed(state, o.message.type === 'markBits' ? confirm(id) : retry(id));
          }
        }
        expect(state.ios.size).toBe(0);
        expect(obs.finished.size).toBe(obs.requests.size);
      }),
      { numRuns: 300 },
    );
  });

  it('agents given the same document the controller froze share one decoded table; a copy of it is decoded anew', () => {
    const table = right(createTable({ segmentBlocks: 4, segmentCount: 40, entries: (s) => (s % 3 === 0 ? { zero: true } : { location: { lun: 1, start: s * 4 } }) }));
    const doc = freezeTableDocument(encodeTable(table));
    const event: AgentEvent = { type: 'message', message: { type: 'replaceTable', epoch: EPOCH, disk: D, table: doc } };
    const [a] = agentStep(initialAgentState({ ...CONFIG, agent: 'a1' }), event);
    const [b] = agentStep(initialAgentState({ ...CONFIG, agent: 'a2' }), event);
    expect(a.disks.get(D)!.table).toBe(b.disks.get(D)!.table);
    expect(diffTables(a.disks.get(D)!.table, table)).toEqual([]);
    const copy = JSON.parse(JSON.stringify(doc)) as typeof doc;
    const [c] = agentStep(initialAgentState(CONFIG), { type: 'message', message: { type: 'replaceTable', epoch: EPOCH, disk: D, table: copy } });
    expect(c.disks.get(D)!.table).not.toBe(a.disks.get(D)!.table);
    expect(diffTables(c.disks.get(D)!.table, table)).toEqual([]);
  });

  it('never changes the state it is given, and the same event on the same state gives the same result', () => {
    const print = (x: unknown): string =>
      JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? { map: [...v] } : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
    fc.assert(
      fc.property(fc.constantFrom<Variant>('centralized', 'distributed'), fc.array(actionArb, { minLength: 10, maxLength: 80 }), (variant, actions) => {
        const config: AgentConfig = { ...CONFIG, variant };
        const obs = new Observer(config);
        let state = initialAgentState(config);
        for (const a of actions) {
          const event = toEvent(a, state, obs);
          if (event === undefined) continue;
          const before = print(state);
          const [again, commands] = agentStep(state, event);
          const next = obs.feed(state, event);
          expect(print(state)).toBe(before);
          expect(print(again)).toBe(print(next));
          expect(commands).toEqual(agentStep(state, event)[1]);
          state = next;
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('leases (docs/design.md#leases-and-liveness)', () => {
  const LEASED: AgentConfig = { ...CONFIG, leaseDuration: 1000 };
  const grant = (requestedAt: number, epoch = EPOCH): AgentEvent => msg({ type: 'leaseGranted', epoch, requestedAt, duration: 1000 });
  const renewal = (requestedAt: number, epoch = EPOCH): AgentCommand => ({ type: 'send', message: { type: 'renewLease', agent: 'a1', epoch, disk: '', requestedAt } });

  it('holds host I/O until it holds a lease, then issues it', () => {
    const h = new Harness(LEASED);
    expect(h.step(replaceTable(refTable()))).toEqual([ack(D, refTable().generation)]);
    expect(h.step(io(1, 'read', 0, 2))).toEqual([renewal(0)]); // asks at once
    expect(agentParkedCount(h.state)).toBe(1);
    const t = agentTable(h.state, D)!;
    expect(h.step(grant(0))).toEqual([issue(1, 'read', expectedPieces(t, 'read', 0, 2))]);
  });

  it('renews every third of the lease, and stops issuing one faultTimeout before it ends', () => {
    const h = new Harness(LEASED);
    h.step(replaceTable(refTable()));
    expect(h.step(tick(0))).toEqual([renewal(0)]);
    h.step(grant(0));
    expect(h.step(tick(300))).toEqual([]);
    expect(h.step(tick(334))).toEqual([renewal(334)]);
    // That renewal is never answered: at 900 (1000 - faultTimeout 100) the lease is as good as gone.
    expect(h.step(tick(899), io(1, 'read', 0, 1)).some((c) => c.type === 'issueIo')).toBe(true);
    const late = h.step(tick(900), io(2, 'read', 0, 1));
    expect(late.some((c) => c.type === 'issueIo')).toBe(false);
    expect(agentParkedCount(h.state)).toBe(1);
    // An older grant never shortens the lease; a newer one releases the held I/O.
    expect(h.step(grant(0))).toEqual([]);
    expect(h.step(grant(900)).filter((c) => c.type === 'issueIo').map((c) => (c as { ioId: number }).ioId)).toEqual([2]);
  });

  it('evicted: starts a new life (epoch + 1) with no tables or faults, keeps its host I/O and registers again', () => {
    const h = new Harness(LEASED);
    h.step(replaceTable(refTable()), tick(0), grant(0));
    const [fault] = faultsIn(h.step(io(1, 'write', 12, 3)));
    expect(fault).toBeDefined();
    expect(h.step(msg({ type: 'leaseRevoked', epoch: EPOCH - 1 }))).toEqual([]); // an earlier life's: ignored
    expect(h.step(msg({ type: 'leaseRevoked', epoch: EPOCH }))).toEqual([renewal(0, EPOCH + 1)]);
    expect(agentEpoch(h.state)).toBe(EPOCH + 1);
    expect(agentTable(h.state, D)).toBeUndefined();
    expect(h.state.outstanding.size).toBe(0);
    expect(agentParkedCount(h.state)).toBe(1);
    // Messages to the old life are not acted on; the new life's grant re-attempts the I/O (no table: it faults).
    expect(h.step(retry(fault!.faultId))).toEqual([]);
    const again = faultsIn(h.step(grant(0, EPOCH + 1)));
    expect(again).toMatchObject([{ epoch: EPOCH + 1, segment: -1 }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Limits, configs and refusals
// ---------------------------------------------------------------------------------------------

describe('limits', () => {
  it('refuses at once a setEntries resizing past limits.maxSegments, before any allocation', () => {
    const h = holding();
    const before = h.state;
    const commands = h.step(setEntries(3, 4, [], { segmentCount: 1e9 }));
    expect(commands).toEqual([{ type: 'refused', event: expect.anything(), why: expect.stringContaining(`segmentCount must be at most ${DEFAULT_AGENT_LIMITS.maxSegments}`) }]);
    expect(h.state).toBe(before);
  });

  it('refuses a setEntries with more changes than limits.maxChanges, whatever they hold, and fetches the whole table instead', () => {
    const h = holding(refTable(), { ...CONFIG, limits: { maxChanges: 2 } });
    const change = { segment: 0, entry: doc({ zero: true }) };
    const commands = h.step(setEntries(3, 4, [change, change, change]));
    expect(commands.map((c) => c.type)).toEqual(['refused', 'send']);
    expect(commands[1]).toMatchObject({ type: 'send', message: { type: 'fetchTable', disk: D, generation: 3 } });
    expect(h.step(setEntries(3, 4, [change, change]))).toEqual([ack(D, 4)]);
  });

  it('refuses a replaceTable with more entries than limits.maxSegments without reading them', () => {
    const h = new Harness({ ...CONFIG, limits: { maxSegments: 2 } });
    expect(h.step(replaceTable(refTable())).map((c) => c.type)).toEqual(['refused']);
    // A document claiming a huge list is refused from its length alone.
    const lying = new Proxy([], { get: (t, k) => (k === 'length' ? 1e9 : (() => { throw new Error('read'); })()) });
    const commands = h.step(msg({ type: 'replaceTable', epoch: EPOCH, disk: D, table: { ...encodeTable(refTable()), entries: lying } as never }));
    expect(commands).toEqual([{ type: 'refused', event: expect.anything(), why: expect.stringContaining('at most 2 entries') }]);
    expect(agentTable(h.state, D)).toBeUndefined();
  });
});

describe('createAgentState', () => {
  it('validates a config from outside, naming each bad field', () => {
    expect(E.isRight(createAgentState(CONFIG))).toBe(true);
    const bad = createAgentState({ agent: '', epoch: -1, variant: 'bogus', faultTimeout: NaN, limits: { maxSegments: 2 ** 40 } } as never);
    expect(E.isLeft(bad) && bad.left.map((e) => e.field)).toEqual(['agent', 'epoch', 'variant', 'faultTimeout', 'limits.maxSegments']);
    expect(E.isLeft(createAgentState(null as never))).toBe(true);
  });

  // Regression: the liveness fields were dropped, so an agent built from an outside config never asked for a lease.
  it('keeps the liveness fields (lease, backoff cap, jitter seed), and names a bad one', () => {
    const ok = createAgentState({ ...CONFIG, leaseDuration: 2000, backoffCap: 400, seed: 9 });
    expect(E.isRight(ok) && [ok.right.config.leaseDuration, ok.right.config.backoffCap, ok.right.config.seed, ok.right.lease !== null]).toEqual([2000, 400, 9, true]);
    const bad = createAgentState({ ...CONFIG, leaseDuration: -1, backoffCap: Infinity, seed: 0.5 });
    expect(E.isLeft(bad) && bad.left.map((e) => [e.field, e.value])).toEqual([['backoffCap', Infinity], ['leaseDuration', -1], ['seed', 0.5]]);
  });

  it('refuses malformed events and messages with a command naming the field, and changes nothing', () => {
    const h = holding();
    const before = h.state;
    const cases: [AgentEvent, string][] = [
      [{ type: 'hostIo', ioId: 'x' } as never, 'ioId'],
      [{ type: 'tick', now: NaN }, 'now'],
      [msg({ type: 'retry', epoch: EPOCH, faultId: '1' } as never), 'faultId'],
      [msg({ type: 'setEntries', epoch: EPOCH, disk: 7, fromGeneration: 3, generation: 4, changes: [] } as never), 'disk'],
    ];
    for (const [event, field] of cases) {
      const commands = h.step(event);
      expect(commands).toHaveLength(1);
      expect(commands[0]!.type === 'refused' && commands[0]!.why).toContain(field);
      expect(h.state).toBe(before);
    }
  });
});
