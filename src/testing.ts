/**
 * `vdisk-map/testing`: fast-check arbitraries and reference models, for property tests of
 * vdisk-map itself and of products built on it. fast-check is a peer dependency of this entry.
 *
 * @example
 * import fc from 'fast-check';
 * import { translate } from 'vdisk-map';
 * import { tableAndRequestArb, referenceTranslate } from 'vdisk-map/testing';
 * fc.assert(fc.property(tableAndRequestArb(), ([t, r]) => JSON.stringify(translate(t, r)) === JSON.stringify(referenceTranslate(t, r))));
 *
 * @packageDocumentation
 */
export type { GrainedTableArbOptions, TableArbOptions, VariableTableArbOptions } from './testing/arbitraries.js';
export {
  anyTableAndRequestArb,
  bitmapArb,
  entrySpecArb,
  grainedTableArb,
  layoutTableArb,
  layoutVariableTableArb,
  requestArb,
  tableAndRequestArb,
  tableArb,
  variableTableArb,
} from './testing/arbitraries.js';
export type { BlockDecision } from './testing/reference.js';
export { referenceBlockDecision, referenceTranslate } from './testing/reference.js';
export type { Damage, DamageKind, ExpectedFinding, Scenario, ScenarioArbOptions } from './testing/damage.js';
export { applyDamage, DAMAGE_KINDS, damageArb, flagFindings, scenarioArb, withoutMessages } from './testing/damage.js';
export { DiskModel } from './sim/disk-model.js';
export type { SimConfigArbOptions } from './testing/sim-arbitraries.js';
export { faultScheduleArb, simConfigArb, simFaultsArb, workloadArb } from './testing/sim-arbitraries.js';
