/**
 * Liveness figures of a simulated run: host I/O latency (p50, p99, max, in simulated ms), fault
 * messages per distinct fault, and the liveness bound: after the last injected fault, every host
 * I/O must end (complete, or fail with an error) within a stated time.
 */
import type { AgentMessage } from '../protocol/messages.js';

/**
 * Latency percentiles of the host I/Os of a run, in simulated milliseconds (0 when none ended).
 *
 * @example
 * const { summary } = createCluster(config).run({ ios: 500 });
 * if (summary.latency.p99 > 1000) console.log(`slow tail: p99 ${summary.latency.p99} ms, max ${summary.latency.max} ms`);
 */
export interface LatencyFigures {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The value at quantile `q` of ascending `sorted` (nearest rank), or 0 for an empty list. */
export const quantile = (sorted: ArrayLike<number>, q: number): number => {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
};

/** Collects what the liveness figures need while a run goes on; cheap per event. */
export class LivenessRecorder {
  private latencies: number[] = [];
  private readonly faults = new Set<string>();
  faultMessages = 0;
  /** Longest host I/O latency through each agent. */
  readonly maxByAgent: Record<string, number> = {};
  /** Longest time an I/O stayed open past the later of its submission and the last injected fault. */
  worstAfterQuiet = 0;

  /** An agent sent a fault or mark (first send or re-send). */
  noteFaultMessage(m: AgentMessage): void {
    if (m.type !== 'ioFault' && m.type !== 'markBits') return;
    this.faultMessages++;
    this.faults.add(`${m.agent}/${m.epoch}/${m.faultId}`);
  }

  /**
   * A host I/O submitted at `submitted` ended at `now`; the last injected fault ended at
   * `lastFaultAt`. Returns how long it stayed open after the later of the two.
   */
  noteEnded(submitted: number, now: number, lastFaultAt: number, agent: string): number {
    this.latencies.push(now - submitted);
    this.maxByAgent[agent] = Math.max(this.maxByAgent[agent] ?? 0, now - submitted);
    const after = now - Math.max(submitted, lastFaultAt);
    this.worstAfterQuiet = Math.max(this.worstAfterQuiet, after);
    return after;
  }

  get distinctFaults(): number {
    return this.faults.size;
  }

  figures(): LatencyFigures {
    const sorted = Float64Array.from(this.latencies).sort();
    return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! };
  }
}
