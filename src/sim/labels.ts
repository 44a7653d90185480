/**
 * How messages and persisted records read in a simulator trace: one short line each.
 */
import type { PersistRecord } from '../controller/types.js';
import type { AgentMessage, ControllerMessage } from '../protocol/messages.js';
import type { Piece } from '../translate/translate.js';

export const describeAgentMessage = (m: AgentMessage): string => {
  switch (m.type) {
    case 'ioFault':
      return `ioFault #${m.faultId} ${m.op} seg ${m.segment} (${m.reason}) g${m.generation}`;
    case 'markBits':
      return `markBits #${m.faultId} seg ${m.segment} g${m.generation}`;
    case 'tableAck':
      return `tableAck ${m.disk} g${m.generation}`;
    case 'fetchTable':
      return `fetchTable ${m.disk} from g${m.generation}${m.dropMark === undefined || m.dropMark < 0 ? '' : ` (none at or below g${m.dropMark})`}`;
    case 'dropped':
      return `dropped ${m.disk}`;
    case 'renewLease':
      // After a lapse the renewal lists the copies the agent holds unconfirmed (leases.ts vouches for them).
      return `renewLease at ${m.requestedAt}${m.holds === undefined || m.holds.length === 0 ? '' : ` holds ${m.holds.map((h) => `${h.disk} g${h.generation}`).join(', ')}`}`;
    case 'zeroSegment':
      return `zeroSegment #${m.faultId} seg ${m.segment} g${m.generation}`;
  }
};

export const describeControllerMessage = (m: ControllerMessage): string => {
  switch (m.type) {
    case 'setEntries':
      return `setEntries ${m.disk} g${m.fromGeneration}->g${m.generation} (${m.changes.length} entries)`;
    case 'replaceTable':
      return `replaceTable ${m.disk} g${m.table.generation}`;
    case 'refreshTable':
      return `refreshTable ${m.disk} to g${m.generation}`;
    case 'retry':
    case 'confirmMark':
    case 'faultAccepted':
      return `${m.type} #${m.faultId}`;
    case 'leaseGranted':
      return `leaseGranted ${m.duration} ms from ${m.requestedAt}`;
    case 'leaseRevoked':
      return 'leaseRevoked';
    case 'failIo':
      return `failIo #${m.faultId}: ${m.reason}`;
    case 'dropTable':
      return `dropTable ${m.disk}`;
  }
};

export const describeRecord = (r: PersistRecord): string =>
  r.type === 'updateTable' ? `${r.disk} g${r.fromGeneration}->g${r.generation}` : r.type === 'saveTable' ? `${r.disk} (new)` : `${r.type} ${r.disk}`;

export const describePieces = (pieces: ReadonlyArray<Piece>): string =>
  pieces.map((p) => (p.kind === 'zero' ? `zero ${p.virtualStart}+${p.length}` : `${p.kind} ${p.virtualStart}+${p.length}@${p.lun}:${p.start}${p.marksAlternate === true ? ' marks' : ''}`)).join(', ');
