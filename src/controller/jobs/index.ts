/**
 * The hook table: every kind of job and the module that says what it does (see `hooks.ts`).
 * Only the entry module (`controller.ts`) imports it, and hands it to each step's working state,
 * so the shared parts of the controller reach the job modules without importing them.
 */
import { adminHooks } from './admin.js';
import { faultHooks, markHooks } from './fault.js';
import { flagHooks } from './flags.js';
import type { JobHookTable } from './hooks.js';
import { migrateHooks, settleHooks } from './settle.js';
import { snapshotHooks } from './snapshot.js';
import { deleteHooks } from './delete.js';
import { rollbackHooks } from './rollback.js';
import { releaseHooks } from './release.js';
import { zeroHooks } from './zero.js';

export const jobHooks: JobHookTable = {
  fault: faultHooks,
  mark: markHooks,
  settle: settleHooks,
  migrate: migrateHooks,
  markError: flagHooks,
  unfence: flagHooks,
  snapshot: snapshotHooks,
  admin: adminHooks,
  zero: zeroHooks,
  delete: deleteHooks,
  rollback: rollbackHooks,
  release: releaseHooks,
};

export { adminTypes, onAdmin } from './admin.js';
export { drainCopyQueue, enqueueSettle } from './settle.js';
