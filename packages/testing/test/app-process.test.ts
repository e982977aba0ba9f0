import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, localAppsEnv, waitForHttpOk } from '../src/index.ts';

describe('waitForHttpOk', () => {
  it('waits through refused connections and other statuses until the URL answers 200', async () => {
    const port = await freePort();
    let requests = 0;
    const server = createServer((_req, res) => {
      res.writeHead(++requests < 3 ? 503 : 200).end();
    });
    // Nothing listens yet: the first tries are refused.
    const waited = waitForHttpOk('the test server', `http://127.0.0.1:${port}/`, { intervalMs: 5 });
    setTimeout(() => server.listen(port, '127.0.0.1'), 50);
    try {
      await waited;
      expect(requests).toBe(3);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fails naming what it waited for when the URL never answers 200', async () => {
    const server = createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      await expect(
        waitForHttpOk('a server that fails', `http://127.0.0.1:${port}/`, { timeoutMs: 100, intervalMs: 5 }),
      ).rejects.toThrow(/waiting for a server that fails/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('localAppsEnv', () => {
  it("points the apps at the test's database and prefix, and the API and the simulator at two ports", async () => {
    const { apiUrl, simulatorUrl, env } = await localAppsEnv({ databaseUrl: 'postgres://x/db', prefix: 'p1' });
    expect(env).toMatchObject({ DATABASE_URL: 'postgres://x/db', QUEUE_PREFIX: 'p1', HOST: '127.0.0.1' });
    expect(apiUrl).toBe(`http://127.0.0.1:${env.PORT}`);
    expect(simulatorUrl).toBe(`http://127.0.0.1:${env.SIMULATOR_PORT}/`);
    expect(env.CMS_ENDPOINT).toBe(simulatorUrl);
    expect(env.PORT).not.toBe(env.SIMULATOR_PORT);
  });
});
