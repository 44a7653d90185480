/**
 * Time and leases: the periodic tick (fault re-sends with backoff), lease renewal, grants and
 * revocation (lease.ts, backoff.ts).
 */
import type { Stepper } from './stepper.js';
import { show } from '../errors.js';
import type { ControllerMessage, DiskId } from '../protocol/messages.js';
import { acceptedRecheck, retryDelay } from './backoff.js';
import { granted, holdsLease, initialLease, lapsedAt, renewalDue } from './lease.js';
import type { HostRequest, Outstanding } from './types.js';


// --- time -----------------------------------------------------------------------------------

// --- leases (lease.ts) ------------------------------------------------------------------------

/** No lease: the I/O waits, parked behind no fault, for the next grant. */
export function hold(s: Stepper, req: HostRequest): void {
  s.ios.set(req.ioId, { status: 'parked', request: req, behind: -1 });
  s.renewLease(false);
}


/**
 * A renewal; after a lapse it lists every copy still unconfirmed at its generation (`holds`), and
 * notes the first renewal that listed each one's current generation: a grant of it, or of a later
 * renewal, confirms the copy.
 */
export function renewLease(s: Stepper, force: boolean): void {
  const l = s.lease;
  if (l === null) return;
  const holds: { disk: DiskId; generation: number }[] = [];
  for (const [disk, copy] of s.disks.current) if (copy.unconfirmed !== undefined) holds.push({ disk, generation: copy.table.generation });
  if (!force && !renewalDue(s.config, l, s.now, holds.length > 0)) return;
  // A grant names the renewal it answers by its time only: when an earlier renewal (which did not
  // list these generations) went at this same time, its grant would pass for this one's, so this
  // one confirms nothing and a later renewal lists them again.
  const distinct = l.lastRequest < s.now;
  s.lease = { ...l, lastRequest: s.now };
  for (const { disk } of holds) {
    const copy = s.disks.get(disk)!;
    if (distinct && copy.unconfirmed!.listedAt === undefined) s.disks.set(disk, { ...copy, unconfirmed: { listedAt: s.now } });
  }
  const { agent, epoch } = s.config;
  s.send({ type: 'renewLease', agent, epoch, disk: '', requestedAt: s.now, ...(holds.length > 0 ? { holds } : {}) });
}


/**
 * The lease ran out (it was held, and `now` is past it): every copy becomes unconfirmed, and so
 * does any copy this life takes from now on where it held none (lease.ts). A controller may have
 * evicted this life meanwhile, changed its disks without waiting for it, and then forgotten it.
 */
export function noteLapse(s: Stepper): void {
  if (!lapsedAt(s.config, s.lease, s.now)) return;
  s.lapsed = true;
  let marked = false;
  for (const [disk, copy] of s.disks.current)
    if (copy.unconfirmed === undefined) {
      s.disks.set(disk, { ...copy, unconfirmed: {} });
      marked = true;
    }
  if (marked) s.renewLease(true); // ask at once, listing them
}


export function leaseGranted(s: Stepper, m: Extract<ControllerMessage, { type: 'leaseGranted' }>): void {
  if (s.lease === null || m.epoch !== s.config.epoch || typeof m.requestedAt !== 'number' || typeof m.duration !== 'number') return;
  s.noteLapse(); // a grant never hides a lapse it follows
  const held = holdsLease(s.config, s.lease, s.now);
  s.lease = granted(s.lease, m.requestedAt, m.duration);
  // The controller granted a renewal at `requestedAt` only vouching for every copy it listed.
  let confirmed = false;
  for (const [disk, copy] of s.disks.current) {
    const listedAt = copy.unconfirmed?.listedAt;
    if (listedAt === undefined || listedAt > m.requestedAt) continue;
    const { unconfirmed: _, ...rest } = copy;
    s.disks.set(disk, rest);
    confirmed = true;
  }
  if ((!held || confirmed) && holdsLease(s.config, s.lease, s.now)) s.releaseHeld();
}


/** Host I/O held for want of a lease goes through step 1 again. */
export function releaseHeld(s: Stepper): void {
  const held: HostRequest[] = [];
  for (const io of s.ios.current.values()) if (io.status === 'parked' && io.behind === -1) held.push(io.request);
  for (const req of held) s.attempt(req);
}


/**
 * This life was evicted: start a new one (epoch + 1) with no tables and no faults, keeping the
 * host I/O, which waits for the new life's lease. I/O still at storage finishes as before.
 */
export function leaseRevoked(s: Stepper, m: Extract<ControllerMessage, { type: 'leaseRevoked' }>): void {
  if (s.lease === null || m.epoch !== s.config.epoch) return;
  s.config = { ...s.config, epoch: s.config.epoch + 1 };
  s.lease = initialLease(s.config);
  s.lapsed = false; // a new life: no table of it can come from before it began
  for (const id of [...s.outstanding.current.keys()]) s.clear(id);
  for (const disk of [...s.disks.current.keys()]) s.disks.delete(disk);
  const victims: number[] = [];
  for (const [id, io] of s.ios.current) {
    if (io.status === 'marking') victims.push(id);
    else if (io.status === 'parked') s.ios.set(id, { ...io, behind: -1 });
  }
  // A marked write's bits may never have been made durable: the host is told it failed.
  for (const id of victims) s.fail(id, 'evicted before the write was confirmed');
  s.renewLease(true);
}


export function tick(s: Stepper, now: number): void {
  if (!(typeof now === 'number' && Number.isFinite(now))) return s.refuse({ type: 'tick', now }, `tick: now must be a finite number, got ${show(now)}`);
  s.now = now;
  s.noteLapse();
  if (s.lease !== null) s.renewLease(false);
  const due: Array<readonly [number, Outstanding]> = [];
  for (const entry of s.outstanding.current) if (now >= entry[1].dueAt) due.push(entry);
  for (const [id, o] of due) {
    // Backoff with jitter while unacknowledged; a slow re-check once the controller has it in hand.
    const attempts = o.attempts + 1;
    const dueAt = now + (o.accepted ? acceptedRecheck(s.config) : retryDelay(s.config, id, attempts));
    s.outstanding.set(id, { ...o, sentAt: now, dueAt, attempts });
    s.send({ ...o.message });
  }
}
