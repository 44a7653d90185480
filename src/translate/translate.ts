/**
 * Translation: (table, read | write, virtual range) -> physical pieces, or a failure.
 *
 * Each block's decision follows docs/design.md#per-block-decision-table; the precedence is
 * spelled out where it is implemented, in `translate-into.ts`. A request faults when any block
 * faults (listing every faulting segment) and otherwise fails when any block is `error`; only a
 * request with neither yields pieces.
 *
 * There is one implementation, {@link translateInto}, which writes into a reusable
 * {@link PieceBuffer} and allocates nothing once the buffer is big enough; {@link translate}
 * wraps it in objects and `Either` for everyone else, after validating the request. The
 * vocabulary (requests, pieces, failures, status codes, the buffer) is in `types.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { unreadableError, validationError, type ValidationError } from '../errors.js';
import { isTable, type MappingTable } from '../table/table.js';
import { blocksOf } from '../table/segments.js';
import { onePrimaryPieceInto, translateInto, wellFormedRequest } from './translate-into.js';
import {
  KIND_PRIMARY,
  KIND_ZERO,
  PieceBuffer,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
  type FaultReason,
  type IoRequest,
  type Op,
  type Piece,
  type SegmentFault,
  type TranslateFailure,
  type TranslateOptions,
  type TranslateStatus,
  type Variant,
} from './types.js';

export { translateInto } from './translate-into.js';
export type {
  FaultReason,
  IoRequest,
  Op,
  Piece,
  PieceKind,
  SegmentFault,
  TranslateFailure,
  TranslateOptions,
  TranslateStatus,
  Variant,
} from './types.js';
export {
  KIND_ALTERNATE,
  KIND_PRIMARY,
  KIND_ZERO,
  PieceBuffer,
  REASON_ERROR,
  REASON_INVALID,
  REASON_NO_WRITE,
  REASON_ZERO,
  STATUS_ERROR,
  STATUS_FAULT,
  STATUS_INVALID_REQUEST,
  STATUS_OK,
  STATUS_OUT_OF_RANGE,
} from './types.js';

/** A fault reason's name, indexed by its code (`REASON_INVALID`, `REASON_NO_WRITE`, `REASON_ZERO`). Internal. */
export const REASON_NAMES: readonly FaultReason[] = ['invalid', 'no-write', 'zero'];

const scratch = /* @__PURE__ */ new PieceBuffer(64);

/**
 * The request as `translate` read it (each field once), for its error messages. A function of
 * the fields rather than a closure over them: a closure would be allocated on every call (with a
 * context holding the fields), and tools that keep function names wrap it in a naming call too.
 */
const readRequest = (request: unknown, op: unknown, start: unknown, length: unknown): IoRequest =>
  (typeof request === 'object' && request !== null ? { op, start, length } : request) as IoRequest;

const requestErrors = (request: IoRequest): ValidationError[] => {
  const errors: ValidationError[] = [];
  if (typeof request !== 'object' || request === null) return [validationError('request', request, 'must be { op, start, length }')];
  if (request.op !== 'read' && request.op !== 'write') errors.push(validationError('op', request.op, "must be 'read' or 'write'"));
  if (!(Number.isSafeInteger(request.start) && request.start >= 0))
    errors.push(validationError('start', request.start, 'must be a non-negative safe integer'));
  if (!(Number.isSafeInteger(request.length) && request.length >= 0))
    errors.push(validationError('length', request.length, 'must be a non-negative safe integer'));
  return errors;
};

/**
 * Copies the pieces of `out` into plain objects, for code that takes `Piece` values (logs,
 * tests, an agent's `issueIo` command) after an allocation-free {@link translateInto}.
 *
 * @example
 * if (translateInto(table, 'read', 0, 8, buf) === STATUS_OK) console.log(piecesOf(buf));
 */
export const piecesOf = (out: PieceBuffer): Piece[] => {
  // Most requests have one piece: an array literal of it is allocated at its final size.
  if (out.count === 1) return [pieceAt(out, 0)];
  const pieces: Piece[] = [];
  for (let i = 0; i < out.count; i++) pieces.push(pieceAt(out, i));
  return pieces;
};

const pieceAt = (out: PieceBuffer, i: number): Piece => {
  const kind = out.kind[i]!;
  const virtualStart = out.virtualStart[i]!;
  const length = out.length[i]!;
  // Literal objects of a fixed shape: spreading a shared base is several times slower.
  if (kind === (2 satisfies typeof KIND_ZERO)) return { kind: 'zero', virtualStart, length };
  if (out.marks[i] === 1) return { kind: 'alternate', virtualStart, length, lun: out.lun[i]!, start: out.start[i]!, marksAlternate: true };
  return { kind: kind === (0 satisfies typeof KIND_PRIMARY) ? 'primary' : 'alternate', virtualStart, length, lun: out.lun[i]!, start: out.start[i]! };
};

/** Why `translate` refuses its inputs: a value that is not a table, an unknown variant, a malformed request. */
const invalidInputs = (table: unknown, request: unknown, op: unknown, start: unknown, length: unknown, variant: unknown): TranslateFailure => {
  const errors: ValidationError[] = [];
  if (!isTable(table)) errors.push(validationError('table', table, 'must be a mapping table built by this library'));
  if (variant !== undefined && variant !== 'centralized' && variant !== 'distributed')
    errors.push(validationError('options.variant', variant, "must be 'centralized' or 'distributed'"));
  return { type: 'invalid-request', errors: [...errors, ...requestErrors(readRequest(request, op, start, length))] };
};

/** The failure `translateInto` left in `scratch` with `status`, as a value. */
const failureOf = (status: TranslateStatus, table: MappingTable, request: unknown, op: unknown, start: unknown, length: unknown): TranslateFailure => {
  switch (status) {
    case STATUS_FAULT: {
      const faults: SegmentFault[] = [];
      for (let j = 0; j < scratch.failureCount; j++)
        faults.push({ segment: scratch.failureSegment[j]!, reason: REASON_NAMES[scratch.failureReason[j]!]! });
      return { type: 'fault', faults };
    }
    case STATUS_ERROR:
      return { type: 'error', segments: Array.from(scratch.failureSegment.subarray(0, scratch.failureCount)) };
    case STATUS_OUT_OF_RANGE: {
      const diskBlocks = blocksOf(table);
      return {
        type: 'out-of-range',
        start: start as number,
        length: length as number,
        diskBlocks,
        message: `request start ${start as number} length ${length as number} ends past the disk's ${diskBlocks} blocks`,
      };
    }
    default:
      return { type: 'invalid-request', errors: requestErrors(readRequest(request, op, start, length)) };
  }
};

/**
 * Translates a host request through a table.
 *
 * @example
 * translate(table, { op: 'read', start: 0, length: 10 })
 * // Right([{ kind: 'primary', virtualStart: 0, length: 2, lun: 1, start: 0 },
 * //        { kind: 'alternate', virtualStart: 2, length: 1, lun: 2, start: 12 }, ...])
 * translate(table, { op: 'write', start: 10, length: 1 })
 * // Left({ type: 'fault', faults: [{ segment: 1, reason: 'no-write' }] })
 */
export const translate = (
  table: MappingTable,
  request: IoRequest,
  options?: TranslateOptions,
): E.Either<TranslateFailure, Piece[]> => {
  // Every field is read once, so a getter cannot answer differently below; nothing is allocated
  // for well-formed input (no closure, no default options object: a closure here once made
  // translate 2.6 times slower, bench/README.md), and the rare cases are functions of their
  // own so that this one stays small.
  let op: unknown;
  let start: unknown;
  let length: unknown;
  let variant: unknown;
  try {
    if (typeof request === 'object' && request !== null) ({ op, start, length } = request);
    if (typeof options === 'object' && options !== null) variant = options.variant;
  } catch (thrown) {
    return E.left({ type: 'invalid-request', errors: [unreadableError('request', thrown)] });
  }
  // -0 is a well-formed start (an integer, not below 0): pieces start at +0 all the same.
  if (start === 0) start = 0;
  if (!isTable(table) || (variant !== undefined && variant !== 'centralized' && variant !== 'distributed'))
    return E.left(invalidInputs(table, request, op, start, length, variant));
  // The short path builds its one piece directly, without translateInto's general checks. The
  // status is a literal for the reason given in translate-into.ts (imported constants cost loads).
  if (wellFormedRequest(op as Op, start as number, length as number) && (start as number) + (length as number) <= table.segmentCount * table.segmentBlocks) {
    const first = start as number;
    const count = length as number;
    if (onePrimaryPieceInto(table, op as Op, first, first + count, scratch))
      return E.right([{ kind: 'primary', virtualStart: first, length: count, lun: scratch.lun[0]!, start: scratch.start[0]! }]);
  }
  const status = translateInto(table, op as Op, start as number, length as number, scratch, variant as Variant | undefined);
  return status === (0 satisfies typeof STATUS_OK) ? E.right(piecesOf(scratch)) : E.left(failureOf(status, table, request, op, start, length));
};
