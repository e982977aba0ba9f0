import { OpenApiUtil as CoreUtil } from '@alicloud/openapi-core';
import * as openApiUtilModule from '@alicloud/openapi-util';
import { describe, expect, it } from 'vitest';
import {
  encodeParams,
  prepareRequest,
  sha256Hex,
  v3Authorization,
  v3CanonicalQueryString,
  type SignedParamsInput,
} from '../src/index.ts';

/**
 * Golden vectors: our V3 signer against the signers of Alibaba's official SDKs on the same inputs (fixed date and
 * nonce): @alicloud/openapi-core's (what @alicloud/cms20190101 4.x signs with) and @alicloud/openapi-util's (what
 * @alicloud/openapi-client signs with). Any difference in encoding, sorting, header selection or hashing shows as a
 * different Authorization header.
 */

// Compiled CommonJS: Node's ESM loader may hand over `exports` as the default, the class then sits on `.default`.
const UtilModuleDefault = openApiUtilModule.default as typeof openApiUtilModule.default & {
  default?: typeof openApiUtilModule.default;
};
const ClientUtil = UtilModuleDefault.default ?? UtilModuleDefault;

const ACCESS_KEY_ID = 'LTAI5tGoldenVector01';
const SECRET = 'golden-secret/+=~*';
const DATE = '2026-12-02T05:00:00Z';
const NONCE = '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf';
const ALGORITHM = 'ACS3-HMAC-SHA256';

type SdkRequest = Parameters<typeof CoreUtil.getAuthorization>[0];

function headersFor(action: string, version: string, body: string, extra: Record<string, string> = {}) {
  return {
    host: 'metrics.cn-hangzhou.aliyuncs.com',
    'x-acs-action': action,
    'x-acs-version': version,
    'x-acs-date': DATE,
    'x-acs-signature-nonce': NONCE,
    'x-acs-content-sha256': sha256Hex(body),
    // Not signed by either side: only host, content-type and x-acs-* are.
    accept: 'application/json',
    'user-agent': 'golden/1.0',
    ...extra,
  };
}

/** The Authorization each SDK computes for a request of this shape. */
function sdkAuthorizations(
  method: string,
  query: Record<string, string>,
  headers: Record<string, string>,
  body: string,
) {
  const request = { method, pathname: '/', query, headers } as unknown as SdkRequest;
  return {
    openapiCore: CoreUtil.getAuthorization(request, ALGORITHM, sha256Hex(body), ACCESS_KEY_ID, SECRET),
    openapiUtil: ClientUtil.getAuthorization(request, ALGORITHM, sha256Hex(body), ACCESS_KEY_ID, SECRET),
  };
}

function ours(method: 'GET' | 'POST', query: Record<string, string>, headers: Record<string, string>, body: string) {
  return v3Authorization({ method, path: '/', query, headers, hashedPayload: sha256Hex(body) }, ACCESS_KEY_ID, SECRET);
}

const TEN_INSTANCES = Array.from({ length: 10 }, (_, i) => `i-bp1h4adlltjc1d48go${String(i).padStart(2, '0')}`);

const VECTORS: { name: string; action: string; version: string; query: Record<string, string> }[] = [
  {
    name: 'a plain NodeInstall',
    action: 'NodeInstall',
    version: '2017-03-01',
    query: { UserId: '1234567898765432', InstanceId: 'i-bp1h4adlltjc1d48goaq', Force: 'true' },
  },
  { name: 'an empty value', action: 'NodeStatus', version: '2017-03-01', query: { InstanceId: 'i-a1', Note: '' } },
  {
    name: 'spaces, *, ~ and the characters encodeURIComponent spares',
    action: 'NodeStatusList',
    version: '2017-03-01',
    query: { InstanceIds: 'i-a1,i-b2', Note: "a b*c~d !'()", Plus: '1+1=2&x' },
  },
  {
    name: 'multi-byte UTF-8 (3 and 4 bytes)',
    action: 'DescribeMonitoringAgentHosts',
    version: '2019-01-01',
    query: { KeyWord: '阿里云 主机', HostName: 'host-😀', PageNumber: '1', PageSize: '50' },
  },
  {
    name: 'InstanceIds.1..10 repeated, flattened by the SDK itself (so .10 sorts before .2)',
    action: 'InstallMonitoringAgent',
    version: '2019-01-01',
    query: { Force: 'true', ...(CoreUtil.query({ InstanceIds: TEN_INSTANCES }) as Record<string, string>) },
  },
];

describe('our V3 signer against the SDKs signers, same inputs', () => {
  it.each(VECTORS)('$name: GET with the parameters in the query', ({ action, version, query }) => {
    const headers = headersFor(action, version, '');
    const sdk = sdkAuthorizations('GET', query, headers, '');
    expect(sdk.openapiCore).toBe(sdk.openapiUtil);
    expect(ours('GET', query, headers, '')).toBe(sdk.openapiCore);
  });

  it.each(VECTORS)('$name: POST with the parameters in a form body', ({ action, version, query }) => {
    const body = encodeParams(query);
    const headers = headersFor(action, version, body, { 'content-type': 'application/x-www-form-urlencoded' });
    const sdk = sdkAuthorizations('POST', {}, headers, body);
    expect(sdk.openapiCore).toBe(sdk.openapiUtil);
    expect(ours('POST', {}, headers, body)).toBe(sdk.openapiCore);
  });

  it('an STS token is one more signed header, on both sides', () => {
    const headers = headersFor('NodeStatus', '2017-03-01', '', { 'x-acs-security-token': 'CAIS token/+=' });
    const query = { InstanceId: 'i-a1' };
    expect(ours('GET', query, headers, '')).toBe(sdkAuthorizations('GET', query, headers, '').openapiCore);
  });

  it('the SDK flattens InstanceIds into the same names our client does', () => {
    const flat = CoreUtil.query({ InstanceIds: TEN_INSTANCES }) as Record<string, string>;
    expect(Object.keys(flat)).toEqual(TEN_INSTANCES.map((_, i) => `InstanceIds.${i + 1}`));
    expect(
      v3CanonicalQueryString(flat)
        .split('&')
        .slice(0, 3)
        .map((pair) => pair.split('=')[0]),
    ).toEqual(['InstanceIds.1', 'InstanceIds.10', 'InstanceIds.2']);
  });
});

describe('every request the client prepares with v3 verifies under the SDKs signers', () => {
  const base: SignedParamsInput = {
    action: 'InstallMonitoringAgent',
    version: '2019-01-01',
    params: { Force: true, InstanceIds: TEN_INSTANCES.slice(0, 3), Note: 'a b*c~ 云' },
    method: 'GET',
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET, securityToken: 'sts-token' },
    now: () => new Date(DATE),
    nonce: () => NONCE,
    signatureVersion: 'v3',
  };

  it.each(['GET', 'POST'] as const)('%s', (method) => {
    const prepared = prepareRequest('http://127.0.0.1:8787/', { ...base, method });
    const query = method === 'GET' ? prepared.params : {};
    const body = prepared.body ?? '';
    expect(prepared.headers['x-acs-content-sha256']).toBe(sha256Hex(body));
    expect(prepared.headers['x-acs-date']).toBe(DATE);
    expect(prepared.headers['x-acs-signature-nonce']).toBe(NONCE);
    expect(prepared.headers['host']).toBe('127.0.0.1:8787');
    const withoutAuthorization = { ...prepared.headers };
    delete withoutAuthorization['authorization'];
    const sdkRequest = { method, pathname: '/', query, headers: withoutAuthorization } as unknown as SdkRequest;
    expect(prepared.headers['authorization']).toBe(
      CoreUtil.getAuthorization(sdkRequest, ALGORITHM, sha256Hex(body), ACCESS_KEY_ID, SECRET),
    );
    expect(prepared.headers['authorization']).toBe(
      ClientUtil.getAuthorization(sdkRequest, ALGORITHM, sha256Hex(body), ACCESS_KEY_ID, SECRET),
    );
  });
});

describe('every request the client prepares with v1 carries the Signature the SDKs compute', () => {
  const SDK_V1 = [
    ['NodeInstall', '2017-03-01', { UserId: '1234567898765432', InstanceId: 'i-a1', Force: true }],
    ['NodeStatusList', '2017-03-01', { InstanceIds: 'i-a1,i-b2', Note: "a b*c~ !'() 阿里云 😀", Empty: '' }],
    ['InstallMonitoringAgent', '2019-01-01', { Force: true, InstanceIds: TEN_INSTANCES }],
  ] as const;

  it.each(SDK_V1.flatMap((vector) => (['GET', 'POST'] as const).map((method) => [method, ...vector] as const)))(
    '%s %s (%s)',
    (method, action, version, params) => {
      const prepared = prepareRequest('http://127.0.0.1:8787/', {
        action,
        version,
        params,
        method,
        credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET, securityToken: 'sts-token' },
        now: () => new Date(DATE),
        nonce: () => NONCE,
      });
      const { Signature: signature, ...signed } = prepared.params;
      expect(signature).toBe(CoreUtil.getRPCSignature(signed, method, SECRET));
      expect(signature).toBe(ClientUtil.getRPCSignature(signed, method, SECRET));
    },
  );
});
