/**
 * A forced deletion, a change committed while it waits, then a controller restart before the
 * deletion is durable (bench/sim-snapshot-sweep.ts seed 1959515581, `read-mismatch`).
 *
 * A forced `deleteDisk` detaches the disk's agents in memory and tells them to drop their copies at
 * once, but the store keeps listing them as attached until `deleteTable` (so a restarted controller
 * knows who may hold a copy). An agent that has dropped no longer holds the disk, so a change
 * staged meanwhile (a first write whose zero-fill was still running when the deletion began) saw
 * a single possible holder, the one agent cut off, and was committed without a fence. The
 * controller restarted before the deletion was durable: the store gave the disk back with every
 * agent attached, the agents that had dropped fetched the new table and wrote through the changed
 * entry, while the cut-off agent, still within its lease, read the same block through its older
 * table (zeros).
 *
 * Ordering rule (docs/design.md#ordering-rules): an agent the store lists as attached counts as a
 * possible holder of the disk, when the controller decides whether a change must be fenced, until
 * the record that detaches it (or the deletion) is durable.
 *
 * The pure machines, through `block-cluster.ts`.
 */
import { describe, expect, it } from 'vitest';
import { agentTable } from '../../src/agent/agent.js';
import type { AdminEvent } from '../../src/controller/types.js';
import { entryAt } from '../../src/table/table.js';
import { Cluster, D, LEASE } from './block-cluster.js';

/**
 * Disk `d` attached to a0 and a1, both holding its table; a1's first write to segment 0 is
 * zero-filling (held) when `d` is deleted by force with a0 cut off; a1 drops its copy; then the
 * zero-fill lands and the change is committed. Returns the cluster and a1's write.
 */
const deletionWaitingOnCutAgent = (): { c: Cluster; firstWrite: number } => {
  const c = new Cluster(['a0', 'a1']);
  c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
  for (const agent of ['a0', 'a1']) c.admin({ type: 'attachAgent', disk: D, agent } as AdminEvent);
  c.advance(50);
  c.read('a0', 1);
  c.read('a1', 1);
  c.advance(50);
  expect(agentTable(c.agents.get('a0')!, D)).toBeDefined();
  expect(agentTable(c.agents.get('a1')!, D)).toBeDefined();
  c.holdCopies = true;
  const firstWrite = c.write('a1', 1, 7);
  c.advance(20);
  expect(c.heldCopies.length).toBeGreaterThan(0); // the zero-fill of segment 0 is under way
  c.cut.add('a0');
  const deletion = c.admin({ type: 'deleteDisk', disk: D, force: true } as AdminEvent);
  c.advance(20);
  expect(agentTable(c.agents.get('a1')!, D)).toBeUndefined(); // a1 dropped its copy
  expect(agentTable(c.agents.get('a0')!, D)).toBeDefined(); // a0 never heard of the deletion
  c.releaseCopies();
  c.advance(20);
  expect(c.answers.has(deletion)).toBe(false); // it waits for a0
  expect(c.store.attachments.get(D)).toEqual(['a0', 'a1']); // the store still lists both
  return { c, firstWrite };
};

describe('a forced deletion waiting for a cut-off agent, then a controller restart', () => {
  it('a change committed meanwhile is fenced: the store may still give the disk back to every agent it lists', () => {
    const { c } = deletionWaitingOnCutAgent();
    const stored = c.store.tables.get(D)!;
    expect(stored.generation).toBeGreaterThan(0); // the change was committed
    // Segment 0 is either untouched (zero) or fenced (invalid) in what the store holds: never
    // mapped somewhere a0, which holds the older table, does not read it from.
    const e = entryAt(stored, 0);
    expect(e.invalid || (e.zero && e.location === null)).toBe(true);
  });

  it('an agent that dropped its copy and gets the disk back after the restart never writes a block the cut-off agent reads elsewhere (seed 1959515581)', () => {
    const { c } = deletionWaitingOnCutAgent();
    c.restart();
    c.advance(50);
    // a1 is attached again in the restored store: it fetches the table and writes block 2.
    const write = c.write('a1', 2, 9);
    c.advance(100);
    const read = c.read('a0', 2); // a0: cut off, still within its lease, its older table
    c.advance(20);
    expect(c.ios.get(write) === 'done' && c.ios.get(read) === 0, `a1's write ${String(c.ios.get(write))}, a0's read ${String(c.ios.get(read))}`).toBe(false);
    // Once a0 is heard from again, everything converges and the write is served.
    c.cut.delete('a0');
    c.advance(3 * LEASE);
    expect(c.ios.get(write)).toBe('done');
    const again = c.read('a0', 2);
    c.advance(100);
    expect(c.ios.get(again)).toBe(9);
  });
});
