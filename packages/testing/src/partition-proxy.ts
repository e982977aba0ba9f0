import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/**
 * A TCP proxy a test puts between a process and one of its dependencies (Postgres, Redis, CloudMonitor) to cut the
 * link without stopping either side: a network partition. While partitioned nothing crosses, in either direction, and
 * no connection is closed: what each side sends waits, as a packet waits for TCP's retransmission. When the partition
 * heals, what waited is delivered, except on a connection whose sender gave up meanwhile (closed or reset it): its
 * unacknowledged bytes die with it, as they would in the sender's kernel, and the other side sees the connection
 * reset. Slowness is `setDelay`: each chunk is held that long before it is passed on, a fixed time or one chosen per
 * chunk (a latency distribution), never overtaking an earlier chunk of the same direction.
 */
export type PartitionProxy = {
  /** Connect here instead of the target: `127.0.0.1:<port>`. */
  port: number;
  /** Stops everything crossing the link until heal(). */
  partition(): void;
  heal(): void;
  /**
   * Holds every chunk `ms` before passing it on (0: none), in both directions; or `delay(direction)` ms for each chunk,
   * `toTarget` for what goes to the target (requests), `fromTarget` for what comes back (answers).
   */
  setDelay(ms: number | ((direction: 'toTarget' | 'fromTarget') => number)): void;
  /** Connections made through it so far. */
  connections(): number;
  close(): Promise<void>;
};

type Direction = {
  from: Socket;
  to: Socket;
  held: Buffer[];
  senderGone: boolean;
  name: 'toTarget' | 'fromTarget';
  /** When the last chunk sent on is delivered (ms since epoch): a later chunk never goes before it. */
  lastDeliveryAt: number;
};

export async function startPartitionProxy(target: { host: string; port: number }): Promise<PartitionProxy> {
  let partitioned = false;
  let delayOf: (direction: 'toTarget' | 'fromTarget') => number = () => 0;
  let made = 0;
  const open = new Set<Direction[]>();

  const pass = (direction: Direction, chunk: Buffer) => {
    const now = Date.now();
    const at = Math.max(now + delayOf(direction.name), direction.lastDeliveryAt);
    direction.lastDeliveryAt = at;
    if (at > now) setTimeout(() => direction.to.destroyed || direction.to.write(chunk), at - now);
    else if (!direction.to.destroyed) direction.to.write(chunk);
  };

  const server: Server = createServer((client) => {
    made += 1;
    const upstream = connect(target.port, target.host);
    const pair: Direction[] = [
      { from: client, to: upstream, held: [], senderGone: false, name: 'toTarget', lastDeliveryAt: 0 },
      { from: upstream, to: client, held: [], senderGone: false, name: 'fromTarget', lastDeliveryAt: 0 },
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
        // A close travels behind the data sent before it: what is still held back is delivered first.
        else setTimeout(endBoth, Math.max(0, direction.lastDeliveryAt - Date.now()));
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
    setDelay(delay) {
      delayOf = typeof delay === 'number' ? () => delay : delay;
    },
    connections: () => made,
    async close() {
      for (const pair of open) for (const direction of pair) direction.from.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
