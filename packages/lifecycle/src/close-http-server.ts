import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Tracks a server's requests so that closeHttpServer can end keep-alive connections as their last response
 * finishes. Call it once, right after creating the server (before it listens).
 *
 * Why by hand: Node's server.close() closes the connections that are idle at that moment and no others. A request in
 * flight when the signal arrives leaves its connection open, idle and kept alive after its response (up to
 * keepAliveTimeout, 65 s here), and close() waits for it: a shutdown that answered its last request still hangs.
 */
export function trackHttpServer(server: Server): ClosableHttpServer {
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    inFlight.add(response);
    if (closing) response.setHeader('Connection', 'close');
    response.on('close', () => {
      inFlight.delete(response);
      if (closing) server.closeIdleConnections();
    });
  });
  return {
    server,
    inFlight: () => inFlight.size,
    close() {
      closing = true;
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error?: NodeJS.ErrnoException) =>
          error && error.code !== 'ERR_SERVER_NOT_RUNNING' ? reject(error) : resolve(),
        ),
      );
      // Responses still to send their headers tell the client the connection ends with them.
      for (const response of inFlight) if (!response.headersSent) response.setHeader('Connection', 'close');
      server.closeIdleConnections();
      return closed;
    },
  };
}

export type ClosableHttpServer = {
  server: Server;
  /** Requests whose response has not finished. */
  inFlight(): number;
  /**
   * Stops accepting connections, lets requests in flight finish, and closes every connection once it has no request
   * in flight (idle keep-alive connections at once). Resolves when the last connection is gone. Requests that never
   * finish (a stream) keep it waiting: end them first.
   */
  close(): Promise<void>;
};
