/**
 * Coalescing (docs/design.md#leases-and-liveness): when a write fault relocates a segment's
 * blocks, every write fault queued behind it on the same segment is served by the same table
 * change. Their blocks are marked at the alternate too (with their old content copied there
 * first, like the leader's), so when those jobs start they find nothing to change and the
 * agents are simply told to retry: one job, one table change, one round of acknowledgements.
 */
import * as B from '../bitmap/bitmap.js';
import type { Bitmap } from '../bitmap/bitmap.js';
import { agentRestarted, unwrap } from './basics.js';
import type { FaultJob } from './types.js';
import type { Working } from './working.js';

/**
 * The blocks (offsets within the segment) that the write faults queued behind `job` on its
 * segment (its first block `first`, its length `segmentBlocks`) want written, added to `want`. Reads cost nothing here: queued jobs are only peeked.
 */
export const coalescedWrites = (s: Working, job: FaultJob, first: number, segmentBlocks: number, want: Bitmap): Bitmap => {
  const queued = s.disks.peek(job.disk)?.queued.get(job.segment);
  if (queued === undefined || queued.length === 0) return want;
  let out = want;
  for (const id of queued) {
    const other = s.jobs.peek(id);
    if (other === undefined || other.kind !== 'fault' || other.op !== 'write' || other.segment !== job.segment || agentRestarted(s, other as FaultJob)) continue;
    const from = Math.max(other.start, first) - first;
    const to = Math.min(other.start + other.length, first + segmentBlocks) - first;
    if (to > from) out = unwrap(B.setRange(out, from, to - from), 'setRange');
  }
  return out;
};
