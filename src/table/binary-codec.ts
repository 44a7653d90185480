/**
 * The binary form of mapping tables: for whole tables that travel or are stored (replacement
 * tables, persistence checkpoints), where the JSON document of `codec.ts` costs too much to
 * write, send and validate.
 *
 * The layout is the table's own memory, in little-endian 32-bit words, so that decoding is a
 * copy and one validating pass, with no object per segment:
 *
 *   header     9 words: magic "VDMT" (bytes), version, segmentBlocks, segmentCount (low, high),
 *              generation (low, high), alternateCount (low, high)
 *   records    4 words per segment, as in a chunk's `rec`: flags | slot << 8, primary LUN,
 *              primary start (low, high). The slot numbers a chunk's alternates 0, 1, ... in
 *              segment order; a segment without an alternate has slot 0, one without a location
 *              has LUN and start 0.
 *   alternates `altStride(segmentBlocks)` words per alternate, segment order: LUN, start (low,
 *              high), then the bitmap's words when they are stored inline (segments of at most
 *              1,024 blocks)
 *   bitmaps    only for bigger segments: each alternate's bitmap words, same order
 *   checksum   CRC-32C of every byte before it, header and lengths included
 *
 * A variable table (segments of differing sizes) is written as version 2
 * ({@link TABLE_BINARY_VARIABLE_VERSION}): `segmentBlocks` is 0, alternates are 3 words (no
 * inline bitmap), every alternate's bitmap is in the bitmaps section at its own segment's size
 * (`ceil(length / 32)` words), and a lengths section of one word per segment comes between the
 * bitmaps and the checksum. Uniform tables keep writing version 1, byte for byte as before.
 *
 * A uniform table with a grain above 1 (`grainBlocks`) is written as version 3
 * ({@link TABLE_BINARY_GRAIN_VERSION}): version 1's layout plus one word, the grain, between the
 * bitmaps and the checksum. A reader that knows only versions 1 and 2 refuses it by its version
 * rather than lose the grain; tables without a grain keep writing version 1.
 *
 * A table without alternates takes 16 bytes per segment plus 40. CRC-32C detects every error
 * burst of up to 32 bits, so any corrupted byte; lengths are checked against the buffer before
 * anything is allocated, so truncation and absurd counts are errors too.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { MAX_BITMAP_SIZE, type Bitmap } from '../bitmap/bitmap.js';
import { show, type ValidationError } from '../errors.js';
import { MAX_DECODE_ERRORS } from './codec.js';
import { crc32c } from './crc32c.js';
import { lunSize, lunSizesErrors } from './entry.js';
import {
  ALT_HEADER,
  altStride,
  assembleTable,
  CHUNK_SIZE,
  chunkFrozen,
  F_ERROR,
  F_HAS_ALTERNATE,
  F_HAS_LOCATION,
  F_INVALID,
  F_NO_WRITE,
  F_ZERO,
  FLAG_MASK,
  FLAT_MAX_SEGMENTS,
  frozenHead,
  MAX_SEGMENT_COUNT,
  REC_WORDS,
  SLOT_SHIFT,
  TWO_POW_32,
  type Chunk,
  type MappingTable,
  type TableOptions,
} from './table.js';
import { startsFromLengths } from './segments.js';
import { partialGrain } from './grain.js';
import { tableEntries } from './query.js';

/**
 * The version of the binary table form this library writes and reads; {@link decodeTableBinary}
 * refuses any other, naming `header.version`.
 *
 * @example
 * new DataView(encodeTableBinary(table).buffer).getUint32(4, true) === TABLE_BINARY_VERSION // true
 */
export const TABLE_BINARY_VERSION = 1;

/**
 * The version of the binary form of a variable table (layout in this module's comment).
 *
 * @example
 * new DataView(encodeTableBinary(variableTable).buffer).getUint32(4, true) === TABLE_BINARY_VARIABLE_VERSION // true
 */
export const TABLE_BINARY_VARIABLE_VERSION = 2;

/**
 * The version of the binary form of a uniform table with a grain above 1 (layout in this
 * module's comment).
 *
 * @example
 * new DataView(encodeTableBinary(grainedTable).buffer).getUint32(4, true) === TABLE_BINARY_GRAIN_VERSION // true
 */
export const TABLE_BINARY_GRAIN_VERSION = 3;

/** "VDMT" */
const MAGIC = [0x56, 0x44, 0x4d, 0x54] as const;
const HEADER_WORDS = 9;
const HEADER_BYTES = HEADER_WORDS * 4;
const CHECKSUM_BYTES = 4;
const RECORD_BYTES = REC_WORDS * 4;
const KNOWN_FLAGS = F_INVALID | F_NO_WRITE | F_ZERO | F_ERROR | F_HAS_LOCATION | F_HAS_ALTERNATE;
/** Starts whose high word is below this leave room for any segment below 2^53. */
const SAFE_START_HIGH = 0x1fffff;

const LITTLE_ENDIAN = /* @__PURE__ */ (() => new Uint8Array(new Uint32Array([1]).buffer)[0] === 1)();

const swapWords = (words: Uint32Array): void => {
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    words[i] = ((w << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24)) >>> 0;
  }
};

/** Words per alternate in the bitmaps section: 0 when the bitmaps are inline in the slots. */
const outOfLineWords = (segmentBlocks: number): number => (altStride(segmentBlocks) > ALT_HEADER ? 0 : (segmentBlocks + 31) >>> 5);

/** Bytes of the whole form, in doubles (exact far beyond any buffer), so absurd counts compare instead of overflowing. */
const formBytes = (segmentBlocks: number, segmentCount: number, alternateCount: number): number =>
  HEADER_BYTES + segmentCount * RECORD_BYTES + alternateCount * 4 * (altStride(segmentBlocks) + outOfLineWords(segmentBlocks)) + CHECKSUM_BYTES;

/** Bytes of the version 2 form: lengths take a word per segment, bitmaps their own words. */
const variableFormBytes = (segmentCount: number, alternateCount: number, bitmapWords: number): number =>
  HEADER_BYTES + segmentCount * (RECORD_BYTES + 4) + alternateCount * 4 * ALT_HEADER + bitmapWords * 4 + CHECKSUM_BYTES;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/**
 * The binary form of `table` (layout in this module's comment): about 16 bytes per segment plus
 * the alternates, encoded and decoded many times faster than the JSON document, checksummed.
 * Equal tables give identical bytes.
 *
 * @example
 * const bytes = encodeTableBinary(table); // Uint8Array
 * E.map((t: MappingTable) => tablesEqual(t, table))(decodeTableBinary(bytes)) // Right(true)
 */
export const encodeTableBinary = (table: MappingTable): Uint8Array => {
  const { segmentBlocks, segmentCount } = table;
  const starts = table.segmentStarts;
  const stride = altStride(segmentBlocks);
  const extraOf = (s: number): number => (starts === null ? outOfLineWords(segmentBlocks) : (starts[s + 1]! - starts[s]! + 31) >>> 5);
  let alternates = 0;
  let bitmapWords = 0;
  table.chunks.forEach((c, ci) => {
    if (c.alt !== null)
      for (let r = 0; r < c.rec.length; r += REC_WORDS)
        if ((c.rec[r]! & F_HAS_ALTERNATE) !== 0) {
          alternates++;
          bitmapWords += extraOf(ci * CHUNK_SIZE + r / REC_WORDS);
        }
  });
  const grained = table.grainBlocks !== 1;
  const bytes =
    starts === null ? formBytes(segmentBlocks, segmentCount, alternates) + (grained ? 4 : 0) : variableFormBytes(segmentCount, alternates, bitmapWords);
  const out = new Uint8Array(bytes);
  const words = new Uint32Array(out.buffer);
  out.set(MAGIC, 0);
  words[1] = starts !== null ? TABLE_BINARY_VARIABLE_VERSION : grained ? TABLE_BINARY_GRAIN_VERSION : TABLE_BINARY_VERSION;
  words[2] = segmentBlocks;
  words[3] = segmentCount >>> 0;
  words[4] = Math.floor(segmentCount / TWO_POW_32);
  words[5] = table.generation >>> 0;
  words[6] = Math.floor(table.generation / TWO_POW_32);
  words[7] = alternates >>> 0;
  words[8] = Math.floor(alternates / TWO_POW_32);
  let r = HEADER_WORDS;
  let a = HEADER_WORDS + segmentCount * REC_WORDS;
  let b = a + alternates * stride;
  table.chunks.forEach((c, ci) => {
    words.set(c.rec, r);
    // A chunk frozen by its table's bit: the form carries the flags (decoding gives no bit).
    if (chunkFrozen(table, ci)) for (let w = r; w < r + c.rec.length; w += REC_WORDS) words[w] = frozenHead(words[w]!);
    if (c.alt !== null) {
      // Renumber the slots in segment order, whatever order the chunk holds them in.
      let next = 0;
      for (let i = 0; i < c.size; i++) {
        const head = words[r + i * REC_WORDS]!;
        if ((head & F_HAS_ALTERNATE) === 0) continue;
        const slot = head >>> SLOT_SHIFT;
        words[r + i * REC_WORDS] = ((head & FLAG_MASK) | (next++ << SLOT_SHIFT)) >>> 0;
        words.set(c.alt.subarray(slot * stride, (slot + 1) * stride), a);
        a += stride;
        const extra = extraOf(ci * CHUNK_SIZE + i);
        if (extra > 0) {
          words.set(c.bitmaps![slot]!.words, b);
          b += extra;
        }
      }
    }
    r += c.size * REC_WORDS;
  });
  if (starts !== null) for (let seg = 0; seg < segmentCount; seg++) words[b + seg] = starts[seg + 1]! - starts[seg]!;
  if (grained) words[words.length - 2] = table.grainBlocks;
  words[words.length - 1] = 0; // the checksum, written once the words are in byte order
  if (!LITTLE_ENDIAN) swapWords(words.subarray(1));
  new DataView(out.buffer).setUint32(out.length - CHECKSUM_BYTES, crc32c(out, 0, out.length - CHECKSUM_BYTES), true);
  return out;
};

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const describe = (value: unknown): string => {
  try {
    const text = show(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return 'an unreadable value';
  }
};

const makeError = (field: string, value: unknown, requirement: string, segment?: number): ValidationError => {
  const where = segment === undefined ? '' : `segment ${segment}: `;
  const message = `${where}${field === '' ? 'the buffer' : field} ${requirement}, got ${describe(value)}`;
  return segment === undefined ? { field, value, message } : { segment, field, value, message };
};

const hex = (x: number): string => `0x${x.toString(16).padStart(8, '0')}`;

/** Copies `words.length` little-endian words from `bytes` at `offset` into `words`. */
const readWords = (bytes: Uint8Array, offset: number, words: Uint32Array): void => {
  new Uint8Array(words.buffer, words.byteOffset, words.byteLength).set(bytes.subarray(offset, offset + words.byteLength));
  if (!LITTLE_ENDIAN) swapWords(words);
};

interface Header {
  /** Version 2: a variable table, with a lengths section. */
  readonly variable: boolean;
  /** Blocks per alternate bit: the word before the checksum in version 3, else 1. */
  readonly grainBlocks: number;
  readonly segmentBlocks: number;
  readonly segmentCount: number;
  readonly generation: number;
  readonly alternateCount: number;
}

/** The header, once its fields, the buffer's length and the checksum are right. */
const readHeader = (bytes: Uint8Array, errors: ValidationError[]): Header | undefined => {
  const length = bytes.length;
  if (length >= MAGIC.length && MAGIC.some((m, i) => bytes[i] !== m)) {
    const found = Array.from(bytes.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
    errors.push(makeError('header.magic', found, 'must be the bytes 56 44 4d 54 ("VDMT"): this is not a vdisk-map binary table'));
    return undefined;
  }
  if (length < HEADER_BYTES + CHECKSUM_BYTES) {
    errors.push(makeError('', length, `must hold at least ${HEADER_BYTES + CHECKSUM_BYTES} bytes (a header and a checksum); its length`));
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const word = (i: number): number => view.getUint32(i * 4, true);
  const version = word(1);
  if (version !== TABLE_BINARY_VERSION && version !== TABLE_BINARY_VARIABLE_VERSION && version !== TABLE_BINARY_GRAIN_VERSION) {
    errors.push(
      makeError(
        'header.version',
        version,
        `must be ${TABLE_BINARY_VERSION} (uniform), ${TABLE_BINARY_VARIABLE_VERSION} (variable) or ${TABLE_BINARY_GRAIN_VERSION} (uniform with a grain), the binary table versions this library reads`,
      ),
    );
    return undefined;
  }
  const variable = version === TABLE_BINARY_VARIABLE_VERSION;
  const grainWords = version === TABLE_BINARY_GRAIN_VERSION ? 1 : 0;
  const segmentBlocks = word(2);
  const segmentCount = word(3) + word(4) * TWO_POW_32;
  const generation = word(5) + word(6) * TWO_POW_32;
  const alternateCount = word(7) + word(8) * TWO_POW_32;
  if (variable) {
    if (segmentBlocks !== 0) errors.push(makeError('header.segmentBlocks', segmentBlocks, 'must be 0 in a version 2 (variable) table'));
  } else if (segmentBlocks < 1 || segmentBlocks > MAX_BITMAP_SIZE)
    errors.push(makeError('header.segmentBlocks', segmentBlocks, `must be an integer from 1 to ${MAX_BITMAP_SIZE}`));
  if (segmentCount > MAX_SEGMENT_COUNT) errors.push(makeError('header.segmentCount', segmentCount, `must be at most ${MAX_SEGMENT_COUNT}`));
  if (!Number.isSafeInteger(generation)) errors.push(makeError('header.generation', generation, 'must be a safe integer (below 2^53)'));
  if (alternateCount > segmentCount)
    errors.push(makeError('header.alternateCount', alternateCount, `must be at most the segment count, ${segmentCount}`));
  if (errors.length > 0) return undefined;
  // Lengths before the checksum: a wrong length says where the checksum is no better than a wrong byte.
  const recordsEnd = HEADER_BYTES + segmentCount * (variable ? RECORD_BYTES + 4 : RECORD_BYTES) + grainWords * 4 + CHECKSUM_BYTES;
  // A variable table's exact size depends on its lengths: here only its least (one word per bitmap).
  const total = variable ? variableFormBytes(segmentCount, alternateCount, alternateCount) : formBytes(segmentBlocks, segmentCount, alternateCount) + grainWords * 4;
  if (recordsEnd > length)
    errors.push(makeError('header.segmentCount', segmentCount, `declares records of ${recordsEnd - HEADER_BYTES - CHECKSUM_BYTES} bytes, more than the buffer of ${length} bytes holds`));
  else if (total > length)
    errors.push(makeError('header.alternateCount', alternateCount, `declares a table of ${total} bytes, more than the buffer of ${length} bytes holds`));
  else if (total < length && !variable) errors.push(makeError('', length, `must be exactly the ${total} bytes its header declares; its length`));
  if (errors.length > 0) return undefined;
  const stored = view.getUint32(length - CHECKSUM_BYTES, true);
  const actual = crc32c(bytes, 0, length - CHECKSUM_BYTES);
  if (stored !== actual) {
    errors.push(makeError('checksum', hex(stored), `must be the CRC-32C of the ${length - CHECKSUM_BYTES} bytes before it, ${hex(actual)}: the buffer is corrupted`));
    return undefined;
  }
  const grainBlocks = grainWords === 0 ? 1 : view.getUint32(length - CHECKSUM_BYTES - 4, true);
  // Version 3 exists for grains above 1: a grain of 1 there would give two forms of one table.
  if (grainWords > 0 && (grainBlocks < 2 || segmentBlocks % grainBlocks !== 0)) {
    errors.push(makeError('grainBlocks', grainBlocks, `must be a divisor of segmentBlocks ${segmentBlocks} above 1 in a version 3 table`));
    return undefined;
  }
  return { variable, grainBlocks, segmentBlocks, segmentCount, generation, alternateCount };
};

/** A version 2 table's lengths section (just before the checksum), each checked; null after an error. */
const readLengths = (bytes: Uint8Array, segmentCount: number, errors: ValidationError[]): Uint32Array | null => {
  const lengths = new Uint32Array(segmentCount);
  readWords(bytes, bytes.length - CHECKSUM_BYTES - segmentCount * 4, lengths);
  for (let s = 0; s < segmentCount && errors.length < MAX_DECODE_ERRORS; s++)
    if (lengths[s]! < 1 || lengths[s]! > MAX_BITMAP_SIZE)
      errors.push(makeError(`lengths[${s}]`, lengths[s], `must be a segment length (an integer from 1 to ${MAX_BITMAP_SIZE})`, s));
  return errors.length > 0 ? null : lengths;
};

/** True when blocks `start .. start + length - 1` are all below 2^53. */
const startFits = (low: number, high: number, length: number): boolean =>
  high < SAFE_START_HIGH || low + high * TWO_POW_32 <= Number.MAX_SAFE_INTEGER - (length - 1);

/** Everything wrong with a record that is not plain "location, nothing else" (the common case is checked inline). */
const checkRecord = (rec: Uint32Array, r: number, s: number, slot: number, segmentBlocks: number, errors: ValidationError[]): void => {
  const head = rec[r]!;
  const flags = head & FLAG_MASK;
  const at = `records[${s}]`;
  if ((flags & ~KNOWN_FLAGS) !== 0)
    errors.push(makeError(`${at}.flags`, flags, `must use only the flag bits ${KNOWN_FLAGS.toString(2)} (invalid, noWrite, zero, error, location, alternate)`, s));
  const hasAlternate = (flags & F_HAS_ALTERNATE) !== 0;
  if ((head >>> SLOT_SHIFT) !== (hasAlternate ? slot : 0))
    errors.push(
      makeError(`${at}.slot`, head >>> SLOT_SHIFT, hasAlternate ? `must be ${slot}, the number of alternates before it in its chunk` : 'must be 0: the segment has no alternate', s),
    );
  if ((flags & F_HAS_LOCATION) !== 0) {
    if (!startFits(rec[r + 2]!, rec[r + 3]!, segmentBlocks))
      errors.push(makeError(`${at}.start`, rec[r + 2]! + rec[r + 3]! * TWO_POW_32, `must leave room for ${segmentBlocks} blocks below 2^53`, s));
  } else {
    if ((flags & (F_INVALID | F_ZERO)) === 0)
      errors.push(makeError(`${at}.flags`, flags, 'must have the location bit (16) unless the entry is invalid (1) or zero (4)', s));
    if (rec[r + 1] !== 0) errors.push(makeError(`${at}.lun`, rec[r + 1], 'must be 0: the segment has no location', s));
    if (rec[r + 2] !== 0 || rec[r + 3] !== 0)
      errors.push(makeError(`${at}.start`, rec[r + 2]! + rec[r + 3]! * TWO_POW_32, 'must be 0: the segment has no location', s));
  }
};

/** Checks the bits past `segmentBlocks` in the last word of a bitmap are clear. */
const tailClear = (words: Uint32Array, last: number, segmentBlocks: number): boolean =>
  (segmentBlocks & 31) === 0 || words[last]! >>> (segmentBlocks & 31) === 0;

/** Each record's checks, chunk by chunk; builds the chunks (alternates come later). Returns alternates per chunk. */
const checkRecords = (rec: ReadonlyArray<Uint32Array>, lengthOf: (s: number) => number, errors: ValidationError[]): Uint32Array => {
  const perChunk = new Uint32Array(rec.length);
  for (let ci = 0; ci < rec.length; ci++) {
    const words = rec[ci]!;
    const base = ci * CHUNK_SIZE;
    let slot = 0;
    for (let r = 0; r < words.length; r += REC_WORDS) {
      const head = words[r]!;
      // The common record: a location and nothing else, at a start that leaves room for the segment.
      if (head === F_HAS_LOCATION && words[r + 3]! < SAFE_START_HIGH) continue;
      const flags = head & FLAG_MASK;
      const hasAlternate = (flags & F_HAS_ALTERNATE) !== 0;
      // Only a record that fails this quick test is looked at closely (a start just below 2^53 may still be right).
      const plausible =
        (flags & ~KNOWN_FLAGS) === 0 &&
        head >>> SLOT_SHIFT === (hasAlternate ? slot : 0) &&
        ((flags & F_HAS_LOCATION) !== 0
          ? words[r + 3]! < SAFE_START_HIGH
          : (flags & (F_INVALID | F_ZERO)) !== 0 && words[r + 1] === 0 && words[r + 2] === 0 && words[r + 3] === 0);
      if (!plausible && errors.length < MAX_DECODE_ERRORS) checkRecord(words, r, base + r / REC_WORDS, slot, lengthOf(base + r / REC_WORDS), errors);
      if (hasAlternate) slot++;
    }
    perChunk[ci] = slot;
  }
  return perChunk;
};

/** The segment of the `k`th alternate (for error messages only). */
const segmentOfAlternate = (rec: ReadonlyArray<Uint32Array>, k: number): number => {
  let seen = 0;
  for (let ci = 0; ci < rec.length; ci++)
    for (let r = 0; r < rec[ci]!.length; r += REC_WORDS)
      if ((rec[ci]![r]! & F_HAS_ALTERNATE) !== 0 && seen++ === k) return ci * CHUNK_SIZE + r / REC_WORDS;
  return -1;
};

/** Extents against the declared LUN sizes, as `createTable` checks them. */
const checkLunSizes = (
  rec: ReadonlyArray<Uint32Array>,
  alt: Uint32Array,
  stride: number,
  lengthOf: (s: number) => number,
  sizes: NonNullable<TableOptions['lunSizes']>,
  errors: ValidationError[],
): void => {
  const check = (field: string, lun: number, start: number, segment: number): void => {
    const size = lunSize(sizes, lun);
    const needs = lengthOf(segment);
    if (size === undefined) errors.push(makeError(`${field}.lun`, lun, 'must be one of the declared LUNs', segment));
    else if (start + needs > size)
      errors.push(makeError(field, { lun, start }, `must end inside its LUN of ${size} blocks (needs ${needs} blocks)`, segment));
  };
  let k = 0;
  for (let ci = 0; ci < rec.length && errors.length < MAX_DECODE_ERRORS; ci++) {
    const words = rec[ci]!;
    for (let r = 0; r < words.length && errors.length < MAX_DECODE_ERRORS; r += REC_WORDS) {
      const s = ci * CHUNK_SIZE + r / REC_WORDS;
      if ((words[r]! & F_HAS_LOCATION) !== 0) check(`records[${s}]`, words[r + 1]!, words[r + 2]! + words[r + 3]! * TWO_POW_32, s);
      if ((words[r]! & F_HAS_ALTERNATE) !== 0) {
        const a = k++ * stride;
        check(`alternates[${k - 1}]`, alt[a]!, alt[a + 1]! + alt[a + 2]! * TWO_POW_32, s);
      }
    }
  }
};

/**
 * The records, straight from the buffer: one array when the table is small enough (like
 * `createTable`), each chunk's records a view of it, else one array per chunk.
 */
const readRecordWords = (bytes: Uint8Array, segmentCount: number, chunkCount: number): { flat: Uint32Array | null; rec: Uint32Array[] } => {
  const flat = segmentCount > 0 && segmentCount <= FLAT_MAX_SEGMENTS ? new Uint32Array(segmentCount * REC_WORDS) : null;
  if (flat !== null) readWords(bytes, HEADER_BYTES, flat);
  const rec: Uint32Array[] = [];
  for (let ci = 0; ci < chunkCount; ci++) {
    const from = ci * CHUNK_SIZE * REC_WORDS;
    const to = Math.min(segmentCount, (ci + 1) * CHUNK_SIZE) * REC_WORDS;
    if (flat !== null) rec.push(flat.subarray(from, to));
    else {
      const words = new Uint32Array(to - from);
      readWords(bytes, HEADER_BYTES + from * 4, words);
      rec.push(words);
    }
  }
  return { flat, rec };
};

/** The chunks of checked records: each takes its `perChunk` alternates, in order, as a view of `alt`. */
const chunksOf = (rec: ReadonlyArray<Uint32Array>, perChunk: ArrayLike<number>, alt: Uint32Array, outOfLine: Uint32Array, segmentBlocks: number, bits: AlternateBits): Chunk[] => {
  const stride = altStride(segmentBlocks);
  const chunks: Chunk[] = new Array<Chunk>(rec.length);
  let k = 0;
  for (let ci = 0; ci < rec.length; ci++) {
    const n = perChunk[ci]!;
    const size = rec[ci]!.length / REC_WORDS;
    let bitmaps: Bitmap[] | null = null;
    if (n > 0 && bits.outOfLine) {
      bitmaps = [];
      for (let j = k; j < k + n; j++) bitmaps.push(B.unsafeFromWords(bitsSize(bits, j), outOfLine.slice(bitsAt(bits, j), bitsAt(bits, j + 1))));
    }
    chunks[ci] = { size, rec: rec[ci]!, alt: n === 0 ? null : alt.subarray(k * stride, (k + n) * stride), bitmaps };
    k += n;
  }
  return chunks;
};

/**
 * Where each alternate's bitmap is: inline in its slot, or in the bitmaps section (`outOfLine`)
 * from word `bitsAt(k)` to `bitsAt(k + 1)`, of `bitsSize(k)` blocks. A uniform table's bitmaps
 * are all `segmentBlocks` long, so only a variable table keeps the positions in arrays.
 */
interface AlternateBits {
  readonly outOfLine: boolean;
  readonly segmentBlocks: number;
  /** Variable tables only: the first word of each bitmap, and one past the last. */
  readonly at: Float64Array | null;
  /** Variable tables only: each bitmap's size in blocks. */
  readonly size: Uint32Array | null;
}

const bitsAt = (bits: AlternateBits, k: number): number => (bits.at === null ? k * outOfLineWords(bits.segmentBlocks) : bits.at[k]!);
const bitsSize = (bits: AlternateBits, k: number): number => (bits.size === null ? bits.segmentBlocks : bits.size[k]!);

/** The bitmaps of the `alternateCount` alternates, in segment order. */
const alternateBits = (rec: ReadonlyArray<Uint32Array>, alternateCount: number, segmentBlocks: number, lengthOf: (s: number) => number, variable: boolean): AlternateBits => {
  if (!variable) return { outOfLine: outOfLineWords(segmentBlocks) > 0, segmentBlocks, at: null, size: null };
  const at = new Float64Array(alternateCount + 1);
  const size = new Uint32Array(alternateCount);
  let k = 0;
  for (let ci = 0; ci < rec.length; ci++)
    for (let r = 0; r < rec[ci]!.length && k < alternateCount; r += REC_WORDS)
      if ((rec[ci]![r]! & F_HAS_ALTERNATE) !== 0) {
        size[k] = lengthOf(ci * CHUNK_SIZE + r / REC_WORDS);
        at[k + 1] = at[k]! + ((size[k]! + 31) >>> 5);
        k++;
      }
  return { outOfLine: true, segmentBlocks, at, size };
};

/**
 * Each alternate's start and the tail of its bitmap. A loop of its own (not inline in
 * `decodeChecked`, which runs once per table and would run it unoptimized).
 */
const checkAlternates = (rec: ReadonlyArray<Uint32Array>, alt: Uint32Array, outOfLine: Uint32Array, stride: number, alternateCount: number, bits: AlternateBits, errors: ValidationError[]): void => {
  for (let k = 0; k < alternateCount && errors.length < MAX_DECODE_ERRORS; k++) {
    const a = k * stride;
    const size = bitsSize(bits, k);
    if (!startFits(alt[a + 1]!, alt[a + 2]!, size)) {
      const s = segmentOfAlternate(rec, k);
      errors.push(makeError(`alternates[${k}].start`, alt[a + 1]! + alt[a + 2]! * TWO_POW_32, `must leave room for ${size} blocks below 2^53`, s));
    }
    const words = bits.outOfLine ? outOfLine : alt;
    const last = bits.outOfLine ? bitsAt(bits, k + 1) - 1 : a + ALT_HEADER + ((size + 31) >>> 5) - 1;
    if (!tailClear(words, last, size)) {
      const s = segmentOfAlternate(rec, k);
      const field = bits.outOfLine ? `bitmaps[${k}]` : `alternates[${k}].blocks`;
      errors.push(makeError(field, hex(words[last]!), `must have no bit set past block ${size - 1} in its last word`, s));
    }
  }
};

const decodeChecked = (bytes: Uint8Array, options: TableOptions, errors: ValidationError[]): E.Either<ValidationError[], MappingTable> => {
  const h = readHeader(bytes, errors);
  if (h === undefined) return E.left(errors);
  const { segmentBlocks, segmentCount, alternateCount } = h;
  const lengths = h.variable ? readLengths(bytes, segmentCount, errors) : null;
  if (errors.length > 0) return E.left(errors);
  const lengthOf = lengths === null ? () => segmentBlocks : (s: number) => lengths[s]!;
  const chunkCount = Math.ceil(segmentCount / CHUNK_SIZE);
  const { flat, rec } = readRecordWords(bytes, segmentCount, chunkCount);
  const perChunk = checkRecords(rec, lengthOf, errors);
  let total = 0;
  for (let ci = 0; ci < chunkCount; ci++) total += perChunk[ci]!;
  if (total !== alternateCount && errors.length < MAX_DECODE_ERRORS)
    errors.push(makeError('header.alternateCount', alternateCount, `must equal the number of records with an alternate, ${total}`));
  if (errors.length > 0) return E.left(errors.slice(0, MAX_DECODE_ERRORS));

  const stride = altStride(segmentBlocks);
  const bits = alternateBits(rec, alternateCount, segmentBlocks, lengthOf, h.variable);
  const bitmapWords = bits.outOfLine ? bitsAt(bits, alternateCount) : 0;
  if (h.variable && variableFormBytes(segmentCount, alternateCount, bitmapWords) !== bytes.length)
    return E.left([makeError('', bytes.length, `must be exactly the ${variableFormBytes(segmentCount, alternateCount, bitmapWords)} bytes its header and lengths declare; its length`)]);
  const altOffset = HEADER_BYTES + segmentCount * RECORD_BYTES;
  const alt = new Uint32Array(alternateCount * stride);
  readWords(bytes, altOffset, alt);
  const outOfLine = new Uint32Array(bitmapWords);
  readWords(bytes, altOffset + alt.byteLength, outOfLine);
  checkAlternates(rec, alt, outOfLine, stride, alternateCount, bits, errors);
  errors.push(...lunSizesErrors(options.lunSizes));
  if (options.lunSizes !== undefined && errors.length === 0) checkLunSizes(rec, alt, stride, lengthOf, options.lunSizes, errors);
  if (errors.length > 0) return E.left(errors.slice(0, MAX_DECODE_ERRORS));

  const chunks = chunksOf(rec, perChunk, alt, outOfLine, segmentBlocks, bits);
  const base = new Uint32Array(chunkCount);
  for (let ci = 1; ci < chunkCount; ci++) base[ci] = base[ci - 1]! + perChunk[ci - 1]!;
  const starts = lengths === null ? null : startsFromLengths(lengths);
  const table = assembleTable(segmentBlocks, segmentCount, h.generation, chunks, flat, flat === null ? null : { slots: alt, base }, starts, h.grainBlocks);
  if (h.grainBlocks > 1) checkGrains(table, errors);
  return errors.length > 0 ? E.left(errors.slice(0, MAX_DECODE_ERRORS)) : E.right(table);
};

/** Errors for the alternates of a grained table that set part of a grain, as `createTable` refuses them. */
const checkGrains = (table: MappingTable, errors: ValidationError[]): void => {
  let k = 0;
  for (const [s, e] of tableEntries(table)) {
    if (e.alternate === null) continue;
    const at = partialGrain(e.alternate.blocks, table.grainBlocks);
    if (at >= 0 && errors.length < MAX_DECODE_ERRORS)
      errors.push(makeError(`alternates[${k}].blocks`, B.format(e.alternate.blocks), `must set or clear whole grains of ${table.grainBlocks} blocks (the grain at offset ${at} is partial)`, s));
    k++;
  }
};

/**
 * Reads the binary form of {@link encodeTableBinary} back into a table, straight into the
 * table's records (no object per segment). Checks, in this order: the input is a `Uint8Array`,
 * the magic bytes, `header.version`, the header's fields, that the declared sizes match the
 * buffer's length exactly (before allocating anything), the CRC-32C, then every record and
 * alternate by the rules of `createTable` (including `options.lunSizes`). Never throws. Errors
 * are like `decodeTable`'s: at most 100, each with the path of the offending field
 * (`header.segmentCount`, `records[12].flags`, `alternates[3].start`, `checksum`), the segment
 * when it concerns one, and the value.
 *
 * @example
 * decodeTableBinary(encodeTableBinary(table)) // Right(a table equal to `table`, same generation)
 * decodeTableBinary(new Uint8Array(8))
 * // Left([{ field: 'header.magic', value: '00 00 00 00', message: 'header.magic must be the bytes 56 44 4d 54 ...' }])
 */
export const decodeTableBinary = (bytes: unknown, options: TableOptions = {}): E.Either<ValidationError[], MappingTable> => {
  if (!(bytes instanceof Uint8Array))
    return E.left([makeError('', typeof bytes === 'object' && bytes !== null ? Object.prototype.toString.call(bytes) : bytes, 'must be a Uint8Array (the output of encodeTableBinary)')]);
  const errors: ValidationError[] = [];
  try {
    return decodeChecked(bytes, options ?? {}, errors);
  } catch (thrown) {
    // Out of memory for a table the buffer really holds, or a detached buffer: still a value.
    const why = thrown instanceof Error ? thrown.message : 'a non-Error value was thrown';
    return E.left([...errors.slice(0, MAX_DECODE_ERRORS - 1), { field: '', value: undefined, message: `the buffer could not be decoded (${why})` }]);
  }
};
