/**
 * In-process adapters for running the controller and agents in one process: a message hub whose
 * endpoints deliver copies asynchronously (as a network would: never inside `send`), and the
 * wall clock.
 */
import type { Clock, TimerHandle, Transport } from '../../src/index.js';

export interface LocalHub {
  /** The endpoint of peer `id`; messages sent to `id` reach the handler it registers. */
  endpoint<Out, In>(id: string): Transport<Out, In>;
}

/**
 * A hub of in-process endpoints. Delivery is reliable and in order; messages to a peer with no
 * handler are dropped, as the protocol allows.
 *
 * @example
 * const hub = createLocalHub();
 * const controllerEnd = hub.endpoint<ControllerMessage, AgentMessage>('controller');
 */
export const createLocalHub = (): LocalHub => {
  const handlers = new Map<string, (from: string, message: unknown) => void>();
  return {
    endpoint<Out, In>(id: string): Transport<Out, In> {
      return {
        send(to, message) {
          const copy = structuredClone(message);
          queueMicrotask(() => handlers.get(to)?.(id, copy));
        },
        onMessage(handler) {
          handlers.set(id, handler as (from: string, message: unknown) => void);
        },
      };
    },
  };
};

interface NodeTimer extends TimerHandle {
  readonly timeout: NodeJS.Timeout;
}

/**
 * The wall clock (monotonic milliseconds). Timers do not keep the process alive on their own.
 *
 * @example
 * const clock = systemClock();
 * const t = clock.setTimer(100, () => console.log('tick'));
 */
export const systemClock = (): Clock => ({
  now: () => performance.now(),
  setTimer(ms, callback) {
    const timeout = setTimeout(callback, Number.isFinite(ms) && ms > 0 ? ms : 0);
    timeout.unref();
    const handle: NodeTimer = { _tag: 'TimerHandle', timeout };
    return handle;
  },
  clearTimer(handle) {
    const t = (handle as Partial<NodeTimer>).timeout;
    if (t !== undefined) clearTimeout(t);
  },
});
