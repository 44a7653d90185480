/**
 * The runs of bench/hostops-sweep.ts: the cluster and workload of test/sim/cluster.test.ts's
 * host-operations property (deletions, rollbacks, discards, restarts), and the same with power
 * loss of storage, controller and agents, and deletions followed closely by power losses.
 */
import type { SimAction, SimConfig, Workload } from '../src/sim/config.js';

export type Variant = 'centralized' | 'distributed';
export type Pattern = 'random' | 'sequential' | 'hotspot';

export const sweepConfig = (seed: number, variant: Variant): SimConfig => ({
  seed,
  variant,
  agents: 3,
  disks: [
    { id: 'd0', segmentBlocks: 8, segmentCount: 16 },
    { id: 'd1', segmentBlocks: 4, segmentCount: 20, agents: [0] },
  ],
  luns: { 1: 4096, 2: 4096 },
  faults: { dropRate: 0.05, duplicateRate: 0.05, storageErrorRate: 0.01, persistErrorRate: 0.02 },
});

const everything = { snapshot: 0.003, migrate: 0.005, markFailed: 0.001, restartAgent: 0.003, restartController: 0.002, cutAgent: 0.003 };
export const hostOpsRates: Workload['rates'] = { ...everything, snapshot: 0.01, deleteDisk: 0.004, rollback: 0.006 };
export const powerRates: Workload['rates'] = { ...hostOpsRates, storagePowerLoss: 0.005, controllerPowerLoss: 0.003, agentPowerLoss: 0.003 };

/** Host operations (`power` false: 400 I/Os, 30% of writes discards) or power loss with deletions (500 I/Os, flushes and FUA writes). */
export const sweepWorkload = (seed: number, pattern: Pattern, power: boolean, ios = power ? 500 : 400, zeroRatio = power ? 0 : 0.3): Workload => {
  if (!power) return { ios, readRatio: 0.4, zeroRatio, pattern, rates: hostOpsRates };
  // Three deletions at seeded times, each followed closely by a power loss, on top of the random ones.
  const schedule: { at: number; action: SimAction }[] = [];
  for (let k = 0; k < 3; k++) {
    const at = 50 + ((seed * 97 + k * 131) % 400);
    schedule.push({ at, action: { type: 'deleteDisk', disk: k % 2 === 0 ? 'd0' : 'd1', force: true } });
    schedule.push({ at: at + 1 + ((seed + k) % 30), action: { type: 'powerLoss', target: (['storage', 'controller', 'agent'] as const)[(seed + k) % 3]!, agent: (seed + k) % 3 } });
  }
  return { ios, readRatio: 0.4, zeroRatio, flushRatio: 0.05, fuaRatio: 0.1, pattern, rates: powerRates, schedule };
};
