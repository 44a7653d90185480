/**
 * The NBD wire format (fixed newstyle handshake, options, requests, simple and structured
 * replies) as pure functions over bytes: encoders build whole messages, decoders take whole
 * messages and return an `Either` whose error names the field and the value. No sockets here:
 * server.ts does the reading and writing.
 *
 * Only what this server speaks is here: no extended headers, no old-style handshake (STARTTLS is
 * an option like the others; tls.ts does the upgrade).
 */
import * as E from 'fp-ts/lib/Either.js';

// Magic numbers
export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// Handshake flags (server) and client flags
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

// Transmission flags
export const TFLAG_HAS_FLAGS = 1 << 0;
export const TFLAG_READ_ONLY = 1 << 1;
export const TFLAG_SEND_FLUSH = 1 << 2;
export const TFLAG_SEND_FUA = 1 << 3;
export const TFLAG_SEND_TRIM = 1 << 5;
export const TFLAG_SEND_WRITE_ZEROES = 1 << 6;
export const TFLAG_SEND_DF = 1 << 7;
export const TFLAG_CAN_MULTI_CONN = 1 << 8;

// Options
export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_LIST = 3;
export const OPT_STARTTLS = 5;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_LIST_META_CONTEXT = 9;
export const OPT_SET_META_CONTEXT = 10;

// Option replies
export const REP_ACK = 1;
export const REP_SERVER = 2;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
export const REP_ERR_UNSUP = 2 ** 31 + 1;
export const REP_ERR_POLICY = 2 ** 31 + 2;
export const REP_ERR_INVALID = 2 ** 31 + 3;
export const REP_ERR_TLS_REQD = 2 ** 31 + 5;
export const REP_ERR_UNKNOWN = 2 ** 31 + 6;
export const REP_ERR_TOO_BIG = 2 ** 31 + 9;

// Information types (NBD_OPT_INFO / NBD_OPT_GO)
export const INFO_EXPORT = 0;
export const INFO_NAME = 1;
export const INFO_DESCRIPTION = 2;
export const INFO_BLOCK_SIZE = 3;

// Commands and their flags
export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_TRIM = 4;
export const CMD_CACHE = 5;
export const CMD_WRITE_ZEROES = 6;
export const CMD_BLOCK_STATUS = 7;
export const CMD_FLAG_FUA = 1 << 0;
export const CMD_FLAG_NO_HOLE = 1 << 1;
export const CMD_FLAG_DF = 1 << 2;
export const CMD_FLAG_REQ_ONE = 1 << 3;
export const CMD_FLAG_FAST_ZERO = 1 << 4;

// Structured replies
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
export const REPLY_TYPE_ERROR = 2 ** 15 + 1;

// base:allocation status flags
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;

// Errors
export const EPERM = 1;
export const EIO = 5;
export const ENOMEM = 12;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EOVERFLOW = 75;
export const ENOTSUP = 95;
export const ESHUTDOWN = 108;

/** The only metadata context this server offers. */
export const BASE_ALLOCATION = 'base:allocation';

/** Sizes of the fixed-length messages. */
export const GREETING_BYTES = 18;
export const CLIENT_FLAGS_BYTES = 4;
export const OPTION_HEADER_BYTES = 16;
export const REQUEST_HEADER_BYTES = 28;
/** The spec caps strings (names, queries) at 4 KiB. */
export const MAX_STRING_BYTES = 4096;

const show = (v: unknown): string => (typeof v === 'bigint' ? `${v}` : JSON.stringify(v) ?? String(v));

// ---------------------------------------------------------------------------------------------
// Handshake

/** The server's first 18 bytes: NBDMAGIC, IHAVEOPT, handshake flags. */
export const encodeGreeting = (handshakeFlags: number): Buffer => {
  const b = Buffer.alloc(GREETING_BYTES);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
};

/** The client's 32-bit flags; unknown bits, or bits the server did not offer, are an error. */
export const decodeClientFlags = (bytes: Uint8Array, offered: number): E.Either<string, number> => {
  if (bytes.length !== CLIENT_FLAGS_BYTES) return E.left(`client flags must be ${CLIENT_FLAGS_BYTES} bytes, got ${bytes.length}`);
  const flags = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32BE(0);
  const allowed = offered & (FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
  if ((flags & ~allowed) !== 0) return E.left(`client flags ${show(flags)} set bits the server does not know or did not offer (allowed ${show(allowed)})`);
  return E.right(flags);
};

export interface OptionHeader {
  readonly option: number;
  readonly length: number;
}

/** An option header: IHAVEOPT, option, data length. */
export const decodeOptionHeader = (bytes: Uint8Array): E.Either<string, OptionHeader> => {
  if (bytes.length !== OPTION_HEADER_BYTES) return E.left(`option header must be ${OPTION_HEADER_BYTES} bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = b.readBigUInt64BE(0);
  if (magic !== IHAVEOPT) return E.left(`option magic must be IHAVEOPT, got 0x${magic.toString(16)}`);
  return E.right({ option: b.readUInt32BE(8), length: b.readUInt32BE(12) });
};

/** Encodes an option header and its data (what a client sends; used by tests). */
export const encodeOption = (option: number, data: Uint8Array = new Uint8Array(0)): Buffer => {
  const b = Buffer.alloc(OPTION_HEADER_BYTES + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(data.length, 12);
  b.set(data, OPTION_HEADER_BYTES);
  return b;
};

/** A fixed-newstyle option reply. */
export const encodeOptionReply = (option: number, type: number, payload: Uint8Array = new Uint8Array(0)): Buffer => {
  const b = Buffer.alloc(20 + payload.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(payload.length, 16);
  b.set(payload, 20);
  return b;
};

/** The payload of an `NBD_REP_SERVER` reply (one export of `NBD_OPT_LIST`). */
export const encodeServerEntry = (name: string, description = ''): Buffer => {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description, 'utf8');
  const b = Buffer.alloc(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  b.set(n, 4);
  b.set(d, 4 + n.length);
  return b;
};

/** `NBD_INFO_EXPORT`: size and transmission flags. */
export const encodeInfoExport = (size: number, transmissionFlags: number): Buffer => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(INFO_EXPORT, 0);
  b.writeBigUInt64BE(BigInt(size), 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
};

/** `NBD_INFO_NAME` or `NBD_INFO_DESCRIPTION`. */
export const encodeInfoText = (type: typeof INFO_NAME | typeof INFO_DESCRIPTION, text: string): Buffer => {
  const t = Buffer.from(text, 'utf8');
  const b = Buffer.alloc(2 + t.length);
  b.writeUInt16BE(type, 0);
  b.set(t, 2);
  return b;
};

export interface BlockSizes {
  readonly minimum: number;
  readonly preferred: number;
  readonly maximum: number;
}

/** `NBD_INFO_BLOCK_SIZE`: minimum, preferred and maximum payload sizes. */
export const encodeInfoBlockSize = (sizes: BlockSizes): Buffer => {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(sizes.minimum, 2);
  b.writeUInt32BE(sizes.preferred, 6);
  b.writeUInt32BE(sizes.maximum, 10);
  return b;
};

/** `NBD_REP_META_CONTEXT` payload: context id and name. */
export const encodeMetaContext = (id: number, name: string): Buffer => {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length);
  b.writeUInt32BE(id, 0);
  b.set(n, 4);
  return b;
};

/** The reply that ends `NBD_OPT_EXPORT_NAME`: size, flags, and 124 zero bytes unless NO_ZEROES. */
export const encodeExportNameReply = (size: number, transmissionFlags: number, noZeroes: boolean): Buffer => {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(size), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
};

/** Cursor over option data that refuses to read past the end. */
const cursor = (data: Uint8Array) => {
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  let at = 0;
  return {
    u16: (field: string): E.Either<string, number> => (at + 2 > b.length ? E.left(`${field}: option data ends at byte ${b.length}, before its 2 bytes`) : E.right(((at += 2), b.readUInt16BE(at - 2)))),
    u32: (field: string): E.Either<string, number> => (at + 4 > b.length ? E.left(`${field}: option data ends at byte ${b.length}, before its 4 bytes`) : E.right(((at += 4), b.readUInt32BE(at - 4)))),
    string: (field: string, length: number): E.Either<string, string> => {
      if (length > MAX_STRING_BYTES) return E.left(`${field}: length ${length} exceeds ${MAX_STRING_BYTES} bytes`);
      if (at + length > b.length) return E.left(`${field}: length ${length} runs past the end of the option data (${b.length - at} bytes left)`);
      const s = b.toString('utf8', at, at + length);
      at += length;
      return E.right(s);
    },
    rest: () => b.length - at,
  };
};

export interface GoRequest {
  readonly name: string;
  readonly infoRequests: ReadonlyArray<number>;
}

/** The data of `NBD_OPT_INFO` / `NBD_OPT_GO`: export name, then the information requests. */
export const decodeGoData = (data: Uint8Array): E.Either<string, GoRequest> => {
  const c = cursor(data);
  const nameLength = c.u32('name length');
  if (E.isLeft(nameLength)) return nameLength;
  const name = c.string('export name', nameLength.right);
  if (E.isLeft(name)) return name;
  const count = c.u16('number of information requests');
  if (E.isLeft(count)) return count;
  if (c.rest() !== count.right * 2) return E.left(`information requests: ${count.right} announced, ${c.rest()} bytes follow (expected ${count.right * 2})`);
  const infoRequests: number[] = [];
  for (let i = 0; i < count.right; i++) {
    const r = c.u16(`information request ${i}`);
    if (E.isLeft(r)) return r;
    infoRequests.push(r.right);
  }
  return E.right({ name: name.right, infoRequests });
};

/** Encodes `NBD_OPT_INFO` / `NBD_OPT_GO` data (what a client sends; used by tests). */
export const encodeGoData = (name: string, infoRequests: ReadonlyArray<number> = []): Buffer => {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infoRequests.length);
  b.writeUInt32BE(n.length, 0);
  b.set(n, 4);
  b.writeUInt16BE(infoRequests.length, 4 + n.length);
  infoRequests.forEach((r, i) => b.writeUInt16BE(r, 6 + n.length + 2 * i));
  return b;
};

export interface MetaContextRequest {
  readonly name: string;
  readonly queries: ReadonlyArray<string>;
}

/** The data of `NBD_OPT_LIST_META_CONTEXT` / `NBD_OPT_SET_META_CONTEXT`. */
export const decodeMetaContextData = (data: Uint8Array): E.Either<string, MetaContextRequest> => {
  const c = cursor(data);
  const nameLength = c.u32('export name length');
  if (E.isLeft(nameLength)) return nameLength;
  const name = c.string('export name', nameLength.right);
  if (E.isLeft(name)) return name;
  const count = c.u32('number of queries');
  if (E.isLeft(count)) return count;
  // Each query takes at least its 4-byte length: more than that cannot fit.
  if (count.right > c.rest() / 4) return E.left(`number of queries ${count.right} cannot fit in the ${c.rest()} bytes left`);
  const queries: string[] = [];
  for (let i = 0; i < count.right; i++) {
    const length = c.u32(`query ${i} length`);
    if (E.isLeft(length)) return length;
    const q = c.string(`query ${i}`, length.right);
    if (E.isLeft(q)) return q;
    queries.push(q.right);
  }
  if (c.rest() !== 0) return E.left(`${c.rest()} bytes follow the last query`);
  return E.right({ name: name.right, queries });
};

/** Encodes meta-context option data (what a client sends; used by tests). */
export const encodeMetaContextData = (name: string, queries: ReadonlyArray<string>): Buffer => {
  const parts = [Buffer.alloc(4), Buffer.from(name, 'utf8'), Buffer.alloc(4)];
  parts[0]!.writeUInt32BE(parts[1]!.length, 0);
  parts[2]!.writeUInt32BE(queries.length, 0);
  for (const q of queries) {
    const qb = Buffer.from(q, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(qb.length, 0);
    parts.push(len, qb);
  }
  return Buffer.concat(parts);
};

// ---------------------------------------------------------------------------------------------
// Transmission

export interface Request {
  readonly flags: number;
  readonly type: number;
  /** Opaque 8 bytes, echoed in every reply. */
  readonly cookie: Buffer;
  /** Byte offset; `Number.MAX_SAFE_INTEGER + 1` stands for anything larger (out of range anyway). */
  readonly offset: number;
  readonly length: number;
}

/** A request header (28 bytes). The payload of a write follows it on the wire. */
export const decodeRequest = (bytes: Uint8Array): E.Either<string, Request> => {
  if (bytes.length !== REQUEST_HEADER_BYTES) return E.left(`request header must be ${REQUEST_HEADER_BYTES} bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = b.readUInt32BE(0);
  if (magic !== REQUEST_MAGIC) return E.left(`request magic must be 0x${REQUEST_MAGIC.toString(16)}, got 0x${magic.toString(16)}`);
  const offset = b.readBigUInt64BE(16);
  return E.right({
    flags: b.readUInt16BE(4),
    type: b.readUInt16BE(6),
    cookie: Buffer.from(b.subarray(8, 16)),
    offset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER + 1 : Number(offset),
    length: b.readUInt32BE(24),
  });
};

/** Encodes a request header (what a client sends; used by tests). */
export const encodeRequest = (r: { flags: number; type: number; cookie: bigint; offset: number; length: number }): Buffer => {
  const b = Buffer.alloc(REQUEST_HEADER_BYTES);
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeBigUInt64BE(r.cookie, 8);
  b.writeBigUInt64BE(BigInt(r.offset), 16);
  b.writeUInt32BE(r.length, 24);
  return b;
};

/** A simple reply header; a successful read's data follows it. */
export const encodeSimpleReply = (cookie: Uint8Array, error: number): Buffer => {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.set(cookie, 8);
  return b;
};

/** A structured reply chunk header for a payload of `length` bytes. */
export const encodeChunkHeader = (cookie: Uint8Array, flags: number, type: number, length: number): Buffer => {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.set(cookie, 8);
  b.writeUInt32BE(length, 16);
  return b;
};

/** `NBD_REPLY_TYPE_OFFSET_DATA` header (chunk header + offset): the data follows. */
export const encodeOffsetDataHeader = (cookie: Uint8Array, offset: number, dataLength: number, done: boolean): Buffer => {
  const h = encodeChunkHeader(cookie, done ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA, 8 + dataLength);
  const o = Buffer.alloc(8);
  o.writeBigUInt64BE(BigInt(offset), 0);
  return Buffer.concat([h, o]);
};

/** `NBD_REPLY_TYPE_NONE` with DONE: success without payload. */
export const encodeNoneChunk = (cookie: Uint8Array): Buffer => encodeChunkHeader(cookie, REPLY_FLAG_DONE, REPLY_TYPE_NONE, 0);

/** `NBD_REPLY_TYPE_ERROR` with DONE and a human-readable message (cut to fit 16 bits). */
export const encodeErrorChunk = (cookie: Uint8Array, error: number, message: string): Buffer => {
  const m = Buffer.from(message, 'utf8').subarray(0, 4096);
  const payload = Buffer.alloc(6 + m.length);
  payload.writeUInt32BE(error, 0);
  payload.writeUInt16BE(m.length, 4);
  payload.set(m, 6);
  return Buffer.concat([encodeChunkHeader(cookie, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, payload.length), payload]);
};

export interface StatusExtent {
  readonly length: number;
  readonly flags: number;
}

/** `NBD_REPLY_TYPE_BLOCK_STATUS` for one context, with DONE. */
export const encodeBlockStatusChunk = (cookie: Uint8Array, contextId: number, extents: ReadonlyArray<StatusExtent>): Buffer => {
  const payload = Buffer.alloc(4 + 8 * extents.length);
  payload.writeUInt32BE(contextId, 0);
  extents.forEach((e, i) => {
    payload.writeUInt32BE(e.length, 4 + 8 * i);
    payload.writeUInt32BE(e.flags, 8 + 8 * i);
  });
  return Buffer.concat([encodeChunkHeader(cookie, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, payload.length), payload]);
};
