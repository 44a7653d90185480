import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { readControllerMessage } from '../../src/protocol/messages.js';

describe('readControllerMessage', () => {
  it('keeps exactly the fields of the type, each read once', () => {
    let reads = 0;
    const raw = {
      type: 'retry',
      get epoch() {
        reads++;
        return 1;
      },
      faultId: 7,
      extra: 'dropped',
    };
    expect(readControllerMessage(raw)).toEqual(E.right({ type: 'retry', epoch: 1, faultId: 7 }));
    expect(reads).toBe(1);
    expect(readControllerMessage({ type: 'refreshTable', epoch: -1, disk: 'd', generation: 3 })._tag).toBe('Right');
    expect(readControllerMessage({ type: 'setEntries', epoch: 1, disk: 'd', fromGeneration: 1, generation: 2, changes: [] })).toEqual(
      E.right({ type: 'setEntries', epoch: 1, disk: 'd', fromGeneration: 1, generation: 2, changes: [] }),
    );
    expect(readControllerMessage({ type: 'setEntries', epoch: 1, disk: 'd', fromGeneration: 1, generation: 2, freeze: true, changes: [] })).toEqual(
      E.right({ type: 'setEntries', epoch: 1, disk: 'd', fromGeneration: 1, generation: 2, freeze: true, changes: [] }),
    );
  });

  it('names every bad field and its value', () => {
    const bad = readControllerMessage({ type: 'setEntries', epoch: -1, disk: 1, fromGeneration: 'x', generation: 2, freeze: 'yes', segmentCount: 1.5, changes: {} });
    expect(E.isLeft(bad) && bad.left.map((e) => [e.field, e.value])).toEqual([
      ['epoch', -1],
      ['disk', 1],
      ['fromGeneration', 'x'],
      ['segmentCount', 1.5],
      ['freeze', 'yes'],
      ['changes', {}],
    ]);
    for (const raw of [null, 'retry', { type: 'nope' }, new Proxy({}, { get: () => { throw new Error('trap'); } })]) {
      const r = readControllerMessage(raw);
      expect(E.isLeft(r) && r.left[0]!.message.length > 0).toBe(true);
    }
  });
});
