/**
 * Tests for src/sim/world.ts: the LUN blocks against plain arrays, and the durable store's
 * handling of retried and refused records.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { PersistRecord } from '../../src/controller/types.js';
import { DurableStore, LunBlocks, type CopyCommand } from '../../src/sim/world.js';
import { encodeTable } from '../../src/table/codec.js';
import { createTable } from '../../src/table/table.js';
import type { Piece } from '../../src/translate/translate.js';

const SIZE = 32;

type BlockOp =
  | { readonly type: 'write'; readonly lun: number; readonly start: number; readonly length: number; readonly value: number }
  | { readonly type: 'copy'; readonly from: number; readonly fromStart: number; readonly to: number; readonly toStart: number; readonly length: number }
  | { readonly type: 'zero'; readonly lun: number; readonly start: number; readonly length: number };

const extentArb = fc.integer({ min: 1, max: 8 }).chain((length) => fc.record({ lun: fc.constantFrom(1, 2), start: fc.nat(SIZE - length), length: fc.constant(length) }));

const blockOpArb: fc.Arbitrary<BlockOp> = fc.oneof(
  fc.tuple(extentArb, fc.integer({ min: 1, max: 99 })).map(([e, value]): BlockOp => ({ type: 'write', ...e, value })),
  fc.tuple(extentArb, fc.constantFrom(1, 2), fc.nat(SIZE)).map(([e, to, toStart]): BlockOp => ({ type: 'copy', from: e.lun, fromStart: e.start, to, toStart: Math.min(toStart, SIZE - e.length), length: e.length })),
  extentArb.map((e): BlockOp => ({ type: 'zero', ...e })),
);

describe('LunBlocks', () => {
  it('writes, copies, zeroes and reads like plain arrays', () => {
    fc.assert(
      fc.property(fc.array(blockOpArb, { maxLength: 30 }), extentArb, (ops, read) => {
        const blocks = new LunBlocks({ 1: SIZE, 2: SIZE });
        const model = new Map([1, 2].map((lun) => [lun, new Array<number>(SIZE).fill(0)]));
        for (const op of ops) {
          if (op.type === 'write') {
            const piece: Piece = { kind: 'primary', virtualStart: 0, length: op.length, lun: op.lun, start: op.start };
            blocks.write(piece, op.value);
            model.get(op.lun)!.fill(op.value, op.start, op.start + op.length);
          } else if (op.type === 'copy') {
            const c: CopyCommand = { type: 'copyBlocks', copyId: 1, from: { lun: op.from, start: op.fromStart }, to: { lun: op.to, start: op.toStart }, length: op.length };
            blocks.copy(c);
            const src = model.get(op.from)!.slice(op.fromStart, op.fromStart + op.length);
            model.get(op.to)!.splice(op.toStart, op.length, ...src);
          } else {
            blocks.copy({ type: 'writeZeros', copyId: 1, to: { lun: op.lun, start: op.start }, length: op.length });
            model.get(op.lun)!.fill(0, op.start, op.start + op.length);
          }
        }
        for (const lun of [1, 2]) for (let b = 0; b < SIZE; b++) expect(blocks.block(lun, b)).toBe(model.get(lun)![b]);
        // A host read of two pieces, the first a zero piece: zeros, then the blocks of the second.
        const pieces: Piece[] = [
          { kind: 'zero', virtualStart: 10, length: 2 },
          { kind: 'primary', virtualStart: 12, length: read.length, lun: read.lun, start: read.start },
        ];
        const data = blocks.read(pieces, 10, 2 + read.length);
        expect([...data]).toEqual([0, 0, ...model.get(read.lun)!.slice(read.start, read.start + read.length)]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('DurableStore', () => {
  const table = createTable({ segmentBlocks: 4, entries: [{ zero: true }, { zero: true }] });
  if (E.isLeft(table)) throw new Error('bad table');
  const save: PersistRecord = { type: 'saveTable', disk: 'd', table: encodeTable(table.right) };
  const update: PersistRecord = { type: 'updateTable', disk: 'd', fromGeneration: 0, generation: 1, changes: [{ segment: 1, entry: { location: { lun: 1, start: 8 } } }] };

  it('applies records, and skips an update that already landed (a retry after a lost acknowledgement)', () => {
    const store = new DurableStore();
    store.apply(save);
    store.apply(update);
    store.apply(update);
    store.apply({ type: 'attachments', disk: 'd', agents: ['a0'] });
    const restored = store.restored();
    expect(restored.tables.map((t) => [t.disk, t.table.generation, t.table.entries[1]])).toEqual([['d', 1, { location: { lun: 1, start: 8 } }]]);
    expect(restored.attachments).toEqual([{ disk: 'd', agents: ['a0'] }]);
    expect(store.tables.get('d')?.generation).toBe(1);
  });

  it('stops the run on any other refusal: it would be a bug of the controller or the simulator', () => {
    const store = new DurableStore();
    expect(() => store.apply(update)).toThrow('simulator: persistence refused "updateTable" for disk "d": no table is stored for this disk');
    store.apply(save);
    expect(() => store.apply({ ...update, fromGeneration: 3, generation: 4 })).toThrow('stored table is at generation 0');
    expect(store.restored().tables[0]!.table.generation).toBe(0);
  });
});
