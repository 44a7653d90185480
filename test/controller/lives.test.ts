/**
 * Lives of a disk name across controller restarts (docs/design.md#ordering-rules): a disk deleted
 * and created again while an agent that never heard of the deletion still holds the old life's
 * table. The store keeps a generation floor with `deleteTable`, so the new life starts above every
 * generation the old one reached; a restarted controller (which forgets evictions) then never
 * counts the old table's acknowledgement for the new life, and never sends new-life deltas onto
 * it. Also: a plain detach whose `dropped` has not arrived when the controller restarts.
 *
 * The pure machines, through `block-cluster.ts` (one LUN, so space a shrink releases is the space
 * the next disk gets).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentTable } from '../../src/agent/agent.js';
import { encodeDurableState } from '../../src/controller/persist-record.js';
import type { AdminEvent } from '../../src/controller/types.js';
import type { AgentId } from '../../src/protocol/messages.js';
import { encodeTable } from '../../src/table/codec.js';
import { Cluster as BlockCluster, D, LEASE } from './block-cluster.js';

/** The block cluster on one LUN, zero segments left unallocated until written, and the steps these tests repeat. */
class Cluster extends BlockCluster {
  constructor(agents: ReadonlyArray<AgentId>) {
    super(agents, { luns: { 1: 1000 }, controller: { materializeZeroSegments: false } });
  }

  /** A host I/O of `block` of `disk` through `agent`, then 50 ms: an agent without a table asks for one; a write to a zero segment allocates it. */
  touch(agent: AgentId, op: 'read' | 'write' = 'read', disk = D, block = 0): void {
    if (op === 'write') this.write(agent, block, 1, disk);
    else this.read(agent, block, disk);
    this.advance(50);
  }

  /** One commit of disk `d` that changes its geometry (segment count 4 <-> 5). */
  commit(): void {
    const d = this.controller.disks.get(D)!;
    this.adminOk({ type: 'resize', disk: D, segmentCount: d.working.segmentCount === 4 ? 5 : 4 } as AdminEvent);
  }

  committed(): number {
    return this.controller.disks.get(D)!.committed.generation;
  }
}

/** Disk `d` (4 segments of 8 blocks) with a1 and a2 attached, each holding its table. */
const bothHolding = (): Cluster => {
  const c = new Cluster(['a1', 'a2']);
  c.adminOk({ type: 'createDisk', disk: D, segmentBlocks: 8, segmentCount: 4 } as AdminEvent);
  c.adminOk({ type: 'attachAgent', disk: D, agent: 'a1' } as AdminEvent);
  c.adminOk({ type: 'attachAgent', disk: D, agent: 'a2' } as AdminEvent);
  c.touch('a1');
  c.touch('a2');
  return c;
};

/**
 * Every agent holding a copy of `d` at the generation the controller committed holds exactly the
 * committed table: a copy that claims the generation with other entries is a table of another life.
 */
const mixedLives = (c: Cluster): string[] => {
  const committed = c.controller.disks.get(D)?.committed;
  if (committed === undefined) return [];
  const problems: string[] = [];
  for (const [agent, state] of c.agents) {
    const t = agentTable(state, D);
    if (t === undefined || t.generation !== committed.generation) continue;
    if (JSON.stringify(encodeTable(t)) !== JSON.stringify(encodeTable(committed))) problems.push(`${agent} holds another table at generation ${t.generation} (${t.segmentCount} segments, the controller's has ${committed.segmentCount})`);
  }
  return problems;
};

/**
 * The scenario: the old life of `d` reaches generation N with a1 attached; a1 is cut off; `d` is
 * deleted by force (a1 is evicted when its lease runs out, never having seen the dropTable) and
 * created again with a1 and a2 attached; the new life commits up to `newCommits`; the controller
 * restarts; a1 is heard from again; `afterCommits` more commits. Returns the cluster.
 */
const scenario = (oldCommits: number, newCommits: number, afterCommits: number): { c: Cluster; oldGeneration: number } => {
  const c = new Cluster(['a1', 'a2']);
  c.adminOk({ type: 'createDisk', disk: D, segmentBlocks: 8, segmentCount: 4 } as AdminEvent);
  c.adminOk({ type: 'attachAgent', disk: D, agent: 'a1' } as AdminEvent);
  c.touch('a1');
  // The old life maps segment 0 somewhere (the new life never does), and its segment counts
  // alternate: its tables differ from the new life's at the same generation.
  c.touch('a1', 'write');
  expect(c.controller.disks.get(D)!.committed.generation).toBe(1);
  for (let i = 1; i < oldCommits; i++) c.commit();
  c.advance(100);
  const oldGeneration = c.committed();
  expect(agentTable(c.agents.get('a1')!, D)?.generation).toBe(oldGeneration);
  c.cut.add('a1');
  c.adminOk({ type: 'deleteDisk', disk: D, force: true } as AdminEvent, 5 * LEASE);
  expect(agentTable(c.agents.get('a1')!, D)?.generation).toBe(oldGeneration); // it never saw the dropTable
  c.adminOk({ type: 'createDisk', disk: D, segmentBlocks: 8, segmentCount: 5 } as AdminEvent);
  c.adminOk({ type: 'attachAgent', disk: D, agent: 'a2' } as AdminEvent);
  c.touch('a2');
  c.adminOk({ type: 'attachAgent', disk: D, agent: 'a1' } as AdminEvent, 5 * LEASE);
  while (c.committed() < newCommits) c.commit();
  c.restart();
  c.cut.delete('a1');
  c.advance(300);
  for (let i = 0; i < afterCommits; i++) c.commit();
  c.advance(300);
  return { c, oldGeneration };
};

describe('a disk name deleted and created again, then a controller restart', () => {
  it('the new life starts above every generation of the old one, and the old table is never counted or patched (regression)', () => {
    // The new life reaches the old life's last generation before the restart: without the floor
    // the restarted controller counts a1's acknowledgement of the old table as being in line, and
    // the next commit's delta lands on it.
    const { c, oldGeneration } = scenario(5, 5, 1);
    expect(mixedLives(c)).toEqual([]);
    expect(c.store.generationFloor).toBe(oldGeneration + 1);
    expect(encodeDurableState(c.store).generationFloor).toBe(oldGeneration + 1);
    // Both agents converge on the new life's table.
    for (const a of ['a1', 'a2']) expect(encodeTable(agentTable(c.agents.get(a)!, D)!)).toEqual(encodeTable(c.controller.disks.get(D)!.committed));
  });

  it('an acknowledgement of an old-life generation that reaches a restarted controller is refused, not counted', () => {
    const { c, oldGeneration } = scenario(5, 0, 0);
    const since = c.controller.disks.get(D)!.since!;
    expect(since).toBeGreaterThan(oldGeneration);
    c.inject({ type: 'tableAck', agent: 'a1', epoch: 1, disk: D, generation: oldGeneration });
    const refusal = c.log.at(-1);
    expect(refusal?.type).toBe('refused');
    expect(refusal?.type === 'refused' ? refusal.why : '').toMatch(/older than generation/);
    expect(c.controller.agents.get('a1')!.copies.get(D)!.acked).toBeGreaterThanOrEqual(since);
  });

  it('a snapshot taken under a deleted name starts at or above the floor too', () => {
    const c = new Cluster(['a1']);
    c.adminOk({ type: 'createDisk', disk: 'old', segmentBlocks: 8, segmentCount: 4 } as AdminEvent);
    for (let i = 0; i < 3; i++) c.adminOk({ type: 'resize', disk: 'old', segmentCount: 5 + i } as AdminEvent);
    c.adminOk({ type: 'createDisk', disk: D, segmentBlocks: 8, segmentCount: 4 } as AdminEvent);
    const floor = c.controller.disks.get('old')!.committed.generation + 1;
    c.adminOk({ type: 'deleteDisk', disk: 'old' } as AdminEvent);
    c.adminOk({ type: 'snapshot', disk: D, snapshot: 'old' } as AdminEvent);
    expect(c.controller.disks.get('old')!.committed.generation).toBeGreaterThanOrEqual(floor);
    expect(c.controller.generationFloor).toBe(floor);
  });

  it('whatever the generations of the two lives and the commits after the restart, no agent holds a mix of lives (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 3 }), (oldCommits, newCommits, afterCommits) => {
        const { c } = scenario(oldCommits, newCommits, afterCommits);
        expect(mixedLives(c)).toEqual([]);
        for (const a of ['a1', 'a2']) expect(agentTable(c.agents.get(a)!, D)?.generation).toBe(c.committed());
      }),
      { numRuns: 40 },
    );
  });
});

describe('a plain detach, then a controller restart before the dropped arrives', () => {
  /** a1 and a2 attached; a1 detached while cut off, so its dropTable is lost. */
  const detached = (): Cluster => {
    const c = bothHolding();
    c.cut.add('a1');
    c.adminOk({ type: 'detachAgent', disk: D, agent: 'a1' } as AdminEvent);
    return c;
  };

  it('the store lists the agent as dropping, and a restarted controller waits for it and tells it again', () => {
    const c = detached();
    expect(encodeDurableState(c.store).attachments).toEqual([{ disk: D, agents: ['a2'], dropping: ['a1'] }]);
    c.restart();
    expect(c.controller.disks.get(D)!.dropping).toEqual(['a1']);
    // Allocation stays held for it (its older table may still be used), and changes wait for it.
    expect(c.controller.reuseHold?.pending.some((p) => p.agent === 'a1')).toBe(true);
    c.cut.delete('a1');
    c.advance(200);
    expect(agentTable(c.agents.get('a1')!, D)).toBeUndefined(); // told again, it dropped its copy
    expect(c.controller.disks.get(D)!.dropping).toEqual([]);
    expect(encodeDurableState(c.store).attachments).toEqual([{ disk: D, agents: ['a2'] }]);
    c.commit();
    expect(agentTable(c.agents.get('a2')!, D)?.generation).toBe(c.committed());
  });

  it('an agent evicted while dropping is no longer waited for, in memory or in the store', () => {
    const c = detached();
    c.advance(3 * LEASE); // a1 stays cut off: its lease runs out and it is evicted
    expect(c.log.some((x) => x.type === 'fence' && x.agent === 'a1')).toBe(true);
    expect(c.controller.disks.get(D)!.dropping).toEqual([]);
    expect(encodeDurableState(c.store).attachments).toEqual([{ disk: D, agents: ['a2'] }]);
    // Heard again, that life is told to start anew, without tables.
    c.cut.delete('a1');
    c.advance(200);
    expect(agentTable(c.agents.get('a1')!, D)).toBeUndefined();
  });

  it('a commit after the restart waits for the detached agent until it has dropped its copy', () => {
    const c = detached();
    c.restart();
    const requestId = 1000;
    c.step({ type: 'resize', requestId, disk: D, segmentCount: 5 });
    c.advance(300);
    expect(c.answers.has(requestId)).toBe(false); // a1 may still use the older table
    c.cut.delete('a1');
    c.advance(300);
    expect(c.answers.get(requestId)).toBe(true);
    expect(agentTable(c.agents.get('a1')!, D)).toBeUndefined();
  });
});

describe('an agent evicted before a controller restart', () => {
  it('writes nothing through its old table onto space the old controller gave to another disk', () => {
    const c = bothHolding();
    c.touch('a1', 'write', D, 24); // segment 3 gets an extent
    const x = c.controller.disks.get(D)!.committed;
    expect(agentTable(c.agents.get('a1')!, D)?.generation).toBe(x.generation);
    // a1 is cut off; the shrink that releases segment 3 goes on once a1's lease has run out.
    c.cut.add('a1');
    c.adminOk({ type: 'resize', disk: D, segmentCount: 3 } as AdminEvent, 5 * LEASE);
    c.advance(100); // past the quarantine
    c.adminOk({ type: 'createDisk', disk: 'e', segmentBlocks: 8, segmentCount: 4 } as AdminEvent);
    c.adminOk({ type: 'attachAgent', disk: 'e', agent: 'a2' } as AdminEvent);
    c.touch('a2', 'read', 'e');
    for (let seg = 0; seg < 4; seg++) c.touch('a2', 'write', 'e', seg * 8);
    const e = c.controller.disks.get('e')!.committed;
    const owned = (lun: number, start: number): boolean =>
      Array.from({ length: e.segmentCount }, (_, seg) => seg).some((seg) => {
        const entry = encodeTable(e).entries[seg] as { location?: { lun: number; start: number }; alternate?: { lun: number; start: number } };
        return [entry.location, entry.alternate].some((x) => x !== undefined && x.lun === lun && x.start <= start && start < x.start + 8);
      });
    c.restart();
    c.cut.delete('a1');
    const before = c.writes.length;
    c.touch('a1', 'write', D, 24); // a1 still maps segment 3 through the old table
    c.advance(300);
    const crossing = c.writes.slice(before).filter((w) => w.agent === 'a1' && owned(w.lun, w.start));
    expect(crossing).toEqual([]);
  });
});
