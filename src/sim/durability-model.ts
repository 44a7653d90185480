/**
 * The reference model of what a virtual disk may hold after a power loss
 * (docs/design.md#ordering-rules): per block, the value it must at least keep (the newest write
 * a completed flush guaranteed, or the initial zeros) and every value written since, any of which
 * may have survived. A discard or write-zeroes is a write of zeros here: the contract counts its
 * zeros as written, so they may survive a power loss and a flush guarantees them.
 *
 * Guarantees are per writer (an agent life): a host flush through an agent guarantees the writes
 * acknowledged through that same agent life before the flush was submitted, and a FUA write
 * guarantees itself. A flush through another agent guarantees nothing here, even though the
 * simulated cache happens to be shared per LUN: vdisk-map promises no more than that.
 */

/** One write to a block, as the model knows it: its value and when it started and ended (sequence numbers). */
interface Candidate {
  readonly value: number;
  readonly startSeq: number;
  endSeq: number;
}

/** An acknowledged write not yet guaranteed. */
interface Acked {
  readonly start: number;
  readonly length: number;
  readonly write: Candidate;
}

/**
 * A write the model tracks, from {@link DurabilityModel.writeStarted} to
 * {@link DurabilityModel.writeEnded}.
 *
 * @example
 * const w = model.writeStarted(8, 2, 7, seq++);
 */
export interface TrackedWrite {
  readonly start: number;
  readonly length: number;
  readonly write: Candidate;
}

/**
 * What each block of one disk may read after a power loss, for checking a simulation: writes
 * start and end, flushes guarantee, and `accepts` says whether a value read is allowed.
 *
 * @example
 * const m = new DurabilityModel(16);
 * const w = m.writeStarted(0, 1, 7, 1);
 * m.writeEnded(w, true, 2, 'a0#1', false);
 * m.accepts(0, 0); // true: not flushed, the old zeros may come back
 * m.flushed('a0#1', 3);
 * m.accepts(0, 0); // false: the flush guaranteed the 7
 */
export class DurabilityModel {
  /** Per block: the guaranteed value, and the end of the write that put it (-1: the initial zeros). */
  private readonly floor: Float64Array;
  private readonly floorEnd: Float64Array;
  /** Per block: writes since the floor (or overlapping it), any of which may be what survived. */
  private readonly since: (Candidate[] | undefined)[];
  /** Acknowledged writes not yet guaranteed, by writer. */
  private readonly acked = new Map<string, Acked[]>();
  /** Every write started, in order: a snapshot taken later adds those of its window. */
  private readonly log: TrackedWrite[] = [];
  /** Per block: 1 once the block may hold anything (a rollback to a snapshot the run does not model). */
  private readonly wild: Uint8Array;

  constructor(readonly blocks: number) {
    this.floor = new Float64Array(blocks);
    this.floorEnd = new Float64Array(blocks).fill(-1);
    this.since = new Array<Candidate[] | undefined>(blocks);
    this.wild = new Uint8Array(blocks);
  }

  /** A write of `value` to blocks `start .. start+length-1` was issued. */
  writeStarted(start: number, length: number, value: number, seq: number): TrackedWrite {
    const write: Candidate = { value, startSeq: seq, endSeq: Infinity };
    for (let b = start; b < start + length; b++) (this.since[b] ??= []).push(write);
    const tracked = { start, length, write };
    this.log.push(tracked);
    return tracked;
  }

  /**
   * The write ended at `seq`: acknowledged (`ok`) or failed (it may still have landed). An
   * acknowledged FUA write is guaranteed at once; any other waits for a flush by `writer`.
   */
  writeEnded(w: TrackedWrite, ok: boolean, seq: number, writer: string, fua: boolean): void {
    w.write.endSeq = seq;
    if (!ok) return;
    if (fua) return this.guarantee(w);
    const list = this.acked.get(writer);
    if (list === undefined) this.acked.set(writer, [w]);
    else list.push(w);
  }

  /** A flush by `writer`, submitted at `submittedSeq`, completed: its writes acknowledged before are guaranteed. */
  flushed(writer: string, submittedSeq: number): void {
    const list = this.acked.get(writer);
    if (list === undefined) return;
    const rest: Acked[] = [];
    for (const w of list) {
      if (w.write.endSeq < submittedSeq) this.guarantee(w);
      else rest.push(w);
    }
    this.acked.set(writer, rest);
  }

  /**
   * A flush by `writer` failed, reported at `seq`: the writes it acknowledged before may be lost
   * for good, and no later flush vouches for them (a lost cache is reported once, as `fsync`
   * errors are).
   */
  flushFailed(writer: string, seq: number): void {
    const list = this.acked.get(writer);
    if (list !== undefined) this.acked.set(writer, list.filter((w) => w.write.endSeq > seq));
  }

  /** The writer (an agent life) is gone: its unflushed writes will never be guaranteed. */
  forgetWriter(writer: string): void {
    this.acked.delete(writer);
  }

  /**
   * `w` is durable: no write that ended before it started can come back, and it becomes the
   * floor unless the floor's own write overlapped it in time.
   */
  private guarantee(w: Acked): void {
    const { startSeq, endSeq, value } = w.write;
    for (let b = w.start; b < w.start + w.length; b++) {
      if (this.floorEnd[b]! < startSeq) {
        this.floor[b] = value;
        this.floorEnd[b] = endSeq;
      }
      const list = this.since[b];
      if (list !== undefined) this.since[b] = list.filter((c) => !(c.endSeq < startSeq) || c === w.write);
    }
  }

  /** Whether block `b` may read `value` after a power loss. */
  accepts(b: number, value: number): boolean {
    return this.wild[b] === 1 || this.floor[b] === value || (this.since[b]?.some((c) => c.value === value) ?? false);
  }

  /** What block `b` may read, for messages: the guaranteed value first. */
  allowed(b: number): number[] {
    return [...new Set([this.floor[b]!, ...(this.since[b] ?? []).map((c) => c.value)])];
  }

  /** Whether a power loss may leave block `b` with more than one value. */
  isUncertain(b: number): boolean {
    return this.wild[b] === 1 || this.allowed(b).length > 1;
  }

  /**
   * The disk is being rolled back to a snapshot whose model is `image` (null: one the run does
   * not model): from now on each block may also hold anything the snapshot may hold, and keeps
   * allowing it (the rollback may land at any point, and a restart may leave it unanswered).
   */
  allowRollbackTo(image: DurabilityModel | null): void {
    for (let b = 0; b < this.blocks; b++) {
      if (image === null || b >= image.blocks || image.wild[b] === 1) {
        this.wild[b] = 1;
        continue;
      }
      const list = (this.since[b] ??= []);
      for (const value of image.allowed(b)) list.push({ value, startSeq: -Infinity, endSeq: Infinity });
    }
  }

  /** Where the log is now: a snapshot requested now passes it to {@link DurabilityModel.snapshot}. */
  get logLength(): number {
    return this.log.length;
  }

  /**
   * The model of a snapshot requested when the log was at `from` and taken since: what this disk
   * allowed then, plus every write started in between (it may or may not be in the snapshot).
   * `before` is a copy of this model made at the request ({@link DurabilityModel.copy}).
   */
  static snapshot(before: DurabilityModel, source: DurabilityModel, from: number): DurabilityModel {
    const m = before.copy();
    for (let i = from; i < source.log.length; i++) {
      const w = source.log[i]!;
      const frozen: Candidate = { value: w.write.value, startSeq: w.write.startSeq, endSeq: Infinity };
      for (let b = w.start; b < w.start + w.length; b++) (m.since[b] ??= []).push(frozen);
    }
    return m;
  }

  /** A copy of what each block may hold now (no pending acknowledgements, no log). */
  copy(): DurabilityModel {
    const m = new DurabilityModel(this.blocks);
    m.floor.set(this.floor);
    m.floorEnd.set(this.floorEnd);
    m.wild.set(this.wild);
    for (let b = 0; b < this.blocks; b++) {
      const list = this.since[b];
      if (list !== undefined) m.since[b] = list.map((c) => ({ ...c, endSeq: Infinity }));
    }
    return m;
  }
}
