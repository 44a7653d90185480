/**
 * vdisk-map: distributed, table-driven block virtualization.
 *
 * - tables: `createTable` (uniform) and `createVariableTable` (segments of differing sizes), `getEntry`, `setEntry`, `diffTables`, `formatTable`, `encodeTable` / `decodeTable`
 *   (JSON) and `encodeTableBinary` / `decodeTableBinary` (compact, checksummed);
 * - translation: `translate`, and `translateInto` for hot paths;
 * - block bitmaps: the `bitmap` namespace;
 * - checking: `checkTables`;
 * - the protocol: `controllerStep` and `agentStep` (pure), `createController` and `createAgent`
 *   (runtimes over your adapters), and in-memory adapters for tests and simulation.
 *
 * The simulator is `vdisk-map/sim`; fast-check arbitraries and reference models are
 * `vdisk-map/testing`.
 *
 * @packageDocumentation
 */
export type { ValidationError } from './errors.js';

// Block bitmaps
export * as bitmap from './bitmap/index.js';
export type { Bitmap, BitRun } from './bitmap/bitmap.js';

// Mapping tables
export type { Alternate, EntrySpec, Location, LunSizes, MappingEntry } from './table/entry.js';
export { entriesEqual, MAX_LUN } from './table/entry.js';
export type { Chunk, EntryUpdate, FlatAlternates, FreezeOptions, MappingTable, SegmentDirectory, TableOptions, TableSpec, UpdateOptions } from './table/table.js';
export {
  CHUNK_SIZE,
  createTable,
  diffTables,
  freezeTable,
  getEntry,
  MAX_SEGMENT_COUNT,
  resizeTable,
  setEntries,
  setEntry,
  tableEntries,
  tablesEqual,
  withGeneration,
} from './table/table.js';
// Variable tables: segments of differing sizes
export type { SegmentSpec, VariableTableSpec } from './table/variable.js';
export { createVariableTable, mergeSegments, splitSegment } from './table/variable.js';
export { isVariableTable, MAX_SEGMENT_LENGTH, segmentLength, segmentOfBlock, segmentStart, tableBlocks } from './table/segments.js';
export type { FormatRange } from './table/format.js';
export { formatTable } from './table/format.js';
export type { FormatLayout, FormatOptions } from './table/format.js';
export type { ChangedRange } from './table/changed-blocks.js';
export { changedBlocks } from './table/changed-blocks.js';
export type { AlternateDocument, EntryDocument, LocationDocument, TableDocument } from './table/codec.js';
export {
  decodeEntry,
  decodeTable,
  decodeTableJson,
  encodeEntry,
  encodeTable,
  encodeTableJson,
  TABLE_FORMAT,
  TABLE_GRAIN_VERSION,
  TABLE_VARIABLE_VERSION,
  TABLE_VERSION,
} from './table/codec.js';
// Bitmap grain: one alternate bit per grain of blocks
export { blocksOfGrains, grainsOfBlocks } from './table/grain.js';
export { decodeTableBinary, encodeTableBinary, TABLE_BINARY_BLOCK_GRAIN_VERSION, TABLE_BINARY_GRAIN_VERSION, TABLE_BINARY_VARIABLE_VERSION, TABLE_BINARY_VERSION } from './table/binary-codec.js';

// Translation
export type {
  FaultReason,
  IoRequest,
  Op,
  Piece,
  PieceKind,
  SegmentFault,
  TranslateFailure,
  TranslateOptions,
  TranslateStatus,
  Variant,
} from './translate/translate.js';
export {
  KIND_ALTERNATE,
  KIND_PRIMARY,
  KIND_ZERO,
  PieceBuffer,
  piecesOf,
  REASON_ERROR,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_INVALID_REQUEST,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
  translate,
  translateInto,
} from './translate/translate.js';

// Consistency checking
export type { CheckOptions, CheckReport, ExtentRole, Finding, FindingCode, Reference, Severity, TableSet } from './check/check.js';
export { checkTables, countReferences, SEVERITY } from './check/check.js';

// The protocol: messages, and the pure controller and agent machines
export type * from './protocol/messages.js';
export type * from './controller/types.js';
export { defaultControllerConfig, defaultControllerLimits } from './controller/types.js';
export { RECENT_ADMIN_LIMIT } from './controller/admin-dedupe.js';
export { controllerStep, initialControllerState } from './controller/controller.js';
export type { AllocationError, Allocator, Extent, InvalidAllocationError, NoSpaceError } from './controller/allocator.js';
export { createAllocator } from './controller/allocator.js';
export type { ChunkShare, Counted, RefCounts } from './controller/refcounts.js';
// Space accounting (per LUN and per disk) and the low-water mark
export type { DiskSpace, LunSpace } from './controller/space.js';
export { lowSpaceCrossings, spaceByDisk, spaceByLun } from './controller/space.js';
export type * from './agent/types.js';
export type { AgentLease } from './agent/lease.js';
export { agentParkedCount, agentStep, agentTable, createAgentState, DEFAULT_AGENT_LIMITS, initialAgentState } from './agent/agent.js';
export { readControllerMessage } from './protocol/messages.js';

// Runtimes and adapters
export type { BlockStorage, Clock, FenceAgent, TablePersistence, TimerHandle, Transport } from './adapters/types.js';
export type { AdminRequest, ControllerAdapters, ControllerRuntime, ControllerRuntimeConfig } from './runtime/controller-runtime.js';
export { createController } from './runtime/controller-runtime.js';
export type { AgentAdapters, AgentRuntime, AgentRuntimeConfig, WriteOptions } from './runtime/agent-runtime.js';
export { createAgent } from './runtime/agent-runtime.js';
export type { LocalCluster, LocalClusterOptions } from './runtime/local-cluster.js';
export { createLocalCluster } from './runtime/local-cluster.js';
export type {
  Delivery,
  Envelope,
  FailMode,
  FailSpec,
  ManualClock,
  MemoryNetwork,
  MemoryNetworkOptions,
  MemoryPersistence,
  MemoryStorage,
  MemoryStorageOptions,
  NetworkStats,
  PersistFailOptions,
  StorageEvent,
  StorageOp,
} from './adapters/memory.js';
export { createManualClock, createMemoryNetwork, createRealClock, createMemoryPersistence, createMemoryStorage, InjectedFault } from './adapters/memory.js';
export type { Prng } from './adapters/prng.js';
export { createPrng } from './adapters/prng.js';
