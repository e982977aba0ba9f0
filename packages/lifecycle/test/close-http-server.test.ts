import { createServer, request, Agent, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { trackHttpServer } from '../src/index.ts';

/** A server whose one route answers when the test releases it: the request in flight when shutdown starts. */
function heldServer() {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const server = createServer((_request, response) => {
    void held.then(() => response.end('done'));
  });
  return { server, release };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function get(port: number, agent: Agent): Promise<IncomingMessage & { body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ port, host: '127.0.0.1', path: '/', agent }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(Object.assign(response, { body })));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

const settledWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

describe('trackHttpServer', () => {
  it('close() lets the request in flight finish, answers it with Connection: close and resolves once it has', async () => {
    const { server, release } = heldServer();
    const tracked = trackHttpServer(server);
    const port = await listen(server);
    const agent = new Agent({ keepAlive: true });
    cleanups.push(
      () => agent.destroy(),
      () => server.closeAllConnections(),
    );

    const answer = get(port, agent);
    await expect.poll(() => tracked.inFlight()).toBe(1);
    const closed = tracked.close();
    release();

    const response = await answer;
    expect(response.body).toBe('done');
    expect(response.headers.connection).toBe('close');
    await closed;
    expect(server.listening).toBe(false);
    expect(tracked.inFlight()).toBe(0);
  });

  it('without it, server.close() still waits after that response: the kept-alive connection holds it (why it exists)', async () => {
    const { server, release } = heldServer();
    const port = await listen(server);
    const agent = new Agent({ keepAlive: true });
    cleanups.push(
      () => agent.destroy(),
      () => server.closeAllConnections(),
    );

    const answer = get(port, agent);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    release();
    const response = await answer;
    expect(response.headers.connection).toBe('keep-alive');
    expect(await settledWithin(closed, 300)).toBe(false);
  });

  it('close() of a server with only idle keep-alive connections resolves at once, and a second close() too', async () => {
    const { server, release } = heldServer();
    release();
    const tracked = trackHttpServer(server);
    const port = await listen(server);
    const agent = new Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    expect((await get(port, agent)).headers.connection).toBe('keep-alive');
    await tracked.close();
    await tracked.close();
    expect(server.listening).toBe(false);
  });
});
