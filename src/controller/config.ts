/**
 * Controller configuration: timing, limits and their defaults.
 */
import type { Variant } from '../translate/translate.js';

/**
 * Tuning of the controller machine. Every field has a default in {@link defaultControllerConfig},
 * and `initialControllerState` and `createController` take any subset.
 *
 * @example
 * const state = initialControllerState(allocator, { variant: 'distributed', retryInterval: 250 });
 */
export interface ControllerConfig {
  /** Who sets alternate bits: the controller on each fault, or the writing agent. */
  readonly variant: Variant;
  /** Milliseconds before an unanswered table change or persistence failure is tried again. */
  readonly retryInterval: number;
  /** Committed table versions kept per disk, to send deltas instead of whole tables. */
  readonly historyLimit: number;
  /** Background copies in flight at once. */
  readonly copyConcurrency: number;
  // --- leases and liveness (docs/design.md#leases-and-liveness; leases.ts) ---
  /** Lease granted to agents (ms); `null`: no leases, an agent is never evicted. */
  readonly leaseDuration: number | null;
  /** Bound on how far an agent's clock may run slow against the controller's over one lease (ms). */
  readonly maxClockDrift: number;
  /** Longest a storage I/O may take from issue to landing (ms): eviction and extent reuse wait for it. */
  readonly maxIoLifetime: number;
  /**
   * A write fault on a `zero` segment with no alternate takes the whole segment at once (zeros
   * written to it first), rather than only the written blocks: one fault per segment instead of
   * one per write (`coalesce.ts`).
   */
  readonly materializeZeroSegments: boolean;
  // --- space (host operations and administration) ---
  /**
   * Low-water mark in blocks (dm-thin's): a `lowSpace` command is issued when a LUN's free space
   * drops below it, so the product can grow its pool in time. 0 (the default): never.
   */
  readonly lowWaterMark: number;
  /**
   * The controller epoch stamped on every message to agents (`ControllerEpoched`): each new
   * active controller of a group takes one higher than any before, so agents refuse its
   * predecessors. 0 (the default) stamps nothing, as a lone controller needs.
   */
  readonly controllerEpoch: number;
  /** What one request or one disk may ask of the controller; see {@link ControllerLimits}. */
  readonly limits: ControllerLimits;
}

/**
 * Resource limits: a request that would exceed one is refused at once, with an error naming the
 * limit, before anything is allocated for it.
 *
 * @example
 * const state = initialControllerState(allocator, { limits: { ...defaultControllerLimits, maxDisks: 64 } });
 */
export interface ControllerLimits {
  /** Segments of one disk (`createDisk`, `resize`, a `migrate` list). */
  readonly maxSegmentsPerDisk: number;
  /** Disks, snapshots included. */
  readonly maxDisks: number;
  /** Segments of every disk together (each costs memory in every table and copy). */
  readonly maxTotalSegments: number;
  /** Estimated size of one request or message (names, segment lists), in bytes. */
  readonly maxMessageBytes: number;
}

/**
 * The default {@link ControllerLimits}: 4,194,304 segments per disk, 4,096 disks, 16,777,216
 * segments in all and 64 MiB per request. A segment costs a few dozen bytes in each table version
 * the controller keeps, so the defaults keep a controller well inside a default Node heap.
 *
 * @example
 * const limits: ControllerLimits = { ...defaultControllerLimits, maxTotalSegments: 2 ** 20 };
 */
export const defaultControllerLimits: ControllerLimits = /* @__PURE__ */ Object.freeze({
  // Literals rather than `2 ** n`: bundlers keep a module-level `**` as a possible side effect.
  maxSegmentsPerDisk: 4_194_304, // 2^22
  maxDisks: 4096,
  maxTotalSegments: 16_777_216, // 2^24
  maxMessageBytes: 67_108_864, // 2^26
});

/**
 * The values used for every {@link ControllerConfig} field a caller leaves out.
 *
 * @example
 * const config: ControllerConfig = { ...defaultControllerConfig, copyConcurrency: 16 };
 */
export const defaultControllerConfig: ControllerConfig = {
  variant: 'centralized',
  retryInterval: 100,
  historyLimit: 32,
  copyConcurrency: 4,
  leaseDuration: null,
  maxClockDrift: 100,
  maxIoLifetime: 1000,
  materializeZeroSegments: true,
  lowWaterMark: 0,
  controllerEpoch: 0,
  limits: defaultControllerLimits,
};

/**
 * What a caller passes for a {@link ControllerConfig}: any subset, limits included.
 *
 * @example
 * const options: ControllerOptions = { retryInterval: 250, limits: { maxDisks: 16 } };
 */
export type ControllerOptions = Partial<Omit<ControllerConfig, 'limits'>> & { readonly limits?: Partial<ControllerLimits> };
