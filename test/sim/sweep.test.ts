import { describe, expect, it } from 'vitest';
import { sweepRun, sweepSeed } from './sweep-runs.js';

/** A short slice of `npm run sim:sweep` (every fault kind); more with VDISK_SWEEP_RUNS=N. */
const RUNS = Number(process.env.VDISK_SWEEP_RUNS ?? 25);

describe('simulator sweep (a slice)', () => {
  it('keeps every property, liveness included, over the first seeds of the fixed list', () => {
    let evictions = 0;
    for (let i = 0; i < RUNS; i++) {
      const { workload, result } = sweepRun(sweepSeed(i));
      expect(result.violation, `seed ${sweepSeed(i)} (run ${i})`).toBeNull();
      expect(result.summary.iosCompleted + result.summary.iosFailed).toBe(workload.ios);
      evictions += result.summary.evictions;
    }
    // The slice reaches the eviction path, not only the healthy one.
    expect(evictions).toBeGreaterThan(0);
  });
});
