/**
 * How messages read in a simulator trace (src/sim/labels.ts): the renewal of an agent whose lease
 * lapsed shows the copies it asks the controller to vouch for (`holds`).
 */
import { describe, expect, it } from 'vitest';
import { createCluster } from '../../src/sim/cluster.js';
import { describeAgentMessage } from '../../src/sim/labels.js';

describe('trace labels', () => {
  it('a lease renewal shows its holds, each disk at its generation, and nothing more when it lists none', () => {
    const renew = { type: 'renewLease', agent: 'a1', epoch: 2, disk: '', requestedAt: 650 } as const;
    expect(describeAgentMessage(renew)).toBe('renewLease at 650');
    expect(describeAgentMessage({ ...renew, holds: [] })).toBe('renewLease at 650');
    expect(describeAgentMessage({ ...renew, holds: [{ disk: 'd0', generation: 2 }, { disk: 'vol', generation: -1 }] })).toBe('renewLease at 650 holds d0 g2, vol g-1');
  });

  it('in a run, an agent cut off past its lease renews listing the copy it holds', () => {
    const result = createCluster({
      seed: 5,
      agents: 2,
      disks: [{ id: 'd0', segmentBlocks: 8, segmentCount: 8 }],
      luns: { 1: 4096, 2: 4096 },
      lease: { duration: 200, maxClockDrift: 20, maxIoLifetime: 50 },
      trace: true,
    }).run({ ios: 60, interval: 5, schedule: [{ at: 50, action: { type: 'cutAgent', agent: 1, duration: 600 } }] });
    expect(result.violation).toBeNull();
    const renewals = result.trace.filter((r) => r.from === 'a1' && r.label.startsWith('renewLease'));
    expect(renewals.some((r) => /^renewLease at \d+$/.test(r.label))).toBe(true); // before the lapse: none listed
    expect(renewals.filter((r) => / holds /.test(r.label)).map((r) => r.label.replace(/at \d+/, 'at T'))).toContain('renewLease at T holds d0 g2');
  });
});
