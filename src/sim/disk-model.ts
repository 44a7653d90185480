/**
 * The reference model of a virtual disk's content: for each block, the value of the last
 * acknowledged write (0 = never written, reads as zeros), and what is still uncertain.
 *
 * A block is uncertain while a write to it is in flight; after a write to it failed (it may or
 * may not have landed); and after writes to it overlapped in time (either may have landed last),
 * until the next acknowledged write that overlapped no other. A read is checked only on blocks
 * that stayed certain for the whole read: storage semantics leave a read that overlaps an
 * unfinished write undefined.
 */

/** Marks a block whose content the model cannot vouch for. */
const UNKNOWN = -1;

/**
 * The expected content of one virtual disk, block by block, for checking reads in a simulation
 * or a test: tell it when writes start and end, and it says whether a completed read returned
 * what it must, without judging blocks whose content is legitimately uncertain.
 *
 * @example
 * const model = new DiskModel(64);
 * model.writeStarted(8, 4);
 * model.writeAcknowledged(8, 4, 7); // blocks 8..11 now hold 7
 * const seen = model.readStarted(8, 4);
 * model.checkRead(8, [7, 7, 7, 0], seen) // { block: 11, expected: 7, got: 0 }
 */
export class DiskModel {
  /** Last acknowledged value per block, or UNKNOWN. */
  readonly values: Float64Array;
  /** Writes in flight per block. */
  private readonly writing: Uint16Array;
  /** Bumped whenever a write to the block starts: a read compares before and after. */
  private readonly versions: Uint32Array;
  /** Set while writes to the block overlap: their order at storage is unknown. */
  private readonly contended: Uint8Array;

  constructor(readonly blocks: number) {
    this.values = new Float64Array(blocks);
    this.writing = new Uint16Array(blocks);
    this.versions = new Uint32Array(blocks);
    this.contended = new Uint8Array(blocks);
  }

  /** A copy of the current content (a snapshot), with blocks being written marked unknown. */
  snapshot(): DiskModel {
    const m = new DiskModel(this.blocks);
    m.values.set(this.values);
    for (let b = 0; b < this.blocks; b++) if (this.writing[b]! > 0) m.values[b] = UNKNOWN;
    return m;
  }

  /** A write of blocks `start .. start+length-1` was issued: they are uncertain until it ends. */
  writeStarted(start: number, length: number): void {
    for (let b = start; b < start + length; b++) {
      if (this.writing[b]! > 0) this.contended[b] = 1;
      this.writing[b] = this.writing[b]! + 1;
      this.versions[b] = this.versions[b]! + 1;
    }
  }

  /** The write completed and was acknowledged: each block holds `value`, unless writes overlapped. */
  writeAcknowledged(start: number, length: number, value: number): void {
    for (let b = start; b < start + length; b++) this.writeEnded(b, value);
  }

  /** The write failed: it may have landed in part, so the blocks are unknown until rewritten. */
  writeFailed(start: number, length: number): void {
    for (let b = start; b < start + length; b++) this.writeEnded(b, UNKNOWN);
  }

  private writeEnded(b: number, value: number): void {
    this.writing[b] = this.writing[b]! - 1;
    if (this.writing[b]! > 0) this.contended[b] = 1;
    if (this.contended[b] === 1) {
      this.values[b] = UNKNOWN;
      if (this.writing[b] === 0) this.contended[b] = 0;
    } else this.values[b] = value;
  }

  /** What a read starting now must see: the versions, to detect writes that overlap it. */
  readStarted(start: number, length: number): Uint32Array {
    const seen = this.versions.slice(start, start + length);
    for (let i = 0; i < length; i++) if (this.writing[start + i]! > 0) seen[i] = 0xffffffff; // overlapping already
    return seen;
  }

  /**
   * Checks a completed read against the model. Returns the first block whose value is wrong,
   * with what was expected, or undefined. Blocks written during the read are not checked.
   */
  checkRead(start: number, got: ArrayLike<number>, seen: Uint32Array): { block: number; expected: number; got: number } | undefined {
    for (let i = 0; i < got.length; i++) {
      const b = start + i;
      if (seen[i] === 0xffffffff || seen[i] !== this.versions[b] || this.writing[b]! > 0) continue;
      const expected = this.values[b]!;
      if (expected === UNKNOWN) continue;
      if (got[i] !== expected) return { block: b, expected, got: got[i]! };
    }
    return undefined;
  }

  /**
   * A rollback was asked: until it ends, every block is as if being written (the agents switch
   * to the snapshot's entries one by one, so a read may see either content). Returns the block
   * versions to hand to {@link rolledBack} or {@link rollbackEnded}.
   */
  rollbackStarted(): Uint32Array {
    this.writeStarted(0, this.blocks);
    return this.versions.slice();
  }

  /**
   * The rollback asked at `seen` is done: each block holds `image`'s value (a snapshot's model),
   * except blocks written meanwhile or still being written: those writes may have landed before
   * or after the rollback, so the blocks are unknown until rewritten.
   */
  rolledBack(image: DiskModel, seen: Uint32Array): void {
    for (let b = 0; b < this.blocks; b++) {
      this.writing[b] = this.writing[b]! - 1;
      const overlapped = seen[b] !== this.versions[b] || this.writing[b]! > 0 || this.contended[b] === 1;
      this.values[b] = overlapped || b >= image.blocks ? UNKNOWN : image.values[b]!;
      this.contended[b] = this.writing[b]! > 0 ? 1 : 0;
      this.versions[b] = this.versions[b]! + 1;
    }
  }

  /** The rollback was refused: the content did not change (blocks written meanwhile stay unknown). */
  rollbackEnded(): void {
    for (let b = 0; b < this.blocks; b++) this.writeEnded(b, this.values[b]!);
  }

  /**
   * The disk is gone (deleted): nothing is vouched for any more, and reads in flight are not
   * checked (they may be served by a disk created again under the same name).
   */
  forgetAll(): void {
    this.values.fill(UNKNOWN);
    for (let b = 0; b < this.blocks; b++) this.versions[b] = this.versions[b]! + 1;
  }

  /**
   * The block's content is no longer known (a power loss may have taken its last writes): reads
   * are not checked on it until the next acknowledged write.
   */
  forget(block: number): void {
    this.values[block] = UNKNOWN;
  }

  /** Blocks the model vouches for (not unknown, not being written). */
  isCertain(block: number): boolean {
    return this.values[block] !== UNKNOWN && this.writing[block] === 0;
  }
}
