import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, refusedAddressClass } from '../src/index.ts';
import { SSRF_ALLOWED_URLS as ALLOWED_URLS, SSRF_REFUSED_URLS as REFUSED_URLS } from '@fleet/testing';

describe('webhook URL policy', () => {
  it('has more than 40 refused cases to check', () => {
    expect(REFUSED_URLS.length).toBeGreaterThan(40);
  });

  it.each(REFUSED_URLS)('refuses $url ($reason $addressClass)', async ({ url, reason, addressClass }) => {
    const check = await checkWebhookUrl(url, { allowPrivateNetworks: false });
    expect(check.allowed).toBe(false);
    if (check.allowed) return;
    expect(check.reason).toBe(reason);
    expect(check.addressClass).toBe(addressClass);
    expect(check.message.length).toBeGreaterThan(10);
  });

  it('names the name and the address it resolves to for a name that resolves to loopback', async () => {
    const check = await checkWebhookUrl('http://localhost:8080/hook', { allowPrivateNetworks: false });
    expect(check).toMatchObject({ allowed: false, reason: 'address_not_allowed', addressClass: 'loopback' });
    if (!check.allowed) expect(check.message).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  });

  it.each(ALLOWED_URLS)('allows the public %s', async (url) => {
    expect(await checkWebhookUrl(url, { allowPrivateNetworks: false })).toMatchObject({ allowed: true });
  });

  it('refuses a name when any one of its addresses is private (a public and a private A record)', async () => {
    const check = await checkWebhookUrl('https://mixed.example/hook', {
      allowPrivateNetworks: false,
      resolve: async () => ['8.8.8.8', '10.1.2.3'],
    });
    expect(check).toMatchObject({ allowed: false, address: '10.1.2.3', addressClass: 'private' });
  });

  it('with WEBHOOK_ALLOW_PRIVATE_NETWORKS allows loopback and private addresses but never a metadata address', async () => {
    const options = { allowPrivateNetworks: true };
    expect(await checkWebhookUrl('http://127.0.0.1:9999/', options)).toMatchObject({ allowed: true });
    expect(await checkWebhookUrl('http://10.0.0.1/', options)).toMatchObject({ allowed: true });
    expect(await checkWebhookUrl('http://169.254.169.254/', options)).toMatchObject({
      allowed: false,
      addressClass: 'metadata',
    });
    expect(await checkWebhookUrl('http://[::ffff:100.100.100.200]/', options)).toMatchObject({
      allowed: false,
      addressClass: 'metadata',
    });
    expect(await checkWebhookUrl('ftp://127.0.0.1/', options)).toMatchObject({
      allowed: false,
      reason: 'scheme_not_allowed',
    });
  });

  it('classes an address the agent would refuse the same way (every IPv4-mapped address, whatever it maps)', () => {
    expect(refusedAddressClass('::ffff:8.8.8.8', { allowPrivateNetworks: false })).toBe('ipv4_mapped');
    expect(refusedAddressClass('8.8.8.8', { allowPrivateNetworks: false })).toBeNull();
    expect(refusedAddressClass('not-an-ip', { allowPrivateNetworks: true })).toBe('reserved');
  });
});
