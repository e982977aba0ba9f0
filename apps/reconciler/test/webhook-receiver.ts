import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One message as it arrived: its `webhook-id` header and the fleet event id its Standard Webhooks body carries. */
type ReceivedMessage = { webhookId: string; eventId: string };

export type WebhookReceiver = {
  /** Where a subscription sends (http://127.0.0.1:port/hooks). */
  url: string;
  /** Every message received, in order of arrival; each was answered 200. */
  received: ReceivedMessage[];
  close(): Promise<void>;
};

/**
 * A webhook receiver on 127.0.0.1 (port 0) for the fault deployments: it answers every message 200 and keeps what
 * tells messages apart. Signatures are the notifier's own tests' concern (apps/notifier/test).
 */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedMessage[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let eventId = 'not a Standard Webhooks body';
      try {
        eventId = String(
          (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { eventId: string } }).data.eventId,
        );
      } catch {
        // Kept as received: the test's check names it.
      }
      received.push({ webhookId: String(req.headers['webhook-id']), eventId });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
