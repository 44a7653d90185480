/**
 * Model-based test of the REAL runtimes (`createController` / `createAgent`) over the in-memory
 * adapters, driven by `fc.commands` + `fc.asyncModelRun`.
 *
 * The model is, per disk, a map block -> the bytes of the last acknowledged write (absent:
 * zeros). Commands run one after the other: each host I/O is awaited while the test drives the
 * system (deliver the lossy, duplicating network, advance the manual clock, drain microtasks),
 * then the system is driven to quiescence. No real timers.
 *
 * Durability: `flush` through an agent guarantees the writes made through that agent life; a
 * power loss of storage may then leave each block with its guaranteed content or any written
 * since (checked by reading every disk), and a power loss of the controller loses nothing once
 * quiet. A flush may fail only after a power loss.
 *
 * Partitions: a cut agent may hold I/O (through it, or that needs its acknowledgement), never
 * fail it. When a command does not complete within a bounded number of rounds while some agent
 * is cut, every agent is healed and the command must then complete. A read probe issued through
 * an agent right after it is cut may stay held; it must never fail, and once it completes every
 * block that no write overlapped meanwhile must be as the model says.
 *
 * A failed write (faulted runs) may have landed in part: the blocks read back as new count as
 * written through the agent, so its next flush must keep them (docs/design.md#ordering-rules D6).
 *
 * Replay a failure (CONTRIBUTING.md): VDISK_FC_SEED, VDISK_FC_PATH and VDISK_FC_REPLAY_PATH as the
 * failure prints them; VDISK_RUNTIME_FAULT_RUNS=n sets the number of faulted runs.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { FailMode, StorageOp } from '../../src/adapters/memory/storage.js';
import { agentEpoch, agentTable } from '../../src/agent/agent.js';
import type { Clock, TimerHandle, Transport } from '../../src/adapters/types.js';
import type { AgentMessage, ControllerMessage } from '../../src/protocol/messages.js';
import { createAgent, type AgentRuntime } from '../../src/runtime/agent-runtime.js';
import type { ControllerRuntime, ControllerRuntimeConfig } from '../../src/runtime/controller-runtime.js';
import { BS, makeEnv as makeMemoryEnv, microtasks, round, startController, TICK, type Env } from './harness.js';

// ---------------------------------------------------------------------------------------------
// Harness (test/runtime/harness.ts, with a lossy, duplicating network)

const LUNS = { 1: 1024, 2: 1024 };
const SEGMENT_BLOCKS = 4;
const SEGMENTS = 8;
const BLOCKS = SEGMENT_BLOCKS * SEGMENTS;
const AGENTS = ['a', 'b', 'c'] as const;
const MAX_DISKS = 4; // 'd' and up to 3 snapshots
const HELD_ROUNDS = 40; // rounds a command may be held while some agent is cut, before healing
const MAX_ROUNDS = 1500;

/**
 * Faulted runs (docs/design.md#liveness): storage that loses acknowledgements, lands multi-block
 * writes in part and hangs (late, or aborted after MAX_HANG, within the lease's maxIoLifetime),
 * leases, and the fault commands below.
 */
const MAX_HANG = 40;
const LEASE = { leaseDuration: 300, maxClockDrift: 10, maxIoLifetime: 50 } as const;
const STORAGE_FAULTS = { failureRate: 0.005, lostAckRate: 0.02, partialWriteRate: 0.02, hangRate: 0.03, maxHang: MAX_HANG } as const;

const makeEnv = (seed: number, faulted = false): Env =>
  makeMemoryEnv({ luns: LUNS, seed, dropRate: 0.04, duplicateRate: 0.04, maxDelay: 4, ...(faulted ? { storageFaults: STORAGE_FAULTS } : {}) });

/**
 * A paused agent process: while `paused`, its timers and the messages delivered to it wait, and
 * run all at once when it resumes (its storage completions still arrive: an approximation).
 */
interface Pause {
  paused: boolean;
  readonly late: (() => void)[];
}

/** Starts an agent life whose clock and inbox obey `pause`. */
const startAgent = (env: Env, agent: string, epoch: number, pause: Pause, faulted: boolean): AgentRuntime => {
  const clock: Clock = {
    now: () => env.clock.now(),
    setTimer: (ms: number, cb: () => void): TimerHandle => env.clock.setTimer(ms, () => (pause.paused ? pause.late.push(cb) : cb())),
    clearTimer: (h: TimerHandle) => env.clock.clearTimer(h),
  };
  const net = env.network.transport<AgentMessage, ControllerMessage>(agent);
  const transport: Transport<AgentMessage, ControllerMessage> = {
    send: (to, message) => net.send(to, message),
    onMessage: (handler) => net.onMessage((from, message) => (pause.paused ? pause.late.push(() => handler(from, message)) : handler(from, message))),
  };
  return createAgent(
    { storage: env.storage.connect(), transport, clock },
    { agent, epoch, variant: env.variant, faultTimeout: 50, tickInterval: TICK, ...(faulted ? { leaseDuration: LEASE.leaseDuration } : {}) },
  );
};

/** A promise whose outcome can be looked at synchronously. */
interface Tracked<T> {
  readonly promise: Promise<T>;
  done: boolean;
  value?: T;
  error?: unknown;
}
const track = <T>(promise: Promise<T>): Tracked<T> => {
  const t: Tracked<T> = { promise, done: false };
  promise.then(
    (v) => {
      t.done = true;
      t.value = v;
    },
    (e: unknown) => {
      t.done = true;
      t.error = e;
    },
  );
  return t;
};

/** Runs rounds until `cond` holds, at most `max`; returns whether it holds. */
const roundsUntil = async (env: Env, cond: () => boolean, max: number): Promise<boolean> => {
  await microtasks();
  for (let i = 0; i < max && !cond(); i++) await round(env);
  return cond();
};

// ---------------------------------------------------------------------------------------------
// Model and real system

type Blocks = Map<number, Uint8Array>; // block -> its last acknowledged content

interface Model {
  /** Disks in creation order ('d', then snapshots). */
  readonly disks: string[];
  readonly content: Map<string, Blocks>;
  /** Indexes of cut agents. */
  readonly cut: Set<number>;
  /** Snapshots written or zeroed since they were taken (a rollback to them is refused). */
  readonly touched: Set<string>;
  /**
   * Durability (docs/design.md#ordering-rules), per disk and block: the content a power loss
   * must keep (hex; absent: zeros) and the writes since, with the agent life that made each.
   */
  readonly durable: Map<string, Map<number, { floor: string; since: { hex: string; writer: string }[] }>>;
  /** Per writer since the last power loss: the disks it has flushed since (each may fail once, see D7). */
  readonly lossSeen: Map<string, Set<string>>;
}

/**
 * The writer of a block version: an agent life. A version a snapshot or rollback carried over
 * from another disk is tagged with that disk: a flush covers the writes made to its own disk only.
 */
const writerOf = (real: Real, agent: number): string => `${AGENTS[agent]}#${real.epochs[agent]}`;
const durableBlock = (model: Model, disk: string, block: number) => {
  let blocks = model.durable.get(disk);
  if (blocks === undefined) model.durable.set(disk, (blocks = new Map()));
  let b = blocks.get(block);
  if (b === undefined) blocks.set(block, (b = { floor: hex(model.content.get(disk)!.get(block)), since: [] }));
  return b;
};

/** A read issued through an agent just cut, which may stay held until the agent is healed. */
interface HeldRead {
  readonly agent: number;
  readonly disk: string;
  readonly start: number;
  readonly length: number;
  readonly io: Tracked<Uint8Array>;
  /**
   * Per block, the content (hex) it must return, or null once a write to the block was issued
   * while the read was open: storage semantics leave a read overlapping a write undefined (see
   * src/sim/disk-model.ts), so such blocks are not checked.
   */
  readonly expect: (string | null)[];
  /** Storage rejections injected before it was issued: it may fail only if more were since. */
  readonly injectedBefore: number;
}

interface Real {
  readonly env: Env;
  /** Faulted run: storage faults, leases and the fault commands. */
  readonly faulted: boolean;
  readonly pauses: Pause[];
  /** A storage power loss came after injected faults: one more host request may fail (see mayFail). */
  lossAfterFaults: boolean;
  controller: ControllerRuntime;
  readonly agents: AgentRuntime[];
  readonly epochs: number[];
  held: HeldRead[];
  snapshots: number;
}

/** What the faulted runs went through, summed over runs (reported with VDISK_RUNTIME_FAULT_RUNS). */
const tally = { runs: 0, hostIos: 0, rejected: 0, hung: 0, failedWrites: 0, failedReads: 0, failedFlushes: 0, reuseRefused: 0, afterLoss: 0 };

/** Storage rejections injected so far: a host request may fail only when this grew while it ran. */
const injected = (real: Real): number => real.env.storage.injected().rejected;

/**
 * Whether a host request that failed with `error` may have: storage rejected an injected fault
 * while it ran; or it is the first failure since a storage power loss that followed injected
 * faults (an aborted flush of a job leaves the controller's connection with unflushed copies, so
 * its next flush reports the lost cache and the job fails; see docs/design.md#liveness).
 */
const mayFail = (real: Real, before: number, error: unknown): boolean => {
  if (injected(real) > before) return true;
  if (real.lossAfterFaults && /storage failed|cache was lost/.test(String(error))) {
    real.lossAfterFaults = false;
    tally.afterLoss++;
    return true;
  }
  return false;
};

const startLife = (real: Real, i: number, epoch: number): AgentRuntime => startAgent(real.env, AGENTS[i]!, epoch, real.pauses[i]!, real.faulted);

const controllerConfig = (real: Real): ControllerRuntimeConfig => (real.faulted ? LEASE : {});

const hex = (b: Uint8Array | undefined): string => (b === undefined ? '00'.repeat(BS) : Buffer.from(b).toString('hex'));

const expected = (model: Model, disk: string, start: number, length: number): Uint8Array => {
  const out = new Uint8Array(length * BS);
  const blocks = model.content.get(disk)!;
  for (let k = 0; k < length; k++) {
    const b = blocks.get(start + k);
    if (b !== undefined) out.set(b, k * BS);
  }
  return out;
};

const diskOf = (model: Readonly<Model>, i: number): string => model.disks[i % model.disks.length]!;
const clampRange = (start: number, length: number): [number, number] => [start, Math.min(length, BLOCKS - start)];

/** Checks a held read that has settled: it must have resolved, with every block not overlapped by a write as the model says. */
const checkHeld = (h: HeldRead, real: Real): void => {
  if (h.io.error !== undefined && mayFail(real, h.injectedBefore, h.io.error)) return;
  expect(h.io.error, `held read through ${AGENTS[h.agent]} of ${h.disk}@${h.start}+${h.length} failed`).toBeUndefined();
  const data = h.io.value!;
  expect(data.length).toBe(h.length * BS);
  for (let k = 0; k < h.length; k++) {
    const want = h.expect[k]!;
    if (want !== null) expect(hex(data.subarray(k * BS, (k + 1) * BS)), `held read: block ${h.start + k} of ${h.disk} through ${AGENTS[h.agent]}`).toBe(want);
  }
};

/** Heals every cut agent; every held read must then complete and be checked. */
const healAll = async (model: Model, real: Real): Promise<void> => {
  for (const i of model.cut) real.env.network.heal(AGENTS[i]!);
  model.cut.clear();
  const held = real.held;
  real.held = [];
  expect(await roundsUntil(real.env, () => held.every((h) => h.io.done), MAX_ROUNDS), 'held reads complete once healed').toBe(true);
  held.forEach((h) => checkHeld(h, real));
};

/**
 * Drives the system until `t` settles. While some agent is cut it may be held: after
 * HELD_ROUNDS every agent is healed, and it must then settle (it must never fail meanwhile).
 */
const drive = async <T>(model: Model, real: Real, t: Tracked<T>, what: string): Promise<T> => {
  if (!(await roundsUntil(real.env, () => t.done, model.cut.size > 0 ? HELD_ROUNDS : MAX_ROUNDS))) {
    expect(model.cut.size, `${what}: no progress after ${MAX_ROUNDS} rounds with no agent cut`).toBeGreaterThan(0);
    await healAll(model, real);
    expect(await roundsUntil(real.env, () => t.done, MAX_ROUNDS), `${what}: no progress after healing`).toBe(true);
  }
  if (t.error !== undefined) throw new Error(`${what} failed: ${String(t.error)}`);
  return t.value as T;
};

/** Drives the system to quiescence: with no agent cut, every job, I/O and message must drain. */
const quiesce = async (model: Model, real: Real): Promise<void> => {
  const { env } = real;
  if (model.cut.size > 0) {
    for (let i = 0; i < 10; i++) await round(env);
    return;
  }
  const quiet = () => real.controller.state().jobs.size === 0 && real.agents.every((a) => a.state().ios.size === 0) && env.network.pending() === 0;
  expect(await roundsUntil(env, quiet, MAX_ROUNDS), `not quiescent: ${real.controller.state().jobs.size} jobs`).toBe(true);
  for (let i = 0; i < 3; i++) await round(env);
};

const adminOk = async (model: Model, real: Real, request: Parameters<ControllerRuntime['admin']>[0]): Promise<void> => {
  expect(await drive(model, real, track(real.controller.admin(request)), `admin ${JSON.stringify(request)}`)).toEqual({ ok: true });
};

/** Reads through agent `i`, again while a read fails for an injected storage fault (never otherwise). */
const readBack = async (model: Model, real: Real, i: number, disk: string, start: number, length: number, what: string): Promise<Uint8Array> => {
  for (let attempt = 0; ; attempt++) {
    const before = injected(real);
    try {
      return await drive(model, real, track(real.agents[i]!.read(disk, start, length)), what);
    } catch (e) {
      if (!(mayFail(real, before, e) && attempt < 20)) throw e;
    }
  }
};

/**
 * A host write or zeroing failed for an injected storage fault: each block now holds its old
 * content or the new one (a multi-block write may land in part). Reads them back, checks that,
 * and takes what it read as the model's content. For durability, a block that reads new was
 * written through this agent; one that reads old was not written at all.
 */
const settleFailedWrite = async (model: Model, real: Real, agent: number, disk: string, start: number, data: Uint8Array | undefined, what: string): Promise<void> => {
  const length = data === undefined ? 0 : data.length / BS;
  const got = await readBack(model, real, agent, disk, start, length, `${what}: read back after its failure`);
  const blocks = model.content.get(disk)!;
  for (let k = 0; k < length; k++) {
    const now = hex(got.subarray(k * BS, (k + 1) * BS));
    const neu = hex(data!.subarray(k * BS, (k + 1) * BS));
    expect([hex(blocks.get(start + k)), neu], `${what}: block ${start + k} after the write failed`).toContain(now);
    // Only a block that landed was written through this agent (and is made durable by its flush);
    // one that did not keeps the content, and the guarantees, it had.
    if (now === neu) durableBlock(model, disk, start + k).since.push({ hex: neu, writer: writerOf(real, agent) });
    blocks.set(start + k, got.slice(k * BS, (k + 1) * BS));
  }
};

// ---------------------------------------------------------------------------------------------
// Commands

type Cmd = fc.AsyncCommand<Model, Real>;

class WriteCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly disk: number,
    readonly start: number,
    readonly len: number,
    readonly bytes: Uint8Array,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const [start, length] = clampRange(this.start, this.len);
    if (real.faulted) tally.hostIos++;
    const data = this.bytes.slice(0, length * BS);
    // Held reads overlap this write in time: the blocks they share are left unchecked.
    for (const h of real.held) if (h.disk === disk) for (let b = Math.max(start, h.start); b < Math.min(start + length, h.start + h.length); b++) h.expect[b - h.start] = null;
    const what = `write ${disk}@${start}+${length} through ${AGENTS[this.agent]}`;
    const before = injected(real);
    try {
      await drive(model, real, track(real.agents[this.agent]!.write(disk, start, data)), what);
    } catch (e) {
      if (!mayFail(real, before, e)) throw e;
      tally.failedWrites++;
      await settleFailedWrite(model, real, this.agent, disk, start, data, what);
      if (disk !== 'd') model.touched.add(disk);
      await quiesce(model, real);
      return;
    }
    const blocks = model.content.get(disk)!;
    for (let k = 0; k < length; k++) {
      durableBlock(model, disk, start + k).since.push({ hex: hex(data.subarray(k * BS, (k + 1) * BS)), writer: writerOf(real, this.agent) });
      blocks.set(start + k, data.slice(k * BS, (k + 1) * BS));
    }
    if (disk !== 'd') model.touched.add(disk);
    await quiesce(model, real);
  }
  toString = () => `write(${AGENTS[this.agent]}, disk#${this.disk}, ${this.start}, ${this.len})`;
}

/** A discard or write-zeroes: afterwards the blocks read as zeros. */
class ZeroCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly disk: number,
    readonly start: number,
    readonly len: number,
    readonly discard: boolean,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const [start, length] = clampRange(this.start, this.len);
    if (real.faulted) tally.hostIos++;
    for (const h of real.held) if (h.disk === disk) for (let b = Math.max(start, h.start); b < Math.min(start + length, h.start + h.length); b++) h.expect[b - h.start] = null;
    const node = real.agents[this.agent]!;
    const what = `${this.discard ? 'discard' : 'writeZeros'} ${disk}@${start}+${length} through ${AGENTS[this.agent]}`;
    const before = injected(real);
    try {
      await drive(model, real, track(this.discard ? node.discard(disk, start, length) : node.writeZeros(disk, start, length)), what);
    } catch (e) {
      if (!mayFail(real, before, e)) throw e;
      tally.failedWrites++;
      await settleFailedWrite(model, real, this.agent, disk, start, new Uint8Array(length * BS), what);
      if (disk !== 'd') model.touched.add(disk);
      await quiesce(model, real);
      return;
    }
    const blocks = model.content.get(disk)!;
    for (let k = 0; k < length; k++) {
      durableBlock(model, disk, start + k).since.push({ hex: hex(undefined), writer: writerOf(real, this.agent) });
      blocks.delete(start + k);
    }
    if (disk !== 'd') model.touched.add(disk);
    await quiesce(model, real);
  }
  toString = () => `${this.discard ? 'discard' : 'writeZeros'}(${AGENTS[this.agent]}, disk#${this.disk}, ${this.start}, ${this.len})`;
}

/** Deletes a disk (with force: agents are attached); the others keep their content. */
class DeleteCmd implements Cmd {
  constructor(readonly disk: number) {}
  check = (m: Readonly<Model>) => m.disks.length > 1;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    // A held read of the disk would fail when its agent drops the copy: finish them first.
    await healAll(model, real);
    await adminOk(model, real, { type: 'deleteDisk', disk, force: true });
    expect(real.controller.state().disks.has(disk)).toBe(false);
    model.disks.splice(model.disks.indexOf(disk), 1);
    model.content.delete(disk);
    model.durable.delete(disk);
    await quiesce(model, real);
  }
  toString = () => `delete(disk#${this.disk})`;
}

/** Rolls a disk back to another (a snapshot); refused only when that one was written since it was taken. */
class RollbackCmd implements Cmd {
  constructor(
    readonly disk: number,
    readonly snapshot: number,
  ) {}
  check = (m: Readonly<Model>) => m.disks.length > 1;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const others = model.disks.filter((x) => x !== disk);
    const snapshot = others[this.snapshot % others.length]!;
    for (const h of real.held) if (h.disk === disk) h.expect.fill(null);
    const result = await drive(model, real, track(real.controller.admin({ type: 'rollback', disk, snapshot })), `rollback ${disk} to ${snapshot}`);
    if (result.ok) {
      model.content.set(disk, new Map(model.content.get(snapshot)!));
      const image = model.durable.get(snapshot);
      model.durable.set(disk, new Map([...(image ?? new Map())].map(([b, v]) => [b, { floor: v.floor, since: v.since.map((x: { hex: string; writer: string }) => ({ hex: x.hex, writer: `${x.writer}@${snapshot}` })) }])));
      if (disk !== 'd') model.touched.add(disk);
    } else {
      expect(result.error).toMatch(/written since it was taken/);
      expect(snapshot === 'd' || model.touched.has(snapshot), `rollback to ${snapshot}, never written since taken, was refused`).toBe(true);
    }
    await quiesce(model, real);
  }
  toString = () => `rollback(disk#${this.disk}, other#${this.snapshot})`;
}

class ReadCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly disk: number,
    readonly start: number,
    readonly len: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const [start, length] = clampRange(this.start, this.len);
    if (real.faulted) tally.hostIos++;
    const what = `read ${disk}@${start}+${length} through ${AGENTS[this.agent]}`;
    const before = injected(real);
    let got: Uint8Array;
    try {
      got = await drive(model, real, track(real.agents[this.agent]!.read(disk, start, length)), what);
    } catch (e) {
      if (!mayFail(real, before, e)) throw e;
      tally.failedReads++;
      await quiesce(model, real);
      return;
    }
    expect(got, what).toEqual(expected(model, disk, start, length));
    await quiesce(model, real);
  }
  toString = () => `read(${AGENTS[this.agent]}, disk#${this.disk}, ${this.start}, ${this.len})`;
}

class SnapshotCmd implements Cmd {
  constructor(readonly disk: number) {}
  check = (m: Readonly<Model>) => m.disks.length < MAX_DISKS;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const snapshot = `s${++real.snapshots}`;
    await adminOk(model, real, { type: 'snapshot', disk, snapshot });
    expect(real.controller.state().disks.has(snapshot)).toBe(true);
    model.disks.push(snapshot);
    model.content.set(snapshot, new Map(model.content.get(disk)!));
    // The snapshot may hold, after a power loss, whatever its source might.
    const source = model.durable.get(disk) ?? new Map();
    model.durable.set(snapshot, new Map([...source].map(([b, x]) => [b, { floor: x.floor, since: x.since.map((y: { hex: string; writer: string }) => ({ hex: y.hex, writer: `${y.writer}@${disk}` })) }])));
    for (const agent of AGENTS) await adminOk(model, real, { type: 'attachAgent', disk: snapshot, agent });
    await quiesce(model, real);
  }
  toString = () => `snapshot(disk#${this.disk})`;
}

class RestartAgentCmd implements Cmd {
  constructor(readonly agent: number) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const name = AGENTS[this.agent]!;
    const old = real.agents[this.agent]!;
    const lastEpoch = agentEpoch(old.state()); // an evicted life moved itself to a higher epoch
    old.stop();
    expect(old.stopped).toBe(true);
    await expect(old.read('d', 0, 1)).rejects.toThrow(/is stopped/);
    await microtasks();
    // Held reads of the old life: completed ones are checked, open ones were rejected by stop().
    for (const h of real.held.filter((x) => x.agent === this.agent)) {
      expect(h.io.done).toBe(true);
      if (h.io.error !== undefined) expect(String(h.io.error)).toMatch(/stopped before it completed/);
      else checkHeld(h, real);
    }
    real.held = real.held.filter((x) => x.agent !== this.agent);
    const epoch = (real.epochs[this.agent] = Math.max(real.epochs[this.agent]!, lastEpoch) + 1);
    const fresh = startLife(real, this.agent, epoch);
    real.agents[this.agent] = fresh;
    for (const disk of model.disks) expect(agentTable(fresh.state(), disk), `a new life of ${name} holds no table of ${disk}`).toBeUndefined();
    await quiesce(model, real);
  }
  toString = () => `restartAgent(${AGENTS[this.agent]})`;
}

class RestartControllerCmd implements Cmd {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const old = real.controller;
    const durable = model.cut.size === 0; // quiescent: every change is persisted
    const generations = new Map([...old.state().disks].map(([d, s]) => [d, s.committed.generation]));
    old.stop();
    expect(await old.admin({ type: 'createDisk', disk: 'x', segmentBlocks: 4, segmentCount: 1 })).toEqual({ ok: false, error: 'the controller is stopped' });
    real.controller = await startController(real.env, controllerConfig(real));
    await microtasks();
    const disks = real.controller.state().disks;
    expect([...disks.keys()].sort()).toEqual([...model.disks].sort());
    if (durable) for (const [d, g] of generations) expect(disks.get(d)?.committed.generation, `generation of ${d} after restart`).toBe(g);
    await quiesce(model, real);
  }
  toString = () => 'restartController';
}

class CutCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly disk: number,
    readonly start: number,
    readonly len: number,
  ) {}
  check = (m: Readonly<Model>) => !m.cut.has(this.agent);
  async run(model: Model, real: Real): Promise<void> {
    const name = AGENTS[this.agent]!;
    real.env.network.cut(name);
    model.cut.add(this.agent);
    expect(real.env.network.isCut(name)).toBe(true);
    // A probe read through the cut agent: it may complete (from tables it holds) or be held.
    const disk = diskOf(model, this.disk);
    const [start, length] = clampRange(this.start, this.len);
    if (real.faulted) tally.hostIos++;
    const injectedBefore = injected(real);
    const io = track(real.agents[this.agent]!.read(disk, start, length));
    const h: HeldRead = { agent: this.agent, disk, start, length, io, injectedBefore, expect: Array.from({ length }, (_, k) => hex(model.content.get(disk)!.get(start + k))) };
    await roundsUntil(real.env, () => io.done, 20);
    if (io.done) checkHeld(h, real);
    else real.held.push(h);
    await quiesce(model, real);
  }
  toString = () => `cut(${AGENTS[this.agent]}, probe disk#${this.disk}, ${this.start}, ${this.len})`;
}

class HealCmd implements Cmd {
  constructor(readonly agent: number) {}
  check = (m: Readonly<Model>) => m.cut.has(this.agent);
  async run(model: Model, real: Real): Promise<void> {
    const name = AGENTS[this.agent]!;
    real.env.network.heal(name);
    model.cut.delete(this.agent);
    expect(real.env.network.isCut(name)).toBe(false);
    const mine = real.held.filter((h) => h.agent === this.agent);
    real.held = real.held.filter((h) => h.agent !== this.agent);
    expect(await roundsUntil(real.env, () => mine.every((h) => h.io.done), MAX_ROUNDS), `held reads through ${name} complete once healed`).toBe(true);
    mine.forEach((h) => checkHeld(h, real));
    await quiesce(model, real);
  }
  toString = () => `heal(${AGENTS[this.agent]})`;
}

// Durability (docs/design.md#ordering-rules)

class FlushCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly disk: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const writer = writerOf(real, this.agent);
    const before = injected(real); // before the call: storage may reject at once
    const t = track(real.agents[this.agent]!.flush(disk));
    try {
      await drive(model, real, t, `flush ${disk} through ${AGENTS[this.agent]}`);
    } catch (e) {
      if (injected(real) > before) {
        tally.failedFlushes++;
        await quiesce(model, real); // a storage fault: nothing more is guaranteed durable
        return;
      }
      // Only a power loss may make it fail, and only once per disk after it: a failed flush also
      // fails the next flush of every disk with unflushed writes on the same LUNs (rule D7).
      const flushedSince = model.lossSeen.get(writer);
      expect(flushedSince !== undefined && !flushedSince.has(disk), `flush of ${disk} through ${writer} failed with no power loss: ${String(e)}`).toBe(true);
      flushedSince?.add(disk);
      await quiesce(model, real);
      return;
    }
    model.lossSeen.get(writer)?.add(disk);
    // Every write through this life is now durable: it, or something written after it, must survive.
    for (const b of model.durable.get(disk)?.values() ?? []) {
      const last = b.since.map((x) => x.writer).lastIndexOf(writer);
      if (last < 0) continue;
      b.floor = b.since[last]!.hex;
      b.since = b.since.slice(last + 1);
    }
    await quiesce(model, real);
  }
  toString = () => `flush(${AGENTS[this.agent]}, disk#${this.disk})`;
}

/** Power loss of storage: every block reads its guaranteed content or one written since; from then on that is its content. */
class StoragePowerLossCmd implements Cmd {
  check = (m: Readonly<Model>) => m.cut.size === 0;
  async run(model: Model, real: Real): Promise<void> {
    real.env.storage.powerLoss();
    const { rejected, hung } = real.env.storage.injected();
    if (rejected + hung > 0) real.lossAfterFaults = true;
    for (let i = 0; i < AGENTS.length; i++) model.lossSeen.set(writerOf(real, i), new Set());
    await quiesce(model, real);
    for (const disk of model.disks) {
      const what = `read of ${disk} after a power loss of storage`;
      const got = await readBack(model, real, 0, disk, 0, BLOCKS, what);
      const blocks = model.content.get(disk)!;
      for (let k = 0; k < BLOCKS; k++) {
        const content = got.slice(k * BS, (k + 1) * BS);
        const b = durableBlock(model, disk, k);
        const allowed = [b.floor, ...b.since.map((x) => x.hex)];
        expect(allowed, `${what}: block ${k}`).toContain(hex(content));
        blocks.set(k, content);
        b.floor = hex(content);
        b.since = [];
      }
    }
    await quiesce(model, real);
  }
  toString = () => 'powerLoss(storage)';
}

/** Power loss of the controller and its store: the unacknowledged tail of the store is lost (none, once quiet). */
class ControllerPowerLossCmd implements Cmd {
  check = (m: Readonly<Model>) => m.cut.size === 0;
  async run(model: Model, real: Real): Promise<void> {
    real.controller.stop();
    expect(real.env.persistence.powerLoss(), 'nothing unacknowledged once quiet').toBe(0);
    real.controller = await startController(real.env, controllerConfig(real));
    await quiesce(model, real);
  }
  toString = () => 'powerLoss(controller)';
}

const agentArb = fc.nat(AGENTS.length - 1);
const diskArb = fc.nat(MAX_DISKS - 1);
const startArb = fc.nat(BLOCKS - 1);
const lenArb = fc.integer({ min: 1, max: 8 });

const writeArb = fc
  .tuple(agentArb, diskArb, startArb, lenArb, fc.uint8Array({ minLength: 8 * BS, maxLength: 8 * BS }))
  .map(([a, d, s, l, bytes]): Cmd => new WriteCmd(a, d, s, l, bytes));
const readArb = fc.tuple(agentArb, diskArb, startArb, lenArb).map(([a, d, s, l]): Cmd => new ReadCmd(a, d, s, l));
const zeroArb = fc.tuple(agentArb, diskArb, startArb, fc.integer({ min: 1, max: 16 }), fc.boolean()).map(([a, d, s, l, discard]): Cmd => new ZeroCmd(a, d, s, l, discard));

/** Host I/O is listed three times: it is drawn more often than the rest. */
const commandArbs: fc.Arbitrary<Cmd>[] = [
  writeArb,
  writeArb,
  writeArb,
  readArb,
  readArb,
  readArb,
  zeroArb,
  zeroArb,
  diskArb.map((d) => new SnapshotCmd(d)),
  diskArb.map((d) => new DeleteCmd(d)),
  fc.tuple(diskArb, diskArb).map(([d, s]) => new RollbackCmd(d, s)),
  agentArb.map((a) => new RestartAgentCmd(a)),
  fc.constant(null).map(() => new RestartControllerCmd()),
  fc.tuple(agentArb, diskArb, startArb, lenArb).map(([a, d, s, l]) => new CutCmd(a, d, s, l)),
  agentArb.map((a) => new HealCmd(a)),
  fc.tuple(agentArb, diskArb).map(([a, d]) => new FlushCmd(a, d)),
  fc.tuple(agentArb, diskArb).map(([a, d]) => new FlushCmd(a, d)),
  fc.constant(null).map(() => new StoragePowerLossCmd()),
  fc.constant(null).map(() => new ControllerPowerLossCmd()),
];

// Fault commands of faulted runs: the simulator's fault kinds, on the real runtimes (docs/design.md#liveness)

/** Arms one storage fault for the next matching operation (host I/O, a copy of a job, a flush). */
class StorageFaultCmd implements Cmd {
  constructor(
    readonly op: StorageOp,
    readonly mode: FailMode,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    expect(E.isRight(real.env.storage.failNext({ count: 1, op: this.op, mode: this.mode }))).toBe(true);
    await quiesce(model, real);
  }
  toString = () => `storageFault(${this.op}, ${this.mode})`;
}

/** The controller's next save lands but reports failure. */
class PersistLostAckCmd implements Cmd {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    expect(E.isRight(real.env.persistence.failNext(1, { applied: true }))).toBe(true);
    await quiesce(model, real);
  }
  toString = () => 'persistLostAck';
}

/** Pauses an agent process for `rounds` rounds (past its lease from 30 on), then resumes it. */
class PauseCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly rounds: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const pause = real.pauses[this.agent]!;
    pause.paused = true;
    for (let i = 0; i < this.rounds; i++) await round(real.env);
    pause.paused = false;
    for (const late of pause.late.splice(0)) late();
    await quiesce(model, real);
  }
  toString = () => `pause(${AGENTS[this.agent]}, ${this.rounds} rounds)`;
}

/** The same admin request twice at once: a snapshot is taken once, the duplicate refused; a duplicate attach is a no-op. */
class DuplicateAdminCmd implements Cmd {
  constructor(readonly disk: number) {}
  check = (m: Readonly<Model>) => m.disks.length < MAX_DISKS;
  async run(model: Model, real: Real): Promise<void> {
    const disk = diskOf(model, this.disk);
    const snapshot = `s${++real.snapshots}`;
    const request = { type: 'snapshot', disk, snapshot } as const;
    const both = track(Promise.all([real.controller.admin(request), real.controller.admin(request)]));
    const results = await drive(model, real, both, `duplicated snapshot ${snapshot} of ${disk}`);
    expect(results.filter((r) => r.ok).length, `duplicated snapshot: ${JSON.stringify(results)}`).toBe(1);
    model.disks.push(snapshot);
    model.content.set(snapshot, new Map(model.content.get(disk)!));
    const source = model.durable.get(disk) ?? new Map();
    model.durable.set(snapshot, new Map([...source].map(([b, x]) => [b, { floor: x.floor, since: x.since.map((y: { hex: string; writer: string }) => ({ hex: y.hex, writer: `${y.writer}@${disk}` })) }])));
    for (const agent of AGENTS) {
      const attach = { type: 'attachAgent', disk: snapshot, agent } as const;
      const twice = await drive(model, real, track(Promise.all([real.controller.admin(attach), real.controller.admin(attach)])), `duplicated attach of ${agent}`);
      expect(twice).toEqual([{ ok: true }, { ok: true }]);
    }
    await quiesce(model, real);
  }
  toString = () => `duplicateAdmin(snapshot disk#${this.disk})`;
}

/**
 * An agent restarted with the epoch of its previous life: refused with an error naming the
 * epoch (or, if the controller never heard from that life, served); then a life with a new epoch.
 */
class ReuseEpochCmd implements Cmd {
  constructor(
    readonly agent: number,
    readonly disk: number,
  ) {}
  check = (m: Readonly<Model>) => m.cut.size === 0;
  async run(model: Model, real: Real): Promise<void> {
    const old = real.agents[this.agent]!;
    const reused = agentEpoch(old.state());
    old.stop();
    await microtasks();
    real.held = real.held.filter((x) => x.agent !== this.agent);
    const disk = diskOf(model, this.disk);
    const again = startLife(real, this.agent, reused);
    real.agents[this.agent] = again;
    const probe = track(again.read(disk, 0, BLOCKS));
    await roundsUntil(real.env, () => probe.done, MAX_ROUNDS);
    again.stop();
    await microtasks();
    expect(probe.done, 'a read through a life with a reused epoch settles').toBe(true);
    if (probe.error !== undefined) {
      const message = String(probe.error);
      if (/epoch \d+ of agent/.test(message)) tally.reuseRefused++;
      expect(message).toMatch(/epoch \d+ of agent \w+ is (used by two lives|also used by another life)|stopped before it completed|injected fault/);
    } else expect(probe.value).toEqual(expected(model, disk, 0, BLOCKS));
    real.agents[this.agent] = startLife(real, this.agent, (real.epochs[this.agent] = Math.max(real.epochs[this.agent]!, reused) + 1));
    await quiesce(model, real);
  }
  toString = () => `reuseEpoch(${AGENTS[this.agent]}, probe disk#${this.disk})`;
}

const faultCommandArbs: fc.Arbitrary<Cmd>[] = [
  ...commandArbs,
  fc.tuple(fc.constantFrom<StorageOp>('read', 'write', 'copy', 'writeZeros', 'flush'), fc.constantFrom<FailMode>('fail', 'lostAck', 'partial')).map(([op, mode]) => new StorageFaultCmd(op, mode)),
  fc.tuple(fc.constantFrom<StorageOp>('write', 'copy'), fc.constantFrom<FailMode>('lostAck', 'partial')).map(([op, mode]) => new StorageFaultCmd(op, mode)),
  fc.constant(null).map(() => new PersistLostAckCmd()),
  fc.tuple(agentArb, fc.integer({ min: 3, max: 45 })).map(([a, r]) => new PauseCmd(a, r)),
  diskArb.map((d) => new DuplicateAdminCmd(d)),
  fc.tuple(agentArb, diskArb).map(([a, d]) => new ReuseEpochCmd(a, d)),
];

// ---------------------------------------------------------------------------------------------

/** One run: a disk 'd' on every agent, the commands, then every disk read through every agent. */
const runModel = async (seed: number, cmds: Iterable<Cmd>, faulted: boolean): Promise<void> => {
  const env = makeEnv(seed, faulted);
  const model: Model = { disks: ['d'], content: new Map([['d', new Map()]]), cut: new Set(), durable: new Map(), lossSeen: new Map(), touched: new Set() };
  const real: Real = { env, faulted, lossAfterFaults: false, pauses: [], controller: await startController(env, faulted ? LEASE : {}), agents: [], epochs: [], held: [], snapshots: 0 };
  for (const [i] of AGENTS.entries()) {
    real.pauses.push({ paused: false, late: [] });
    real.agents.push(startLife(real, i, 1));
    real.epochs.push(1);
  }
  await adminOk(model, real, { type: 'createDisk', disk: 'd', segmentBlocks: SEGMENT_BLOCKS, segmentCount: SEGMENTS });
  for (const agent of AGENTS) await adminOk(model, real, { type: 'attachAgent', disk: 'd', agent });

  await fc.asyncModelRun(() => ({ model, real }), cmds);

  // Finally: heal everything; every disk reads as the model says through every agent.
  await healAll(model, real);
  await quiesce(model, real);
  for (const disk of model.disks)
    for (const [i] of real.agents.entries()) {
      const what = `final read of ${disk} through ${AGENTS[i]}`;
      expect(await readBack(model, real, i, disk, 0, BLOCKS, what), what).toEqual(expected(model, disk, 0, BLOCKS));
    }
  real.controller.stop();
  for (const a of real.agents) a.stop();
  if (faulted) {
    const { rejected, hung } = env.storage.injected();
    tally.runs++;
    tally.rejected += rejected;
    tally.hung += hung;
  }
};

/** Faulted runs: a few by default, more with VDISK_RUNTIME_FAULT_RUNS=n. */
const FAULT_RUNS = Number(process.env.VDISK_RUNTIME_FAULT_RUNS ?? 25);

/**
 * Replay of a failure: VDISK_FC_SEED=n VDISK_FC_PATH=p VDISK_FC_REPLAY_PATH=r, as a failure prints
 * them (`seed`, `path`, and the counterexample's `replayPath` comment: fc.commands needs it to
 * rebuild the shrunk command list). VDISK_FC_VERBOSE=1 prints the failing values met while shrinking.
 */
const env = (name: string): string | undefined => (process.env[name] === '' ? undefined : process.env[name]);
const replay = ((): Pick<fc.Parameters<unknown>, 'seed' | 'path' | 'verbose'> => {
  const seed = env('VDISK_FC_SEED');
  const path = env('VDISK_FC_PATH');
  if (seed !== undefined && !Number.isSafeInteger(Number(seed))) throw new Error(`VDISK_FC_SEED must be an integer, got ${JSON.stringify(seed)}`);
  return {
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
    ...(env('VDISK_FC_VERBOSE') === '1' ? { verbose: 2 } : {}),
  };
})();
const commandsOf = (arbs: fc.Arbitrary<Cmd>[]) => {
  const replayPath = env('VDISK_FC_REPLAY_PATH');
  return fc.commands(arbs, { maxCommands: 20, size: 'max', ...(replayPath === undefined ? {} : { replayPath }) });
};

describe('model-based: runtimes over in-memory adapters with a lossy network', () => {
  it('reads always return the last acknowledged writes (zeros after a discard or write-zeroes), across snapshots, deletions, rollbacks, restarts and partitions; a power loss keeps every flushed write', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), commandsOf(commandArbs), (seed, cmds) => runModel(seed, cmds, false)),
      { numRuns: 100, ...replay },
    );
  });

  it('with storage that loses acknowledgements, lands writes in part and hangs, leases, pauses, duplicated admin requests, reused epochs and lost persist acknowledgements, the same holds; host I/O fails only for an injected storage fault', { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), commandsOf(faultCommandArbs), (seed, cmds) => runModel(seed, cmds, true)),
      { numRuns: FAULT_RUNS, ...replay },
    );
    expect(tally.runs).toBeGreaterThan(0);
    expect(tally.rejected + tally.hung, 'faults were injected').toBeGreaterThan(0);
    if (process.env.VDISK_RUNTIME_FAULT_RUNS !== undefined) console.log(`runtime fault runs: ${JSON.stringify(tally)}`);
  });
});

