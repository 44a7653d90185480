/**
 * Host flushes: which LUNs a write made dirty, flushing them, and failing writes a lost flush
 * cannot vouch for (docs/design.md#ordering-rules).
 */
import type { Stepper } from './stepper.js';
import { isBlockNumber, show } from '../errors.js';
import type { DiskId } from '../protocol/messages.js';
import type { AgentEvent, MarkSpan, PendingFlush } from './types.js';


// --- durability (docs/design.md#ordering-rules) --------------------------------------------

/** Remembers that a write to `disk` reached these LUNs: the next host flush of the disk covers them. */
export function noteDirty(s: Stepper, disk: DiskId, luns: ReadonlyArray<number>): void {
  if (luns.length === 0) return;
  const old = s.dirty.get(disk) ?? [];
  if (luns.every((l) => old.includes(l))) return;
  s.dirty.set(disk, [...new Set([...old, ...luns])].sort((a, b) => a - b));
}


export function issueFlush(s: Stepper, f: PendingFlush): void {
  s.flushes.set(f.ioId, f);
  s.commands.push({ type: 'flush', flushId: f.ioId, luns: f.luns });
}


/**
 * A write is at storage but must be durable before it goes on: a FUA write before it
 * completes, a distributed write before its marks are sent (the controller would otherwise
 * persist bits that point at data a power loss can still take away). It waits as `marking`
 * with nothing pending.
 */
export function flushWrite(s: Stepper, ioId: number, luns: ReadonlyArray<number>, marks: ReadonlyArray<MarkSpan>, generation: number): void {
  const io = s.ios.get(ioId)!;
  s.ios.set(ioId, { status: 'marking', request: io.request, pending: [] });
  const disk = io.request.disk;
  s.issueFlush(marks.length > 0 ? { kind: 'marks', ioId, disk, luns, marks, generation } : { kind: 'write', ioId, disk, luns });
}


/**
 * A host flush of `disk`: flushes every LUN written for it since the last host flush, and those
 * of flushes still in flight (a flush that has not finished guarantees nothing yet).
 */
export function hostFlush(s: Stepper, e: Extract<AgentEvent, { type: 'hostFlush' }>): void {
  if (!isBlockNumber(e.ioId)) return s.refuse(e, `hostFlush: ioId must be a non-negative safe integer, got ${show(e.ioId)}`);
  if (s.ios.has(e.ioId) || s.flushes.has(e.ioId)) return;
  if (s.fenced !== undefined) return void s.commands.push({ type: 'failIo', ioId: e.ioId, reason: s.fenced });
  if (typeof e.disk !== 'string') return void s.commands.push({ type: 'failIo', ioId: e.ioId, reason: `invalid request: disk must be a string, got ${JSON.stringify(e.disk)}` });
  if (s.lost.has(e.disk)) {
    // A flush failed since: writes completed before it may be gone, and this flush cannot vouch for them.
    s.lost.delete(e.disk);
    return void s.commands.push({ type: 'failIo', ioId: e.ioId, reason: 'flush failed: storage lost writes to this disk that had not been flushed' });
  }
  const luns = new Set(s.dirty.get(e.disk) ?? []);
  for (const f of s.flushes.current.values()) if (f.disk === e.disk) for (const l of f.luns) luns.add(l);
  s.dirty.delete(e.disk);
  if (luns.size === 0) return void s.commands.push({ type: 'completeIo', ioId: e.ioId });
  s.issueFlush({ kind: 'host', ioId: e.ioId, disk: e.disk, luns: [...luns].sort((a, b) => a - b) });
}


export function flushDone(s: Stepper, flushId: number): void {
  const f = s.flushes.get(flushId);
  if (f === undefined) return;
  if (f.poisoned === true) return s.flushFailed(flushId, 'another flush of the same LUNs failed while this one was in flight');
  s.flushes.delete(flushId);
  if (f.kind === 'host') return void s.commands.push({ type: 'completeIo', ioId: f.ioId });
  const io = s.ios.get(f.ioId);
  if (io?.status !== 'marking' || io.pending.length > 0) return; // failed or dropped meanwhile
  if (f.kind === 'write') return s.complete(f.ioId);
  if (!s.disks.has(f.disk)) return s.fail(f.ioId, 'detached');
  const { agent, epoch } = s.config;
  const generation = f.generation!;
  const pending = f.marks!.map((m) =>
    s.raise({ type: 'markBits', agent, epoch, disk: f.disk, segment: m.segment, start: m.start, length: m.length, generation }, f.ioId),
  );
  s.ios.set(f.ioId, { status: 'marking', request: io.request, pending });
}


export function flushFailed(s: Stepper, flushId: number, error: string): void {
  const f = s.flushes.get(flushId);
  if (f === undefined) return;
  s.flushes.delete(flushId);
  s.noteDirty(f.disk, f.luns); // nothing was vouched for: the next flush covers them again
  // Storage reports a lost cache to one flush only: no flush of these LUNs in flight can be
  // trusted, and the next host flush of every other disk written there must fail too.
  for (const [id, g] of [...s.flushes.current]) if (g.poisoned !== true && g.luns.some((l) => f.luns.includes(l))) s.flushes.set(id, { ...g, poisoned: true });
  for (const [disk, luns] of [...s.dirty.current]) if (disk !== f.disk || f.kind !== 'host') if (luns.some((l) => f.luns.includes(l))) s.lost.set(disk, true);
  const reason = `flush failed: ${String(error)}`;
  if (f.kind === 'host') return void s.commands.push({ type: 'failIo', ioId: f.ioId, reason });
  const io = s.ios.get(f.ioId);
  if (io?.status === 'marking' && io.pending.length === 0) s.fail(f.ioId, reason);
}
