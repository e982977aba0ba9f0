/** The webhook subscriptions the key may see (GET /v1/webhooks), each deletable; webhook-form.tsx makes them. */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSession } from '../session.tsx';
import { ConfirmButton } from './confirm-button.tsx';
import { ProblemNote } from './problem-note.tsx';
import { DataTable } from './data-table.tsx';

type Webhook = {
  id: string;
  url: string;
  kind?: string;
  events?: string[];
  enabled?: boolean;
  disabledReason?: string | null;
  description?: string | null;
};

export function WebhookList() {
  const { client } = useSession();
  const queryClient = useQueryClient();
  const webhooks = useQuery({
    queryKey: ['webhooks'],
    queryFn: () => client.request<{ items: Webhook[] }>('GET', '/v1/webhooks'),
  });
  return (
    <>
      <ProblemNote error={webhooks.error} what="Loading webhooks failed" />
      <DataTable
        label="Webhooks"
        columns={['URL', 'Kind', 'Events', 'Enabled', 'Action']}
        empty={webhooks.data?.items.length === 0 ? 'No webhook yet.' : undefined}
      >
        {(webhooks.data?.items ?? []).map((webhook) => (
          <tr key={webhook.id}>
            <th scope="row" className="mono">
              {webhook.url}
            </th>
            <td>{webhook.kind ?? '—'}</td>
            <td>{webhook.events?.join(', ') || 'all'}</td>
            <td>{webhook.enabled === false ? `no (${webhook.disabledReason ?? 'disabled'})` : 'yes'}</td>
            <td>
              <ConfirmButton
                label="Delete"
                ariaLabel={`Delete webhook ${webhook.url}`}
                danger
                question="No more deliveries to this URL."
                onConfirm={async () => {
                  await client.raw('DELETE', `/v1/webhooks/${encodeURIComponent(webhook.id)}`);
                  await queryClient.invalidateQueries({ queryKey: ['webhooks'] });
                }}
              />
            </td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}
