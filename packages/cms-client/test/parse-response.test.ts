import { describe, expect, it } from 'vitest';
import { parseResponse, type ParsedDocument } from '../src/index.ts';

function documentWith(overrides: Partial<ParsedDocument>): ParsedDocument {
  return {
    kind: 'document',
    httpStatus: 200,
    format: 'JSON',
    requestId: null,
    success: null,
    errorCode: null,
    errorMessage: null,
    code: null,
    message: null,
    hostId: null,
    recommend: null,
    instanceId: null,
    status: null,
    autoInstall: null,
    nodeStatusList: null,
    ...overrides,
  };
}

const JSON_TYPE = 'application/json;charset=utf-8';
const XML_TYPE = 'text/xml;charset=utf-8';

describe('parseResponse: JSON', () => {
  it('parses a NodeInstall success with numeric ErrorCode and boolean Success', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: '{"RequestId":"6A2B3C4D-0000-4000-8000-000000000001","ErrorCode":200,"Success":true}',
    });
    expect(parsed).toEqual(
      documentWith({ requestId: '6A2B3C4D-0000-4000-8000-000000000001', errorCode: '200', success: true }),
    );
  });

  it('accepts Success and ErrorCode as strings', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: '{"RequestId":"r-1","ErrorCode":"500","Success":"false","ErrorMessage":"Internal Server Error"}',
    });
    expect(parsed).toEqual(
      documentWith({ requestId: 'r-1', errorCode: '500', success: false, errorMessage: 'Internal Server Error' }),
    );
  });

  it('parses a gateway error body and keeps its RequestId, HostId and Recommend', () => {
    const parsed = parseResponse({
      status: 400,
      contentType: JSON_TYPE,
      body: JSON.stringify({
        RequestId: '0F1E2D3C',
        HostId: 'metrics.cn-hangzhou.aliyuncs.com',
        Code: 'Throttling.User',
        Message: 'Request was denied due to user flow control.',
        Recommend: 'https://api.aliyun.com/troubleshoot?q=Throttling.User',
      }),
    });
    expect(parsed).toEqual(
      documentWith({
        httpStatus: 400,
        requestId: '0F1E2D3C',
        hostId: 'metrics.cn-hangzhou.aliyuncs.com',
        code: 'Throttling.User',
        message: 'Request was denied due to user flow control.',
        recommend: 'https://api.aliyun.com/troubleshoot?q=Throttling.User',
      }),
    );
  });

  it('parses NodeStatus with InstanceId, Status and AutoInstall', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: '{"RequestId":"r","ErrorCode":200,"Success":true,"InstanceId":"i-22jja5c2l","Status":"Running","AutoInstall":true}',
    });
    expect(parsed).toEqual(
      documentWith({
        requestId: 'r',
        errorCode: '200',
        success: true,
        instanceId: 'i-22jja5c2l',
        status: 'Running',
        autoInstall: true,
      }),
    );
  });

  it('parses the wrapped NodeStatusList, a single object instead of an array, and an empty list', () => {
    const many = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: JSON.stringify({
        RequestId: 'r',
        Success: true,
        ErrorCode: 200,
        NodeStatusList: {
          NodeStatus: [
            { InstanceId: 'i-a', Status: 'running', AutoInstall: true },
            { InstanceId: 'i-b', Status: 'install_faild', AutoInstall: 'false' },
          ],
        },
      }),
    });
    expect(many.kind === 'document' && many.nodeStatusList).toEqual([
      { instanceId: 'i-a', status: 'running', autoInstall: true },
      { instanceId: 'i-b', status: 'install_faild', autoInstall: false },
    ]);
    const single = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: '{"Success":true,"NodeStatusList":{"NodeStatus":{"InstanceId":"i-c","Status":"stopped"}}}',
    });
    expect(single.kind === 'document' && single.nodeStatusList).toEqual([
      { instanceId: 'i-c', status: 'stopped', autoInstall: null },
    ]);
    const empty = parseResponse({ status: 200, contentType: JSON_TYPE, body: '{"Success":true,"NodeStatusList":{}}' });
    expect(empty.kind === 'document' && empty.nodeStatusList).toEqual([]);
  });

  it('keeps a long numeric RequestId exact when it arrives as a string', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: '{"RequestId":"12345678987654321","Success":true}',
    });
    expect(parsed.requestId).toBe('12345678987654321');
  });
});

describe('parseResponse: XML', () => {
  it('parses <NodeInstallResponse> and keeps ErrorCode and RequestId as strings', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body:
        '<?xml version="1.0" encoding="UTF-8"?>\n<NodeInstallResponse>\n' +
        '  <RequestId>0012345678901234567</RequestId>\n  <ErrorCode>200</ErrorCode>\n' +
        '  <Success>true</Success>\n</NodeInstallResponse>',
    });
    expect(parsed).toEqual(
      documentWith({ format: 'XML', requestId: '0012345678901234567', errorCode: '200', success: true }),
    );
  });

  it('never turns numeric-looking text into numbers (parseTagValue off)', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body:
        '<NodeStatusResponse><RequestId>12E3</RequestId><ErrorCode>0200</ErrorCode>' +
        '<Success>false</Success><ErrorMessage>1.50</ErrorMessage><InstanceId>00123</InstanceId>' +
        '<Status>0x1F</Status></NodeStatusResponse>',
    });
    expect(parsed).toEqual(
      documentWith({
        format: 'XML',
        requestId: '12E3',
        errorCode: '0200',
        success: false,
        errorMessage: '1.50',
        instanceId: '00123',
        status: '0x1F',
      }),
    );
  });

  it('parses the gateway <Error> document including entities and CDATA', () => {
    const parsed = parseResponse({
      status: 404,
      contentType: XML_TYPE,
      body:
        '<?xml version="1.0" encoding="UTF-8"?><Error><RequestId>R-9</RequestId><HostId>metrics.aliyuncs.com</HostId>' +
        '<Code>InvalidAccessKeyId.NotFound</Code><Message>Specified access key is not found &amp; disabled.</Message>' +
        '<Recommend><![CDATA[https://x.example/?q=a&b=c]]></Recommend></Error>',
    });
    expect(parsed).toEqual(
      documentWith({
        httpStatus: 404,
        format: 'XML',
        requestId: 'R-9',
        hostId: 'metrics.aliyuncs.com',
        code: 'InvalidAccessKeyId.NotFound',
        message: 'Specified access key is not found & disabled.',
        recommend: 'https://x.example/?q=a&b=c',
      }),
    );
  });

  it('parses an action-level XML error', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body:
        '<NodeInstallResponse><RequestId>R</RequestId><ErrorCode>404</ErrorCode><Success>false</Success>' +
        '<ErrorMessage>instance not found</ErrorMessage></NodeInstallResponse>',
    });
    expect(parsed).toEqual(
      documentWith({
        format: 'XML',
        requestId: 'R',
        errorCode: '404',
        success: false,
        errorMessage: 'instance not found',
      }),
    );
  });

  it('parses an XML NodeStatusList with one element as a one-element list', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body:
        '<NodeStatusListResponse><RequestId>R</RequestId><Success>true</Success>' +
        '<ErrorCode>200</ErrorCode><NodeStatusList><NodeStatus><InstanceId>i-a</InstanceId>' +
        '<Status>Not_Installed</Status><AutoInstall>true</AutoInstall></NodeStatus></NodeStatusList>' +
        '</NodeStatusListResponse>',
    });
    expect(parsed.kind === 'document' && parsed.nodeStatusList).toEqual([
      { instanceId: 'i-a', status: 'Not_Installed', autoInstall: true },
    ]);
  });

  it('parses an XML NodeStatusList with two elements and an empty <NodeStatusList/>', () => {
    const two = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body:
        '<NodeStatusListResponse><Success>true</Success><NodeStatusList><NodeStatus>' +
        '<InstanceId>i-a</InstanceId><Status>running</Status></NodeStatus><NodeStatus>' +
        '<InstanceId>i-b</InstanceId><Status>stopped</Status><AutoInstall>false</AutoInstall>' +
        '</NodeStatus></NodeStatusList></NodeStatusListResponse>',
    });
    expect(two.kind === 'document' && two.nodeStatusList).toEqual([
      { instanceId: 'i-a', status: 'running', autoInstall: null },
      { instanceId: 'i-b', status: 'stopped', autoInstall: false },
    ]);
    const empty = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body: '<NodeStatusListResponse><Success>true</Success><NodeStatusList/></NodeStatusListResponse>',
    });
    expect(empty.kind === 'document' && empty.nodeStatusList).toEqual([]);
  });

  it('parses NodeStatus XML with AutoInstall as a boolean', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body:
        '<NodeStatusResponse><Success>true</Success><InstanceId>i-a</InstanceId>' +
        '<Status>installing</Status><AutoInstall>false</AutoInstall></NodeStatusResponse>',
    });
    expect(parsed).toEqual(
      documentWith({ format: 'XML', success: true, instanceId: 'i-a', status: 'installing', autoInstall: false }),
    );
  });
});

describe('parseResponse: malformed bodies never throw', () => {
  it('an HTML error page is malformed, with an excerpt', () => {
    const parsed = parseResponse({
      status: 502,
      contentType: 'text/html',
      body: '<html>\n<head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center></body>\n</html>',
    });
    expect(parsed).toEqual({
      kind: 'malformed',
      httpStatus: 502,
      format: null,
      requestId: null,
      reason: 'HTML page (text/html)',
      excerpt:
        '<html> <head><title>502 Bad Gateway</title></head> <body><center><h1>502 Bad Gateway</h1></center></body> </html>',
    });
  });

  it('an HTML page that is not well-formed XML is malformed', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: 'text/html',
      body: '<!DOCTYPE html><html><body><br></body></html>',
    });
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason.startsWith('HTML page')).toBe(true);
  });

  it('an empty body on 200 is malformed', () => {
    expect(parseResponse({ status: 200, contentType: JSON_TYPE, body: '' })).toEqual({
      kind: 'malformed',
      httpStatus: 200,
      format: null,
      requestId: null,
      reason: 'empty body',
      excerpt: '',
    });
    expect(parseResponse({ status: 200, contentType: null, body: '  \r\n ' }).kind).toBe('malformed');
  });

  it('truncated JSON is malformed but the RequestId is salvaged', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: JSON_TYPE,
      body: '{"RequestId":"R-77","ErrorCode":200,"Succ',
    });
    expect(parsed.kind).toBe('malformed');
    expect(parsed.requestId).toBe('R-77');
    expect(parsed.kind === 'malformed' && parsed.format).toBe('JSON');
    expect(parsed.kind === 'malformed' && parsed.reason.startsWith('invalid JSON: ')).toBe(true);
  });

  it('truncated XML is malformed (the lenient parser alone would accept it) and the RequestId is salvaged', () => {
    const parsed = parseResponse({
      status: 200,
      contentType: XML_TYPE,
      body: '<NodeInstallResponse><RequestId>R-78</RequestId><ErrorCode>200</ErrorCode><Success>true</Success>',
    });
    expect(parsed.kind).toBe('malformed');
    expect(parsed.requestId).toBe('R-78');
    expect(parsed.kind === 'malformed' && parsed.reason).toBe("invalid XML: Unclosed tag 'NodeInstallResponse'.");
  });

  it('plain text, a JSON array, a JSON object without outcome fields and a foreign XML root are malformed', () => {
    expect(parseResponse({ status: 503, contentType: 'text/plain', body: 'upstream connect error' })).toMatchObject({
      kind: 'malformed',
      reason: 'body is neither JSON nor XML (text/plain)',
    });
    expect(parseResponse({ status: 200, contentType: JSON_TYPE, body: '[1,2]' })).toMatchObject({
      kind: 'malformed',
      reason: 'JSON body is not an object',
    });
    expect(parseResponse({ status: 200, contentType: JSON_TYPE, body: '{"RequestId":"R-1"}' })).toMatchObject({
      kind: 'malformed',
      requestId: 'R-1',
      reason: 'document carries none of Success, ErrorCode or Code',
    });
    expect(
      parseResponse({ status: 200, contentType: XML_TYPE, body: '<Foo><Success>true</Success></Foo>' }),
    ).toMatchObject({
      kind: 'malformed',
      reason: 'unexpected XML root <Foo> (text/xml;charset=utf-8)',
    });
    expect(parseResponse({ status: 200, contentType: XML_TYPE, body: '<AResponse/><BResponse/>' }).kind).toBe(
      'malformed',
    );
  });

  it('a long body is cut to a 200-character excerpt', () => {
    const parsed = parseResponse({ status: 500, contentType: 'text/plain', body: 'x'.repeat(5000) });
    expect(parsed.kind === 'malformed' && parsed.excerpt).toBe(`${'x'.repeat(200)}...`);
  });
});
