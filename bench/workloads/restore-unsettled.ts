/**
 * Controller restart with copy-on-write under way: one `restored` step for a disk whose every
 * segment has an unfinished copy-on-write (a `noWrite` primary and an alternate with some
 * blocks written), 64,000 segments vs 8,000 (the same sizes in quick mode: the step is what is
 * measured, and it is short). Each such segment gets a settle job at restore, and every job
 * goes through the same lock, sync and copy-slot logic, so the step should cost in proportion to
 * the segments: linear is 8x, the target is at most 10x. No agent is attached, so every settle
 * job asks for its copies at once and all but `copyConcurrency` of them queue for a copy slot.
 *
 * Each figure is the time of `controllerStep(initial, restored)` alone (the table document is
 * encoded beforehand), in milliseconds, median over interleaved rounds.
 */
import { controllerStep, initialControllerState } from '../../src/controller/controller.js';
import { createAllocator } from '../../src/controller/allocator.js';
import type { ControllerEvent } from '../../src/controller/types.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable } from '../../src/table/table.js';
import { consume, interleave, median, medianRatio, now, result, unwrap, type BenchOptions, type Result, type Workload } from '../lib.js';

const SEGMENT_BLOCKS = 64;
const SMALL = 8_000;
const BIG = 64_000;

/** A restart event for a disk of `segments` segments, each an unfinished copy-on-write. */
const restartEvent = (segments: number): ControllerEvent => {
  // Blocks 0..7 of every alternate are written; the other 56 still read from the primary.
  const written = Array.from({ length: 8 }, (_, i) => i);
  const table = unwrap(
    createTable({
      segmentBlocks: SEGMENT_BLOCKS,
      segmentCount: segments,
      entries: (s) => ({ location: { lun: 1, start: s * SEGMENT_BLOCKS }, noWrite: true, alternate: { lun: 2, start: s * SEGMENT_BLOCKS, blocks: written } }),
    }),
    'createTable',
  );
  return { type: 'restored', now: 0, state: { tables: [{ disk: 'disk', table: encodeTable(table) }], attachments: [] } };
};

/** Milliseconds of one `restored` step, after checking that it queued a settle job per segment. */
const restoreTime = (segments: number, event: ControllerEvent): number => {
  const allocator = unwrap(createAllocator({ 1: segments * SEGMENT_BLOCKS, 2: segments * SEGMENT_BLOCKS }), 'createAllocator');
  const initial = initialControllerState(allocator);
  const t0 = now();
  const [next, commands] = controllerStep(initial, event);
  const ms = now() - t0;
  if (next.jobs.size !== segments) throw new Error(`bench: restore-unsettled: ${next.jobs.size} jobs for ${segments} unsettled segments`);
  consume(commands.length);
  return ms;
};

export const restoreUnsettledWorkload: Workload = {
  name: 'restore-unsettled',
  title: 'controller restart: one restored step with 64,000 vs 8,000 unfinished copy-on-write segments',
  run(o: BenchOptions): Result[] {
    const small = restartEvent(SMALL);
    const big = restartEvent(BIG);
    const rounds = interleave(o.rounds, () => restoreTime(BIG, big), () => restoreTime(SMALL, small));
    const value = median(rounds.subject);
    const baselineValue = median(rounds.baseline);
    o.log(`restore-unsettled: ${BIG.toLocaleString('en-US')} segments ${value.toFixed(1)} ms, ${SMALL.toLocaleString('en-US')} segments ${baselineValue.toFixed(1)} ms`);
    return [
      result(
        { name: 'restore-unsettled', unit: 'ms/step', value, baseline: `${SMALL.toLocaleString('en-US')} unsettled segments`, baselineValue, ratio: medianRatio(rounds, (s, b) => s / b) },
        { direction: 'atMost', bound: 10, ratioIs: 'time/baseline' },
      ),
    ];
  },
};
