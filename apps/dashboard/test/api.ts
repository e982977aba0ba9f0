/** The tests' own calls to the API (to set up rollouts and to check what the pages show against it). */
import { FleetApiClient } from '@fleet/api-client';
import { waitFor } from '@fleet/testing';
import type { Rollout } from '@fleet/api-client';

export function apiClient(apiUrl: string, key: string): FleetApiClient {
  return new FleetApiClient({ baseUrl: apiUrl, apiKey: key });
}

export async function waitForStatus(
  client: FleetApiClient,
  id: string,
  statuses: readonly Rollout['status'][],
  timeoutMs = 120_000,
): Promise<Rollout> {
  let rollout: Rollout | undefined;
  await waitFor(
    `rollout ${id} to be ${statuses.join(' or ')}`,
    async () => {
      rollout = await client.getRollout(id);
      return statuses.includes(rollout.status);
    },
    { timeoutMs, intervalMs: 250 },
  );
  return rollout!;
}
