import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { readControllerMessage, readDropMark } from '../../src/protocol/messages.js';

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

describe('readDropMark', () => {
  const LIMIT = 2 ** 48;
  it('absent (an older agent) or a safe integer from -1 with generation -1', () => {
    expect(readDropMark({ generation: -1 }, LIMIT)).toEqual(E.right(undefined));
    expect(readDropMark({ generation: 4 }, LIMIT)).toEqual(E.right(undefined));
    expect(readDropMark({ generation: -1, dropMark: -1 }, LIMIT)).toEqual(E.right(-1));
    expect(readDropMark({ generation: -1, dropMark: 7 }, LIMIT)).toEqual(E.right(7));
  });

  it('names the field and the value of anything else', () => {
    for (const [m, value, words] of [
      [{ generation: 3, dropMark: 7 }, 7, 'generation -1, not 3'],
      [{ generation: -1, dropMark: -2 }, -2, 'from -1'],
      [{ generation: -1, dropMark: 1.5 }, 1.5, 'safe integer'],
      [{ generation: -1, dropMark: '7' }, '7', 'safe integer'],
      [{ generation: -1, dropMark: LIMIT }, LIMIT, `below ${LIMIT}`],
    ] as const) {
      const read = readDropMark(m, LIMIT);
      expect(E.isLeft(read) && [read.left.field, read.left.value]).toEqual(['dropMark', value]);
      expect(E.isLeft(read) && read.left.message).toContain(words);
      expect(E.isLeft(read) && read.left.message).toContain(`got ${JSON.stringify(value)}`);
    }
  });
});
