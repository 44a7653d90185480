/**
 * Deltas walk the generations they span (`changedAt`), never the whole of `lastChange`: through
 * long random runs (faults, copies, failed persists, snapshots that freeze the disk, migrations,
 * markFailed, attachments), the segments of a delta from every table still in history to the
 * committed one equal those of a full diff of the two tables (the freeze applied to the base
 * when one was committed since), the reference model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as controller from '../../src/controller/controller.js';
import { changedSegments } from '../../src/controller/sync.js';
import type { DiskState } from '../../src/controller/types.js';
import { frozenTable } from '../../src/table/freeze.js';
import { diffTables, type MappingTable } from '../../src/table/table.js';
import * as E from 'fp-ts/lib/Either.js';
import { createPrng } from '../../src/adapters/prng.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerEvent } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable } from '../../src/table/table.js';

/** The reference: every segment whose entry differs, by a diff of the whole tables. */
const fullDiff = (d: DiskState, base: MappingTable): number[] => {
  const to = d.committed;
  const freeze = d.frozenAt !== undefined && base.generation < d.frozenAt;
  return diffTables(freeze ? frozenTable(base, base.generation) : base, to).filter((seg) => seg < to.segmentCount).sort((a, b) => a - b);
};

const SEGMENT_BLOCKS = 8;
const SEGMENTS = 24;
const DISK = 'vol';
const AGENTS = ['a0', 'a1', 'a2'] as const;

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(JSON.stringify(e.left));
  return e.right;
};

/**
 * One controller and its surroundings, driven by a seed: persistence, storage (copies and
 * flushes), three agents that apply deltas and acknowledge them late or never, faults, ticks,
 * snapshots (freezes) and migrations.
 */
const run = (seed: number, historyLimit: number, steps: number, visit: (d: DiskState) => void): void => {
  const prng = createPrng(seed);
  const table = right(
    createTable({
      segmentBlocks: SEGMENT_BLOCKS,
      segmentCount: SEGMENTS,
      entries: (s) => (s % 3 === 0 ? { zero: true } : s % 3 === 1 ? { location: { lun: 1, start: s * SEGMENT_BLOCKS }, noWrite: true } : { location: { lun: 1, start: s * SEGMENT_BLOCKS } }),
    }),
  );
  let state = controller.initialControllerState(right(createAllocator({ 1: 8192, 2: 8192 })), { retryInterval: 50, copyConcurrency: 2, historyLimit });
  let now = 0;
  let persistId: number | null = null;
  const storage: ControllerEvent[] = [];
  const inbox: AgentMessage[] = [];
  const generations = new Map<string, number>();
  let faultId = 1;
  let requestId = 1;
  const feed = (event: ControllerEvent): void => {
    const [next, commands] = controller.controllerStep(state, event);
    state = next;
    for (const c of commands) {
      if (c.type === 'persist') persistId = c.persistId;
      else if (c.type === 'copyBlocks' || c.type === 'writeZeros') storage.push({ type: 'copyDone', copyId: c.copyId });
      else if (c.type === 'flush') storage.push({ type: 'flushed', flushId: c.flushId });
      else if (c.type === 'send' && 'disk' in c.message && c.message.disk === DISK) {
        const agent = c.to;
        const m = c.message;
        const ack = (generation: number): void => void inbox.push({ type: 'tableAck', agent, epoch: 1, disk: DISK, generation });
        if (m.type === 'replaceTable') {
          generations.set(agent, m.table.generation);
          ack(m.table.generation);
        } else if (m.type === 'setEntries' && m.fromGeneration === generations.get(agent)) {
          generations.set(agent, m.generation);
          ack(m.generation);
        } else if (m.type === 'setEntries' || m.type === 'refreshTable') inbox.push({ type: 'fetchTable', agent, epoch: 1, disk: DISK, generation: generations.get(agent) ?? -1 });
      }
    }
    for (const d of state.disks.values()) visit(d);
  };
  feed({ type: 'restored', now: 0, state: { tables: [{ disk: DISK, table: encodeTable(table) }], attachments: [{ disk: DISK, agents: [...AGENTS] }] } });
  for (let i = 0; i < steps; i++) {
    // Agents lag: their acknowledgements wait while others are answered.
    if (inbox.length > 0 && prng.chance(0.4)) feed({ type: 'message', message: inbox.splice(prng.int(Math.min(3, inbox.length)), 1)[0]! });
    else if (persistId !== null && prng.chance(0.4)) {
      const id = persistId;
      persistId = null;
      feed(prng.chance(0.05) ? { type: 'persistFailed', persistId: id, error: 'disk full' } : { type: 'persisted', persistId: id });
    } else if (storage.length > 0 && prng.chance(0.5)) feed(storage.splice(prng.int(storage.length), 1)[0]!);
    else if (prng.chance(0.1)) feed({ type: 'tick', now: (now += 20 + prng.int(40)) });
    else if (prng.chance(0.03)) feed({ type: 'snapshot', requestId: requestId++, disk: DISK, snapshot: `snap-${requestId}` });
    else if (prng.chance(0.02)) feed({ type: 'migrate', requestId: requestId++, disk: DISK, segments: [prng.int(SEGMENTS)], lun: 2 });
    else {
      const agent = AGENTS[prng.int(AGENTS.length)]!;
      const segment = prng.int(SEGMENTS);
      feed({
        type: 'message',
        message: {
          type: 'ioFault', agent, epoch: 1, faultId: faultId++, disk: DISK, segment, op: 'write',
          start: segment * SEGMENT_BLOCKS + prng.int(SEGMENT_BLOCKS - 1), length: 1 + prng.int(2), reason: 'no-write', generation: generations.get(agent) ?? -1,
        },
      });
    }
  }
};

describe('changedSegments', () => {
  it('equals a full diff from every table in history, for random histories with freezes', () => {
    const counts = { deltas: 0, multi: 0, frozen: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom(2, 5, 32), (seed, historyLimit) => {
        const checked = new WeakSet<MappingTable>(); // what a delta reads changes with commits only
        run(seed, historyLimit, 600, (d) => {
          if (checked.has(d.committed)) return;
          checked.add(d.committed);
          expect(d.history.length).toBeLessThanOrEqual(historyLimit);
          // Only tables still in history are recorded: the record is as small as the history.
          expect(d.changedAt?.size ?? 0).toBeLessThan(Math.max(d.history.length, 1));
          for (const base of d.history) {
            const freeze = d.frozenAt !== undefined && base.generation < d.frozenAt;
            expect(changedSegments(d, base, d.committed, freeze)).toEqual(fullDiff(d, base));
            counts.deltas += 1;
            if (d.history.indexOf(d.committed) - d.history.indexOf(base) > 1) counts.multi += 1;
            if (freeze) counts.frozen += 1;
          }
        });
      }),
      { numRuns: 40 },
    );
    console.log(counts);
    // The runs reached what the property is about: deltas over several commits, across a freeze.
    expect(counts.multi).toBeGreaterThan(1000);
    expect(counts.frozen).toBeGreaterThan(100);
  });
});
