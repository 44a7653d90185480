/**
 * The controller side of lease fencing (src/controller/leases.ts, docs/design.md#leases-and-liveness):
 * an agent whose lease lapsed lists the copies it holds unconfirmed in its renewals (`holds`), and
 * the controller grants such a renewal only when it vouches for every listed copy: the disk
 * exists, the agent is attached and counted as a holder, and the generation is one this
 * controller committed or restored. Otherwise the renewal goes unanswered and the agent is helped
 * along: told to drop a copy of a disk it does not map, sent the table otherwise.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { applyPersistRecord, EMPTY_DURABLE_STATE, encodeDurableState, type DurableState } from '../../src/controller/persist-record.js';
import type { AdminEvent, ControllerCommand, ControllerEvent, ControllerOptions, ControllerState } from '../../src/controller/types.js';
import type { RenewLeaseMessage } from '../../src/protocol/messages.js';

const right = <T>(e: E.Either<unknown, T>): T => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left)}`);
  return e.right;
};

const ALLOCATOR = right(createAllocator({ 1: 1000 }));
const OPTIONS: ControllerOptions = { leaseDuration: 1000, maxClockDrift: 0, maxIoLifetime: 10, retryInterval: 50, materializeZeroSegments: false };

/** A controller whose persists land at once in a store it can be restarted from. */
class Controller {
  state: ControllerState = initialControllerState(ALLOCATOR, OPTIONS);
  store: DurableState = EMPTY_DURABLE_STATE;
  now = 0;
  private nextRequest = 1;

  constructor() {
    this.step({ type: 'restored', state: encodeDurableState(this.store), now: 0 });
  }

  step(event: ControllerEvent): ControllerCommand[] {
    const [next, cmds] = controllerStep(this.state, event);
    this.state = next;
    const all = [...cmds];
    for (const c of cmds)
      if (c.type === 'persist') {
        for (const r of c.records) this.store = right(applyPersistRecord(this.store, r));
        all.push(...this.step({ type: 'persisted', persistId: c.persistId }));
      }
    return all;
  }

  admin(event: Record<string, unknown>): void {
    const requestId = this.nextRequest++;
    const done = this.step({ ...event, requestId } as unknown as AdminEvent).find((c) => c.type === 'adminDone');
    expect(done).toMatchObject({ type: 'adminDone', result: { ok: true } });
  }

  restart(): void {
    this.state = initialControllerState(ALLOCATOR, OPTIONS);
    this.step({ type: 'restored', state: encodeDurableState(this.store), now: this.now });
  }

  renew(holds: RenewLeaseMessage['holds'] | unknown, requestedAt = this.now): ControllerCommand[] {
    return this.step({ type: 'message', message: { type: 'renewLease', agent: 'a1', epoch: 1, disk: '', requestedAt, ...(holds === undefined ? {} : { holds }) } as RenewLeaseMessage });
  }

  generation(disk = 'd'): number {
    return this.state.disks.get(disk)!.committed.generation;
  }
}

const sent = (cmds: ReadonlyArray<ControllerCommand>, type: string): unknown[] =>
  cmds.flatMap((c) => (c.type === 'send' && c.message.type === type ? [c.message] : []));

/** d (attached to a1) at its first generation, a1 heard from and acknowledging it. */
const withDisk = (): Controller => {
  const c = new Controller();
  c.admin({ type: 'createDisk', disk: 'd', segmentBlocks: 8, segmentCount: 2 });
  c.admin({ type: 'attachAgent', disk: 'd', agent: 'a1' });
  c.step({ type: 'message', message: { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'd', generation: c.generation() } });
  return c;
};

describe('controller: a renewal listing unconfirmed copies is granted only when each is vouched for', () => {
  it('grants a renewal whose copies are attached and current, as one without any', () => {
    const c = withDisk();
    expect(sent(c.renew(undefined), 'leaseGranted')).toHaveLength(1);
    expect(sent(c.renew([{ disk: 'd', generation: c.generation() }]), 'leaseGranted')).toHaveLength(1);
  });

  it('a copy of a disk the agent does not map: no grant, and it is told to drop it (marked at its own generation)', () => {
    const c = withDisk();
    const cmds = c.renew([{ disk: 'd', generation: c.generation() }, { disk: 'gone', generation: 7 }]);
    expect(sent(cmds, 'leaseGranted')).toEqual([]);
    expect(sent(cmds, 'dropTable')).toEqual([{ type: 'dropTable', epoch: 1, disk: 'gone', generation: 7 }]);
  });

  it('after a restart, a copy older than the restored generation is not vouched for: no grant, the table is sent', () => {
    const c = withDisk();
    const old = c.generation();
    // A change a1 never acknowledges: durable at once, answered only after a1's acknowledgement.
    c.step({ type: 'resize', requestId: 99, disk: 'd', segmentCount: 3 } as unknown as AdminEvent);
    c.restart();
    expect(c.generation()).toBeGreaterThan(old);
    const stale = c.renew([{ disk: 'd', generation: old }]);
    expect(sent(stale, 'leaseGranted')).toEqual([]);
    expect([...sent(stale, 'refreshTable'), ...sent(stale, 'replaceTable'), ...sent(stale, 'setEntries')].length).toBeGreaterThan(0);
    // Once it holds and acknowledges the restored generation, its renewal listing it is granted.
    c.step({ type: 'message', message: { type: 'tableAck', agent: 'a1', epoch: 1, disk: 'd', generation: c.generation() } });
    expect(sent(c.renew([{ disk: 'd', generation: c.generation() }]), 'leaseGranted')).toHaveLength(1);
  });

  it('refuses a malformed list by name, without a grant', () => {
    const c = withDisk();
    for (const holds of ['d', [{ disk: 3, generation: 1 }], [{ disk: 'd', generation: 1.5 }], [null]]) {
      const cmds = c.renew(holds);
      expect(sent(cmds, 'leaseGranted')).toEqual([]);
      expect(cmds.find((x) => x.type === 'refused')).toMatchObject({ why: expect.stringMatching(/^holds/) });
    }
  });
});
