/**
 * An agent that joins a disk while its only other holder has not acknowledged an unfenced change
 * (docs/design.md#ordering-rules).
 *
 * A change that moves readable blocks is left unfenced when at most one agent may hold the disk
 * (`stage`, commit.ts). That holder reads through its older entry until it acknowledges; it is
 * safe only while no other agent can be given the new entry first. When the holder is the agent
 * whose fault the change serves, it parks every I/O on the segment behind that fault, so it reads
 * nothing meanwhile. When it is another agent (the faulting one was detached, or the change is a
 * migration), an agent attached before the holder acknowledges gets the new table at once
 * (`adminCommitted` in jobs/admin.ts, or its own no-table fault), writes through the new entry,
 * and the holder, still within its lease, reads the block from its old place.
 *
 * The rule: such a change is remembered (`DiskState.unfencedAt`), and an agent that holds no copy
 * is given one only once every other agent that may hold the disk has acknowledged it (`joinHeld`,
 * sync.ts). With no such change outstanding a join is not delayed (the last case).
 */
import { describe, expect, it } from 'vitest';
import { agentTable } from '../../src/agent/agent.js';
import type { AdminEvent } from '../../src/controller/types.js';
import { entryAt } from '../../src/table/table.js';
import { Cluster, D, migrateWhileHolderCut } from './block-cluster.js';

/** Whether a write `w` of `value` completed before a read `r` that found something else. */
const staleRead = (c: Cluster, w: number, r: number, value: number): boolean => c.ios.get(w) === 'done' && typeof c.ios.get(r) === 'number' && c.ios.get(r) !== value;

/**
 * The join waited (no table while the holder lags), and goes on once the holder is back and has
 * acknowledged: the write lands, and the holder then reads it.
 */
const joinsOnceHolderAcks = (c: Cluster, w: number): void => {
  expect(agentTable(c.agents.get('n')!, D)).toBeUndefined();
  expect(c.ios.get(w)).toBeUndefined();
  c.cut.delete('h');
  c.advance(300);
  expect(c.controller.disks.get(D)!.unfencedAt).toBeUndefined();
  expect(c.ios.get(w)).toBe('done');
  const r = c.read('h', 2);
  c.advance(50);
  expect(c.ios.get(r)).toBe(9);
};

/**
 * `n` attaches while `h` (cut off) has not acknowledged the committed change of segment 0: `n`'s
 * write of block 2 must not leave `h` reading the old place, and `n` joins once `h` acknowledges.
 */
const attachWhileHolderLags = (c: Cluster): void => {
  c.admin({ type: 'attachAgent', disk: D, agent: 'n' } as AdminEvent);
  c.advance(50);
  const w = c.write('n', 2, 9);
  c.advance(50);
  const r = c.read('h', 2);
  c.advance(20);
  expect(staleRead(c, w, r, 9), `n's write ${String(c.ios.get(w))}, h's read ${String(c.ios.get(r))}`).toBe(false);
  joinsOnceHolderAcks(c, w);
};

describe('an agent joining while the other holder has not acknowledged an unfenced change', () => {
  it('the faulting agent detached: its first write is committed unfenced, and an agent attached next writes where the holder reads zeros', () => {
    const c = new Cluster(['f', 'h', 'n']);
    c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
    for (const agent of ['f', 'h']) c.admin({ type: 'attachAgent', disk: D, agent } as AdminEvent);
    c.advance(50);
    c.read('f', 1);
    c.read('h', 1);
    c.advance(50);
    c.holdCopies = true;
    c.write('f', 1, 7); // a first write to zero segment 0: zero-filling (held)
    c.advance(20);
    expect(c.heldCopies.length).toBeGreaterThan(0);
    c.admin({ type: 'detachAgent', disk: D, agent: 'f' } as AdminEvent);
    c.advance(50);
    expect(agentTable(c.agents.get('f')!, D)).toBeUndefined();
    c.cut.add('h');
    c.releaseCopies();
    c.advance(20);
    expect(entryAt(c.controller.disks.get(D)!.committed, 0).location).not.toBeNull(); // committed, not fenced
    attachWhileHolderLags(c);
  });

  it('a migration with one holder: an agent attached before the holder acknowledges writes the new place, the holder reads the old', () => {
    const c = new Cluster(['h', 'n']);
    migrateWhileHolderCut(c);
    attachWhileHolderLags(c);
  });

  it('no unfenced change outstanding: an attached agent gets its table at once, also while the faulting agent (the only holder) lags', () => {
    const c = new Cluster(['h', 'n']);
    c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
    c.admin({ type: 'attachAgent', disk: D, agent: 'h' } as AdminEvent);
    c.advance(50);
    c.read('h', 1);
    c.advance(50);
    c.holdCopies = true;
    c.write('h', 1, 5); // a first write: unfenced, but h's own I/O on the segment waits behind it
    c.advance(20);
    expect(c.heldCopies.length).toBeGreaterThan(0);
    c.cut.add('h');
    c.releaseCopies();
    c.advance(20);
    const committed = c.controller.disks.get(D)!.committed;
    expect(entryAt(committed, 0).location).not.toBeNull();
    expect(c.controller.disks.get(D)!.unfencedAt).toBeUndefined();
    c.admin({ type: 'attachAgent', disk: D, agent: 'n' } as AdminEvent);
    c.advance(50); // as in the cases above, where the join waits
    const w = c.write('n', 2, 9); // its no-table fault is answered with the table at once
    expect(agentTable(c.agents.get('n')!, D)?.generation).toBe(committed.generation);
    expect(c.ios.get(w)).toBe('done');
  });
});
