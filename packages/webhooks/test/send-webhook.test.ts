import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryAgents, sendWebhook } from '../src/index.ts';

let server: Server;
let port = 0;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      return;
    }
    if (req.url === '/slow') return; // never answers
    res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(2000));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const send = (allowPrivateNetworks: boolean, url: string, timeoutMs = 5000) => {
  const agents = createDeliveryAgents({ allowPrivateNetworks });
  return sendWebhook(agents, { url, headers: {}, body: '{}', timeoutMs }).finally(() => agents.destroy());
};

describe('sending through the filtering agent', () => {
  it('refuses to connect to a loopback address, by literal and by a name that resolves to it, sending nothing', async () => {
    const before = hits.length;
    for (const url of [
      `http://127.0.0.1:${port}/a`,
      `http://localhost:${port}/b`,
      `http://[::ffff:127.0.0.1]:${port}/c`,
    ]) {
      const answer = await send(false, url);
      expect(answer, url).toMatchObject({ kind: 'no_answer', failure: 'address_refused' });
    }
    expect(hits.length).toBe(before);
  });

  it('sends to loopback with private networks allowed, keeping only an excerpt of the answer', async () => {
    const answer = await send(true, `http://127.0.0.1:${port}/ok`);
    expect(answer).toMatchObject({ kind: 'answered', status: 200 });
    if (answer.kind === 'answered') expect(answer.excerpt).toHaveLength(500);
  });

  it('does not follow a redirect (to a metadata address)', async () => {
    const before = hits.length;
    const answer = await send(true, `http://127.0.0.1:${port}/redirect`);
    expect(answer).toMatchObject({
      kind: 'answered',
      status: 302,
      location: 'http://169.254.169.254/latest/meta-data/',
    });
    expect(hits.slice(before)).toEqual(['/redirect']);
  });

  it('gives up on a receiver that does not answer within the deadline', async () => {
    const answer = await send(true, `http://127.0.0.1:${port}/slow`, 300);
    expect(answer).toMatchObject({ kind: 'no_answer', failure: 'timeout' });
  });
});
