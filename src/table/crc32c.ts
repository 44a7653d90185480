/**
 * CRC-32C (Castagnoli), the checksum of iSCSI, ext4 and Btrfs: it detects every error burst of up
 * to 32 bits, so any change confined to one byte (or four adjacent ones) of a checksummed buffer.
 * Implemented here because the library takes no runtime dependency for it.
 */

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;

/**
 * Slicing-by-4 tables: `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes, so that
 * one 32-bit word costs four table loads instead of four dependent byte steps.
 */
const TABLES: readonly Uint32Array[] = (() => {
  const t = [0, 1, 2, 3].map(() => new Uint32Array(256));
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0]![b] = c >>> 0;
  }
  for (let b = 0; b < 256; b++) for (let k = 1; k < 4; k++) t[k]![b] = (t[0]![t[k - 1]![b]! & 0xff]! ^ (t[k - 1]![b]! >>> 8)) >>> 0;
  return t;
})();
const T0 = TABLES[0]!;
const T1 = TABLES[1]!;
const T2 = TABLES[2]!;
const T3 = TABLES[3]!;

/** Word loads read the buffer's bytes in little-endian order only on little-endian hosts. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The CRC-32C of `bytes[start .. end)`.
 *
 * @example
 * crc32c(new TextEncoder().encode('123456789')) // 0xe3069283, the standard check value
 */
export const crc32c = (bytes: Uint8Array, start = 0, end = bytes.length): number => {
  let crc = 0xffffffff;
  let i = start;
  // Bytes one at a time up to a 4-byte boundary of the underlying buffer, then whole words.
  while (i < end && (!LITTLE_ENDIAN || ((bytes.byteOffset + i) & 3) !== 0)) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  const words = end > i ? (end - i) >>> 2 : 0;
  if (LITTLE_ENDIAN && words > 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let w = 0; w < words; w++) {
      const x = crc ^ view[w]!;
      crc = T3[x & 0xff]! ^ T2[(x >>> 8) & 0xff]! ^ T1[(x >>> 16) & 0xff]! ^ T0[x >>> 24]!;
    }
    i += words * 4;
  }
  while (i < end) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
};
