/**
 * A deliberately naive reference translator, for testing `translate` and anything built on it.
 *
 * It follows docs/design.md#per-block-decision-table literally: it decides every
 * block of a request on its own, then glues neighbouring blocks together. It is slow (one
 * decision object per block) and meant to stay obviously right, not fast.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as B from '../bitmap/bitmap.js';
import { validationError, type ValidationError } from '../errors.js';
import type { MappingEntry } from '../table/entry.js';
import { getEntry, type MappingTable } from '../table/table.js';
import { segmentLength as segmentLengthOf, tableBlocks } from '../table/segments.js';
import type {
  FaultReason,
  IoRequest,
  Op,
  Piece,
  SegmentFault,
  TranslateFailure,
  TranslateOptions,
  Variant,
} from '../translate/translate.js';

/**
 * What happens to one block of a request, decided on its own: the unit in which the reference
 * translator states the rules, so each rule can be checked block by block.
 *
 * @example
 * const d: BlockDecision = referenceBlockDecision(entry, 2, 'write', 'distributed');
 * if (d.kind === 'alternate' && d.marksAlternate) console.log(`block 2 is written at ${d.lun}:${d.start} and marked`);
 */
export type BlockDecision =
  | { readonly kind: 'fault'; readonly reason: FaultReason }
  | { readonly kind: 'error' }
  | { readonly kind: 'zero' }
  | { readonly kind: 'primary'; readonly lun: number; readonly start: number }
  | { readonly kind: 'alternate'; readonly lun: number; readonly start: number; readonly marksAlternate: boolean };

/**
 * The decision for the block at `offset` inside a segment with entry `entry`, taken from the
 * decision table top to bottom: invalid, error, alternate bit set, zero, primary noWrite,
 * primary. `lun`/`start` give the block's own physical address. In a table with a grain
 * (`grainBlocks` above 1) the block's alternate bit is the bit of its grain, `offset / grainBlocks`
 * (docs/design.md#bitmap-grain); everything else is still decided per block.
 *
 * An entry with no primary location where one is needed (validation never lets one through)
 * is treated as `invalid`: the agent cannot complete the I/O.
 *
 * @example
 * referenceBlockDecision(entry, 2, 'read', 'centralized')
 * // { kind: 'alternate', lun: 2, start: 12, marksAlternate: false }
 * referenceBlockDecision(grainedEntry, 6, 'read', 'centralized', 4) // bit 1 decides blocks 4..7
 */
export const referenceBlockDecision = (
  entry: MappingEntry,
  offset: number,
  op: Op,
  variant: Variant = 'centralized',
  grainBlocks = 1,
): BlockDecision => {
  // 1. invalid: fault, whatever the operation.
  if (entry.invalid) return { kind: 'fault', reason: 'invalid' };

  // 2. error: fail, whatever the operation.
  if (entry.error) return { kind: 'error' };

  // 3. the block lives at the alternate: read and write go there (even when noWrite).
  const alternate = entry.alternate;
  if (alternate !== null && B.has(alternate.blocks, Math.floor(offset / grainBlocks))) {
    return { kind: 'alternate', lun: alternate.lun, start: alternate.start + offset, marksAlternate: false };
  }

  // 4. zero: reads are zeros, writes fault.
  if (entry.zero) {
    if (op === 'read') return { kind: 'zero' };
    return { kind: 'fault', reason: 'zero' };
  }

  const location = entry.location;
  if (location === null) return { kind: 'fault', reason: 'invalid' };

  // 5. primary, noWrite: reads go to the primary; writes fault, except in the distributed
  //    variant with an alternate, where the write goes to the alternate and marks the bit.
  if (entry.noWrite && op === 'write') {
    if (variant === 'distributed' && alternate !== null) {
      return { kind: 'alternate', lun: alternate.lun, start: alternate.start + offset, marksAlternate: true };
    }
    return { kind: 'fault', reason: 'no-write' };
  }

  // 6. primary.
  return { kind: 'primary', lun: location.lun, start: location.start + offset };
};

const checkRequest = (request: IoRequest): ValidationError[] => {
  if (typeof request !== 'object' || request === null) {
    return [validationError('request', request, 'must be { op, start, length }')];
  }
  const errors: ValidationError[] = [];
  if (request.op !== 'read' && request.op !== 'write') {
    errors.push(validationError('op', request.op, "must be 'read' or 'write'"));
  }
  if (!(Number.isSafeInteger(request.start) && request.start >= 0)) {
    errors.push(validationError('start', request.start, 'must be a non-negative safe integer'));
  }
  if (!(Number.isSafeInteger(request.length) && request.length >= 0)) {
    errors.push(validationError('length', request.length, 'must be a non-negative safe integer'));
  }
  return errors;
};

/** One block of a request with its decision. */
interface DecidedBlock {
  readonly block: number;
  readonly segment: number;
  readonly decision: BlockDecision;
}

/** A one-block piece for a block that neither faults nor fails. */
const pieceOfBlock = (block: number, decision: BlockDecision): Piece => {
  switch (decision.kind) {
    case 'zero':
      return { kind: 'zero', virtualStart: block, length: 1 };
    case 'primary':
      return { kind: 'primary', virtualStart: block, length: 1, lun: decision.lun, start: decision.start };
    case 'alternate':
      if (decision.marksAlternate) {
        return { kind: 'alternate', virtualStart: block, length: 1, lun: decision.lun, start: decision.start, marksAlternate: true };
      }
      return { kind: 'alternate', virtualStart: block, length: 1, lun: decision.lun, start: decision.start };
    default:
      throw new Error(`reference translator: a ${decision.kind} block has no piece`);
  }
};

/** Whether `next` can be appended to `last`: same kind and marks, adjacent in every sense. */
const canMerge = (last: Piece, next: Piece): boolean => {
  if (last.kind !== next.kind) return false;
  if ((last.marksAlternate === true) !== (next.marksAlternate === true)) return false;
  if (last.virtualStart + last.length !== next.virtualStart) return false;
  if (last.kind === 'zero') return true;
  return last.lun === next.lun && last.start! + last.length === next.start;
};

/**
 * Naive reference for `translate`: same arguments, same results, computed block by block, for
 * uniform and variable tables alike (segments are found by summing lengths from the first), and
 * for grained tables (each block reads its grain's bit).
 *
 * Every block gets its own decision from {@link referenceBlockDecision}; if any block faults
 * the request faults (each faulting segment once, ascending); otherwise if any block is
 * `error` the request fails (each error segment once, ascending); otherwise neighbouring
 * blocks with the same kind and marks, adjacent virtually and (unless zero) on the same LUN
 * and physically contiguous, are merged into pieces.
 *
 * @example
 * // The reference table (docs/design.md#address-model): 10 blocks per segment, segment 1 no-write.
 * referenceTranslate(table, { op: 'read', start: 0, length: 3 })
 * // Right([{ kind: 'primary', virtualStart: 0, length: 2, lun: 1, start: 0 },
 * //        { kind: 'alternate', virtualStart: 2, length: 1, lun: 2, start: 12 }])
 * referenceTranslate(table, { op: 'write', start: 12, length: 1 })
 * // Left({ type: 'fault', faults: [{ segment: 1, reason: 'no-write' }] })
 */
export const referenceTranslate = (
  table: MappingTable,
  request: IoRequest,
  options: TranslateOptions = {},
): E.Either<TranslateFailure, Piece[]> => {
  const requestErrors = checkRequest(request);
  if (requestErrors.length > 0) return E.left({ type: 'invalid-request', errors: requestErrors });

  const { op, start, length } = request;
  const diskBlocks = tableBlocks(table);
  if (start + length > diskBlocks) {
    return E.left({
      type: 'out-of-range',
      start,
      length,
      diskBlocks,
      message: `request start ${start} length ${length} ends past the disk's ${diskBlocks} blocks`,
    });
  }
  const variant: Variant = options.variant === 'distributed' ? 'distributed' : 'centralized';

  // 1. Decide every block, reading each segment's entry once.
  // Segments are walked from the first, summing their lengths: the same for uniform and
  // variable tables, and independent of how either finds a segment.
  const blocks: DecidedBlock[] = [];
  let segmentFirst = 0;
  for (let segment = 0; segment < table.segmentCount && segmentFirst < start + length; segment++) {
    const segmentLength = E.getOrElse(() => 0)(segmentLengthOf(table, segment));
    const segmentEnd = segmentFirst + segmentLength;
    if (segmentEnd > start) {
      const read = getEntry(table, segment);
      if (E.isLeft(read)) throw new Error(`reference translator: segment ${segment} unreadable inside the disk`);
      for (let block = Math.max(start, segmentFirst); block < Math.min(start + length, segmentEnd); block++)
        blocks.push({ block, segment, decision: referenceBlockDecision(read.right, block - segmentFirst, op, variant, table.grainBlocks) });
    }
    segmentFirst = segmentEnd;
  }

  // 2. Faults win over everything: list each faulting segment once.
  const faults: SegmentFault[] = [];
  for (const b of blocks) {
    if (b.decision.kind !== 'fault') continue;
    if (faults.some((f) => f.segment === b.segment)) continue;
    faults.push({ segment: b.segment, reason: b.decision.reason });
  }
  if (faults.length > 0) return E.left({ type: 'fault', faults });

  // 3. Then errors: list each error segment once.
  const errorSegments: number[] = [];
  for (const b of blocks) {
    if (b.decision.kind !== 'error') continue;
    if (errorSegments.includes(b.segment)) continue;
    errorSegments.push(b.segment);
  }
  if (errorSegments.length > 0) return E.left({ type: 'error', segments: errorSegments });

  // 4. Otherwise glue the blocks into pieces.
  const pieces: Piece[] = [];
  for (const b of blocks) {
    const next = pieceOfBlock(b.block, b.decision);
    const last = pieces[pieces.length - 1];
    if (last !== undefined && canMerge(last, next)) {
      pieces[pieces.length - 1] = { ...last, length: last.length + 1 };
    } else {
      pieces.push(next);
    }
  }
  return E.right(pieces);
};
