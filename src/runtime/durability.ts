/**
 * Flushing storage from a runtime (docs/design.md#adapter-contracts): one place that decides
 * what a `flush` command means for an adapter that has no `flush` (its writes are durable when
 * they resolve, so there is nothing to wait for).
 */
import type { BlockStorage } from '../adapters/types.js';
import { attempt } from './serial.js';

/**
 * Flushes every LUN of `luns` (at once); resolves when all are durable, rejects with the first
 * failure. An adapter without `flush` is write-through: resolves at once.
 *
 * @example
 * await flushLuns(storage, [1, 2]); // every write to LUNs 1 and 2 completed before now is durable
 */
export const flushLuns = async (storage: BlockStorage, luns: ReadonlyArray<number>): Promise<void> => {
  const flush = storage.flush;
  if (typeof flush !== 'function') return;
  await Promise.all(luns.map((lun) => attempt(() => flush.call(storage, lun))));
};
