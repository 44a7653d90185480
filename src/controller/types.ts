/**
 * The controller's events, commands, configuration and state: plain data in, plain data out.
 * Each concept lives in its own module; this file gathers them so importers have one place.
 */
export type { ControllerConfig, ControllerLimits, ControllerOptions } from './config.js';
export { defaultControllerConfig, defaultControllerLimits } from './config.js';
export type { AdminEvent, AdminResult, ControllerEvent } from './events.js';
export type { ControllerCommand, Outcome, PersistRecord, PersistedState } from './commands.js';
export type { AdminJob, DeleteJob, ErrorJob, FaultJob, Job, JobBase, JobPhase, MarkJob, MigrateJob, PreparedCopy, ReleaseJob, RollbackJob, SettleJob, SnapshotJob, ZeroJob } from './job-kinds.js';
export type { AgentView, ControllerState, CopyView, DiskState, FlushGroup, FlushGroups, JobGroup, JobIndex, LeaseView, StagedChanges } from './state.js';
export type { RecentAdmin } from './admin-dedupe.js';
export type { ReuseHold } from './reuse-hold.js';
export type { SegmentChange } from './segment-changes.js';
