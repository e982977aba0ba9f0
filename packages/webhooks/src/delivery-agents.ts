import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { METADATA_ADDRESSES } from './address-policy.ts';

/**
 * The http.Agents every delivery connects through: request-filtering-agent checks each address at connection time,
 * after the name is resolved for that connection, so a name that resolved to a public address when the subscription
 * was made and to 127.0.0.1 now (DNS rebinding) is refused. Its rule (only unicast addresses) covers loopback,
 * private, link-local, CGNAT, multicast, unspecified and IPv4-mapped IPv6 (address-policy.ts lists them); the
 * metadata addresses are added to its deny list so that they stay refused with WEBHOOK_ALLOW_PRIVATE_NETWORKS.
 * Kept-alive sockets were checked when they connected.
 */
export type DeliveryAgents = {
  http: HttpAgent;
  https: HttpsAgent;
  /** Closes the kept-alive sockets. */
  destroy(): void;
};

export function createDeliveryAgents(options: {
  allowPrivateNetworks: boolean;
  /** Most sockets per receiver host. Default 16. */
  maxSocketsPerHost?: number;
}): DeliveryAgents {
  const common = {
    keepAlive: true,
    maxSockets: options.maxSocketsPerHost ?? 16,
    allowPrivateIPAddress: options.allowPrivateNetworks,
    allowMetaIPAddress: false,
    denyIPAddressList: [...METADATA_ADDRESSES],
  };
  const http = new RequestFilteringHttpAgent(common);
  const https = new RequestFilteringHttpsAgent(common);
  return {
    http,
    https,
    destroy() {
      http.destroy();
      https.destroy();
    },
  };
}
