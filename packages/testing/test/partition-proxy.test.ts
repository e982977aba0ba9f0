import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startPartitionProxy, waitFor } from '../src/index.ts';
import type { PartitionProxy } from '../src/index.ts';

/** A server that records what it receives on each connection and echoes it back. */
async function echoServer(): Promise<{ server: Server; port: number; received: string[]; closed: () => number }> {
  const received: string[] = [];
  let closed = 0;
  const server = createServer((socket) => {
    socket.on('data', (chunk) => {
      received.push(chunk.toString());
      socket.write(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (closed += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, received, closed: () => closed };
}

async function connectTo(port: number): Promise<{ socket: Socket; echoed: () => string }> {
  let echoed = '';
  const socket = connect(port, '127.0.0.1');
  socket.on('data', (chunk) => (echoed += chunk.toString()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, echoed: () => echoed };
}

const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('startPartitionProxy', () => {
  it('passes bytes both ways; partitioned, nothing crosses and nothing closes; healed, what waited is delivered', async () => {
    const echo = await echoServer();
    const proxy: PartitionProxy = await startPartitionProxy({ host: '127.0.0.1', port: echo.port });
    cleanups.push(
      () => proxy.close(),
      () => void echo.server.close(),
    );
    const client = await connectTo(proxy.port);
    cleanups.push(() => void client.socket.destroy());

    client.socket.write('one');
    await waitFor('the echo of one', () => client.echoed() === 'one');
    proxy.partition();
    client.socket.write('two');
    await quiet(300);
    expect(echo.received.join('')).toBe('one');
    expect(client.socket.destroyed).toBe(false);
    proxy.heal();
    await waitFor('the echo of two', () => client.echoed() === 'onetwo');
    expect(proxy.connections()).toBe(1);
  });

  it('a connection its sender closed during the partition delivers nothing after it and is reset', async () => {
    const echo = await echoServer();
    const proxy = await startPartitionProxy({ host: '127.0.0.1', port: echo.port });
    cleanups.push(
      () => proxy.close(),
      () => void echo.server.close(),
    );
    const client = await connectTo(proxy.port);
    await waitFor('the upstream connection', () => proxy.connections() === 1);

    proxy.partition();
    client.socket.write('lost');
    client.socket.destroy();
    await quiet(200);
    expect(echo.closed()).toBe(0);
    proxy.heal();
    await waitFor('the server to see the connection end', () => echo.closed() === 1);
    expect(echo.received).toEqual([]);
  });
});
