/**
 * The job state machine, declared: what each kind of job does at each point of its life. The
 * shared parts of the controller (locks, 570 commit, 575-590 sync, copies) move a job from one
 * point to the next and call its kind's hook there, through one lookup, so the life of a kind
 * reads in one module (`fault.ts`, `settle.ts`, `snapshot.ts`, `admin.ts`, `flags.ts`) and the
 * table of all of them is in `index.ts`.
 *
 * Points of a job's life, in order:
 * - `start`: it holds its segment lock (or needs none): decide, then stage a change (570), sync
 *   (575-590) or copy;
 * - `copied`: every copy it asked for is answered (the phase says whether one failed);
 * - `committed`: its staged change is durable: bring agents in line;
 * - `synced`: every agent that must have its change acknowledged it (fences are already lifted
 *   and extents released);
 * - `poke`: something it waits for may have happened (a periodic sweep, or a lock freed on its
 *   disk): look again;
 * - `abandoned`: the agent it serves restarted while agents were being brought in line.
 */
import type { ControllerCommand, Job } from '../types.js';
import type { Mutable, Working } from '../working.js';

/** What one kind of job does at each point of its life; see the module comment. */
export interface JobHooks<J extends Job> {
  readonly start: (s: Working, out: ControllerCommand[], job: Mutable<J>) => void;
  readonly copied: (s: Working, out: ControllerCommand[], job: Mutable<J>) => void;
  readonly committed: (s: Working, out: ControllerCommand[], job: Mutable<J>) => void;
  readonly synced: (s: Working, out: ControllerCommand[], job: Mutable<J>) => void;
  readonly poke: (s: Working, out: ControllerCommand[], job: Mutable<J>) => void;
  readonly abandoned: (s: Working, out: ControllerCommand[], job: Mutable<J>) => void;
}

/** The hooks of every kind of job. */
export type JobHookTable = { readonly [K in Job['kind']]: JobHooks<Extract<Job, { kind: K }>> };

/** The hooks of `job`'s kind. */
export const hooksFor = (s: Working, job: Mutable<Job>): JobHooks<Job> => s.hooks[job.kind] as JobHooks<Job>;

/** A point of a job's life where the kind has nothing to do. */
export const nothing = (): void => {};
