import { describe, expect, it } from 'vitest';
import { DEFAULT_ENDPOINT_ALLOWLIST, endpointRefusal, parseEndpointAllowlist } from '../src/index.ts';

const defaults = parseEndpointAllowlist(DEFAULT_ENDPOINT_ALLOWLIST);

describe('CMS_ENDPOINT_ALLOWLIST', () => {
  it("allows Alibaba's endpoints and the local simulator by default", () => {
    expect(endpointRefusal('https://metrics.cn-hangzhou.aliyuncs.com/', defaults)).toBeNull();
    expect(endpointRefusal('https://METRICS.ap-southeast-1.aliyuncs.com:443/', defaults)).toBeNull();
    expect(endpointRefusal('http://127.0.0.1:8787/', defaults)).toBeNull();
    expect(endpointRefusal('http://localhost:8787/', defaults)).toBeNull();
  });

  it('refuses any other host, port or shape: the way to point signed requests elsewhere (SSRF)', () => {
    for (const endpoint of [
      'http://169.254.169.254/latest/meta-data/',
      'http://127.0.0.1:6379/',
      'https://aliyuncs.com/',
      'https://metrics.aliyuncs.com.evil.example/',
      'https://evilaliyuncs.com/',
      'https://user:pw@metrics.cn-hangzhou.aliyuncs.com/',
      'https://metrics.cn-hangzhou.aliyuncs.com/?redirect=x',
      'ftp://metrics.cn-hangzhou.aliyuncs.com/',
      'not a url',
    ])
      expect(endpointRefusal(endpoint, defaults), endpoint).not.toBeNull();
    expect(endpointRefusal('http://10.0.0.1/', defaults)).toContain(
      'CMS_ENDPOINT_ALLOWLIST (*.aliyuncs.com, 127.0.0.1:8787',
    );
  });

  it('reads hosts, ports and bracketed IPv6, and names a bad entry', () => {
    const list = parseEndpointAllowlist(' cms.internal , [::1]:9000,,*.example.com:8443 ');
    expect(endpointRefusal('http://cms.internal:1234/', list)).toBeNull();
    expect(endpointRefusal('http://[::1]:9000/', list)).toBeNull();
    expect(endpointRefusal('http://[::1]:9001/', list)).not.toBeNull();
    expect(endpointRefusal('https://a.example.com:8443/', list)).toBeNull();
    expect(endpointRefusal('https://a.example.com/', list)).not.toBeNull();
    expect(() => parseEndpointAllowlist('ok.example.com,http://bad/')).toThrow('"http://bad/"');
  });
});
