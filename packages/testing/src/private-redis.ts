import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './app-process.ts';
import { waitFor } from './wait-for.ts';

/**
 * A Redis of a test's own, for tests that FLUSHALL it, take it away or fail it over: the shared Redis on 6379 is used
 * by other test files and people at the same time. No persistence; killed by stop().
 */
export type PrivateRedis = {
  url: string;
  port: number;
  /** SIGKILL and start again on the same port, empty (it keeps nothing on disk): a Redis restart that lost everything. */
  restart(): Promise<void>;
  stop(): Promise<void>;
};

/** One `redis-server` a private topology runs (shared with private-redis-cluster.ts). */
export type RedisProcess = { port: number; child: ChildProcess; exited: Promise<void>; dir: string };

/** Starts `redis-server` with `args` on a free port (or `port`) and waits until it answers PING. */
export async function startRedisProcess(
  args: string[],
  options: { port?: number; sentinel?: boolean } = {},
): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  // Its own directory: a replica writes the RDB of its first sync there (dump.rdb), whatever `--save` says.
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-redis-'));
  const child = spawn(
    'redis-server',
    [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...(options.sentinel ? ['--sentinel'] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the server listens; retried below
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server ${args.join(' ')} on port ${port} did not come up`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  probe.disconnect();
  return { port, child, exited, dir };
}

export async function killRedisProcess(server: RedisProcess): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await server.exited;
  rmSync(server.dir, { recursive: true, force: true });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const args = ['--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  let server = await startRedisProcess(args);
  const port = server.port;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      await killRedisProcess(server);
      server = await startRedisProcess(args, { port });
    },
    stop: () => killRedisProcess(server),
  };
}

/**
 * A Redis Sentinel deployment of a test's own: one master, two replicas and three sentinels (quorum 2), on free
 * ports, from the installed `redis-server` (run with `--sentinel`, which is all Debian's redis-sentinel package adds).
 */
export type PrivateSentinel = {
  /** The master's name the sentinels monitor. */
  name: string;
  sentinels: { host: string; port: number }[];
  /** Port of the node that is master now, as the sentinels report it. */
  masterPort(): Promise<number>;
  /**
   * `SENTINEL FAILOVER`: a replica is promoted and the old master demoted. Resolves with the new master's port once
   * the sentinels report it and it has taken the role.
   */
  failover(): Promise<number>;
  stop(): Promise<void>;
};

export async function startPrivateSentinel(name = 'fleetmaster'): Promise<PrivateSentinel> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-sentinel-'));
  const node = ['--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const master = await startRedisProcess(node);
  const replicas = await Promise.all(
    [0, 1].map(() => startRedisProcess([...node, '--replicaof', '127.0.0.1', String(master.port)])),
  );
  const sentinels: RedisProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    // A sentinel rewrites its configuration file as it learns the topology: each needs a writable one of its own.
    const file = path.join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push(await startRedisProcess([file], { port, sentinel: true }));
  }
  const ask = async <T>(command: (client: Redis) => Promise<T>): Promise<T> => {
    const client = new Redis(sentinels[0]!.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      return await command(client);
    } finally {
      client.disconnect();
    }
  };
  const masterPort = async () => {
    const [, port] = (await ask((client) => client.call('SENTINEL', 'get-master-addr-by-name', name))) as [
      string,
      string,
    ];
    return Number(port);
  };
  const role = async (port: number) => {
    const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      return ((await client.call('ROLE')) as [string])[0];
    } finally {
      client.disconnect();
    }
  };
  // Replicas in sync and every sentinel aware of them, else a failover has nobody to promote.
  await waitFor(
    'the sentinels to see both replicas and each other',
    async () => {
      const replicasSeen = (await ask((client) => client.call('SENTINEL', 'replicas', name))) as string[][];
      const sentinelsSeen = (await ask((client) => client.call('SENTINEL', 'sentinels', name))) as string[][];
      return replicasSeen.length === 2 && sentinelsSeen.length === 2 && replicasSeen.every((r) => r.includes('slave'));
    },
    { intervalMs: 100 },
  );
  return {
    name,
    sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    masterPort,
    async failover() {
      const before = await masterPort();
      await ask((client) => client.call('SENTINEL', 'failover', name));
      let after = before;
      await waitFor(
        'the failover to finish',
        async () => {
          after = await masterPort();
          return after !== before && (await role(after)) === 'master' && (await role(before)) === 'slave';
        },
        { intervalMs: 100 },
      );
      return after;
    },
    async stop() {
      await Promise.all([...sentinels, ...replicas, master].map(killRedisProcess));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
