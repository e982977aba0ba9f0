import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './app-process.ts';
import type { RedisProcess } from './private-redis.ts';
import { killRedisProcess, startRedisProcess } from './private-redis.ts';
import { waitFor } from './wait-for.ts';

const run = promisify(execFile);

/**
 * A Redis Cluster of a test's own: three masters with a replica each, on free ports, from the installed
 * `redis-server` (cluster-enabled) joined by `redis-cli --cluster create`. No persistence; a master is declared
 * failed after 1 s (`cluster-node-timeout`), so a killed master's replica takes over within a few seconds.
 */
export type PrivateRedisCluster = {
  /** Every node, as REDIS_CLUSTER_NODES lists them. */
  nodes: { host: string; port: number }[];
  /** Ports of the nodes that are masters now (serving slots). */
  masterPorts(): Promise<number[]>;
  /** Port of the master serving `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /**
   * SIGKILLs the master serving `key`'s slot (default: the first master) and resolves once its replica has been
   * promoted and the cluster serves every slot again, with both ports.
   */
  killMaster(key?: string): Promise<{ killed: number; promoted: number }>;
  stop(): Promise<void>;
};

type ClusterNode = { id: string; port: number; flags: string[]; masterId: string; slots: string[] };

/** CLUSTER NODES, parsed: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`. */
function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      return {
        id: id!,
        port: Number(address!.split('@')[0]!.split(':').pop()),
        flags: flags!.split(','),
        masterId: masterId!,
        slots,
      };
    });
}

/** Runs `command` on a short-lived client of the node at `port`. */
async function onNode<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    return await command(client);
  } finally {
    client.disconnect();
  }
}

const clusterNodes = (port: number) =>
  onNode(port, async (client) => parseClusterNodes((await client.call('CLUSTER', 'NODES')) as string));

/** True when the node at `port` says the cluster serves every slot. */
async function isClusterServing(port: number): Promise<boolean> {
  const info = (await onNode(port, (client) => client.call('CLUSTER', 'INFO'))) as string;
  return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info);
}

/** True when the node at `port` sees the cluster whole: every slot served, `expectedMasters` masters each with a replica. */
async function isClusterWhole(port: number, expectedMasters: number): Promise<boolean> {
  if (!(await isClusterServing(port))) return false;
  const nodes = (await clusterNodes(port)).filter((n) => !n.flags.includes('fail'));
  const masters = nodes.filter((n) => n.flags.includes('master') && n.slots.length > 0);
  const replicas = nodes.filter((n) => n.flags.includes('slave'));
  return masters.length === expectedMasters && masters.every((m) => replicas.some((r) => r.masterId === m.id));
}

/** True when every replica's link to its master is up (its first sync done). */
async function areReplicasInSync(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const replication = (await onNode(port, (client) => client.info('replication'))) as string;
    if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) return false;
  }
  return true;
}

export async function startPrivateRedisCluster(): Promise<PrivateRedisCluster> {
  const servers: RedisProcess[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      // The cluster bus port is given, not left at port + 10000, which may be taken (or past 65535).
      const busPort = await freePort();
      servers.push(
        await startRedisProcess([
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '1000',
          // A replica may always take over, however long ago it last heard from its master.
          '--cluster-replica-validity-factor',
          '0',
        ]),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    // The first three become masters, each of the others a replica of one of them.
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes']);
    await waitFor(
      'the cluster to serve every slot with a replica for each master',
      async () => (await Promise.all(servers.map((s) => isClusterWhole(s.port, 3)))).every(Boolean),
      { intervalMs: 100 },
    );
    await waitFor('the replicas to be in sync', () => areReplicasInSync(servers.map((s) => s.port)), {
      intervalMs: 100,
    });
  } catch (error) {
    await Promise.all(servers.map(killRedisProcess));
    throw error;
  }
  const alive = () => servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
  const masterPorts = async () =>
    (await clusterNodes(alive()[0]!.port))
      .filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.length > 0)
      .map((n) => n.port);
  const masterOf = async (key: string) => {
    const port = alive()[0]!.port;
    const slot = (await onNode(port, (client) => client.call('CLUSTER', 'KEYSLOT', key))) as number;
    const serving = (await clusterNodes(port)).find(
      (n) =>
        n.flags.includes('master') &&
        !n.flags.includes('fail') &&
        n.slots.some((range) => {
          const [from, to = from] = range.split('-').map(Number);
          return slot >= from! && slot <= to!;
        }),
    );
    if (!serving) throw new Error(`no master serves slot ${slot}`);
    return serving.port;
  };
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    masterPorts,
    masterOf,
    async killMaster(key) {
      const killed = key === undefined ? (await masterPorts())[0]! : await masterOf(key);
      const before = (await clusterNodes(killed)).find((n) => n.flags.includes('myself'))!;
      await killRedisProcess(servers.find((s) => s.port === killed)!);
      let promoted = 0;
      await waitFor(
        'the killed master’s replica to be promoted',
        async () => {
          const nodes = await clusterNodes(alive()[0]!.port);
          const successor = nodes.find(
            (n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.join() === before.slots.join(),
          );
          if (!successor || successor.port === killed) return false;
          promoted = successor.port;
          return (await Promise.all(alive().map((s) => isClusterServing(s.port)))).every(Boolean);
        },
        { intervalMs: 100 },
      );
      return { killed, promoted };
    },
    stop: async () => {
      await Promise.all(servers.map(killRedisProcess));
    },
  };
}
