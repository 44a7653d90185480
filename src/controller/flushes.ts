/**
 * Grouped flushes: the copies a job made are durable before the record that depends on them
 * (ordering rules D1 and D2, `docs/design.md#ordering-rules`). One `flush` command is in flight at
 * a time, over the union of the LUNs of every job waiting for it; a job whose copies finish while
 * it is in flight joins the next one, which is issued as soon as the first is answered (group
 * commit, as persists do in `commit.ts`). A storm of first writes then costs one flush per round
 * trip instead of one per fault, and a lone job is never delayed: with nothing in flight its
 * flush goes out at once, and otherwise it waits for at most the flush in flight.
 *
 * A job waiting for a flush is `copying`, with `flushing` set and `copies` holding the id of the
 * flush it waits for (that of the group it joined: reserved when the group's first job joins), so
 * a settle job keeps its copy slot while it waits, as it did while its own flush was in flight.
 */
import { PersistentSet } from '../protocol/persistent-map.js';
import { newId } from './basics.js';
import { hooksFor } from './jobs/hooks.js';
import type { ControllerCommand, FlushGroup } from './types.js';
import type { JobDraft, Working } from './working.js';

/** `a` and `b` (each ascending, without repeats) merged, ascending, without repeats. */
const unionSorted = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): ReadonlyArray<number> => {
  if (b.every((l) => a.includes(l))) return a;
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
};

/**
 * Ordering rule (docs/design.md#ordering-rules): copies and zero-fills are flushed before the
 * 570 record that makes a table depend on them. A job's `copied` hook calls this when its copies
 * are answered. Returns true when the job now waits for a flush of `luns` (the hook runs again,
 * with `flushing` set, once that flush is answered: a failed flush counts as a failed copy), and
 * false when the job may go on: the flush is done, a copy failed, or nothing was copied.
 */
export const flushCopiesFirst = (s: Working, out: ControllerCommand[], job: JobDraft, luns: ReadonlyArray<number>): boolean => {
  const phase = job.phase;
  if (phase.kind !== 'copying' || phase.failed || phase.flushing === true || luns.length === 0) return false;
  const flushLuns = [...new Set(luns)].sort((a, b) => a - b);
  let group: FlushGroup;
  if (s.flushes.inFlight === null) {
    group = { flushId: newId(s), luns: flushLuns, jobs: PersistentSet.from([job.id]) };
    s.flushes = { ...s.flushes, inFlight: group };
    out.push({ type: 'flush', flushId: group.flushId, luns: group.luns });
  } else {
    const next = s.flushes.next;
    // A persistent set: a job joining a group of thousands does not copy the group.
    group = next === null ? { flushId: newId(s), luns: flushLuns, jobs: PersistentSet.from([job.id]) } : { flushId: next.flushId, luns: unionSorted(next.luns, flushLuns), jobs: PersistentSet.from(next.jobs).add(job.id) };
    s.flushes = { ...s.flushes, next: group };
  }
  s.jobs.setPhase(job, { kind: 'copying', copies: [group.flushId], failed: false, flushing: true, flushLuns });
  return true;
};

/**
 * The flush in flight was answered. Each of its jobs goes on (its `copied` hook), failed when the
 * flush failed; then the group waiting, if any, is flushed. Storage reports a lost write cache to
 * one flush only, so when a flush fails the jobs waiting for the next one on any of the same LUNs
 * cannot be trusted either (their copies finished before the failure was known): they count as
 * failed at once (they copy again, or fail their write), as concurrent flushes did when each job
 * flushed alone.
 */
export const onFlushAnswered = (s: Working, out: ControllerCommand[], flushId: number, failed: boolean): void => {
  const done = s.flushes.inFlight;
  if (done === null || done.flushId !== flushId) return; // not ours, or a late answer
  s.flushes = { ...s.flushes, inFlight: null };
  const distrusted: number[] = [];
  const next = s.flushes.next;
  if (failed && next !== null) {
    const kept: number[] = [];
    const luns = new Set<number>();
    for (const id of next.jobs) {
      const job = s.jobs.peek(id);
      const jobLuns = job?.phase.kind === 'copying' ? (job.phase.flushLuns ?? []) : [];
      if (jobLuns.some((l) => done.luns.includes(l))) distrusted.push(id);
      else {
        kept.push(id);
        for (const l of jobLuns) luns.add(l);
      }
    }
    if (distrusted.length > 0) s.flushes = { ...s.flushes, next: kept.length === 0 ? null : { flushId: next.flushId, luns: [...luns].sort((a, b) => a - b), jobs: PersistentSet.from(kept) } };
  }
  for (const id of done.jobs) goOn(s, out, id, flushId, failed);
  for (const id of distrusted) goOn(s, out, id, next!.flushId, true);
  issueNext(s, out);
};

/** A job of an answered flush (or one no flush can vouch for) goes on, unless it stopped waiting. */
const goOn = (s: Working, out: ControllerCommand[], id: number, flushId: number, failed: boolean): void => {
  const job = s.jobs.get(id);
  if (job === undefined || job.phase.kind !== 'copying' || job.phase.flushing !== true || job.phase.copies[0] !== flushId) return;
  s.jobs.setPhase(job, { ...job.phase, copies: [], failed: job.phase.failed || failed });
  hooksFor(s, job).copied(s, out, job);
};

/** Nothing in flight: the waiting group, if any, becomes the flush in flight. */
const issueNext = (s: Working, out: ControllerCommand[]): void => {
  const next = s.flushes.next;
  if (s.flushes.inFlight !== null || next === null) return;
  s.flushes = { inFlight: next, next: null };
  out.push({ type: 'flush', flushId: next.flushId, luns: next.luns });
};
