/**
 * Power loss in the simulator (docs/design.md#ordering-rules): every property holds with power
 * loss of storage, of the controller and its store, and of agents; and a machine that breaks an
 * ordering rule on purpose is caught, with the seed that replays it.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { agentStep } from '../../src/agent/agent.js';
import { controllerStep } from '../../src/controller/controller.js';
import * as R from '../../src/controller/refcounts.js';
import type { ControllerCommand, ControllerEvent, ControllerState, Job } from '../../src/controller/types.js';
import { createCluster } from '../../src/sim/cluster.js';
import type { SimAction, SimConfig, SimResult, Workload } from '../../src/sim/config.js';

/** More runs with VDISK_SIM_RUNS=N. */
const RUNS = Number(process.env.VDISK_SIM_RUNS ?? 12);

const config = (seed: number, variant: 'centralized' | 'distributed', hooks?: SimConfig['testHooks']): SimConfig => ({
  seed,
  variant,
  agents: 3,
  disks: [
    { id: 'd0', segmentBlocks: 8, segmentCount: 16 },
    { id: 'd1', segmentBlocks: 4, segmentCount: 20, agents: [0] },
  ],
  luns: { 1: 4096, 2: 4096 },
  faults: { dropRate: 0.05, duplicateRate: 0.05, storageErrorRate: 0.01, persistErrorRate: 0.02 },
  ...(hooks === undefined ? {} : { testHooks: hooks }),
});

const powerLoss: Workload = {
  ios: 600,
  readRatio: 0.5,
  flushRatio: 0.05,
  fuaRatio: 0.1,
  rates: {
    snapshot: 0.003,
    migrate: 0.005,
    markFailed: 0.001,
    restartAgent: 0.003,
    restartController: 0.002,
    cutAgent: 0.003,
    storagePowerLoss: 0.005,
    controllerPowerLoss: 0.003,
    agentPowerLoss: 0.003,
  },
};

describe('power loss', () => {
  it('keeps every property with power loss of storage, controller and agents, and flushes', () => {
    let losses = 0;
    let flushed = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const result = createCluster(config(seed, seed % 2 === 0 ? 'distributed' : 'centralized')).run(powerLoss);
      expect(result.violation).toBeNull();
      losses += result.summary.storagePowerLosses + result.summary.controllerPowerLosses + result.summary.agentPowerLosses;
      flushed += result.summary.flushesCompleted;
    }
    // The runs did lose power, and hosts did see flushes complete.
    expect(losses).toBeGreaterThan(RUNS);
    expect(flushed).toBeGreaterThan(RUNS);
  });

  it('a scheduled power loss of storage right after a flushed write keeps it, and an unflushed one may revert but never to junk', () => {
    const result = createCluster(config(3, 'centralized')).run({
      ios: 0,
      schedule: [
        { at: 10, action: { type: 'hostIo', agent: 0, disk: 'd0', op: 'write', start: 0, length: 8 } },
        { at: 40, action: { type: 'hostFlush', agent: 0, disk: 'd0' } },
        { at: 80, action: { type: 'hostIo', agent: 0, disk: 'd0', op: 'write', start: 4, length: 8 } },
        { at: 120, action: { type: 'powerLoss', target: 'storage' } },
        { at: 130, action: { type: 'powerLoss', target: 'controller' } },
        { at: 140, action: { type: 'powerLoss', target: 'agent', agent: 0 } },
        { at: 200, action: { type: 'hostIo', agent: 0, disk: 'd0', op: 'read', start: 0, length: 16 } },
      ],
    });
    expect(result.violation).toBeNull();
    expect(result.summary).toMatchObject({ flushesCompleted: 1, storagePowerLosses: 1, controllerPowerLosses: 1, agentPowerLosses: 1 });
  });
});

/**
 * Power loss with disks deleted (and created again under their name) and rolled back: three
 * forced deletions at seeded times, each followed closely by a power loss, on top of random
 * ones (the runs of `bench/hostops-sweep.ts --power`).
 */
const withDeletions = (seed: number, pattern: 'random' | 'sequential' | 'hotspot'): Workload => {
  const schedule: { at: number; action: SimAction }[] = [];
  for (let k = 0; k < 3; k++) {
    const at = 50 + ((seed * 97 + k * 131) % 400);
    schedule.push({ at, action: { type: 'deleteDisk', disk: k % 2 === 0 ? 'd0' : 'd1', force: true } });
    schedule.push({ at: at + 1 + ((seed + k) % 30), action: { type: 'powerLoss', target: (['storage', 'controller', 'agent'] as const)[(seed + k) % 3]!, agent: (seed + k) % 3 } });
  }
  const rates = { ...powerLoss.rates, snapshot: 0.01, deleteDisk: 0.004, rollback: 0.006 };
  return { ios: 500, readRatio: 0.4, flushRatio: 0.05, fuaRatio: 0.1, pattern, rates, schedule };
};

describe('power loss with discards and write-zeroes', () => {
  // A discard's or write-zeroes' zeros count as a write (docs/design.md#ordering-rules): a power
  // loss may leave them, and a flush guarantees them. Before the model knew it, these seeds
  // reported blocks reading 0 (at a zero entry or a zeroed LUN block) as durability violations.
  it('a block may read the zeros of a discard or write-zeroes after a power loss', () => {
    const zeroes: Workload = { ...powerLoss, zeroRatio: 0.3 };
    let zeroed = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const result = createCluster(config(seed, seed % 2 === 0 ? 'distributed' : 'centralized')).run(zeroes);
      expect(result.violation).toBeNull();
      zeroed += result.summary.zeroes;
    }
    expect(zeroed).toBeGreaterThan(RUNS);
  });
});

describe('power loss with deletions and rollbacks', () => {
  it('a disk created again under its name, or rolled back, is judged by what it may hold, not by the old guarantees', () => {
    // Each of these runs once ended in a durability violation: the disk created again read zeros
    // where the old disk's flushes had guaranteed data, or a rolled-back disk read the
    // snapshot's data, neither of which the durability model allowed. Seed 18 rolls a disk back
    // to the end (the others no longer do since a restarted controller holds allocation back).
    // Seed 59 (`bench/hostops-sweep.ts --power --from 59 --runs 1`) once ended in a read
    // mismatch: the controller restarted after a rollback's record was durable and before the
    // disk's agent had it; the agent then wrote through its older copy, and the restarted
    // controller's table took that write away. The rollback was unanswered, so it may take
    // effect after that write: the simulator keeps it in progress until the agents have the
    // restored generation (`src/sim/cluster-faults.ts`). Seeds 5, 7 and 10 are there for coverage
    // only: every change of the controller's commands reshapes these runs, and with grouped
    // flushes the seven above deleted 4 disks between them (80 seeds still average 2 per run).
    const runs: ReadonlyArray<readonly [number, 'centralized' | 'distributed', 'random' | 'sequential' | 'hotspot']> = [
      [1, 'centralized', 'random'],
      [2, 'distributed', 'sequential'],
      [4, 'distributed', 'sequential'],
      [6, 'centralized', 'random'],
      [9, 'distributed', 'hotspot'],
      [18, 'centralized', 'random'],
      [59, 'centralized', 'sequential'],
      [5, 'distributed', 'hotspot'],
      [7, 'centralized', 'sequential'],
      [10, 'centralized', 'hotspot'],
    ];
    const seen = { deletions: 0, rollbacks: 0, storagePowerLosses: 0 };
    for (const [seed, variant, pattern] of runs) {
      const result = createCluster(config(seed, variant)).run(withDeletions(seed, pattern));
      expect(result.violation).toBeNull();
      seen.deletions += result.summary.deletions;
      seen.rollbacks += result.summary.rollbacks;
      seen.storagePowerLosses += result.summary.storagePowerLosses;
    }
    expect(seen.deletions).toBeGreaterThanOrEqual(runs.length);
    expect(seen.rollbacks).toBeGreaterThan(0);
    expect(seen.storagePowerLosses).toBeGreaterThanOrEqual(runs.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Deliberately broken machines: each must be caught, or the checkers prove nothing.

/** The first seed from 1 whose run reports a violation, with the run. */
const firstViolation = (hooks: SimConfig['testHooks'], variant: 'centralized' | 'distributed', seeds: number, workload: Workload = powerLoss): { seed: number; result: SimResult } | undefined => {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = createCluster(config(seed, variant, hooks)).run(workload);
    if (result.violation !== null) return { seed, result };
  }
  return undefined;
};

/** A controller that answers its own flushes at once: the 570 record goes out before the copies are durable. */
const persistBeforeFlush = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const [next, commands] = controllerStep(state, event);
  let s = next;
  const out: ControllerCommand[] = [];
  for (const c of commands) {
    if (c.type !== 'flush') {
      out.push(c);
      continue;
    }
    const [after, more] = persistBeforeFlush(s, { type: 'flushed', flushId: c.flushId });
    s = after;
    out.push(...more);
  }
  return [s, out];
};

/**
 * A controller whose grouped flush is wrong: when the flush in flight is answered, the jobs
 * waiting for the next one go on with it, so their records are persisted before a flush issued
 * after their copies completed.
 */
const groupRidesFlushInFlight = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const groups = state.flushes;
  if (event.type !== 'flushed' || groups?.inFlight?.flushId !== event.flushId || groups.next === null) return controllerStep(state, event);
  const { inFlight, next } = groups;
  const jobs = new Map(state.jobs);
  for (const id of next.jobs) {
    const job = jobs.get(id);
    if (job?.phase.kind === 'copying') jobs.set(id, { ...job, phase: { ...job.phase, copies: [inFlight.flushId] } } as typeof job);
  }
  return controllerStep({ ...state, jobs, flushes: { inFlight: { ...inFlight, jobs: new Set([...inFlight.jobs, ...next.jobs]) }, next: null } }, event);
};

/**
 * A controller that gives back the extents a change frees as soon as the change is decided,
 * before the record that stops referencing them is durable (and before agents stop using them).
 */
const releaseBeforeDurable = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const [next, commands] = controllerStep(state, event);
  let { allocator, refs } = next;
  const jobs = new Map(next.jobs);
  for (const [id, job] of next.jobs) {
    if (job.phase.kind !== 'committing' || job.release.length === 0) continue;
    for (const extent of job.release) {
      const dec = R.decrement(refs, extent);
      if (E.isLeft(dec)) continue;
      refs = dec.right[0];
      const freed = dec.right[1] ? allocator.release(extent) : E.left([]);
      if (E.isRight(freed)) allocator = freed.right;
    }
    jobs.set(id, { ...job, release: [] });
  }
  return allocator === next.allocator && refs === next.refs ? [next, commands] : [{ ...next, allocator, refs, jobs }, commands];
};

/**
 * A controller whose fault jobs make their failed copies again (`preparedAlternate`) but do not
 * flush them again: the record exposing the alternate's bits goes out with the copies made the
 * second time still in the storage's cache.
 */
const retryWithoutReflush = (state: ControllerState, event: ControllerEvent): readonly [ControllerState, ReadonlyArray<ControllerCommand>] => {
  const [next, commands] = controllerStep(state, event);
  let jobs: Map<number, Job> | null = null;
  for (const [id, job] of next.jobs) {
    if (job.kind !== 'fault' || job.prepared?.retried !== true || job.phase.kind !== 'copying' || job.phase.flushing === true || job.phase.copies.length === 0) continue;
    // Counted as flushed already: once the copies are answered the change is staged at once.
    (jobs ??= new Map(next.jobs)).set(id, { ...job, phase: { ...job.phase, flushing: true } });
  }
  return [jobs === null ? next : { ...next, jobs }, commands];
};

/** An agent that acknowledges every discard and write-zeroes at once, zeroing nothing. */
const zeroNothing = (state: Parameters<typeof agentStep>[0], event: Parameters<typeof agentStep>[1]): ReturnType<typeof agentStep> =>
  event.type === 'hostIo' && event.op === 'zero' ? [state, [{ type: 'completeIo', ioId: event.ioId }]] : agentStep(state, event);

describe('a machine that breaks an ordering rule is caught, with its seed', () => {
  // No reads, so that the read checkers stay silent. Caught by seed 1 when written: after a power
  // loss, a block whose discard was flushed reads an older write (the model guarantees the
  // zeros); before the model knew of zeros only the end-of-run check (`lost-write`) saw it.
  it('discards acknowledged without zeroing, then flushed', () => {
    const writesOnly: Workload = { ...powerLoss, readRatio: 0, zeroRatio: 0.3 };
    const found = firstViolation({ agentStep: zeroNothing }, 'centralized', 40, writesOnly);
    expect(found, 'no seed caught an agent that zeroes nothing').toBeDefined();
    expect(found!.result.violation!.seed).toBe(found!.seed);
    expect(found!.result.violation!.kind).toBe('durability');
    // The correct machine keeps that seed clean.
    expect(createCluster(config(found!.seed, 'centralized')).run(writesOnly).violation).toBeNull();
  });

  it('copies persisted before they are flushed', () => {
    const found = firstViolation({ controllerStep: persistBeforeFlush }, 'centralized', 40);
    expect(found, 'no seed caught a controller that persists before flushing').toBeDefined();
    const v = found!.result.violation!;
    expect(v.seed).toBe(found!.seed);
    expect(v.kind).toBe('durability');
    // The same seed replays the same violation.
    expect(createCluster(config(found!.seed, 'centralized', { controllerStep: persistBeforeFlush })).run(powerLoss).violation).toEqual(v);
  });

  // Caught by seed 34 when written: a block of an alternate reads 0 after a power loss of storage.
  it('a grouped flush that lets the jobs waiting for the next flush go on with the one in flight', () => {
    const found = firstViolation({ controllerStep: groupRidesFlushInFlight }, 'centralized', 40);
    expect(found, 'no seed caught a controller that persists before the grouped flush').toBeDefined();
    expect(found!.result.violation!.seed).toBe(found!.seed);
    expect(found!.result.violation!.kind).toBe('durability');
    // The correct machine keeps that seed clean.
    expect(createCluster(config(found!.seed, 'centralized')).run(powerLoss).violation).toBeNull();
  });

  // Caught by seed 9 when written: after a power loss of storage, a block of an alternate reads 0
  // where the copy made again had put the block's older data. More storage errors and power
  // losses than the other runs, so that copies fail and are made again.
  it('copies made again after a failure, not flushed again', () => {
    const flaky = (seed: number, hooks?: SimConfig['testHooks']): SimConfig => ({ ...config(seed, 'centralized', hooks), faults: { ...config(seed, 'centralized').faults, storageErrorRate: 0.1 } });
    const workload: Workload = { ...powerLoss, rates: { ...powerLoss.rates, storagePowerLoss: 0.02 } };
    let found: { seed: number; result: SimResult } | undefined;
    for (let seed = 1; seed <= 40 && found === undefined; seed++) {
      const result = createCluster(flaky(seed, { controllerStep: retryWithoutReflush })).run(workload);
      if (result.violation !== null) found = { seed, result };
    }
    expect(found, 'no seed caught a controller that makes copies again without flushing them').toBeDefined();
    expect(found!.result.violation!.kind).toBe('durability');
    // The correct machine keeps that seed clean.
    expect(createCluster(flaky(found!.seed)).run(workload).violation).toBeNull();
  });

  it('extents released before the record that stops using them is durable', () => {
    // Storage power losses only: a restarted controller allocates nothing for the I/O lifetime
    // (docs/design.md#leases-and-liveness), so with controller restarts too few early releases
    // are handed out again before a power loss to be caught in a few seeds.
    const storageOnly: Workload = { ...powerLoss, rates: { ...powerLoss.rates, restartController: 0, controllerPowerLoss: 0 } };
    const found = firstViolation({ controllerStep: releaseBeforeDurable }, 'centralized', 40, storageOnly);
    expect(found, 'no seed caught a controller that releases before durability').toBeDefined();
    expect(found!.result.violation!.seed).toBe(found!.seed);
    expect(found!.result.violation!.kind).toBe('allocation');
    expect(found!.result.violation!.message).toMatch(/free in the allocator/);
  });
});
