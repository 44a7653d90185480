/**
 * A naive model of one disk and its snapshots, block by block, for checking changed-block
 * tracking: tables change the way the controller changes them (copy-on-write alternates, copy
 * and promotion, snapshots that freeze every primary, migration, growth, failed segments), and a
 * map of physical blocks holds what every write put where. A table's content is read block by
 * block through the reference decision table, so nothing here trusts translation.
 */
import * as B from '../../src/bitmap/bitmap.js';
import type { EntrySpec, MappingEntry } from '../../src/table/entry.js';
import { createTable, entryAt, resizeTable, setEntry, type MappingTable } from '../../src/table/table.js';
import { referenceBlockDecision } from '../../src/testing/reference.js';

const right = <A>(e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: A }): A => {
  if (e._tag === 'Left') throw new Error(JSON.stringify(e.left));
  return e.right;
};

/** What a history does next. Numbers are taken modulo what fits the disk at that point. */
export type FamilyStep =
  | { readonly kind: 'write'; readonly start: number; readonly length: number }
  | { readonly kind: 'settle'; readonly segment: number }
  | { readonly kind: 'snapshot' }
  | { readonly kind: 'migrate'; readonly segment: number }
  | { readonly kind: 'grow'; readonly segments: number }
  | { readonly kind: 'fail'; readonly segment: number };

/** A snapshot: its table and its content when it was taken. */
export interface Snapshot {
  readonly table: MappingTable;
  readonly content: number[];
}

/** Content of an unreadable block (invalid or error): equal to nothing, itself included. */
export const UNREADABLE = Number.NaN;

export class FamilyModel {
  /** Physical blocks, by `lun:block`; absent reads as 0. */
  private readonly phys = new Map<string, number>();
  /** Space is never reused: snapshots hold what they reference for the whole history. */
  private nextFree = 0;
  private nextValue = 1;
  disk: MappingTable;
  readonly snapshots: Snapshot[] = [];

  constructor(
    readonly segmentBlocks: number,
    initial: ReadonlyArray<'zero' | 'plain'>,
  ) {
    const entries: EntrySpec[] = initial.map((k) => (k === 'zero' ? { zero: true } : { location: this.allocate() }));
    this.disk = right(createTable({ segmentBlocks, entries }));
  }

  private allocate(): { lun: number; start: number } {
    const start = this.nextFree;
    this.nextFree += this.segmentBlocks;
    return { lun: 1, start };
  }

  private set(seg: number, entry: EntrySpec): void {
    this.disk = right(setEntry(this.disk, seg, entry));
  }

  /** What a read of virtual block `v` through `table` returns now. */
  read(table: MappingTable, v: number): number {
    const sb = table.segmentBlocks;
    const d = referenceBlockDecision(entryAt(table, Math.floor(v / sb)), v % sb, 'read');
    if (d.kind === 'zero') return 0;
    if (d.kind === 'primary' || d.kind === 'alternate') return this.phys.get(`${d.lun}:${d.start}`) ?? 0;
    return UNREADABLE;
  }

  content(table: MappingTable): number[] {
    return Array.from({ length: table.segmentCount * table.segmentBlocks }, (_, v) => this.read(table, v));
  }

  apply(step: FamilyStep): void {
    const count = this.disk.segmentCount;
    switch (step.kind) {
      case 'write': {
        const blocks = count * this.segmentBlocks;
        const start = step.start % blocks;
        const end = Math.min(blocks, start + step.length);
        const value = this.nextValue++;
        for (let v = start; v < end; v++) this.writeBlock(v, value);
        return;
      }
      case 'settle':
        return this.settle(step.segment % count);
      case 'snapshot':
        return this.snapshot();
      case 'migrate':
        return this.migrate(step.segment % count);
      case 'grow':
        this.disk = right(resizeTable(this.disk, count + step.segments, { zero: true }));
        return;
      case 'fail': {
        const seg = step.segment % count;
        this.set(seg, { ...entryAt(this.disk, seg), error: true });
        return;
      }
    }
  }

  /** A host write of one block, resolved the way the controller resolves its faults. */
  private writeBlock(v: number, value: number): void {
    const sb = this.segmentBlocks;
    const seg = Math.floor(v / sb);
    const k = v % sb;
    const e = entryAt(this.disk, seg);
    if (e.invalid || e.error) return; // fails
    if (e.alternate !== null && B.has(e.alternate.blocks, k)) {
      this.phys.set(`${e.alternate.lun}:${e.alternate.start + k}`, value);
      return;
    }
    if (e.zero || e.noWrite) {
      const alt = e.alternate ?? { ...this.allocate(), blocks: right(B.empty(sb)) };
      this.phys.set(`${alt.lun}:${alt.start + k}`, value);
      const blocks = right(B.setRange(alt.blocks, k, 1));
      if (B.isFull(blocks)) this.set(seg, { location: { lun: alt.lun, start: alt.start } });
      else this.set(seg, { ...e, alternate: { ...alt, blocks } });
      return;
    }
    this.phys.set(`${e.location!.lun}:${e.location!.start + k}`, value);
  }

  /** Copies the blocks not yet at the alternate there, then makes the alternate the primary. */
  private settle(seg: number): void {
    const e = entryAt(this.disk, seg);
    if (e.alternate === null || e.error || e.invalid) return;
    const alt = e.alternate;
    for (let k = 0; k < this.segmentBlocks; k++) {
      if (B.has(alt.blocks, k)) continue;
      const old = e.zero || e.location === null ? 0 : (this.phys.get(`${e.location.lun}:${e.location.start + k}`) ?? 0);
      this.phys.set(`${alt.lun}:${alt.start + k}`, old);
    }
    this.set(seg, { location: { lun: alt.lun, start: alt.start } });
  }

  /** Moves a segment: a fresh alternate and a frozen primary; `settle` finishes the move. */
  private migrate(seg: number): void {
    const e = entryAt(this.disk, seg);
    if (e.location === null || e.zero || e.invalid || e.error || e.alternate !== null) return;
    this.set(seg, { ...e, noWrite: true, alternate: { ...this.allocate(), blocks: right(B.empty(this.segmentBlocks)) } });
  }

  /** As the controller takes one: alternates settled first, then every primary frozen, shared. */
  private snapshot(): void {
    for (let seg = 0; seg < this.disk.segmentCount; seg++) this.settle(seg);
    for (let seg = 0; seg < this.disk.segmentCount; seg++) {
      const e: MappingEntry = entryAt(this.disk, seg);
      if (e.location !== null && !e.noWrite) this.set(seg, { ...e, noWrite: true });
    }
    this.snapshots.push({ table: this.disk, content: this.content(this.disk) });
  }
}
