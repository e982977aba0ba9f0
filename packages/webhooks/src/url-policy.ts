import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { AddressClass } from './address-policy.ts';
import { describeAddressClass, refusedAddressClass } from './address-policy.ts';

/**
 * Whether a webhook URL may be used, checked when a subscription is made or its URL changed (OWASP's SSRF advice for
 * webhooks): http or https only, no credentials in it, and every address its host resolves to allowed by
 * address-policy.ts. Each delivery checks again at connection time (delivery-agents.ts), against DNS rebinding.
 *
 * The WHATWG URL parser already turns the odd IPv4 spellings into dotted quads (`http://2130706433/`,
 * `http://0x7f.1/`, `http://0177.0.0.1/`, `http://127.1/` all have hostname 127.0.0.1), so they are checked as the
 * address they are.
 */

/** Why a URL is refused: a value the API's 422 carries as `reason`. */
export type UrlRefusalReason =
  'invalid_url' | 'scheme_not_allowed' | 'credentials_in_url' | 'host_unresolvable' | 'address_not_allowed';

export type UrlCheck =
  | { allowed: true; url: URL; addresses: string[] }
  | {
      allowed: false;
      reason: UrlRefusalReason;
      /** For `address_not_allowed`: the address at fault and its class. */
      address?: string;
      addressClass?: AddressClass;
      /** One sentence saying why, for the problem's field message. */
      message: string;
    };

/** Resolves a host name to every address it has (as getaddrinfo does for a connection). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export const resolveWithSystem: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

export type UrlPolicyOptions = {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: private, loopback, ... addresses allowed (metadata addresses never). */
  allowPrivateNetworks: boolean;
  /** Default: the system resolver (dns.lookup, all addresses). */
  resolve?: ResolveHost;
};

/** The host of a URL as an address or a name: `[::1]` without its brackets. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

export async function checkWebhookUrl(raw: string, options: UrlPolicyOptions): Promise<UrlCheck> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { allowed: false, reason: 'invalid_url', message: 'the URL is not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return {
      allowed: false,
      reason: 'scheme_not_allowed',
      message: `the URL uses ${url.protocol.slice(0, -1)}: only http and https are allowed`,
    };
  if (url.username !== '' || url.password !== '')
    return {
      allowed: false,
      reason: 'credentials_in_url',
      message: 'the URL carries a user name or password: put credentials in the path or query the receiver gives you',
    };
  const host = hostOf(url);
  let addresses: string[];
  if (net.isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = await (options.resolve ?? resolveWithSystem)(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0)
      return { allowed: false, reason: 'host_unresolvable', message: `host ${host} does not resolve` };
  }
  for (const address of addresses) {
    const refused = refusedAddressClass(address, { allowPrivateNetworks: options.allowPrivateNetworks });
    if (refused === null) continue;
    const what = address === host ? `${address} is` : `${host} resolves to ${address},`;
    return {
      allowed: false,
      reason: 'address_not_allowed',
      address,
      addressClass: refused,
      message: `${what} ${describeAddressClass(refused)}: webhooks are sent to public addresses only`,
    };
  }
  return { allowed: true, url, addresses };
}
