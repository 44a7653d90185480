/**
 * One controller process of an active/standby group, as `serve --role controller` runs it on
 * `--store etcd://...`: campaign; once leading, raise the controller epoch, remove what failed
 * saves left behind, and start the controller on the fenced store; when leadership is lost, stop
 * it at once (etcd refuses its writes anyway).
 */
import type { Etcd3 } from 'etcd3';
import { createCandidate, type Candidate } from './election.js';
import { createEtcdTableStore, type EtcdTableStore, type EtcdTableStoreOptions, type Fence } from './etcd-store.js';

/**
 * What a controller that has just become the leader is given.
 *
 * @example
 * const lead = async ({ store, epoch }: Leadership) => createController({ ...adapters, persistence: store }, config);
 */
export interface Leadership {
  readonly store: EtcdTableStore;
  /** The controller epoch of this leadership: higher than any before it. */
  readonly epoch: number;
  readonly fence: Fence;
  /** Unreferenced chunk keys removed before the controller started. */
  readonly garbage: number;
}

/**
 * Options of {@link runHaController}.
 *
 * @example
 * const options: HaControllerOptions = { client, prefix: 'vdisk/', value: '127.0.0.1:10809', ttl: 2 };
 */
export interface HaControllerOptions {
  readonly client: Etcd3;
  readonly prefix?: string;
  /** What `ctl status` and agents see of this controller: its address. */
  readonly value: string;
  readonly ttl?: number;
  readonly pollInterval?: number;
  readonly store?: Omit<EtcdTableStoreOptions, 'prefix' | 'fence'>;
}

/**
 * A running controller process: a standby until `leading` resolves.
 *
 * @example
 * const ha = runHaController(options, lead);
 * ha.ended.then((why) => { console.error(`controller stopped: ${why}`); process.exit(1); });
 */
export interface HaController {
  readonly candidate: Candidate;
  /** Resolves with the leadership once this process leads and its controller has started. */
  readonly leading: Promise<Leadership>;
  /** Resolves with the reason once this process stopped leading (or could not lead). */
  readonly ended: Promise<string>;
  /** Steps down: stops the controller and revokes the lease, so a standby leads at once. */
  resign(): Promise<void>;
}

/**
 * Runs for leader; `lead` starts the controller on the store it is given and returns something
 * to stop it with.
 *
 * @example
 * const ha = runHaController({ client, value: 'ctl-1' }, async ({ store }) => createController({ ...adapters, persistence: store }));
 */
export const runHaController = (options: HaControllerOptions, lead: (leadership: Leadership) => Promise<{ stop(): void }>): HaController => {
  const prefix = options.prefix ?? 'vdisk/';
  const candidate = createCandidate(options.client, {
    prefix,
    value: options.value,
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(options.pollInterval === undefined ? {} : { pollInterval: options.pollInterval }),
  });
  let running: { stop(): void } | null = null;
  let endedWith: string | null = null;
  let resolveEnded!: (why: string) => void;
  const ended = new Promise<string>((r) => {
    resolveEnded = r;
  });
  const end = (why: string): void => {
    if (endedWith !== null) return;
    endedWith = why;
    running?.stop();
    running = null;
    resolveEnded(why);
  };
  candidate.onLost((why) => end(`leadership lost: ${why}`));

  const leading = (async (): Promise<Leadership> => {
    const fence = await candidate.campaign();
    const store = createEtcdTableStore(options.client, { ...options.store, prefix, fence: () => candidate.fence() });
    const epoch = await store.raiseControllerEpoch();
    const garbage = await store.collectGarbage();
    const controller = await lead({ store, epoch, fence, garbage });
    if (endedWith !== null) {
      controller.stop(); // lost while starting
      throw new Error(`leadership lost while the controller started: ${endedWith}`);
    }
    running = controller;
    return { store, epoch, fence, garbage };
  })();
  leading.catch((e: unknown) => end(e instanceof Error ? e.message : String(e)));

  return {
    candidate,
    leading,
    ended,
    async resign() {
      end('resigned');
      await candidate.resign();
    },
  };
};
