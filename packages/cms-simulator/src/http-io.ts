import type http from 'node:http';
import type { RenderedBody } from './render.ts';

/** Reading requests and writing answers on node:http, for the simulated API and its control plane alike. */

const MAX_BODY_BYTES = 1024 * 1024;

/** Writes an answer unless the client has gone (an answer delayed past a hang-up is dropped). */
export function writeAnswer(
  res: http.ServerResponse,
  status: number,
  rendered: RenderedBody,
  requestId?: string,
): void {
  if (res.destroyed || res.writableEnded) return;
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': rendered.contentType,
    'Content-Length': Buffer.byteLength(rendered.body),
  };
  if (requestId !== undefined) headers['x-acs-request-id'] = requestId;
  res.writeHead(status, headers);
  res.end(rendered.body);
}

/**
 * Reads the whole body (413 and the connection closed past MAX_BODY_BYTES), then calls `then` with it as UTF-8 text
 * and as the bytes that arrived (a V3 signature covers the bytes).
 */
export function readBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  then: (body: string, bytes: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      req.removeAllListeners('data');
      res.writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end('request body too large');
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return;
    const bytes = Buffer.concat(chunks);
    then(bytes.toString('utf8'), bytes);
  });
  req.on('error', () => {
    // The client went away while sending; nothing to answer.
  });
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json;charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
