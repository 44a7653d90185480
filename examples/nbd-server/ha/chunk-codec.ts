/**
 * The compact binary form of a run of table entries, as the etcd table store keeps them: one
 * etcd value per chunk of segments (docs/design.md#mapping-entries for what an entry means).
 *
 * Layout, every number an unsigned LEB128 varint:
 *
 *   version (1), entryCount, then per entry:
 *     flags byte: 1 invalid, 2 noWrite, 4 zero, 8 error, 16 location, 32 alternate,
 *                 64 "location follows the previous one" (same LUN, start = previous start +
 *                 segmentBlocks: a freshly allocated disk costs one byte per segment)
 *     location (unless flag 64): lun, start
 *     alternate: lun, start, runCount, then per run of set blocks: gap from the end of the
 *                previous run, length
 *
 * Values are read back into {@link EntryDocument}s, which `decodeTable` then validates: this
 * module checks the framing only (truncation, trailing bytes, unknown flags).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { EntryDocument } from '../../../src/index.js';

const VERSION = 1;
const F_INVALID = 1;
const F_NO_WRITE = 2;
const F_ZERO = 4;
const F_ERROR = 8;
const F_LOCATION = 16;
const F_ALTERNATE = 32;
const F_SEQUENTIAL = 64;
const KNOWN_FLAGS = 127;

/** A growable byte buffer with varint writes. */
class Writer {
  private buf = new Uint8Array(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  /** Non-negative safe integers only (arithmetic, not bit operations, above 2^31). */
  varint(n: number): void {
    this.room(8);
    while (n >= 0x80) {
      this.buf[this.length++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.length++] = n;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Parses the bitmap text of an alternate ("2,7-8") into runs [start, length]. */
const runsOfText = (text: string): Array<[number, number]> => {
  if (text === '') return [];
  return text.split(',').map((part) => {
    const dash = part.indexOf('-');
    const a = Number(dash < 0 ? part : part.slice(0, dash));
    const b = dash < 0 ? a : Number(part.slice(dash + 1));
    return [a, b - a + 1];
  });
};

const textOfRuns = (runs: ReadonlyArray<readonly [number, number]>): string =>
  runs.map(([start, length]) => (length === 1 ? `${start}` : `${start}-${start + length - 1}`)).join(',');

/**
 * The bytes of `entries` (documents as `encodeEntry` writes them) for a table of
 * `segmentBlocks`-block segments.
 *
 * @example
 * encodeChunk([{ location: { lun: 1, start: 0 } }, { location: { lun: 1, start: 8 } }, { zero: true }], 8)
 * // Uint8Array [1, 3, 16, 1, 0, 80, 4]: the second location costs one byte
 */
export const encodeChunk = (entries: ReadonlyArray<EntryDocument>, segmentBlocks: number): Uint8Array => {
  const w = new Writer();
  w.byte(VERSION);
  w.varint(entries.length);
  let prevLun = -1;
  let prevStart = -1;
  for (const e of entries) {
    let flags = 0;
    if (e.invalid === true) flags |= F_INVALID;
    if (e.noWrite === true) flags |= F_NO_WRITE;
    if (e.zero === true) flags |= F_ZERO;
    if (e.error === true) flags |= F_ERROR;
    const loc = e.location ?? null;
    const alt = e.alternate ?? null;
    if (loc !== null) {
      flags |= F_LOCATION;
      if (loc.lun === prevLun && loc.start === prevStart + segmentBlocks) flags |= F_SEQUENTIAL;
    }
    if (alt !== null) flags |= F_ALTERNATE;
    w.byte(flags);
    if (loc !== null) {
      if ((flags & F_SEQUENTIAL) === 0) {
        w.varint(loc.lun);
        w.varint(loc.start);
      }
      prevLun = loc.lun;
      prevStart = loc.start;
    }
    if (alt !== null) {
      w.varint(alt.lun);
      w.varint(alt.start);
      const runs = runsOfText(alt.blocks);
      w.varint(runs.length);
      let end = 0;
      for (const [start, length] of runs) {
        w.varint(start - end);
        w.varint(length);
        end = start + length;
      }
    }
  }
  return w.bytes();
};

/**
 * The entry documents in `bytes`, or a message saying where the bytes are malformed.
 *
 * @example
 * decodeChunk(encodeChunk([{ zero: true }], 8), 8) // Right([{ zero: true }])
 */
export const decodeChunk = (bytes: Uint8Array, segmentBlocks: number): E.Either<string, EntryDocument[]> => {
  let pos = 0;
  const fail = (what: string): E.Either<string, EntryDocument[]> => E.left(`chunk byte ${pos}: ${what}`);
  const varint = (): number => {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (pos >= bytes.length) throw new RangeError('truncated varint');
      const b = bytes[pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('varint longer than a safe integer');
    }
  };
  try {
    if (bytes[pos++] !== VERSION) return fail(`unknown chunk version ${bytes[0]}`);
    const count = varint();
    if (count > bytes.length) return fail(`entry count ${count} exceeds the ${bytes.length} bytes of the chunk`);
    const entries: EntryDocument[] = new Array(count);
    let prevLun = -1;
    let prevStart = -1;
    for (let i = 0; i < count; i++) {
      if (pos >= bytes.length) return fail(`truncated at entry ${i} of ${count}`);
      const flags = bytes[pos++]!;
      if ((flags & ~KNOWN_FLAGS) !== 0) return fail(`entry ${i} has unknown flags ${flags}`);
      const e: {
        location?: { lun: number; start: number };
        invalid?: true;
        noWrite?: true;
        zero?: true;
        error?: true;
        alternate?: { lun: number; start: number; blocks: string };
      } = {};
      if ((flags & F_LOCATION) !== 0) {
        if ((flags & F_SEQUENTIAL) !== 0) {
          if (prevLun < 0) return fail(`entry ${i} follows a location, but no entry before it has one`);
          prevStart += segmentBlocks;
        } else {
          prevLun = varint();
          prevStart = varint();
        }
        e.location = { lun: prevLun, start: prevStart };
      } else if ((flags & F_SEQUENTIAL) !== 0) return fail(`entry ${i} is marked sequential without a location`);
      if ((flags & F_INVALID) !== 0) e.invalid = true;
      if ((flags & F_NO_WRITE) !== 0) e.noWrite = true;
      if ((flags & F_ZERO) !== 0) e.zero = true;
      if ((flags & F_ERROR) !== 0) e.error = true;
      if ((flags & F_ALTERNATE) !== 0) {
        const lun = varint();
        const start = varint();
        const runCount = varint();
        if (runCount > bytes.length) return fail(`entry ${i} claims ${runCount} runs`);
        const runs: Array<[number, number]> = [];
        let end = 0;
        for (let r = 0; r < runCount; r++) {
          const s = end + varint();
          const length = varint();
          runs.push([s, length]);
          end = s + length;
        }
        e.alternate = { lun, start, blocks: textOfRuns(runs) };
      }
      entries[i] = e;
    }
    if (pos !== bytes.length) return fail(`${bytes.length - pos} bytes after the last entry`);
    return E.right(entries);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
};
