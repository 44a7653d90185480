/**
 * What `ctl status` shows of the HA control plane: which controller leads, the controller
 * epoch, and etcd's members (which one leads raft, which answer).
 */
import type { Etcd3 } from 'etcd3';
import { connectEtcd } from './etcd-client.js';
import { currentLeader, type LeaderInfo } from './election.js';

/**
 * One etcd member as `ctl status` shows it.
 *
 * @example
 * const m: EtcdMember = { id: '8e9e05c52164694d', name: 'm1', clientUrls: ['http://127.0.0.1:2379'], reachable: true, raftLeader: true };
 */
export interface EtcdMember {
  readonly id: string;
  readonly name: string;
  readonly clientUrls: ReadonlyArray<string>;
  readonly reachable: boolean;
  readonly raftLeader: boolean;
  readonly dbSize?: number;
}

/**
 * The state of the HA control plane.
 *
 * @example
 * const s = await controlPlaneStatus(client); console.log(formatStatus(s));
 */
export interface ControlPlaneStatus {
  readonly leader: LeaderInfo | null;
  readonly controllerEpoch: number;
  readonly members: ReadonlyArray<EtcdMember>;
}

const hexId = (id: string): string => BigInt(id).toString(16);

/**
 * Reads the leader, the controller epoch and the members (each member asked for its own status,
 * so an unreachable one shows as such).
 *
 * @example
 * await controlPlaneStatus(client, { prefix: 'vdisk/' })
 */
export const controlPlaneStatus = async (client: Etcd3, options: { prefix?: string; name?: string } = {}): Promise<ControlPlaneStatus> => {
  const prefix = options.prefix ?? 'vdisk/';
  const [leader, epochRange, list] = await Promise.all([
    currentLeader(client, options),
    client.kv.range({ key: Buffer.from(`${prefix}controller/epoch`) }),
    client.cluster.memberList({}),
  ]);
  const epochKv = epochRange.kvs[0];
  const controllerEpoch = epochKv === undefined ? 0 : Number(epochKv.value.toString());
  const members = await Promise.all(
    list.members.map(async (m): Promise<EtcdMember> => {
      const base = { id: hexId(m.ID), name: m.name, clientUrls: m.clientURLs };
      const url = m.clientURLs[0];
      if (url === undefined) return { ...base, reachable: false, raftLeader: false };
      // A client of this member alone: the shared client would answer from any member.
      const one = connectEtcd([url.replace(/^https?:\/\//, '')], { callTimeout: 1000 });
      try {
        const s = await one.maintenance.status({});
        return { ...base, reachable: true, raftLeader: s.leader === m.ID, dbSize: Number(s.dbSize) };
      } catch {
        return { ...base, reachable: false, raftLeader: false };
      } finally {
        one.close();
      }
    }),
  );
  return { leader, controllerEpoch, members };
};

/**
 * The status as `ctl status` prints it.
 *
 * @example
 * formatStatus(status)
 * // controller leader: 127.0.0.1:10809 (key vdisk/election/controller/694d..., since revision 42)
 * // controller epoch: 3
 * // etcd members: m1 http://127.0.0.1:2379 up raft-leader; m2 ... up; m3 ... down
 */
export const formatStatus = (s: ControlPlaneStatus): string =>
  [
    `controller leader: ${s.leader === null ? 'none' : `${s.leader.value} (key ${s.leader.key}, since revision ${s.leader.createRevision})`}`,
    `controller epoch: ${s.controllerEpoch}`,
    `etcd members: ${s.members.map((m) => `${m.name} ${m.clientUrls.join(',')} ${m.reachable ? 'up' : 'down'}${m.raftLeader ? ' raft-leader' : ''}`).join('; ')}`,
  ].join('\n');
