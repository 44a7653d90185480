/**
 * The copy queue on the pure controller machine: at most `copyConcurrency` settle jobs copy at
 * once, and a settle job waiting for a copy slot gets one whenever a slot is free at the end of a
 * step, however the slot was freed: copies finished, or the copying job closed by some other path
 * (a deletion, a rollback or a failure closing it), and whatever became of the jobs queued ahead
 * of it.
 *
 * The disk is restored with every segment located on LUN 1 and an empty alternate on LUN 2 (a
 * migration under way), and no agent: each segment gets a settle job at once. Persists and
 * flushes are answered at once; copies are held until the test answers them.
 *
 * No event closes a copying settle job today other than its own copies: the closes here are made
 * the way such a path would make them, with `closeJob` inside a step of the real working state
 * (`Working`, the real hook table), and the controller is then stepped as usual.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { createAllocator } from '../../src/controller/allocator.js';
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { enqueueSettle, jobHooks } from '../../src/controller/jobs/index.js';
import { closeJob } from '../../src/controller/locks.js';
import type { ControllerCommand, ControllerEvent, ControllerState, SettleJob } from '../../src/controller/types.js';
import { Working } from '../../src/controller/working.js';
import type { TableDocument } from '../../src/table/codec.js';
import { entryAt } from '../../src/table/table.js';

const ALLOCATOR = E.getOrElseW((e) => {
  throw new Error(String(e));
})(createAllocator({ 1: 1000, 2: 1000 }));
const D = 'd';
const SEG = 10;

type Copy = Extract<ControllerCommand, { type: 'copyBlocks' | 'writeZeros' }>;

/** A disk whose every segment is being moved from LUN 1 to LUN 2, nothing copied yet. */
const moving = (count: number): TableDocument =>
  ({
    format: 'vdisk-map/table',
    version: 1,
    segmentBlocks: SEG,
    segmentCount: count,
    generation: 1,
    entries: Array.from({ length: count }, (_, s) => ({ location: { lun: 1, start: s * SEG }, noWrite: true, alternate: { lun: 2, start: s * SEG, blocks: '' } })),
  }) as TableDocument;

/** The controller over one moving disk; copies wait in `copies` until answered. */
class Settling {
  state: ControllerState;
  now = 0;
  readonly copies: Copy[] = [];
  /** Every settle job that ever started copying, in order. */
  readonly started: number[] = [];

  constructor(segments: number, copyConcurrency: number) {
    this.state = initialControllerState(ALLOCATOR, { copyConcurrency, retryInterval: 100 });
    this.step({ type: 'restored', state: { tables: [{ disk: D, table: moving(segments) }], attachments: [] }, now: 0 });
  }

  step(event: ControllerEvent): void {
    const [next, cmds] = controllerStep(this.state, event);
    this.state = next;
    this.follow(cmds);
  }

  /** Persists and flushes succeed at once; copies are kept for the test to answer. */
  private follow(cmds: ReadonlyArray<ControllerCommand>): void {
    for (const c of cmds) {
      if (c.type === 'copyBlocks' || c.type === 'writeZeros') {
        const job = this.state.copies.get(c.copyId)!;
        if (!this.started.includes(job)) this.started.push(job);
        this.copies.push(c);
      }
    }
    for (const c of cmds) {
      if (c.type === 'persist') this.step({ type: 'persisted', persistId: c.persistId });
      else if (c.type === 'flush') this.step({ type: 'flushed', flushId: c.flushId });
    }
  }

  /** Answers the copy at `index` of those in flight. */
  answer(index: number, failed = false): void {
    const [c] = this.copies.splice(index, 1);
    this.step(failed ? { type: 'copyFailed', copyId: c!.copyId, error: 'injected' } : { type: 'copyDone', copyId: c!.copyId });
  }

  /**
   * Closes a job the way a path other than its copies would: `closeJob` within a step; then,
   * with `resettle`, a new settle job for its segment starts in that same step.
   */
  closeOtherwise(id: number, resettle = false): void {
    const s = new Working(this.state, jobHooks);
    const out: ControllerCommand[] = [];
    const segment = this.segmentOf(id);
    closeJob(s, out, id);
    if (resettle) enqueueSettle(s, out, D, segment, null);
    this.state = s.result();
    const gone = new Set([...this.state.copies].filter(([, job]) => job === id).map(([copy]) => copy));
    this.follow(out);
    // Answers to its copies may still come; they find no job (as after any close).
    const late = this.copies.filter((c) => gone.has(c.copyId));
    this.copies.splice(0, this.copies.length, ...this.copies.filter((c) => !gone.has(c.copyId)));
    for (const c of late) this.step({ type: 'copyDone', copyId: c.copyId });
  }

  tick(ms = 10): void {
    this.now += ms;
    this.step({ type: 'tick', now: this.now });
  }

  settle(): SettleJob[] {
    return [...this.state.jobs.values()].filter((j): j is SettleJob => j.kind === 'settle');
  }

  /** Settle jobs holding a copy slot (copies or their flush in flight). */
  copying(): number[] {
    return this.settle()
      .filter((j) => j.phase.kind === 'copying' && j.phase.copies.length > 0)
      .map((j) => j.id);
  }

  /** Settle jobs queued for a copy slot, in queue order. */
  queued(): number[] {
    return this.state.copyQueue.filter((id) => this.state.jobs.get(id)?.kind === 'settle' && this.state.jobs.get(id)?.phase.kind === 'waiting');
  }

  /** The segment a job settles. */
  segmentOf(id: number): number {
    return (this.state.jobs.get(id) as SettleJob).segment;
  }

  /** Segments whose alternate became the primary. */
  promoted(): number[] {
    const table = this.state.disks.get(D)!.committed;
    const out: number[] = [];
    for (let seg = 0; seg < table.segmentCount; seg++) {
      const e = entryAt(table, seg);
      if (e.alternate === null && e.location?.lun === 2) out.push(seg);
    }
    return out;
  }
}

describe('copy queue', () => {
  it('copies finishing start the queued jobs in order, never more than copyConcurrency at once', () => {
    const c = new Settling(4, 2);
    expect(c.copying()).toHaveLength(2);
    expect(c.queued()).toHaveLength(2);
    const order = [...c.copying(), ...c.queued()];
    while (c.copies.length > 0) {
      c.answer(0);
      expect(c.copying().length).toBeLessThanOrEqual(2);
    }
    expect(c.started).toEqual(order);
    expect(c.settle()).toEqual([]);
    expect(c.promoted()).toEqual([0, 1, 2, 3]);
  });

  it('a copying settle job closed otherwise gives its slot to the next queued job', () => {
    const c = new Settling(3, 1);
    const [first] = c.copying();
    const [second, third] = c.queued();
    expect(first).toBeDefined();
    expect(third).toBeDefined();
    c.closeOtherwise(first!);
    // The next step, whatever it is, ends with the queue drained into the free slot.
    c.tick();
    expect(c.copying()).toEqual([second]);
    expect(c.queued()).toEqual([third]);
    while (c.copies.length > 0) c.answer(0);
    expect(c.settle()).toEqual([]);
    expect(c.promoted()).toEqual([1, 2]);
  });

  it('a queued job closed before its turn does not hold up the jobs behind it', () => {
    const c = new Settling(3, 1);
    const [first] = c.copying();
    const [second, third] = c.queued();
    c.closeOtherwise(second!);
    c.tick();
    expect(c.copying()).toEqual([first]);
    // The first job's copy finishes: the slot goes to the third job, past the closed second.
    c.answer(0);
    expect(c.copying()).toEqual([third]);
    while (c.copies.length > 0) c.answer(0);
    expect(c.settle()).toEqual([]);
    expect(c.promoted()).toEqual([0, 2]);
  });

  it('a job starting its copies in the step that freed a slot queues behind the jobs already waiting', () => {
    const c = new Settling(3, 1);
    const [first] = c.copying();
    const [second, third] = c.queued();
    c.closeOtherwise(first!, true);
    const [again] = c.settle().filter((j) => j.segment === 0);
    c.tick();
    expect(c.copying()).toEqual([second]);
    expect(c.queued()).toEqual([third, again!.id]);
    while (c.copies.length > 0) c.answer(0);
    expect(c.settle()).toEqual([]);
    expect(c.promoted()).toEqual([0, 1, 2]);
  });

  it('after every step: no job waits for a slot while one is free, and none is over the limit', () => {
    const action = fc.oneof(
      fc.record({ type: fc.constant('answer' as const), pick: fc.nat(), failed: fc.boolean() }),
      fc.record({ type: fc.constant('close' as const), pick: fc.nat() }),
      fc.constant({ type: 'tick' as const }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.array(action, { maxLength: 60 }), (segments, concurrency, actions) => {
        const c = new Settling(segments, concurrency);
        const closed = new Set<number>();
        const failures = new Map<number, number>();
        const check = (): void => {
          const copying = c.copying().length;
          expect(copying).toBeLessThanOrEqual(concurrency);
          if (c.queued().length > 0) expect(copying).toBe(concurrency);
        };
        check();
        for (const a of actions) {
          if (a.type === 'answer' && c.copies.length > 0) {
            const k = a.pick % c.copies.length;
            const seg = c.segmentOf(c.state.copies.get(c.copies[k]!.copyId)!);
            if (a.failed) failures.set(seg, (failures.get(seg) ?? 0) + 1);
            c.answer(k, a.failed);
          }
          else if (a.type === 'close') {
            const jobs = c.settle();
            if (jobs.length === 0) continue;
            const job = jobs[a.pick % jobs.length]!;
            closed.add(job.segment);
            c.closeOtherwise(job.id);
            c.tick(); // the close happened outside a step: the next one drains
          } else c.tick(100);
          check();
        }
        // Then let it finish: copies succeed, failed ones are retried by the sweep.
        for (let i = 0; i < 1000 && c.settle().length > 0; i++) {
          if (c.copies.length > 0) c.answer(0);
          else c.tick(100);
          check();
        }
        expect(c.settle()).toEqual([]);
        const all = Array.from({ length: segments }, (_, s) => s);
        // A job closed before its promotion (or giving up after five failed copies) leaves its
        // segment unsettled; every other segment is settled.
        for (const seg of all) if (!closed.has(seg) && (failures.get(seg) ?? 0) < 5) expect(c.promoted()).toContain(seg);
      }),
      { numRuns: 300 },
    );
  });
});
