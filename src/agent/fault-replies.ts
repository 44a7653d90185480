/**
 * The controller's answers to faults and marks: `retry`, `failIo`, `confirmMark`, `faultAccepted`,
 * and re-sending what a new controller has not seen (docs/design.md#fault-resolution).
 */
import type { Stepper } from './stepper.js';
import type { ConfirmMarkMessage, FailIoMessage, RetryMessage } from '../protocol/messages.js';
import { acceptedRecheck, retryDelay } from './backoff.js';
import type { Outstanding } from './types.js';


// --- controller answers to faults and marks -----------------------------------------------

export function current(s: Stepper, m: RetryMessage | FailIoMessage | ConfirmMarkMessage): Outstanding | undefined {
  if (m.epoch !== s.config.epoch) return undefined;
  if (m.faultId >= s.nextFaultId) {
    // Only a life that raised this id could be answered about it: another life used this epoch.
    s.fence(m, `epoch ${s.config.epoch} of agent ${s.config.agent} is also used by another life: the controller answered fault ${m.faultId}, which this life never raised; restart with a higher epoch`);
    return undefined;
  }
  return s.outstanding.get(m.faultId);
}


export function retry(s: Stepper, m: RetryMessage): void {
  const found = s.current(m);
  if (found === undefined) return;
  const f = found.message;
  if (f.type === 'ioFault' && f.segment === -1 && !s.disks.has(f.disk)) {
    // The controller retries only once it has this agent's acknowledgement of a table that
    // resolves the fault. This life has no table of the disk, so never sent one: the controller
    // holds the state of an earlier life that used the same epoch. Retrying would fault again,
    // for ever.
    return s.fence(
      m,
      `epoch ${s.config.epoch} of agent ${s.config.agent} is also used by another life: the controller retried the no-table fault ${m.faultId} of disk ${JSON.stringify(f.disk)} although this life never acknowledged a table of it; restart with a higher epoch`,
    );
  }
  const o = s.clear(m.faultId);
  const origin = s.ios.get(o.origin);
  // A marked write sent back: a copy may have overwritten its data, so it starts again.
  s.reattempt(m.faultId, o.waiting, origin?.status === 'marking' && origin.pending.includes(m.faultId) ? o.origin : undefined);
}


export function failIo(s: Stepper, m: FailIoMessage): void {
  if (s.current(m) === undefined) return;
  const o = s.clear(m.faultId);
  const origin = s.ios.get(o.origin);
  // An origin already back at storage (its table changed shape) is no longer this fault's to fail.
  if (origin !== undefined && origin.status !== 'inFlight' && (origin.status !== 'marking' || origin.pending.includes(m.faultId)))
    s.fail(o.origin, String(m.reason));
  s.reattempt(m.faultId, o.waiting);
}


export function confirmMark(s: Stepper, m: ConfirmMarkMessage): void {
  const found = s.current(m);
  if (found === undefined || found.message.type !== 'markBits') return;
  const o = s.clear(m.faultId);
  const origin = s.ios.get(o.origin);
  if (origin?.status === 'marking' && origin.pending.includes(m.faultId)) {
    const pending = origin.pending.filter((id) => id !== m.faultId);
    s.ios.set(o.origin, { ...origin, pending });
    if (pending.length === 0) s.complete(o.origin);
  }
  s.reattempt(m.faultId, o.waiting);
}


/**
 * Sends again every outstanding fault and mark that `due` selects, as if for the first time:
 * a new controller has accepted none of them, so the backoff starts over.
 */
export function resend(s: Stepper, due: (o: Outstanding) => boolean): void {
  const picked: Array<readonly [number, Outstanding]> = [];
  for (const entry of s.outstanding.current) if (due(entry[1])) picked.push(entry);
  for (const [id, o] of picked) {
    s.outstanding.set(id, { ...o, sentAt: s.now, dueAt: s.now + retryDelay(s.config, id, 0), attempts: 0, accepted: false });
    s.send({ ...o.message });
  }
}


/** The controller has the fault in hand: stop the backoff, keep a slow re-check. */
export function faultAccepted(s: Stepper, epoch: number, faultId: number): void {
  if (epoch !== s.config.epoch) return;
  const o = s.outstanding.get(faultId);
  if (o === undefined || o.accepted) return;
  s.outstanding.set(faultId, { ...o, accepted: true, dueAt: s.now + acceptedRecheck(s.config) });
}
