/** NodeStatusList through the CloudMonitor client: chunked, de-duplicated ids, and what a failed chunk leaves. */
import { describe, expect, it } from 'vitest';
import { json } from './support/cms-test-server.ts';
import { verifying, installOk, useCmsFixtures } from './support/cms-client-fixtures.ts';

const { serve, client } = useCmsFixtures();

describe('nodeStatusList', () => {
  it('chunks ids, de-duplicates them, and maps statuses; a failed chunk leaves its ids unresolved', async () => {
    const server = await serve(
      verifying((request) => {
        const ids = (request.params['InstanceIds'] ?? '').split(',');
        if (ids.includes('i-e')) return json(500, { RequestId: 'R-FAIL', Code: 'InternalError', Message: 'oops' });
        const statuses: Record<string, string> = { 'i-a': 'Running', 'i-b': 'install_faild', 'i-c': 'NOT_INSTALLED' };
        return json(200, {
          RequestId: `R-${ids.join('')}`,
          Success: true,
          ErrorCode: 200,
          NodeStatusList: {
            NodeStatus: ids
              .filter((id) => id !== 'i-d')
              .map((id) => ({ InstanceId: id, Status: statuses[id] ?? 'weird', AutoInstall: id === 'i-a' })),
          },
        });
      }),
    );
    const cms = client(server.url, { statusListChunkSize: 2 });
    const result = await cms.nodeStatusList({ instanceIds: ['i-a', 'i-b', 'i-a', 'i-c', 'i-d', 'i-e'] });

    expect(server.requests.map((r) => r.params['InstanceIds'])).toEqual(['i-a,i-b', 'i-c,i-d', 'i-e']);
    expect(result.chunks.map((c) => c.outcome.kind)).toEqual(['success', 'success', 'retryable']);
    expect(result.chunks.map((c) => c.instanceIds)).toEqual([['i-a', 'i-b'], ['i-c', 'i-d'], ['i-e']]);
    expect(result.chunks[0]!.nodes).toEqual([
      { instanceId: 'i-a', status: 'running', rawStatus: 'Running', autoInstall: true },
      { instanceId: 'i-b', status: 'install_faild', rawStatus: 'install_faild', autoInstall: false },
    ]);
    expect(result.chunks[2]!.requestId).toBe('R-FAIL');
    expect(result.chunks[2]!.nodes).toEqual([]);
    expect([...result.statuses]).toEqual([
      ['i-a', 'running'],
      ['i-b', 'install_faild'],
      ['i-c', 'not_installed'],
    ]);
    expect(result.unresolved).toEqual(['i-d', 'i-e']);
  });

  it('an empty id list makes no call', async () => {
    const server = await serve(installOk);
    const result = await client(server.url).nodeStatusList({ instanceIds: [] });
    expect(server.requests).toHaveLength(0);
    expect(result).toEqual({ chunks: [], statuses: new Map(), unresolved: [] });
  });

  it('an id containing a comma is a programmer error', async () => {
    const server = await serve(installOk);
    await expect(client(server.url).nodeStatusList({ instanceIds: ['i-a,i-b'] })).rejects.toMatchObject({
      code: 'cms_client_argument_invalid',
    });
  });
});
