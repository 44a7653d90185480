/**
 * Tests of src/protocol/shared-documents.ts: frozen documents are decoded once and shared,
 * anything else is decoded each time, and the result always equals a fresh decoding.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeSharedEntry, decodeSharedTable, freezeEntryDocument, freezeTableDocument } from '../../src/protocol/shared-documents.js';
import { decodeEntry, decodeTable, encodeTable, type EntryDocument } from '../../src/table/codec.js';
import { createTable } from '../../src/table/table.js';

const alternate = (): EntryDocument => ({ location: { lun: 1, start: 0 }, alternate: { lun: 2, start: 8, blocks: '1,3' } });

describe('decodeSharedEntry', () => {
  it('shares the decoding of a frozen document, equal to a fresh one', () => {
    const doc = freezeEntryDocument(alternate());
    expect(Object.isFrozen(doc.alternate)).toBe(true);
    const a = decodeSharedEntry(doc, 8, 3);
    expect(decodeSharedEntry(doc, 8, 3)).toBe(a);
    expect(a).toEqual(decodeEntry(alternate(), 8, 3));
  });

  it('decodes a document that is not frozen each time, so a change to it is seen', () => {
    const doc = alternate() as { location: { lun: number; start: number } };
    const first = decodeSharedEntry(doc, 8, 3);
    doc.location.lun = 5;
    const second = decodeSharedEntry(doc, 8, 3);
    expect(second).not.toBe(first);
    expect(E.isRight(second) && second.right.location?.lun).toBe(5);
  });

  it('does not share between geometries, and reports errors like decodeEntry', () => {
    const doc = freezeEntryDocument(alternate());
    expect(decodeSharedEntry(doc, 2, 3)).toEqual(decodeEntry(alternate(), 2, 3));
    expect(E.isLeft(decodeSharedEntry(doc, 2, 3))).toBe(true);
    expect(E.isRight(decodeSharedEntry(doc, 8, 3))).toBe(true);
    expect(decodeSharedEntry(null, 8, 0)).toEqual(decodeEntry(null, 8, 0));
  });
});

describe('decodeSharedTable', () => {
  const table = E.getOrElseW(() => {
    throw new Error('bad table');
  })(createTable({ segmentBlocks: 8, segmentCount: 4, generation: 3, entries: () => ({ zero: true }) }));

  it('shares the decoding of a frozen document, equal to a fresh one', () => {
    const doc = freezeTableDocument(encodeTable(table));
    const a = decodeSharedTable(doc);
    expect(decodeSharedTable(doc)).toBe(a);
    expect(a).toEqual(decodeTable(encodeTable(table)));
  });

  it('decodes each time a document it did not freeze itself, even a frozen one', () => {
    const doc = encodeTable(table);
    Object.freeze(doc);
    expect(decodeSharedTable(doc)).not.toBe(decodeSharedTable(doc));
    const entry = Object.freeze(alternate());
    expect(decodeSharedEntry(entry, 8, 3)).not.toBe(decodeSharedEntry(entry, 8, 3));
  });
});
