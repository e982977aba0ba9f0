import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ResponseFormat } from './request-params.ts';

/**
 * Turns one HTTP response of the CMS RPC API (status, content type, body text) into a typed document. Never throws:
 * a body that is not a recognisable CMS document (HTML error page, truncated JSON/XML, empty body) becomes a
 * `malformed` result that still carries the HTTP status and, when it can be found, the RequestId.
 *
 * Whether the call succeeded is NOT decided here; that is classify-outcome.ts. This module only extracts fields:
 * - action-level: Success (bool or "true"/"false"), ErrorCode (number or string -> string), ErrorMessage
 * - gateway-level: Code, Message, HostId, Recommend (both `{...}` JSON and `<Error>...</Error>` XML)
 * - RequestId on every kind of document
 * - action data: InstanceId, Status, AutoInstall and NodeStatusList.NodeStatus[] (also a single-element list).
 */

export type RawResponse = {
  status: number;
  /** The Content-Type header, if any. Informational: the body itself decides between JSON and XML. */
  contentType: string | null;
  body: string;
};

/** One entry of NodeStatusList, as the API sent it (Status not yet normalised). */
export type NodeStatusRecord = {
  instanceId: string;
  status: string | null;
  autoInstall: boolean | null;
};

export type ParsedDocument = {
  kind: 'document';
  httpStatus: number;
  format: ResponseFormat;
  requestId: string | null;
  /** Action-level `Success`; null when absent or not a boolean. */
  success: boolean | null;
  /** Action-level `ErrorCode` as a string (`"200"`, `"500"`), null when absent. */
  errorCode: string | null;
  errorMessage: string | null;
  /** Gateway-level error `Code` (e.g. `Throttling.User`), null when absent. */
  code: string | null;
  message: string | null;
  hostId: string | null;
  recommend: string | null;
  /** NodeStatus fields. */
  instanceId: string | null;
  status: string | null;
  autoInstall: boolean | null;
  /** NodeStatusList.NodeStatus entries; null when the document has no NodeStatusList. */
  nodeStatusList: NodeStatusRecord[] | null;
};

export type MalformedResponse = {
  kind: 'malformed';
  httpStatus: number;
  /** What the body looked like, if anything. */
  format: ResponseFormat | null;
  requestId: string | null;
  /** Why the body was rejected, e.g. `empty body`, `invalid JSON: ...`, `HTML page (text/html)`. */
  reason: string;
  /** The first characters of the body (whitespace collapsed), for logs and support tickets. */
  excerpt: string;
};

export type ParsedResponse = ParsedDocument | MalformedResponse;

const EXCERPT_LENGTH = 200;

// parseTagValue off keeps every leaf a string: RequestId, UserId and ErrorCode are digit strings that must not
// become (possibly rounded) numbers. NodeStatus is always an array so a one-element list looks like a longer one.
const xmlParser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (tagName, jPath) =>
    tagName === 'NodeStatus' && typeof jPath === 'string' && jPath.endsWith('NodeStatusList.NodeStatus'),
});

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function excerptOf(body: string): string {
  const collapsed = body.replace(/\s+/g, ' ').trim();
  return collapsed.length > EXCERPT_LENGTH ? `${collapsed.slice(0, EXCERPT_LENGTH)}...` : collapsed;
}

/** A scalar as a trimmed string; numbers are stringified, empty strings and non-scalars become null. */
function stringField(value: unknown): string | null {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed.length > 0 ? trimmed : null;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** `true` / `false` as JSON booleans or as strings (case-insensitive); anything else is null. */
function booleanField(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lowered = value.trim().toLowerCase();
    if (lowered === 'true') return true;
    if (lowered === 'false') return false;
  }
  return null;
}

function nodeStatusRecord(value: unknown): NodeStatusRecord | null {
  if (!isObject(value)) return null;
  const instanceId = stringField(value['InstanceId']);
  if (instanceId === null) return null;
  return { instanceId, status: stringField(value['Status']), autoInstall: booleanField(value['AutoInstall']) };
}

/**
 * NodeStatusList arrives as `{"NodeStatus":[...]}`, `{"NodeStatus":{...}}` (single element, some serialisers),
 * `{}` / `""` (empty list, XML `<NodeStatusList/>`) or, defensively, a bare array.
 */
function nodeStatusListField(value: unknown): NodeStatusRecord[] | null {
  if (value === undefined || value === null) return null;
  let entries: unknown[];
  if (Array.isArray(value)) entries = value;
  else if (isObject(value)) {
    const inner = value['NodeStatus'];
    entries = inner === undefined || inner === null || inner === '' ? [] : Array.isArray(inner) ? inner : [inner];
  } else if (value === '') entries = [];
  else return null;
  return entries.map(nodeStatusRecord).filter((record): record is NodeStatusRecord => record !== null);
}

function fromFields(httpStatus: number, format: ResponseFormat, fields: JsonObject): ParsedDocument {
  return {
    kind: 'document',
    httpStatus,
    format,
    requestId: stringField(fields['RequestId']),
    success: booleanField(fields['Success']),
    errorCode: stringField(fields['ErrorCode']),
    errorMessage: stringField(fields['ErrorMessage']),
    code: stringField(fields['Code']),
    message: stringField(fields['Message']),
    hostId: stringField(fields['HostId']),
    recommend: stringField(fields['Recommend']),
    instanceId: stringField(fields['InstanceId']),
    status: stringField(fields['Status']),
    autoInstall: booleanField(fields['AutoInstall']),
    nodeStatusList: nodeStatusListField(fields['NodeStatusList']),
  };
}

/**
 * A document that says nothing about the outcome (none of Success, ErrorCode, Code) is not a CMS response, e.g.
 * `{}` from a misrouted proxy; treating it as "not successful" would lose that distinction.
 */
function checkDocument(document: ParsedDocument, body: string): ParsedResponse {
  if (document.success === null && document.errorCode === null && document.code === null) {
    return {
      kind: 'malformed',
      httpStatus: document.httpStatus,
      format: document.format,
      requestId: document.requestId,
      reason: 'document carries none of Success, ErrorCode or Code',
      excerpt: excerptOf(body),
    };
  }
  return document;
}

/** Best effort RequestId from a body that failed to parse (e.g. a truncated document). */
function salvageRequestId(body: string): string | null {
  const match = /"RequestId"\s*:\s*"([^"]+)"|<RequestId>\s*([^<\s]+)\s*<\/RequestId>/.exec(body);
  return match ? (match[1] ?? match[2] ?? null) : null;
}

function malformed(raw: RawResponse, format: ResponseFormat | null, reason: string): MalformedResponse {
  return {
    kind: 'malformed',
    httpStatus: raw.status,
    format,
    requestId: salvageRequestId(raw.body),
    reason,
    excerpt: excerptOf(raw.body),
  };
}

function parseJson(raw: RawResponse, text: string): ParsedResponse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return malformed(raw, 'JSON', `invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(value)) return malformed(raw, 'JSON', 'JSON body is not an object');
  return checkDocument(fromFields(raw.status, 'JSON', value), raw.body);
}

function parseXml(raw: RawResponse, text: string, contentType: string): ParsedResponse {
  // The parser alone accepts truncated documents (it auto-closes tags), so validate first.
  const validation = XMLValidator.validate(text);
  if (validation !== true) {
    const looksHtml = /^<(!doctype\s+html|html)\b/i.test(text) || contentType.includes('html');
    return malformed(
      raw,
      looksHtml ? null : 'XML',
      `${looksHtml ? 'HTML page' : 'invalid XML'}: ${validation.err.msg}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = xmlParser.parse(text);
  } catch (error) {
    return malformed(raw, 'XML', `invalid XML: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(parsed)) return malformed(raw, 'XML', 'XML body has no root element');
  const roots = Object.keys(parsed);
  const rootName = roots[0];
  if (roots.length !== 1 || rootName === undefined) {
    return malformed(raw, 'XML', `XML body must have exactly one root element, found ${roots.length}`);
  }
  // `<NodeInstallResponse>` (any `<Action>Response`) or the gateway's `<Error>`; a well-formed `<html>` page is not.
  if (rootName !== 'Error' && !rootName.endsWith('Response')) {
    const what = rootName.toLowerCase() === 'html' ? 'HTML page' : `unexpected XML root <${rootName}>`;
    return malformed(
      raw,
      rootName.toLowerCase() === 'html' ? null : 'XML',
      `${what}${contentType ? ` (${contentType})` : ''}`,
    );
  }
  const root = parsed[rootName];
  if (!isObject(root)) return malformed(raw, 'XML', `XML root <${rootName}> has no child elements`);
  return checkDocument(fromFields(raw.status, 'XML', root), raw.body);
}

export function parseResponse(raw: RawResponse): ParsedResponse {
  // Strip a UTF-8 BOM and surrounding whitespace; the first character then tells JSON from XML.
  const text = raw.body.replace(/^\uFEFF/, '').trim();
  const contentType = (raw.contentType ?? '').toLowerCase();
  if (text.length === 0) return malformed(raw, null, 'empty body');
  if (text.startsWith('{') || text.startsWith('[')) return parseJson(raw, text);
  if (text.startsWith('<')) return parseXml(raw, text, contentType);
  return malformed(raw, null, `body is neither JSON nor XML${contentType ? ` (${contentType})` : ''}`);
}
