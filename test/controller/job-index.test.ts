/**
 * The job index kept with the controller state always equals the index a naive rebuild from
 * `state.jobs` gives (jobs by disk and segment, and every class a step looks for), through long
 * random runs with faults, copies, persistence failures, snapshots, migrations and markFailed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as controller from '../../src/controller/controller.js';
import type { ControllerState, Job } from '../../src/controller/types.js';
import { Driver } from './random-driver.js';

/** The reference model: every class of every job, worked out from scratch. */
const rebuild = (jobs: ReadonlyMap<number, Job>) => {
  const bySegment = new Map<string, number[]>();
  const classes = new Map<string, number[]>();
  const add = (c: string, id: number): void => void classes.set(c, [...(classes.get(c) ?? []), id]);
  for (const [id, j] of [...jobs].sort((a, b) => a[0] - b[0])) {
    if ('segment' in j && j.segment >= 0) bySegment.set(`${j.disk}/${j.segment}`, [...(bySegment.get(`${j.disk}/${j.segment}`) ?? []), id]);
    add(`kind:${j.kind}`, id);
    if (j.phase.kind === 'committing') add('committing', id);
    if (j.phase.kind === 'syncing') {
      add('syncing', id);
      add(`syncing:${j.disk}`, id);
      add(`syncing@${j.phase.generation}:${j.disk}`, id);
    }
    if (j.kind === 'settle' && j.phase.kind === 'copying' && j.phase.copies.length > 0) add('copying', id);
    if (j.kind === 'settle' && j.phase.kind === 'copying' && j.phase.copies.length === 0 && j.phase.failed) add('copyRetry', id);
  }
  const sorted = <V>(m: Map<string, V>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { bySegment: sorted(bySegment), classes: sorted(classes) };
};

const kept = (state: ControllerState) => {
  const bySegment = new Map<string, number[]>();
  for (const [disk, segments] of state.jobIndex.bySegment) for (const [segment, ids] of segments) bySegment.set(`${disk}/${segment}`, [...ids]);
  const classes = new Map<string, number[]>();
  for (const [c, ids] of state.jobIndex.classes) classes.set(c, [...ids].sort((a, b) => a - b));
  const sorted = <V>(m: Map<string, V>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { bySegment: sorted(bySegment), classes: sorted(classes) };
};

describe('job index', () => {
  it('equals a rebuild from the jobs after every step', () => {
    let sawCopying = false;
    let sawSyncing = false;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const d = new Driver(controller, seed);
        expect(kept(d.state)).toEqual(rebuild(d.state.jobs));
        for (let i = 0; i < 200; i++) {
          d.step();
          const model = rebuild(d.state.jobs);
          expect(kept(d.state)).toEqual(model);
          sawCopying ||= model.classes.some(([c]) => c === 'copying');
          sawSyncing ||= model.classes.some(([c]) => c === 'syncing');
        }
      }),
      { numRuns: 25 },
    );
    expect(sawCopying && sawSyncing).toBe(true);
  });
});
