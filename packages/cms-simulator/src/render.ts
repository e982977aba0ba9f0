import { randomUUID } from 'node:crypto';

/** What the caller asked for with the `Format` parameter: XML when it says so (any case), JSON otherwise. */
export type ResponseFormat = 'JSON' | 'XML';

export function responseFormat(formatParam: string | undefined): ResponseFormat {
  return formatParam !== undefined && formatParam.toUpperCase() === 'XML' ? 'XML' : 'JSON';
}

/** Alibaba's RequestIds are upper-case UUIDs. */
export function newRequestId(): string {
  return randomUUID().toUpperCase();
}

/** A response document: scalar leaves, nested objects, and arrays (which repeat their element name in XML). */
type DocumentValue = string | number | boolean | DocumentObject | readonly DocumentObject[];
export type DocumentObject = { readonly [name: string]: DocumentValue };

export type RenderedBody = { contentType: string; body: string };

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

function xmlChildren(document: DocumentObject): string {
  let out = '';
  for (const [name, value] of Object.entries(document)) {
    if (Array.isArray(value)) {
      for (const item of value as readonly DocumentObject[]) out += `<${name}>${xmlChildren(item)}</${name}>`;
    } else if (typeof value === 'object') {
      out += `<${name}>${xmlChildren(value as DocumentObject)}</${name}>`;
    } else if (value !== '') {
      out += `<${name}>${escapeXml(String(value))}</${name}>`;
    }
  }
  return out;
}

/**
 * JSON is the document as is. XML wraps it in `rootName` (`<NodeInstallResponse>`, `<Error>`), the way the RPC
 * gateway serialises: `{"NodeStatusList":{"NodeStatus":[a,b]}}` becomes
 * `<NodeStatusList><NodeStatus>a</NodeStatus><NodeStatus>b</NodeStatus></NodeStatusList>`. Empty strings are left
 * out of XML (`<NodeInstallResponse>` carries no `<ErrorMessage>` on success) but kept in JSON (`"ErrorMessage":""`).
 */
export function renderDocument(format: ResponseFormat, rootName: string, document: DocumentObject): RenderedBody {
  if (format === 'XML') {
    return {
      contentType: 'text/xml;charset=utf-8',
      body: `${XML_DECLARATION}<${rootName}>${xmlChildren(document)}</${rootName}>`,
    };
  }
  return { contentType: 'application/json;charset=utf-8', body: JSON.stringify(document) };
}

/** The gateway's error document: the same five fields, in this order, for every gateway-level error. */
export function gatewayErrorDocument(requestId: string, hostId: string, code: string, message: string): DocumentObject {
  return {
    RequestId: requestId,
    HostId: hostId,
    Code: code,
    Message: message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Cms`,
  };
}

/** What a load balancer in front of the API answers when the backend is gone: not the API's format at all. */
export const BAD_GATEWAY_HTML =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
  '<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n';
