/**
 * The in-memory adapters, for tests and simulation: block storage, table persistence, a message
 * network and a clock, all deterministic and all with the failure injection a simulator needs.
 * One module each, under memory/; this is the one place the entry points take them from.
 */
export { createManualClock, createRealClock, type ManualClock } from './memory/clock.js';
export { InjectedFault } from './memory/injection.js';
export { createMemoryNetwork, type Delivery, type Envelope, type MemoryNetwork, type MemoryNetworkOptions, type NetworkStats } from './memory/network.js';
export { createMemoryPersistence, type MemoryPersistence, type PersistFailOptions } from './memory/persistence.js';
export { createMemoryStorage, type FailMode, type FailSpec, type MemoryStorage, type MemoryStorageOptions, type StorageEvent, type StorageOp } from './memory/storage.js';
