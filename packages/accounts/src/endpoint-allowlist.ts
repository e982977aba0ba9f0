/**
 * Which CloudMonitor endpoints an account may point the workers at (CMS_ENDPOINT_ALLOWLIST): without it, whoever may
 * edit an account could make every worker send signed requests to any host it can reach (SSRF). The API refuses an
 * endpoint outside the list (422) and the workers check again before they call.
 *
 * An entry is a host pattern, optionally with a port: `*.aliyuncs.com` (any subdomain of aliyuncs.com, never the
 * bare domain, any port), `metrics.cn-hangzhou.aliyuncs.com` (that host, any port), `127.0.0.1:8787` (that host and
 * port only). Hosts compare case-insensitively; IPv6 literals are written in brackets (`[::1]:8787`). An endpoint
 * must be an http(s) URL without credentials, query or fragment.
 */

export type EndpointPattern = { host: string; wildcard: boolean; port: number | null };
export type EndpointAllowlist = readonly EndpointPattern[];

const PATTERN = /^(\*\.)?([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/;

/** Parses `*.aliyuncs.com,127.0.0.1:8787`; throws a message naming the bad entry. Empty entries are skipped. */
export function parseEndpointAllowlist(text: string): EndpointAllowlist {
  return text
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean)
    .map((entry) => {
      const match = PATTERN.exec(entry);
      const port = match?.[3] === undefined ? null : Number(match[3]);
      if (!match || (port !== null && port > 65535))
        throw new Error(`"${entry}" is not a host pattern such as *.aliyuncs.com, a host, or host:port`);
      return { host: match[2]!, wildcard: match[1] !== undefined, port };
    });
}

/** The list as text again, for messages and logs. */
export function describeAllowlist(allowlist: EndpointAllowlist): string {
  return allowlist.map((p) => `${p.wildcard ? '*.' : ''}${p.host}${p.port === null ? '' : `:${p.port}`}`).join(', ');
}

/** Why an endpoint is refused (null: allowed). */
export function endpointRefusal(endpoint: string, allowlist: EndpointAllowlist): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https URL';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  const host = url.hostname.toLowerCase();
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const allowed = allowlist.some(
    (p) => (p.wildcard ? host.endsWith(`.${p.host}`) : host === p.host) && (p.port === null || p.port === port),
  );
  return allowed ? null : `is not within CMS_ENDPOINT_ALLOWLIST (${describeAllowlist(allowlist)})`;
}
