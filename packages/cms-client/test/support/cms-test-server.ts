import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { computeSignature } from '../../src/index.ts';

/**
 * A tiny real HTTP server for client tests (no mock library). It decodes the RPC parameters the way a gateway does
 * (query string for GET, form body for POST), verifies the signature with computeSignature, records every request
 * and which socket carried it, and lets each test script the reply.
 */

type ReceivedRequest = {
  method: string;
  /** The raw request target as sent, e.g. `/?Action=...`. */
  rawUrl: string;
  contentType: string | undefined;
  rawBody: string;
  params: Record<string, string>;
  /** The signature the server recomputed from the received params with the expected secret matched. */
  signatureValid: boolean;
  /** 1-based id of the TCP connection that carried the request. */
  socketId: number;
};

export type Reply = { status: number; contentType?: string; body: string };
export type Responder = (request: ReceivedRequest, res: ServerResponse) => Reply | 'hang' | 'manual';

export type TestServer = {
  url: string;
  requests: ReceivedRequest[];
  /** Number of TCP connections accepted so far. */
  connectionCount(): number;
  close(): Promise<void>;
};

export async function startTestServer(secret: string, responder: Responder): Promise<TestServer> {
  const requests: ReceivedRequest[] = [];
  const socketIds = new WeakMap<Socket, number>();
  let connections = 0;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const rawUrl = req.url ?? '/';
      const query = rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '';
      const source = req.method === 'POST' ? rawBody : query;
      const params = Object.fromEntries(new URLSearchParams(source));
      const { Signature: signature, ...unsigned } = params;
      const method = req.method === 'POST' ? 'POST' : 'GET';
      const received: ReceivedRequest = {
        method: req.method ?? '',
        rawUrl,
        contentType: req.headers['content-type'],
        rawBody,
        params,
        signatureValid: signature !== undefined && computeSignature(method, unsigned, secret) === signature,
        socketId: socketIds.get(req.socket) ?? 0,
      };
      requests.push(received);
      const reply = responder(received, res);
      if (reply === 'hang' || reply === 'manual') return;
      res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'application/json;charset=utf-8' });
      res.end(reply.body);
    });
  });
  server.on('connection', (socket: Socket) => {
    connections += 1;
    socketIds.set(socket, connections);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    connectionCount: () => connections,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A port that was just free: bound, then released, so a connect gets ECONNREFUSED. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function json(status: number, body: unknown): Reply {
  return { status, body: JSON.stringify(body) };
}
