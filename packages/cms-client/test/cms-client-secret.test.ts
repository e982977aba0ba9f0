/** The AccessKey secret never leaks from the CloudMonitor client: not in results, network errors or option errors. */
import { describe, expect, it } from 'vitest';
import { FleetError } from '@fleet/errors';
import { createCmsClient, type CmsClientOptions } from '../src/index.ts';
import { json, unusedPort } from './support/cms-test-server.ts';
import { SECRET, ACCESS_KEY_ID, USER_ID, useCmsFixtures } from './support/cms-client-fixtures.ts';

const { serve, client } = useCmsFixtures();

describe('the AccessKey secret never leaks', () => {
  it('is absent from results even when the server echoes it back, and from network error results', async () => {
    const server = await serve((request) =>
      json(400, {
        RequestId: `R-${SECRET}`,
        HostId: SECRET,
        Code: 'SignatureDoesNotMatch',
        Message: `The request signature does not conform to Aliyun standards. server string to sign is:${request.params['Signature']} key ${SECRET}&`,
        Recommend: `https://example.invalid/?k=${SECRET}`,
      }),
    );
    const cms = client(server.url);
    const echoed = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    const status = await cms.nodeStatus({ instanceId: 'i-1' });
    const list = await cms.nodeStatusList({ instanceIds: ['i-1', 'i-2'] });
    const raw = await cms.call('NodeStatus', { InstanceId: 'i-1' });
    const port = await unusedPort();
    const refused = await client(`http://127.0.0.1:${port}/`).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });

    expect(echoed.outcome.kind).toBe('fleet_wide');
    expect(echoed.hostId).toBe('[REDACTED]');
    expect(echoed.requestId).toBe('R-[REDACTED]');
    const serialized = JSON.stringify([echoed, status, { ...list, statuses: [...list.statuses] }, raw, refused]);
    expect(serialized).toContain('[REDACTED]');
    expect(serialized).not.toContain(SECRET);
    // Nor is it sent: no request parameter carries it.
    expect(JSON.stringify(server.requests)).not.toContain(SECRET);
  });

  it('is absent from option errors', () => {
    const attempts: Array<Partial<CmsClientOptions>> = [
      { endpoint: 'not a url' },
      { endpoint: 'ftp://x/' },
      { timeoutMs: -1 },
      { timeoutMs: 2 ** 31 },
      { maxConnections: 0 },
      { statusListChunkSize: 1.5 },
      { credentials: { accessKeyId: '', accessKeySecret: SECRET } },
      { method: 'PUT' as 'GET' },
    ];
    for (const overrides of attempts) {
      let thrown: unknown = null;
      try {
        createCmsClient({
          endpoint: 'http://127.0.0.1:1/',
          credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET },
          ...overrides,
        });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(FleetError);
      expect((thrown as FleetError).code).toBe('cms_client_options_invalid');
      expect(`${(thrown as Error).message} ${(thrown as Error).stack} ${JSON.stringify(thrown)}`).not.toContain(SECRET);
    }
  });

  it('an empty secret is refused without echoing anything', () => {
    expect(() =>
      createCmsClient({ endpoint: 'http://127.0.0.1:1/', credentials: { accessKeyId: 'id', accessKeySecret: '' } }),
    ).toThrow('createCmsClient: credentials.accessKeySecret must be a non-empty string');
  });
});
