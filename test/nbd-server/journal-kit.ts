/**
 * What the journal store tests set up alike: temporary directories removed after each test, and
 * table documents of zero segments to save. Not a test file itself.
 */
import * as E from 'fp-ts/lib/Either.js';
import { afterEach } from 'vitest';
import { createTable, encodeTable, type TableDocument } from '../../src/index.js';
import { makeTempDir, removeDir } from './harness.js';

/** Registers the clean-up with the calling test file; returns a maker of directories it removes after each test. */
export const tempDirs = (): (() => Promise<string>) => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await removeDir(d);
  });
  return async () => {
    const d = await makeTempDir();
    dirs.push(d);
    return d;
  };
};

/** The document of a table of `segmentCount` zero segments of `segmentBlocks` blocks at `generation`. */
export const zeroTable = (segmentBlocks: number, segmentCount: number, generation = 0): TableDocument => {
  const t = createTable({ segmentBlocks, segmentCount, entries: () => ({ zero: true }), generation });
  if (E.isLeft(t)) throw new Error(JSON.stringify(t.left));
  return encodeTable(t.right);
};
