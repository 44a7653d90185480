/**
 * The join rule across a controller restart (docs/design.md#ordering-rules).
 *
 * A change that moves readable blocks is committed without an `invalid` fence when one agent may
 * hold the disk; an agent that holds no copy is given one only once that holder has acknowledged
 * the change (`joinHeld`, sync.ts). The controller remembers such a change in memory
 * (`DiskState.unfencedAt`): after a restart, a holder that had not acknowledged it and an agent
 * attached meanwhile are both listed by the store, and the restarted controller gave the new
 * agent the table at once. It wrote the block at its new place while the holder, still within its
 * lease, read it from the old one.
 *
 * The rule: a restored disk counts as changed without a fence at its restored generation, and an
 * agent is exempt from the wait only once it has shown that it holds no copy: a `fetchTable`
 * without a copy carrying `dropMark`, the agent's word that this life refuses every table of the
 * disk at or below the mark (raised to one below the generation of the `refreshTable` it answers).
 * No message sent earlier can make that false later, so a late duplicate proves nothing it should
 * not. Without the exemption two listed agents without copies (both restarted with the
 * controller) would wait for each other for ever (the second case).
 *
 * The pure machines, through `block-cluster.ts`.
 */
import { describe, expect, it } from 'vitest';
import { agentTable } from '../../src/agent/agent.js';
import { controllerStep } from '../../src/controller/controller.js';
import type { AdminEvent } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';
import { entryAt } from '../../src/table/table.js';
import { Cluster, D, migrateWhileHolderCut } from './block-cluster.js';

/** Whether a write `w` of `value` completed before a read `r` that found something else. */
const staleRead = (c: Cluster, w: number, r: number, value: number): boolean => c.ios.get(w) === 'done' && typeof c.ios.get(r) === 'number' && c.ios.get(r) !== value;

/** An agent of a version before `dropMark`: its fetches leave the field out. */
const older = (m: AgentMessage): AgentMessage => {
  if (m.type !== 'fetchTable') return m;
  const { dropMark: _, ...rest } = m as AgentMessage & { dropMark?: number };
  return rest as AgentMessage;
};

/**
 * `h` holds disk `d` (segment 0 on LUN 1, block 1 written) and is cut off while a migration of
 * segment 0 to LUN 2 commits without a fence (one holder); `n` is attached meanwhile (durably)
 * and waits for its table; then the controller restarts. The store lists both.
 */
const restartWhileHolderLags = (): Cluster => {
  const c = new Cluster(['h', 'n']);
  migrateWhileHolderCut(c);
  c.admin({ type: 'attachAgent', disk: D, agent: 'n' } as AdminEvent);
  c.advance(50);
  expect(agentTable(c.agents.get('n')!, D)).toBeUndefined(); // the join waits for h
  expect(c.store.attachments.get(D)).toEqual(['h', 'n']);
  c.restart();
  return c;
};

/**
 * After the restart `n` writes block 2 while `h` (still cut off, within its lease) reads it: no
 * stale read; once `h` is back and has acknowledged, `n`'s write lands and `h` reads it.
 */
const joinWaitsForHolder = (c: Cluster): void => {
  c.advance(50);
  const w = c.write('n', 2, 9);
  c.advance(50);
  const r = c.read('h', 2);
  c.advance(20);
  expect(staleRead(c, w, r, 9), `n's write ${String(c.ios.get(w))}, h's read ${String(c.ios.get(r))}`).toBe(false);
  expect(agentTable(c.agents.get('n')!, D)).toBeUndefined();
  c.cut.delete('h');
  c.advance(300);
  expect(c.controller.disks.get(D)!.unfencedAt).toBeUndefined();
  expect(c.ios.get(w)).toBe('done');
  const again = c.read('h', 2);
  c.advance(50);
  expect(c.ios.get(again)).toBe(9);
};

/** Two agents holding disk `d` restart with the controller: neither holds a copy any more. */
const restartEverything = (outgoing: (m: AgentMessage) => AgentMessage = (m) => m): Cluster => {
  const c = new Cluster(['a', 'b']);
  c.outgoing = outgoing;
  c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
  for (const agent of ['a', 'b']) c.admin({ type: 'attachAgent', disk: D, agent } as AdminEvent);
  c.advance(50);
  c.write('a', 1, 5);
  c.read('b', 6);
  c.advance(100);
  c.restart();
  c.restartAgent('a', 2);
  c.restartAgent('b', 2);
  return c;
};

/** Both agents of {@link restartEverything} write and read each other's block: everything completes. */
const bothJoin = (c: Cluster): void => {
  const wa = c.write('a', 2, 7);
  const wb = c.write('b', 9, 8);
  c.advance(400);
  expect([c.ios.get(wa), c.ios.get(wb)]).toEqual(['done', 'done']);
  const ra = c.read('a', 9);
  const rb = c.read('b', 1);
  c.advance(50);
  expect([c.ios.get(ra), c.ios.get(rb)]).toEqual([8, 5]);
};

describe('the join rule across a controller restart', () => {
  it('a holder behind an unfenced change when the controller restarts: an agent attached meanwhile waits for it', () => {
    joinWaitsForHolder(restartWhileHolderLags());
  });

  it('two listed agents that restarted with the controller hold no copy: each says so, and both join at once', () => {
    const c = restartEverything();
    bothJoin(c);
  });

  it('a late duplicate of a fetch from before the holder had a copy does not exempt it', () => {
    const c = restartWhileHolderLags();
    // What h sent, or could have sent, when it had no copy yet: no mark (it had dropped nothing).
    c.deliver({ type: 'fetchTable', agent: 'h', epoch: 1, disk: D, generation: -1, dropMark: -1 } as AgentMessage);
    joinWaitsForHolder(c);
  });

  it('older agents (no dropMark): the join still waits for a holder that acknowledges', () => {
    const c = restartWhileHolderLags();
    c.outgoing = older;
    joinWaitsForHolder(c);
  });

  it('older agents (no dropMark) that restarted with the controller still join: a fetch without a copy is taken at its word', () => {
    bothJoin(restartEverything(older));
  });

  it('a malformed dropMark is refused with its field and value, and changes nothing; an absent one is an older agent', () => {
    const c = restartWhileHolderLags();
    const before = c.controller;
    for (const [dropMark, generation] of [[-2, -1], ['3', -1], [3, 2]] as const) {
      const [after, cmds] = controllerStep(before, { type: 'message', message: { type: 'fetchTable', agent: 'n', epoch: 1, disk: D, generation, dropMark } as unknown as AgentMessage });
      expect(after).toBe(before);
      expect(cmds).toHaveLength(1);
      const refused = cmds[0]!;
      expect(refused.type === 'refused' && refused.why).toMatch(new RegExp(`^malformed fetchTable: dropMark .*got ${JSON.stringify(dropMark)}$`));
    }
    const [, cmds] = controllerStep(before, { type: 'message', message: { type: 'fetchTable', agent: 'n', epoch: 1, disk: D, generation: -1 } });
    expect(cmds.some((x) => x.type === 'refused')).toBe(false);
  });
});
