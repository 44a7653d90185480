/**
 * A serial event queue: the one place where a runtime's events meet its state machine (plus the
 * two small helpers both runtimes use to turn adapter failures into events).
 *
 * State machines take one event at a time. Adapters, though, may call back at any moment, even
 * from inside the handling of another event (a transport that delivers synchronously inside
 * `send`, an observer that starts an admin request, a clock that fires while a step runs). The
 * queue turns all of that into one ordered stream: an event pushed while another is being
 * handled waits behind it, and events are handled strictly one at a time, in arrival order (or,
 * with `createBatchQueue`, all those waiting together, in arrival order).
 */

/**
 * A queue that hands events to one handler, one at a time, in the order they were pushed.
 *
 * @example
 * const q = createSerialQueue<number>((n) => { log.push(n); if (n === 1) q.push(2); log.push(-n); });
 * q.push(1); // log: 1, -1, 2, -2 (2 waited for 1 to finish)
 */
export interface SerialQueue<E> {
  /**
   * Queues `event`; handles it (and everything queued behind it) at once unless an event is
   * being handled already, in which case it is handled after that one. If the handler throws,
   * the queue still handles the remaining events and then rethrows the first error to the
   * outermost `push` (so errors are never swallowed and the queue never stays stuck).
   */
  push(event: E): void;
  /** Drops every queued event and ignores later pushes. */
  close(): void;
  /** True after {@link SerialQueue.close}. */
  readonly closed: boolean;
  /** Events waiting to be handled. */
  readonly size: number;
}

/**
 * Makes a {@link SerialQueue} around `handle`.
 *
 * @example
 * const q = createSerialQueue((event: ControllerEvent) => {
 *   const [next, commands] = controllerStep(state, event);
 *   state = next;
 *   commands.forEach(execute); // may push more events: they wait their turn
 * });
 * q.push({ type: 'tick', now: clock.now() });
 */
export const createSerialQueue = <E>(handle: (event: E) => void): SerialQueue<E> =>
  drainingQueue<E>((queue, from) => {
    const event = queue[from]!;
    queue[from] = undefined as E; // let it be collected
    handle(event);
  }, false);

/**
 * A {@link SerialQueue} whose handler takes every event queued at once, in order: those pushed
 * while it runs are handed over together when it returns. Never waits for more events, so a
 * lone event is handled as soon as it is pushed, as with `createSerialQueue`.
 *
 * @example
 * const q = createBatchQueue((events: ControllerEvent[]) => {
 *   const [next, commands] = controllerStep(state, events.length === 1 ? events[0]! : { type: 'batch', events });
 *   state = next;
 *   commands.forEach(execute); // events pushed meanwhile form the next batch
 * });
 */
export const createBatchQueue = <E>(handle: (events: E[]) => void): SerialQueue<E> =>
  drainingQueue<E>((queue, from, to) => {
    const events = queue.slice(from, to);
    queue.fill(undefined as E, from, to); // let them be collected
    handle(events);
  }, true);

/** The queue of both: `handleFrom` is given queued events `from .. to-1` (one, or all queued when `batch`). */
const drainingQueue = <E>(handleFrom: (queue: E[], from: number, to: number) => void, batch: boolean): SerialQueue<E> => {
  const queue: E[] = [];
  let head = 0;
  let draining = false;
  let closed = false;

  const drain = (): void => {
    draining = true;
    let failed = false;
    let first: unknown;
    try {
      while (!closed && head < queue.length) {
        const from = head;
        head = batch ? queue.length : head + 1;
        try {
          handleFrom(queue, from, head);
        } catch (e) {
          if (!failed) {
            failed = true;
            first = e;
          }
        }
      }
    } finally {
      queue.length = 0;
      head = 0;
      draining = false;
    }
    if (failed) throw first;
  };

  return {
    push(event) {
      if (closed) return;
      queue.push(event);
      if (!draining) drain();
    },
    close() {
      closed = true;
      queue.length = 0;
      head = 0;
    },
    get closed() {
      return closed;
    },
    get size() {
      return queue.length - head;
    },
  };
};

/**
 * The message of whatever an adapter rejected with.
 *
 * @example
 * errorMessage(new Error('LUN 2 is offline')) // 'LUN 2 is offline'
 */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Calls an adapter method, turning a synchronous throw into a rejection, so that every adapter
 * failure reaches the machine the same way.
 *
 * @example
 * attempt(() => storage.read(1, 0, 8)).catch((e) => feed({ type: 'ioFailed', ioId, error: errorMessage(e) }));
 */
export const attempt = <T>(f: () => Promise<T>): Promise<T> => {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e);
  }
};
