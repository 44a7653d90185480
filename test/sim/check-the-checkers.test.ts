/**
 * Check the checkers: for each property the simulator checks, a deliberately broken MACHINE (not
 * a damaged state: test/sim/checkers.test.ts does that) that the end-to-end simulator, run by the
 * default `npm test`, reports with a seed. The machines are swapped in through the test-only
 * seam `createClusterWith`. A checker earns trust only once a broken machine has made it fire.
 *
 * The seeds are fixed and listed with each scenario, with how many must catch the breakage.
 * `durability` and `allocation` are made to fire by broken controllers in durability.test.ts.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { agentStep } from '../../src/agent/agent.js';
import type { AgentCommand, AgentEvent, AgentState } from '../../src/agent/types.js';
import { controllerStep } from '../../src/controller/controller.js';
import type { ControllerCommand, ControllerEvent, ControllerState, PersistRecord } from '../../src/controller/types.js';
import type { ControllerMessage } from '../../src/protocol/messages.js';
import { createClusterWith, type SimMachines } from '../../src/sim/cluster.js';
import type { SimConfig, Violation, Workload } from '../../src/sim/config.js';

const config = (seed: number, variant: 'centralized' | 'distributed' = 'centralized'): SimConfig => ({
  seed,
  variant,
  agents: 3,
  disks: [{ id: 'd0', segmentBlocks: 8, segmentCount: 16 }],
  luns: { 1: 4096, 2: 4096 },
});

const busy: Workload = { ios: 400, readRatio: 0.5, pattern: 'hotspot', rates: { snapshot: 0.01, migrate: 0.02 } };

type AgentStep = (state: AgentState, event: AgentEvent) => readonly [AgentState, ReadonlyArray<AgentCommand>];
type ControllerStep = (state: ControllerState, event: ControllerEvent) => readonly [ControllerState, ReadonlyArray<ControllerCommand>];

const tableMessage = (event: AgentEvent): Extract<ControllerMessage, { type: 'setEntries' | 'replaceTable' }> | null =>
  event.type === 'message' && (event.message.type === 'setEntries' || event.message.type === 'replaceTable') ? event.message : null;

const generationOf = (m: Extract<ControllerMessage, { type: 'setEntries' | 'replaceTable' }>): number => (m.type === 'setEntries' ? m.generation : m.table.generation);

/** The example: an agent that acknowledges a table change while I/O under the old entry is still in flight. */
const acksBeforeDrain: AgentStep = (state, event) => {
  const [next, commands] = agentStep(state, event);
  const m = tableMessage(event);
  if (m === null || m.epoch !== state.config.epoch) return [next, commands];
  const inFlight = [...next.ios.values()].some((io) => io.status === 'inFlight');
  const acked = commands.some((c) => c.type === 'send' && c.message.type === 'tableAck' && c.message.disk === m.disk);
  if (!inFlight || acked || next.disks.get(m.disk)?.table.generation !== generationOf(m)) return [next, commands];
  const ack: AgentCommand = { type: 'send', message: { type: 'tableAck', agent: state.config.agent, epoch: state.config.epoch, disk: m.disk, generation: generationOf(m) } };
  return [next, [...commands, ack]];
};

/** An agent that reads one block off: every primary piece of a read starts a block too far. */
const readsOffByOne: AgentStep = (state, event) => {
  const [next, commands] = agentStep(state, event);
  return [next, commands.map((c) => (c.type === 'issueIo' && c.op === 'read' ? { ...c, pieces: c.pieces.map((p) => (p.kind === 'primary' ? { ...p, start: p.start! + 1 } : p)) } : c))];
};

/** A controller that never tells a faulting agent to retry. */
const neverRetries: ControllerStep = (state, event) => {
  const [next, commands] = controllerStep(state, event);
  return [next, commands.filter((c) => !(c.type === 'send' && c.message.type === 'retry'))];
};

/** A controller whose background copies write zeros instead of copying. */
const copiesZeros: ControllerStep = (state, event) => {
  const [next, commands] = controllerStep(state, event);
  return [next, commands.map((c): ControllerCommand => (c.type === 'copyBlocks' ? { type: 'writeZeros', copyId: c.copyId, to: c.to, length: c.length } : c))];
};

/** An agent that ignores the no-write flag: it drops it from every change it is sent. */
const ignoresNoWrite: AgentStep = (state, event) =>
  event.type === 'message' && event.message.type === 'setEntries'
    ? agentStep(state, { ...event, message: { ...event.message, changes: event.message.changes.map((c) => ({ ...c, entry: { ...c.entry, noWrite: false } })) } })
    : agentStep(state, event);

/** Agent a2 acknowledges every change to its table without applying it. */
const a2AcksWithoutApplying: AgentStep = (state, event) =>
  state.config.agent === 'a2' && event.type === 'message' && event.message.type === 'setEntries'
    ? agentStep(state, { ...event, message: { ...event.message, changes: [] } })
    : agentStep(state, event);

/** Each table update also maps the next segment (of the 16 of `config`) to the first mapped extent it changes: two segments share an extent. */
const sharedExtent = (r: PersistRecord): PersistRecord => {
  if (r.type !== 'updateTable') return r;
  const mapped = r.changes.find((c) => c.entry.location != null);
  if (mapped === undefined) return r;
  const other = (mapped.segment + 1) % 16;
  return { ...r, changes: [...r.changes.filter((c) => c.segment !== other), { segment: other, entry: mapped.entry }] };
};

/** A controller whose persisted table updates are corrupted so that two segments share an extent. */
const persistsSharedExtents: ControllerStep = (state, event) => {
  const [next, commands] = controllerStep(state, event);
  return [next, commands.map((c) => (c.type === 'persist' ? { ...c, records: c.records.map(sharedExtent) } : c))];
};

/** A controller that hands every extent it maps (primary or alternate) back to the allocator as soon as it persists the mapping. */
const releasesWhatItMaps: ControllerStep = (state, event) => {
  const [next, commands] = controllerStep(state, event);
  let allocator = next.allocator;
  for (const c of commands) {
    if (c.type !== 'persist') continue;
    for (const r of c.records) {
      if (r.type !== 'updateTable') continue;
      for (const change of r.changes) {
        const x = change.entry.location ?? change.entry.alternate;
        if (x == null) continue;
        const released = allocator.release({ lun: x.lun, start: x.start, length: 8 });
        if (E.isRight(released)) allocator = released.right;
      }
    }
  }
  return [{ ...next, allocator }, commands];
};

/** What a broken machine is run through: configuration changes, the workload and the seeds (all must catch it). */
interface Scenario {
  readonly config?: Partial<SimConfig>;
  readonly workload: Workload;
  readonly seeds: ReadonlyArray<number>;
  /** How many of the seeds must catch it (default: all). */
  readonly minCaught?: number;
}

const basic: Scenario = { workload: busy, seeds: [1, 2, 3] };
/**
 * A premature ack only matters while an I/O is still at storage when the controller moves on:
 * slow storage (10-60 ms against 1-5 ms messages) and frequent migrations make that common. With
 * the default 1-4 ms, 1 seed in 8 caught it (which is why only long sweeps used to). Here 9 of
 * the first 24 seeds catch it (4, 6, 7, 9, 13, 15, 17, 18 and 22, at the time of writing);
 * the test asks for 3 of the first 12, so that a change in the simulator's draws does not make it
 * pass or fail by luck, while a real machine must pass all 12.
 */
const slowStorage: Scenario = {
  config: { storageDelay: [10, 60] },
  workload: { ios: 300, readRatio: 0.3, pattern: 'hotspot', rates: { snapshot: 0.01, migrate: 0.05 } },
  seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  minCaught: 3,
};
/** A stuck run ends only when the step budget runs out: one short run is enough. */
const short: Scenario = { workload: { ios: 20 }, seeds: [1] };

/**
 * The frozen primaries of snapshots and migrations meet writes often with slow storage. (Seed 2
 * no longer meets one since controller flushes are grouped: seeds 1, 3, 4 and 6 of the first six do.)
 */
const frozenWrites: Scenario = { config: slowStorage.config, workload: slowStorage.workload, seeds: [1, 3, 4] };
/** A controller power loss mid-run: the store's tables are checked, and the controller restarts from them. */
const powerLossMidRun: Scenario = { workload: { ...busy, schedule: [{ at: 200, action: { type: 'powerLoss', target: 'controller' } }] }, seeds: [1, 2, 3] };
const hostIo = (at: number, agent: number, op: 'read' | 'write', start: number) => ({ at, action: { type: 'hostIo' as const, agent, disk: 'd0', op, start, length: 4 } });
/** a2 reads (and so fetches its table), then a0 maps segment 3: a2 must hold that change at the end. */
const a2ThenA0: Scenario = { workload: { ios: 0, schedule: [hostIo(1, 2, 'read', 0), hostIo(20, 0, 'write', 24)] }, seeds: [1, 2, 3] };
/** Two writes that map segment 0, and nothing else that would allocate the extent again. */
const twoWrites: Scenario = { workload: { ios: 0, schedule: [hostIo(5, 0, 'write', 0), hostIo(50, 0, 'write', 2)] }, seeds: [1, 2, 3] };

const run = (seed: number, machines: Partial<SimMachines>, scenario: Scenario): Violation | null =>
  createClusterWith({ ...config(seed), ...scenario.config }, machines).run(scenario.workload).violation;

const cases: ReadonlyArray<readonly [string, Partial<SimMachines>, Scenario, ReadonlyArray<Violation['kind']>]> = [
  ['an agent that acknowledges before its in-flight I/O drains', { agentStep: acksBeforeDrain as SimMachines['agentStep'] }, slowStorage, ['frozen-primary-write', 'read-mismatch', 'lost-write', 'snapshot-changed']],
  ['an agent that reads one block off', { agentStep: readsOffByOne as SimMachines['agentStep'] }, basic, ['read-mismatch']],
  ['a controller that never tells an agent to retry', { controllerStep: neverRetries as SimMachines['controllerStep'] }, short, ['stuck']],
  ['a controller whose copies write zeros', { controllerStep: copiesZeros as SimMachines['controllerStep'] }, basic, ['read-mismatch', 'lost-write', 'snapshot-changed']],
  ['an agent that ignores the no-write flag', { agentStep: ignoresNoWrite as SimMachines['agentStep'] }, frozenWrites, ['frozen-primary-write']],
  ['an agent that acknowledges table changes without applying them', { agentStep: a2AcksWithoutApplying as SimMachines['agentStep'] }, a2ThenA0, ['no-convergence']],
  ['a controller whose persisted updates make two segments share an extent', { controllerStep: persistsSharedExtents as SimMachines['controllerStep'] }, powerLossMidRun, ['table-check']],
  ['a controller that releases the extents it maps', { controllerStep: releasesWhatItMaps as SimMachines['controllerStep'] }, twoWrites, ['free-while-referenced']],
];

describe('check the checkers: each broken machine is reported, with its seed', () => {
  it('the real machines pass the same runs (so what fires below is the breakage)', () => {
    for (const scenario of [basic, slowStorage, powerLossMidRun, a2ThenA0, twoWrites]) for (const seed of scenario.seeds) expect(run(seed, {}, scenario), `seed ${seed}`).toBeNull();
  });

  for (const [name, machines, scenario, kinds] of cases) {
    it(name, { timeout: 60_000 }, () => {
      let caught = 0;
      for (const seed of scenario.seeds) {
        const v = run(seed, machines, scenario);
        if (v === null) continue;
        caught++;
        expect(kinds, `seed ${seed}: ${v.kind}: ${v.message}`).toContain(v.kind);
        expect(v.seed).toBe(seed);
      }
      expect(caught, `caught on ${caught} of seeds ${scenario.seeds.join(', ')}`).toBeGreaterThanOrEqual(scenario.minCaught ?? scenario.seeds.length);
    });
  }
});

describe('simulator configuration', () => {
  it('names every malformed field instead of failing later with a TypeError', async () => {
    const { createCluster, simConfigErrors } = await import('../../src/sim.js');
    expect(() => createCluster({ seed: 1, agents: 0, disks: [{ id: '', segmentBlocks: 0, segmentCount: 1e9 }], luns: { 1: Number.NaN } } as never)).toThrow(
      /agents must be an integer.*disks\[0\]\.id.*disks\[0\]\.segmentBlocks.*disks\[0\]\.segmentCount.*luns\[1\]/,
    );
    expect(simConfigErrors(null as never).map((e) => e.field)).toEqual(['config']);
    expect(simConfigErrors({ seed: 1, agents: 2, disks: [], luns: { 1: 64 }, faults: { dropRate: 2 } }).map((e) => e.field)).toEqual(['faults.dropRate']);
    expect(simConfigErrors({ seed: 1, agents: 2, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 4 }], luns: { 1: 64 } })).toEqual([]);
  });
});

describe('simulator workload', () => {
  it('names every malformed field of a workload', async () => {
    const { createCluster, workloadErrors } = await import('../../src/sim.js');
    expect(workloadErrors({ ios: 1e12, readRatio: 2, pattern: 'zigzag' } as never).map((e) => e.field)).toEqual(['ios', 'readRatio', 'pattern']);
    expect(workloadErrors({ ios: 10, schedule: [{ at: -1, action: { type: 'restartController' } }] }).map((e) => e.field)).toEqual(['schedule[0].at']);
    const cluster = createCluster({ seed: 1, agents: 1, disks: [{ id: 'd', segmentBlocks: 8, segmentCount: 4 }], luns: { 1: 256 } });
    expect(() => cluster.run({ ios: -1 })).toThrow(/ios must be an integer/);
  });
});
