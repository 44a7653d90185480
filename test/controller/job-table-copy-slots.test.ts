/**
 * `JobTable.copying()` (the copy slots settle jobs hold) equals a count over the jobs as they are
 * now, through any mix of phase changes, additions and deletions within one step: a slot freed in
 * a step can be taken in the same step (several settle jobs finish together when a flush group
 * is answered).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobTable, emptyJobIndex } from '../../src/controller/job-index.js';
import type { Job, JobPhase } from '../../src/controller/types.js';

const phases: ReadonlyArray<JobPhase> = [
  { kind: 'queued' },
  { kind: 'waiting' },
  { kind: 'committing', batch: 1 },
  { kind: 'copying', copies: [7], failed: false },
  { kind: 'copying', copies: [8], failed: false, flushing: true, flushLuns: [1] },
  { kind: 'copying', copies: [], failed: true },
];
const settle = (id: number, phase: JobPhase): Job => ({ id, kind: 'settle', disk: 'd0', segment: id % 4, phase, path: [], release: [], group: null, attempts: 0 }) as Job;
const holdsSlot = (j: Job | undefined): boolean => j !== undefined && j.kind === 'settle' && j.phase.kind === 'copying' && j.phase.copies.length > 0;

/** A table over `initial` jobs (ids 0..n-1) as a step would receive it, with its index. */
const tableOver = (initial: ReadonlyArray<number>): JobTable => {
  const build = new JobTable(new Map(), emptyJobIndex, 0);
  initial.forEach((p, id) => build.put(id, settle(id, phases[p]!)));
  const [jobs, index] = build.result();
  return new JobTable(jobs, index, initial.length);
};

const op = fc.oneof(
  fc.record({ type: fc.constant('phase' as const), pick: fc.nat(), phase: fc.nat({ max: phases.length - 1 }) }),
  fc.record({ type: fc.constant('put' as const), phase: fc.nat({ max: phases.length - 1 }) }),
  fc.record({ type: fc.constant('delete' as const), pick: fc.nat() }),
);

describe('JobTable copy slots', () => {
  it('counts the settle jobs copying now, whatever the step changed', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: phases.length - 1 }), { maxLength: 8 }), fc.array(op, { maxLength: 20 }), (initial, ops) => {
        const table = tableOver(initial);
        let nextId = initial.length;
        for (const o of ops) {
          const ids = table.keys();
          if (o.type === 'put') table.put(nextId, settle(nextId++, phases[o.phase]!));
          else if (ids.length === 0) continue;
          else if (o.type === 'delete') table.delete(ids[o.pick % ids.length]!);
          else table.setPhase(table.get(ids[o.pick % ids.length]!)!, phases[o.phase]!);
          const naive = table.keys().filter((id) => holdsSlot(table.peek(id) as Job)).length;
          expect(table.copying()).toBe(naive);
        }
      }),
    );
  });

  it('frees the slot of a job older than the step when it stops copying', () => {
    const table = tableOver([3, 4, 4, 3]);
    expect(table.copying()).toBe(4);
    table.setPhase(table.get(1)!, { kind: 'committing', batch: 1 });
    table.setPhase(table.get(2)!, { kind: 'committing', batch: 1 });
    expect(table.copying()).toBe(2);
  });
});
