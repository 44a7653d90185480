/**
 * A message network in memory, for tests and simulation: deliveries happen when the caller asks
 * (`delivery: 'manual'`, the default) or by themselves as the event loop turns (`'auto'`), in an
 * order drawn from a seeded PRNG, with drops, duplicates and partitions.
 */
import * as E from 'fp-ts/lib/Either.js';
import { guarded, isBlockNumber, validationError, type ValidationError } from '../../errors.js';
import { createPrng, type Prng } from '../prng.js';
import type { Transport } from '../types.js';
import { isRate } from './injection.js';

/**
 * Options of {@link createMemoryNetwork}. `dropRate` and `duplicateRate` are probabilities per
 * sent message. `maxDelay` bounds reordering: a message is overtaken by at most that many
 * younger messages before it is delivered (0: first in, first out; default: unbounded).
 *
 * @example
 * const options: MemoryNetworkOptions = { seed: 42, dropRate: 0.05, duplicateRate: 0.05, maxDelay: 8 };
 */
export interface MemoryNetworkOptions {
  readonly seed: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  readonly maxDelay?: number;
  /**
   * `'manual'` (default): messages wait until `step`, `deliver` or `deliverAll` is called, so a
   * test decides when. `'auto'`: messages are delivered by themselves on a later turn of the
   * event loop, which is what code written against a real transport expects (a runtime whose
   * `await agent.write(...)` must finish without anyone calling `deliverAll`).
   */
  readonly delivery?: 'manual' | 'auto';
}

/**
 * A message in flight. `id` increases with each copy sent.
 *
 * @example
 * network.inFlight().map((e: Envelope) => `${e.from}->${e.to}`);
 */
export interface Envelope {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly message: unknown;
}

/**
 * What one {@link MemoryNetwork.step} did: delivered the envelope, or lost it (the receiver is
 * cut off, has no live endpoint or no handler, or the sender was cut off meanwhile).
 *
 * @example
 * const d = network.step(); if (d?.delivered === false) console.log('lost', d.id);
 */
export interface Delivery extends Envelope {
  readonly delivered: boolean;
}

/**
 * Counters since the network was created. `dropped`: at send (drop rate, partition, dead
 * endpoint); `lost`: at delivery; `duplicated`: extra copies made.
 *
 * @example
 * const { sent, delivered } = network.stats();
 */
export interface NetworkStats {
  readonly sent: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly delivered: number;
  readonly lost: number;
}

/**
 * An in-memory network whose deliveries happen when the caller asks (or, with `delivery: 'auto'`,
 * on later turns of the event loop), in an order chosen by a seeded PRNG: the same seed and the
 * same calls give the same run in manual mode.
 *
 * @example
 * const controller = network.transport<ControllerMessage, AgentMessage>('controller');
 * const agent = network.transport<AgentMessage, ControllerMessage>('a1');
 * network.deliverAll();
 */
export interface MemoryNetwork {
  /**
   * The endpoint of `peer`. Asking again for the same peer models a restart: the previous
   * endpoint dies (its handlers get nothing more, its sends are dropped).
   */
  transport<Out = unknown, In = unknown>(peer: string): Transport<Out, In>;
  /** Delivers (or loses) one message in flight; undefined when none is. */
  step(): Delivery | undefined;
  /** Runs up to `count` steps (default 1); returns how many ran. */
  deliver(count?: number): number;
  /** Runs steps until nothing is in flight or `limit` steps ran (default 1,000,000); returns how many ran. */
  deliverAll(limit?: number): number;
  /** Number of messages in flight. */
  pending(): number;
  /** The messages in flight, oldest first (the messages themselves are not copies: do not mutate). */
  inFlight(): ReadonlyArray<Envelope>;
  /** Partitions `peer` from everyone: messages from or to it are dropped, including those in flight when they come up. */
  cut(peer: string): void;
  /** Ends a partition made with `cut`; messages dropped meanwhile stay lost. */
  heal(peer: string): void;
  /** Whether `peer` is partitioned by `cut`. */
  isCut(peer: string): boolean;
  /** A copy of the counters since the network was created. */
  stats(): NetworkStats;
}

type Handler = (from: string, message: unknown) => void;

/** A message in flight, with how many younger messages were delivered before it. */
interface Flight extends Envelope {
  overtaken: number;
}

/** Everything behind one in-memory network. */
interface NetworkState {
  readonly prng: Prng;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly maxDelay: number;
  /** Messages in flight, oldest first. */
  readonly flight: Flight[];
  nextId: number;
  /** The live endpoint of each peer; a new transport for a peer replaces (kills) the old one. */
  readonly endpoints: Map<string, { readonly handlers: Handler[] }>;
  readonly cutPeers: Set<string>;
  readonly stats: { sent: number; dropped: number; duplicated: number; delivered: number; lost: number };
  readonly auto: boolean;
  /** Auto delivery: a flush is scheduled on the event loop. */
  scheduled: boolean;
}

/** The next turn of the event loop (a macrotask, so timers and I/O get their turn between flushes). */
const nextTurn = (f: () => void): void => {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown; setTimeout: (f: () => void, ms: number) => unknown };
  if (typeof g.setImmediate === 'function') g.setImmediate(f);
  else g.setTimeout(f, 0);
};

/**
 * Auto delivery: once per turn, delivers the messages in flight at its start (those they cause
 * wait for the next turn, so a conversation between peers never holds the event loop).
 */
const scheduleFlush = (s: NetworkState): void => {
  if (!s.auto || s.scheduled) return;
  s.scheduled = true;
  nextTurn(() => {
    s.scheduled = false;
    const n = s.flight.length;
    try {
      deliverUpTo(s, n);
    } finally {
      if (s.flight.length > 0) scheduleFlush(s);
    }
  });
};

/** Delivers (or loses) one message in flight. */
const deliverOne = (s: NetworkState): Delivery | undefined => {
  const flight = s.flight;
  if (flight.length === 0) return undefined;
  // A message overtaken maxDelay times goes next (the oldest such); otherwise any, at random.
  let k = flight.findIndex((f) => f.overtaken >= s.maxDelay);
  if (k < 0) k = s.prng.int(flight.length);
  const f = flight[k]!;
  flight.splice(k, 1);
  for (let i = 0; i < k; i++) flight[i]!.overtaken++;
  const endpoint = s.endpoints.get(f.to);
  const delivered = endpoint !== undefined && endpoint.handlers.length > 0 && !s.cutPeers.has(f.to) && !s.cutPeers.has(f.from);
  const delivery: Delivery = { id: f.id, from: f.from, to: f.to, message: f.message, delivered };
  if (!delivered) {
    s.stats.lost++;
    return delivery;
  }
  s.stats.delivered++;
  endpoint.handlers.forEach((h, i) => h(f.from, i === 0 ? f.message : structuredClone(f.message)));
  return delivery;
};

/** A new endpoint for `peer`, replacing any earlier one. */
const openEndpoint = <Out, In>(s: NetworkState, peer: string): Transport<Out, In> => {
  const me = { handlers: [] as Handler[] };
  s.endpoints.set(peer, me);
  const alive = (): boolean => s.endpoints.get(peer) === me;
  return {
    send(to, message) {
      s.stats.sent++;
      const copy = structuredClone(message);
      if (!alive() || s.cutPeers.has(peer) || s.cutPeers.has(to) || s.prng.chance(s.dropRate)) {
        s.stats.dropped++;
        return;
      }
      s.flight.push({ id: s.nextId++, from: peer, to, message: copy, overtaken: 0 });
      if (s.prng.chance(s.duplicateRate)) {
        s.stats.duplicated++;
        s.flight.push({ id: s.nextId++, from: peer, to, message: structuredClone(copy), overtaken: 0 });
      }
      scheduleFlush(s);
    },
    onMessage(handler) {
      if (alive()) me.handlers.push(handler as Handler);
    },
  };
};

/** Runs up to `limit` deliveries; returns how many ran. */
const deliverUpTo = (s: NetworkState, limit: number): number => {
  let n = 0;
  while (n < limit && deliverOne(s) !== undefined) n++;
  return n;
};

/**
 * A deterministic in-memory network. Messages are `structuredClone`d on send, so peers never
 * share mutable values; `send` throws only when a message cannot be cloned (functions, class
 * instances with private state), which is a bug in the sender, not a network condition.
 * Left when the options are malformed.
 *
 * @example
 * const network = createMemoryNetwork({ seed: 1, dropRate: 0.1 }); // Right(network): deliveries when asked
 * const live = createMemoryNetwork({ seed: 1, delivery: 'auto' }); // Right(network): deliveries by themselves
 */
export const createMemoryNetwork = (options: MemoryNetworkOptions): E.Either<ValidationError[], MemoryNetwork> => guarded('options', () => buildNetwork(options));

const buildNetwork = (options: MemoryNetworkOptions): E.Either<ValidationError[], MemoryNetwork> => {
  if (typeof options !== 'object' || options === null) return E.left([validationError('options', options, 'must be an object { seed, ... }')]);
  const { seed, dropRate = 0, duplicateRate = 0, maxDelay = Infinity, delivery = 'manual' } = options;
  const errors: ValidationError[] = [];
  if (typeof seed !== 'number' || !Number.isFinite(seed)) errors.push(validationError('seed', seed, 'must be a finite number'));
  if (!isRate(dropRate)) errors.push(validationError('dropRate', dropRate, 'must be a number from 0 to 1'));
  if (!isRate(duplicateRate)) errors.push(validationError('duplicateRate', duplicateRate, 'must be a number from 0 to 1'));
  if (!(maxDelay === Infinity || isBlockNumber(maxDelay))) errors.push(validationError('maxDelay', maxDelay, 'must be a non-negative integer or Infinity'));
  if (delivery !== 'manual' && delivery !== 'auto') errors.push(validationError('delivery', delivery, "must be 'manual' or 'auto'"));
  if (errors.length > 0) return E.left(errors);

  const s: NetworkState = {
    auto: delivery === 'auto',
    scheduled: false,
    prng: createPrng(seed),
    dropRate,
    duplicateRate,
    maxDelay,
    flight: [],
    nextId: 0,
    endpoints: new Map(),
    cutPeers: new Set(),
    stats: { sent: 0, dropped: 0, duplicated: 0, delivered: 0, lost: 0 },
  };
  return E.right({
    transport: <Out, In>(peer: string) => openEndpoint<Out, In>(s, peer),
    step: () => deliverOne(s),
    deliver: (count = 1) => deliverUpTo(s, count),
    deliverAll: (limit = 1_000_000) => deliverUpTo(s, limit),
    pending: () => s.flight.length,
    inFlight: () => s.flight.map(({ id, from, to, message }) => ({ id, from, to, message })),
    cut: (peer) => void s.cutPeers.add(peer),
    heal: (peer) => void s.cutPeers.delete(peer),
    isCut: (peer) => s.cutPeers.has(peer),
    stats: () => ({ ...s.stats }),
  });
};
