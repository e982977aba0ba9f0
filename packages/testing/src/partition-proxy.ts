import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/**
 * A TCP proxy a test puts between a process and one of its dependencies (Postgres, Redis, CloudMonitor) to cut the
 * link without stopping either side: a network partition. While partitioned nothing crosses, in either direction, and
 * no connection is closed: what each side sends waits, as a packet waits for TCP's retransmission. When the partition
 * heals, what waited is delivered, except on a connection whose sender gave up meanwhile (closed or reset it): its
 * unacknowledged bytes die with it, as they would in the sender's kernel, and the other side sees the connection
 * reset. Slowness is `delayMs`: each chunk is held that long before it is passed on.
 */
export type PartitionProxy = {
  /** Connect here instead of the target: `127.0.0.1:<port>`. */
  port: number;
  /** Stops everything crossing the link until heal(). */
  partition(): void;
  heal(): void;
  /** Holds every chunk `ms` before passing it on (0: none), in both directions. */
  setDelay(ms: number): void;
  /** Connections made through it so far. */
  connections(): number;
  close(): Promise<void>;
};

type Direction = { from: Socket; to: Socket; held: Buffer[]; senderGone: boolean };

export async function startPartitionProxy(target: { host: string; port: number }): Promise<PartitionProxy> {
  let partitioned = false;
  let delayMs = 0;
  let made = 0;
  const open = new Set<Direction[]>();

  const pass = (direction: Direction, chunk: Buffer) => {
    if (delayMs > 0) setTimeout(() => direction.to.destroyed || direction.to.write(chunk), delayMs);
    else if (!direction.to.destroyed) direction.to.write(chunk);
  };

  const server: Server = createServer((client) => {
    made += 1;
    const upstream = connect(target.port, target.host);
    const pair: Direction[] = [
      { from: client, to: upstream, held: [], senderGone: false },
      { from: upstream, to: client, held: [], senderGone: false },
    ];
    open.add(pair);
    const endBoth = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const direction of pair) {
      direction.from.on('data', (chunk: Buffer) => {
        if (partitioned) direction.held.push(chunk);
        else pass(direction, chunk);
      });
      direction.from.on('error', () => undefined);
      direction.from.on('close', () => {
        // Across a partition the other side learns nothing until it heals; then the connection is reset.
        if (partitioned) direction.senderGone = true;
        else endBoth();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    partition() {
      partitioned = true;
    },
    heal() {
      partitioned = false;
      for (const pair of [...open]) {
        if (pair.some((direction) => direction.senderGone)) {
          open.delete(pair);
          for (const direction of pair) direction.from.destroy();
          continue;
        }
        for (const direction of pair) {
          for (const chunk of direction.held.splice(0)) pass(direction, chunk);
        }
      }
    },
    setDelay(ms) {
      delayMs = ms;
    },
    connections: () => made,
    async close() {
      for (const pair of open) for (const direction of pair) direction.from.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
