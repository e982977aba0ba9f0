import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { API_CONTENT_SECURITY_POLICY } from './security-headers.ts';

/**
 * Requests Node refuses before Express sees them (headers over 16 KB, malformed request lines, header timeouts)
 * get a problem+json answer like everything else, instead of Node's bare `400 Bad Request`.
 */
export function answerClientErrorsWithProblems(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const code = status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'malformed_request';
    const requestId = randomUUID();
    const body = JSON.stringify({
      type: `urn:fleet-rollout:problem:${code}`,
      title: STATUS_CODES[status],
      status,
      detail:
        status === 431
          ? 'The request headers are too large'
          : status === 408
            ? 'The request was not received in time'
            : 'The request could not be parsed as HTTP',
      code,
      requestId,
    });
    socket.end(
      [
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
        'Content-Type: application/problem+json; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        `X-Request-Id: ${requestId}`,
        'X-Content-Type-Options: nosniff',
        `Content-Security-Policy: ${API_CONTENT_SECURITY_POLICY}`,
        'Cache-Control: no-store',
        'Connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  });
}
