/**
 * Host I/O in the simulated cluster: workload arrivals, submitting I/O and flushes to agents,
 * carrying out agent commands, and landing their storage I/O.
 */
import type { AgentCommand, AgentEvent, HostOp } from '../agent/types.js';
import type { DiskId } from '../protocol/messages.js';
import type { Piece } from '../translate/translate.js';
import { agentName, checkRead } from './checkers.js';
import { describePieces } from './labels.js';
import type { HostIo } from './workload.js';
import type { WorldEvent } from './world.js';
import { fail } from './cluster-core.js';
import { ClusterControllerSide } from './cluster-controller.js';

/** The cluster with host I/O: arrivals, submissions, agent commands and their storage I/O. */
export abstract class ClusterHostIo extends ClusterControllerSide {
  // -------------------------------------------------------------------------------------------
  // Host I/O

  protected arrival(): void {
    const generator = this.generator!;
    if (this.pendingArrivals <= 0) return;
    this.pendingArrivals--;
    generator.drawActions((action) => this.act(action), () => this.nextRequest, (family) => this.snapshots(family), (disk) => this.controller.disks.get(disk)?.working);
    const io = generator.drawHostIo();
    if (io.flush === true) this.submitFlush(io.agent, io.disk);
    else this.submit(io.agent, io.disk, io.op, io.start, io.length, io.fua === true);
    if (this.pendingArrivals > 0) this.world.queue.push(this.world.now + generator.drawInterval(), { kind: 'arrival' });
  }

  protected submit(agent: number, disk: DiskId, op: HostOp, start: number, length: number, fua = false): void {
    const node = this.agents[agent];
    const model = this.models.get(disk);
    if (node === undefined || model === undefined || start < 0 || length < 1 || start + length > model.blocks) return;
    // The host of a lost agent is gone with it: its I/O fails at once, and touches nothing.
    if (node.lost) return void this.summary.iosFailed++;
    const id = this.nextIo++;
    // A discard or write-zeroes is a write of zeros as far as the content is concerned.
    const value = op === 'write' ? this.nextValue++ : 0;
    if (op !== 'read') {
      this.summary.writes++;
      if (op === 'zero') this.summary.zeroes++;
      model.writeStarted(start, length);
    } else this.summary.reads++;
    const io: HostIo = { id, submittedAt: this.world.now, agent, epoch: node.epoch, disk, op, start, length, value, seen: op === 'read' ? model.readStarted(start, length) : null, data: null, model };
    // A discard's or write-zeroes' zeros count as a write for durability (docs/design.md#ordering-rules):
    // they may read back after a power loss, and a flush guarantees them as it does a write.
    if (op !== 'read') {
      io.durable = this.durability.get(disk)!;
      io.tracked = io.durable.writeStarted(start, length, value, ++this.seq);
      if (fua) io.fua = true;
    }
    this.hostIos.set(id, io);
    this.record('host', node.id, () => `${op} ${disk} ${start}+${length}${op === 'write' ? ` (value ${value}${fua ? ', FUA' : ''})` : ''} io${id}`);
    this.toAgent(agent, { type: 'hostIo', ioId: id, disk, op, start, length, ...(fua ? { fua: true } : {}) });
  }

  /** A host flush of `disk` through `agent`. */
  protected submitFlush(agent: number, disk: DiskId): void {
    const node = this.agents[agent];
    if (node === undefined || node.lost || !this.models.has(disk)) return;
    const id = this.nextIo++;
    this.summary.flushes++;
    this.hostFlushes.set(id, { agent, epoch: node.epoch, disk, seq: ++this.seq });
    this.record('host', node.id, () => `flush ${disk} io${id}`);
    this.toAgent(agent, { type: 'hostFlush', ioId: id, disk });
  }

  protected toAgent(i: number, event: AgentEvent): void {
    const node = this.agents[i]!;
    if (node.lost) return;
    if (node.pausedUntil > this.world.now) {
      // A paused process: its ticks are simply late, everything else waits.
      if (event.type !== 'tick') node.inbox.push(event);
      return;
    }
    const [next, commands] = this.stepAgent(node.state, event);
    node.state = next;
    for (const c of commands) this.agentCommand(i, c);
  }

  protected agentCommand(i: number, c: AgentCommand): void {
    const node = this.agents[i]!;
    switch (c.type) {
      case 'send':
        if (c.message.type === 'ioFault' || c.message.type === 'markBits') {
          this.liveness.noteFaultMessage(c.message);
          this.summary.faultsRaised++;
          const reason = c.message.type === 'markBits' ? 'mark' : c.message.reason;
          this.summary.faultsByReason[reason] = (this.summary.faultsByReason[reason] ?? 0) + 1;
        }
        if (c.message.type === 'zeroSegment') this.summary.faultsByReason['zero-segment'] = (this.summary.faultsByReason['zero-segment'] ?? 0) + 1;
        this.transmit({ kind: 'toController', msg: c.message }, i);
        return;
      case 'issueIo':
        this.record(node.id, 'storage', () => `io${c.ioId} ${c.op} ${describePieces(c.pieces)}`);
        this.world.afterStorageIo({ kind: 'agentIo', agent: i, epoch: node.epoch, ioId: c.ioId, op: c.op, pieces: c.pieces, storage: this.world.storageEpoch }, this.maxIoLifetime);
        return;
      case 'flush':
        this.record(node.id, 'storage', () => `flush${c.flushId} LUNs ${c.luns.join(', ')}`);
        this.world.afterStorageIo({ kind: 'flush', agent: i, life: node.epoch, flushId: c.flushId, luns: c.luns, storage: this.world.storageEpoch }, this.maxIoLifetime);
        return;
      case 'completeIo':
      case 'failIo': {
        const f = this.hostFlushes.get(c.ioId);
        if (f !== undefined) {
          this.hostFlushes.delete(c.ioId);
          this.record(node.id, 'host', () => `flush io${c.ioId} ${c.type === 'completeIo' ? 'done' : 'failed'}`);
          if (c.type === 'completeIo') {
            this.summary.flushesCompleted++;
            this.durability.get(f.disk)?.flushed(`${node.id}#${f.epoch}`, f.seq);
          } else this.durability.get(f.disk)?.flushFailed(`${node.id}#${f.epoch}`, ++this.seq);
          return;
        }
        const io = this.hostIos.get(c.ioId);
        if (io === undefined) return;
        this.record(node.id, 'host', () => c.type === 'completeIo' ? `io${io.id} ${io.op} done` : `io${io.id} ${io.op} failed: ${c.reason}`);
        this.closeIo(io, c.type === 'completeIo');
        return;
      }
    }
  }

  protected closeIo(io: HostIo, ok: boolean): void {
    this.hostIos.delete(io.id);
    const open = this.liveness.noteEnded(io.submittedAt, this.world.now, Math.max(this.world.lastFaultAt, Math.min(this.world.now, this.cutEnds[io.agent] ?? 0)), agentName(io.agent));
    if (open > this.livenessBound)
      fail({ kind: 'liveness', message: `io${io.id} (${io.op} ${io.disk} ${io.start}+${io.length} by ${agentName(io.agent)}) ended ${open} ms after the last injected fault, over the bound of ${this.livenessBound} ms` });
    if (ok) this.summary.iosCompleted++;
    else this.summary.iosFailed++;
    const crossed = this.crossing.get(io.id);
    if (crossed !== undefined) {
      this.crossing.delete(io.id);
      crossed.model.writeFailed(io.start, io.length);
      if (crossed.tracked !== undefined) crossed.durable.writeEnded(crossed.tracked, false, ++this.seq, '', false);
    }
    if (io.op !== 'read') {
      if (ok) io.model.writeAcknowledged(io.start, io.length, io.value);
      else io.model.writeFailed(io.start, io.length);
      if (io.tracked !== undefined) io.durable?.writeEnded(io.tracked, ok, ++this.seq, `${agentName(io.agent)}#${io.epoch}`, io.fua === true);
      return;
    }
    if (!ok || io.data === null || io.seen === null) return;
    this.summary.readsChecked++;
    fail(checkRead(io));
  }

  /** Storage performs an agent's pieces. */
  protected landAgentIo(event: Extract<WorldEvent, { kind: 'agentIo' }>): void {
    const node = this.agents[event.agent]!;
    if (node.epoch !== event.epoch) return; // fenced: that life is gone
    const io = this.hostIos.get(event.ioId);
    if (event.storage !== undefined && event.storage !== this.world.storageEpoch) return this.toAgent(event.agent, { type: 'ioFailed', ioId: event.ioId, error: 'storage lost power' });
    if (event.aborted === true) return this.toAgent(event.agent, { type: 'ioFailed', ioId: event.ioId, error: 'storage I/O timed out (aborted)' });
    if (this.world.storageFails()) return this.toAgent(event.agent, { type: 'ioFailed', ioId: event.ioId, error: 'injected storage error' });
    if (event.op !== 'write') {
      if (io !== undefined) io.data = this.world.blocks.read(event.pieces, io.start, io.length);
      return this.toAgent(event.agent, { type: 'ioDone', ioId: event.ioId });
    }
    let blocks = 0;
    for (const p of event.pieces) if (p.kind !== 'zero') blocks += p.length;
    // All of it lands, or only the first blocks (a partial write), or all of it with an error.
    const outcome = this.world.writeOutcome(blocks);
    let left = outcome.landed;
    for (const p of event.pieces) {
      if (p.kind === 'zero') continue;
      if (left <= 0) break;
      this.landWrite(io, left >= p.length ? p : { ...p, length: left });
      left -= p.length;
    }
    this.toAgent(event.agent, outcome.error === null ? { type: 'ioDone', ioId: event.ioId } : { type: 'ioFailed', ioId: event.ioId, error: outcome.error });
  }

  protected landWrite(io: HostIo | undefined, p: Piece): void {
    if (p.kind === 'primary' && io !== undefined) fail(this.frozen.checkWrite(this.controller, io, p));
    this.world.blocks.write(p, io?.value ?? 0, io === undefined ? 'host' : `${agentName(io.agent)}#${io.epoch}`);
  }

}
