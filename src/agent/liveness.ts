/**
 * Time and leases: the periodic tick (fault re-sends with backoff), lease renewal, grants and
 * revocation (lease.ts, backoff.ts).
 */
import type { Stepper } from './stepper.js';
import { show } from '../errors.js';
import type { ControllerMessage } from '../protocol/messages.js';
import { acceptedRecheck, retryDelay } from './backoff.js';
import { granted, holdsLease, initialLease, renewalDue } from './lease.js';
import type { HostRequest, Outstanding } from './types.js';


// --- time -----------------------------------------------------------------------------------

// --- leases (lease.ts) ------------------------------------------------------------------------

/** No lease: the I/O waits, parked behind no fault, for the next grant. */
export function hold(s: Stepper, req: HostRequest): void {
  s.ios.set(req.ioId, { status: 'parked', request: req, behind: -1 });
  s.renewLease(false);
}


export function renewLease(s: Stepper, force: boolean): void {
  const l = s.lease;
  if (l === null || (!force && !renewalDue(s.config, l, s.now))) return;
  s.lease = { ...l, lastRequest: s.now };
  const { agent, epoch } = s.config;
  s.send({ type: 'renewLease', agent, epoch, disk: '', requestedAt: s.now });
}


export function leaseGranted(s: Stepper, m: Extract<ControllerMessage, { type: 'leaseGranted' }>): void {
  if (s.lease === null || m.epoch !== s.config.epoch || typeof m.requestedAt !== 'number' || typeof m.duration !== 'number') return;
  const held = holdsLease(s.config, s.lease, s.now);
  s.lease = granted(s.lease, m.requestedAt, m.duration);
  if (!held && holdsLease(s.config, s.lease, s.now)) s.releaseHeld();
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
