/**
 * CRC-32C (Castagnoli), the checksum of iSCSI, ext4 and Btrfs: it detects every error burst of up
 * to 32 bits, so any change confined to one byte (or four adjacent ones) of a checksummed buffer.
 * Implemented here because the library takes no runtime dependency for it.
 */

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;

/**
 * Slicing-by-16 tables, back to back in one array (16 KiB, so they stay in the L1 cache):
 * entry `256 * k + b` is the CRC of byte `b` followed by `k` zero bytes. Sixteen bytes then
 * cost sixteen independent table loads instead of sixteen dependent byte steps, which is what
 * makes the checksum of a 16 MiB table take milliseconds in JavaScript.
 *
 * The tables and the words are read as `Int32Array`s: only XOR, shifts and masks touch the
 * values, so signedness changes no result, and V8 keeps signed 32-bit values in registers
 * where unsigned ones above 2^31 cost it conversions (about 20% of the loop).
 */
const T = /* @__PURE__ */ ((): Int32Array => {
  const t = new Int32Array(16 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[b] = c;
  }
  for (let k = 1; k < 16; k++)
    for (let b = 0; b < 256; b++) {
      const prev = t[256 * (k - 1) + b]!;
      t[256 * k + b] = t[prev & 0xff]! ^ (prev >>> 8);
    }
  return t;
})();

/** Word loads read the buffer's bytes in little-endian order only on little-endian hosts. */
const LITTLE_ENDIAN = /* @__PURE__ */ (() => new Uint8Array(new Uint32Array([1]).buffer)[0] === 1)();

/** The CRC state after `count` aligned little-endian words of `v` from `w`. */
const words = (crc: number, v: Int32Array, w: number, count: number): number => {
  const end = w + count;
  for (const blockEnd = w + (count & ~3); w < blockEnd; w += 4) {
    const a = crc ^ v[w]!;
    const b = v[w + 1]!;
    const c = v[w + 2]!;
    const d = v[w + 3]!;
    crc =
      T[3840 + (a & 0xff)]! ^ T[3584 + ((a >>> 8) & 0xff)]! ^ T[3328 + ((a >>> 16) & 0xff)]! ^ T[3072 + (a >>> 24)]! ^
      T[2816 + (b & 0xff)]! ^ T[2560 + ((b >>> 8) & 0xff)]! ^ T[2304 + ((b >>> 16) & 0xff)]! ^ T[2048 + (b >>> 24)]! ^
      T[1792 + (c & 0xff)]! ^ T[1536 + ((c >>> 8) & 0xff)]! ^ T[1280 + ((c >>> 16) & 0xff)]! ^ T[1024 + (c >>> 24)]! ^
      T[768 + (d & 0xff)]! ^ T[512 + ((d >>> 8) & 0xff)]! ^ T[256 + ((d >>> 16) & 0xff)]! ^ T[d >>> 24]!;
  }
  for (; w < end; w++) {
    const a = crc ^ v[w]!;
    crc = T[768 + (a & 0xff)]! ^ T[512 + ((a >>> 8) & 0xff)]! ^ T[256 + ((a >>> 16) & 0xff)]! ^ T[a >>> 24]!;
  }
  return crc;
};

/**
 * The CRC-32C of `bytes[start .. end)`.
 *
 * @example
 * crc32c(new TextEncoder().encode('123456789')) // 0xe3069283, the standard check value
 */
export const crc32c = (bytes: Uint8Array, start = 0, end = bytes.length): number => {
  let crc = -1;
  let i = start;
  // Bytes one at a time up to a 4-byte boundary of the underlying buffer, then whole words.
  while (i < end && (!LITTLE_ENDIAN || ((bytes.byteOffset + i) & 3) !== 0)) crc = T[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  const count = end > i ? (end - i) >>> 2 : 0;
  if (LITTLE_ENDIAN && count > 0) {
    crc = words(crc, new Int32Array(bytes.buffer, bytes.byteOffset + i, count), 0, count);
    i += count * 4;
  }
  while (i < end) crc = T[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
};
