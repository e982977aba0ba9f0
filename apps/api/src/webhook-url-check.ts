import { ApiError } from '@fleet/errors';
import type { ResolveHost } from '@fleet/webhooks';
import { checkWebhookUrl } from '@fleet/webhooks';

/** How the API checks a subscription's URL (WEBHOOK_ALLOW_PRIVATE_NETWORKS; a resolver for tests that need one). */
export type WebhookUrlPolicy = { allowPrivateNetworks: boolean; resolve?: ResolveHost };

/**
 * The URL, normalised, or a 422 saying why it is refused (SSRF policy of @fleet/webhooks: scheme, credentials, and
 * every address the host resolves to). `code` is `webhook_url_refused`; the field message names the address and its
 * class ("127.0.0.1, a loopback address").
 */
export async function allowedWebhookUrl(url: string, policy: WebhookUrlPolicy): Promise<string> {
  const check = await checkWebhookUrl(url, policy);
  if (check.allowed) return check.url.toString();
  const why = check.addressClass ? `${check.reason}: ${check.addressClass}` : check.reason;
  throw new ApiError(422, 'webhook_url_refused', 'Webhook URL refused', `url is refused (${why}): ${check.message}`, [
    { path: 'url', message: check.message, in: 'body' },
  ]);
}
