import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { DeliveryAgents } from './delivery-agents.ts';

/**
 * One POST of a message to a receiver: through the filtering agents, redirects never followed (node's http client
 * does not follow them; a 3xx is an answer like any other that is not 2xx), a deadline over the whole exchange, and
 * only the first characters of the answer kept.
 */
export type WebhookAnswer =
  | {
      kind: 'answered';
      status: number;
      /** The first characters of the answer body. */
      excerpt: string;
      /** The Retry-After header, as sent. */
      retryAfter: string | undefined;
      /** The Location header of a redirect (not followed). */
      location: string | undefined;
      latencyMs: number;
    }
  | {
      kind: 'no_answer';
      /** `address_refused`: the agent refused the address the host resolved to (SSRF policy). */
      failure: 'timeout' | 'address_refused' | 'network_error';
      message: string;
      latencyMs: number;
    };

export type SendWebhookInput = {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Deadline of the whole attempt (connect, send, answer), in ms. */
  timeoutMs: number;
};

/** Characters of an answer kept for the delivery log. */
export const EXCERPT_CHARS = 500;
/** Bytes of an answer read at most; the rest is not waited for. */
const MAX_READ_BYTES = 16 * 1024;
/**
 * request-filtering-agent's refusal is a plain Error whose message says the address "is not allowed" (it has no
 * code); matched here to tell a refused address from a network failure in the delivery log.
 */
const REFUSED_BY_AGENT = /is not allowed/;

function readExcerpt(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => resolve(Buffer.concat(chunks).toString('utf8').slice(0, EXCERPT_CHARS));
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_READ_BYTES) {
        response.destroy();
        done();
      }
    });
    response.on('end', done);
    response.on('error', done);
    response.on('aborted', done);
  });
}

export function sendWebhook(agents: DeliveryAgents, input: SendWebhookInput): Promise<WebhookAnswer> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(input.url);
  const secure = url.protocol === 'https:';
  const request = secure ? httpsRequest : httpRequest;
  return new Promise<WebhookAnswer>((resolve) => {
    let settled = false;
    const settle = (answer: WebhookAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const req = request(
      url,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(input.body)),
          'user-agent': 'fleet-rollout-webhooks/1',
          ...input.headers,
        },
      },
      (response) => {
        void readExcerpt(response).then((excerpt) =>
          settle({
            kind: 'answered',
            status: response.statusCode ?? 0,
            excerpt,
            retryAfter: response.headers['retry-after'],
            location: response.headers.location,
            latencyMs: elapsed(),
          }),
        );
      },
    );
    const timer = setTimeout(() => {
      settle({
        kind: 'no_answer',
        failure: 'timeout',
        message: `no answer within ${input.timeoutMs} ms`,
        latencyMs: elapsed(),
      });
      req.destroy();
    }, input.timeoutMs);
    req.on('error', (error) =>
      settle({
        kind: 'no_answer',
        failure: REFUSED_BY_AGENT.test(error.message) ? 'address_refused' : 'network_error',
        message: error.message.slice(0, EXCERPT_CHARS),
        latencyMs: elapsed(),
      }),
    );
    req.end(input.body);
  });
}
