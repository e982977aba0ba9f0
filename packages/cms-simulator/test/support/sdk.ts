import * as cmsModule from '@alicloud/cms20190101';
import * as openApiClientModule from '@alicloud/openapi-client';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import RPCClient from '@alicloud/pop-core';
import { RuntimeOptions } from '@alicloud/tea-util';
import { KEY_ID, SECRET } from './client.ts';

/**
 * Alibaba's official SDKs pointed at a simulator: @alicloud/pop-core (RPC signature 1.0), @alicloud/openapi-client
 * (the generic OpenAPI client: V3 by default, v1 with signatureAlgorithm 'v2') and @alicloud/cms20190101 (the CMS
 * 2019-01-01 client on @alicloud/openapi-core: V3 by default, v1 with 'v2'). Each signs with its own code; none
 * retries (their retry options are off unless asked for).
 */

/**
 * Node's ESM loader hands a CommonJS module's `exports` over as the default import; these SDKs put their class on
 * `exports.default` (compiled TypeScript), so the class is one level further down unless the loader unwrapped it.
 */
function unwrapDefault<T>(value: T): T {
  return (value as { default?: T }).default ?? value;
}

const CmsClient = unwrapDefault(cmsModule.default);
const OpenApiClient = unwrapDefault(openApiClientModule.default);

export { cmsModule as cms };

/** `host:port` of a simulator URL, the way the SDKs take an endpoint. */
function hostOf(url: string): string {
  return new URL(url).host;
}

export function popCoreClient(url: string, apiVersion = '2017-03-01', secret = SECRET): RPCClient {
  return new RPCClient({
    endpoint: url,
    apiVersion,
    accessKeyId: KEY_ID,
    accessKeySecret: secret,
    opts: { timeout: 5000 },
  } as RPCClient.Config);
}

export type SdkSignature = 'v3' | 'v1';

/** What both OpenAPI clients are configured with; `v1` is their signatureAlgorithm 'v2' (the HMAC-SHA1 RPC one). */
function openApiConfig(url: string, signature: SdkSignature, secret: string) {
  return {
    accessKeyId: KEY_ID,
    accessKeySecret: secret,
    endpoint: hostOf(url),
    protocol: 'HTTP',
    readTimeout: 5000,
    ...(signature === 'v1' ? { signatureAlgorithm: 'v2' } : {}),
  };
}

export function cms20190101Client(url: string, signature: SdkSignature = 'v3', secret = SECRET) {
  return new CmsClient(new $OpenApiUtil.Config(openApiConfig(url, signature, secret)));
}

export function openApiClient(url: string, signature: SdkSignature = 'v3', secret = SECRET) {
  return new OpenApiClient(new openApiClientModule.Config(openApiConfig(url, signature, secret)));
}

/** One RPC-style call through the generic client: parameters in the query, or (POST) in a form body. */
export async function openApiCall(
  client: ReturnType<typeof openApiClient>,
  action: string,
  params: Record<string, string>,
  options: { method?: 'GET' | 'POST'; paramsIn?: 'query' | 'body'; version?: string } = {},
): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  const request = new openApiClientModule.OpenApiRequest(
    options.paramsIn === 'body' ? { body: params } : { query: params },
  );
  const response = (await client.callApi(
    new openApiClientModule.Params({
      action,
      version: options.version ?? '2017-03-01',
      protocol: 'HTTP',
      pathname: '/',
      method: options.method ?? 'POST',
      authType: 'AK',
      style: 'RPC',
      reqBodyType: 'formData',
      bodyType: 'json',
    }),
    request,
    new RuntimeOptions({}),
  )) as { statusCode: number; body: Record<string, unknown> };
  return response;
}

/** What an SDK throws for an error answer: the gateway's Code, and its whole document where the SDK keeps it. */
export async function sdkError(call: Promise<unknown>): Promise<{ code: string; message: string; data: unknown }> {
  try {
    await call;
  } catch (error) {
    const { code, message, data } = error as { code?: string; message?: string; data?: unknown };
    return { code: String(code), message: String(message), data };
  }
  throw new Error('the SDK call was expected to fail but succeeded');
}
