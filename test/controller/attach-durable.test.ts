/**
 * An agent gets no table of a disk before the record that attaches it is durable
 * (docs/design.md#ordering-rules).
 *
 * `attachAgent` lists the agent in memory at once, and its `attachments` record goes to the store
 * with the next batch. An agent that faulted (or fetched) meanwhile was given the table at once:
 * if the controller then restarted before the record was durable, the store did not list the
 * agent, the restarted controller did not know of its copy, and a change made afterwards without
 * fencing it left the agent reading blocks from their old place (a stale read). The table is now
 * held back until the record is durable; the agent's request is answered then.
 *
 * The pure machines, through `block-cluster.ts` (persists held back with `holdPersists`).
 */
import { describe, expect, it } from 'vitest';
import { agentTable } from '../../src/agent/agent.js';
import type { AdminEvent } from '../../src/controller/types.js';
import type { AgentMessage } from '../../src/protocol/messages.js';
import { entryAt } from '../../src/table/table.js';
import { Cluster, D } from './block-cluster.js';

/** `h` holds disk `d` (segment 0 on LUN 1, block 1 holding 5); `n` is attached while persists are held back. */
const attachWhileNotDurable = (): { c: Cluster; attach: number } => {
  const c = new Cluster(['h', 'n']);
  c.admin({ type: 'createDisk', disk: D, segmentBlocks: 4, segmentCount: 4 } as AdminEvent);
  c.adminOk({ type: 'attachAgent', disk: D, agent: 'h' } as AdminEvent);
  c.advance(50);
  c.write('h', 1, 5);
  c.advance(100);
  expect(entryAt(c.controller.disks.get(D)!.committed, 0).location?.lun).toBe(1);
  c.holdPersists = true;
  const attach = c.admin({ type: 'attachAgent', disk: D, agent: 'n' } as AdminEvent);
  expect(c.heldPersists.some((p) => p.records.some((r) => r.type === 'attachments' && r.agents.includes('n')))).toBe(true);
  expect(c.store.attachments.get(D)).toEqual(['h']);
  return { c, attach };
};

/** Whether `agent` holds a table of `d` that the controller does not count as a possible holder. */
const untracked = (c: Cluster, agent: string): boolean => agentTable(c.agents.get(agent)!, D) !== undefined && c.controller.agents.get(agent)?.copies.get(D)?.mayHold !== true;

describe('an agent gets no table before the record that attaches it is durable', () => {
  it('a fault before the record is durable, then a controller restart: no untracked copy, no stale read after a migration', () => {
    const { c } = attachWhileNotDurable();
    const early = c.read('n', 1); // no table: a no-table fault
    c.advance(30);
    c.restart(); // the held attachments record is lost
    expect(c.store.attachments.get(D)).toEqual(['h']);
    c.advance(100);
    expect(untracked(c, 'n'), 'n holds a copy the restarted controller does not count').toBe(false);
    // A change after the restart, with h the only listed holder: committed without a fence.
    c.adminOk({ type: 'migrate', disk: D, lun: 2, segments: [0] } as unknown as AdminEvent, 400);
    expect(entryAt(c.controller.disks.get(D)!.committed, 0).location?.lun).toBe(2);
    const w = c.write('h', 1, 9);
    c.advance(50);
    expect(c.ios.get(w)).toBe('done');
    const r = c.read('n', 1);
    c.advance(50);
    const got = c.ios.get(r);
    expect(typeof got === 'number' && got !== 9, `n read ${String(got)} after h wrote 9 (early read: ${String(c.ios.get(early))})`).toBe(false);
  });

  it('a fetch before the record is durable, then a controller restart: no table is sent', () => {
    const { c } = attachWhileNotDurable();
    c.inject({ type: 'fetchTable', agent: 'n', epoch: 1, disk: D, generation: -1, dropMark: -1 } as AgentMessage);
    expect(c.log.some((x) => x.type === 'send' && x.to === 'n' && x.message.type === 'replaceTable')).toBe(false);
    c.restart();
    c.advance(100);
    expect(untracked(c, 'n')).toBe(false);
  });

  it('the fault waits for the record and is answered once it is durable; the attach is answered too', () => {
    const { c, attach } = attachWhileNotDurable();
    const r = c.read('n', 1);
    c.advance(100);
    expect(agentTable(c.agents.get('n')!, D)).toBeUndefined();
    expect(c.ios.has(r)).toBe(false);
    expect(c.answers.has(attach)).toBe(false);
    c.releasePersists();
    c.advance(100);
    expect(c.answers.get(attach)).toBe(true);
    expect(c.ios.get(r)).toBe(5);
    expect(c.controller.disks.get(D)!.attachPending).toBeUndefined();
  });

  it('a fetch waits for the record and is answered once it is durable', () => {
    const { c, attach } = attachWhileNotDurable();
    c.inject({ type: 'fetchTable', agent: 'n', epoch: 1, disk: D, generation: -1, dropMark: -1 } as AgentMessage);
    expect(agentTable(c.agents.get('n')!, D)).toBeUndefined();
    c.releasePersists();
    c.advance(50);
    expect(c.answers.get(attach)).toBe(true);
    expect(agentTable(c.agents.get('n')!, D)).toBeDefined();
    expect(c.controller.agents.get('n')?.copies.get(D)?.mayHold).toBe(true);
  });
});
