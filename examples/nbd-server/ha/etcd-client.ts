/**
 * Connecting to etcd from a `--store etcd://HOST:PORT[,HOST:PORT...]` address.
 */
import * as E from 'fp-ts/lib/Either.js';
import { Etcd3 } from 'etcd3';

/**
 * The endpoints of an `etcd://` store address, or why it is malformed.
 *
 * @example
 * parseEtcdUrl('etcd://127.0.0.1:2379,127.0.0.1:22379') // Right(['127.0.0.1:2379', '127.0.0.1:22379'])
 */
export const parseEtcdUrl = (url: string): E.Either<string, string[]> => {
  if (typeof url !== 'string' || !url.startsWith('etcd://')) return E.left(`--store must look like etcd://HOST:PORT[,HOST:PORT...], got ${JSON.stringify(url)}`);
  const hosts = url.slice('etcd://'.length).replace(/\/+$/, '').split(',');
  for (const h of hosts) {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(h);
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535)
      return E.left(`--store endpoint ${JSON.stringify(h)} in ${JSON.stringify(url)} must be HOST:PORT with a port from 1 to 65535`);
  }
  return E.right(hosts);
};

/**
 * Options of {@link connectEtcd}: `callTimeout` bounds every unary call (ms, default 5000), so a
 * cluster without quorum makes a save reject instead of hanging.
 *
 * @example
 * const client = connectEtcd(['127.0.0.1:2379'], { callTimeout: 2000 });
 */
export interface ConnectOptions {
  readonly callTimeout?: number;
}

/**
 * An etcd client for the table store and the election: every unary call bounded by
 * `callTimeout`, and responses up to 64 MiB (a page of table chunks; gRPC's default is 4 MiB).
 * The caller closes it.
 *
 * @example
 * const client = connectEtcd(['127.0.0.1:2379', '127.0.0.1:22379', '127.0.0.1:32379']);
 * try { await client.get('x'); } finally { client.close(); }
 */
export const connectEtcd = (hosts: ReadonlyArray<string>, options: ConnectOptions = {}): Etcd3 => {
  const callTimeout = options.callTimeout ?? 5000;
  return new Etcd3({
    hosts: hosts.map((h) => `http://${h}`),
    dialTimeout: callTimeout,
    grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeout }),
  });
};
