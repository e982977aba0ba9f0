import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses a webhook may be sent to. The rule is request-filtering-agent's (the agent every delivery
 * connects through, delivery-agents.ts): only what ipaddr.js classes as `unicast` (public) is allowed, so the check at
 * creation and the one at connection agree. This file only puts a name on the refusal for the 422, which the agent's
 * error does not give, and refuses the cloud metadata addresses by name even when private networks are allowed.
 *
 * What `unicast` leaves out, and so is refused: loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16),
 * link-local (169.254/16 with AWS's metadata 169.254.169.254, fe80::/10), CGNAT (100.64/10 with Alibaba Cloud's
 * metadata 100.100.100.200), multicast, broadcast, unspecified (0.0.0.0, ::), reserved, unique-local (fc00::/7 with
 * AWS's fd00:ec2::254), every IPv4-mapped IPv6 address (::ffff:a.b.c.d, whatever the IPv4 address) and the other
 * special IPv6 ranges (NAT64, 6to4, Teredo, ...).
 */

/** The cloud metadata services' addresses: refused always, also with WEBHOOK_ALLOW_PRIVATE_NETWORKS. */
export const METADATA_ADDRESSES: readonly string[] = ['169.254.169.254', '100.100.100.200', 'fd00:ec2::254'];

/** Why an address is refused: a value the 422 names. */
export type AddressClass =
  | 'metadata'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'carrier_grade_nat'
  | 'multicast'
  | 'broadcast'
  | 'unspecified'
  | 'ipv4_mapped'
  | 'reserved';

/** ipaddr.js's range names (IPv4 and IPv6) as our classes; a range not listed here counts as `reserved`. */
const RANGE_CLASSES: Record<string, AddressClass> = {
  loopback: 'loopback',
  private: 'private',
  uniqueLocal: 'private',
  deprecatedSiteLocal: 'private',
  linkLocal: 'link_local',
  carrierGradeNat: 'carrier_grade_nat',
  multicast: 'multicast',
  broadcast: 'broadcast',
  unspecified: 'unspecified',
  ipv4Mapped: 'ipv4_mapped',
};

const CLASS_WORDS: Record<AddressClass, string> = {
  metadata: 'a cloud metadata address',
  loopback: 'a loopback address',
  private: 'a private network address',
  link_local: 'a link-local address',
  carrier_grade_nat: 'a carrier-grade NAT (shared) address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  unspecified: 'the unspecified address',
  ipv4_mapped: 'an IPv4-mapped IPv6 address',
  reserved: 'a reserved or special-purpose address',
};

/** Words for a class, for messages: "a loopback address". */
export function describeAddressClass(addressClass: AddressClass): string {
  return CLASS_WORDS[addressClass];
}

function isMetadata(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return METADATA_ADDRESSES.some((m) => {
    const parsed = ipaddr.parse(m);
    return parsed.kind() === address.kind() && parsed.toNormalizedString() === address.toNormalizedString();
  });
}

/**
 * Null when `address` (an IP literal, IPv4 or IPv6) may be sent to, else why not. With `allowPrivateNetworks`, only
 * the metadata addresses are refused. Something that is not an IP address is `reserved` (never allowed by mistake).
 */
export function refusedAddressClass(address: string, options: { allowPrivateNetworks: boolean }): AddressClass | null {
  if (net.isIP(address) === 0) return 'reserved';
  const parsed = ipaddr.parse(address);
  // An IPv4-mapped form of a metadata address is the metadata address.
  const unwrapped =
    parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
      ? (parsed as ipaddr.IPv6).toIPv4Address()
      : parsed;
  if (isMetadata(parsed) || isMetadata(unwrapped)) return 'metadata';
  if (options.allowPrivateNetworks) return null;
  const range = parsed.range();
  if (range === 'unicast') return null;
  return RANGE_CLASSES[range] ?? 'reserved';
}
