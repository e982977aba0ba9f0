/**
 * Admin: API keys (made here and shown once; revoked) and, where the API has them, webhook subscriptions (made here
 * with their signing secret shown once; deleted).
 */
import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { API_ROLES } from '@fleet/api-client';
import type { ApiRole } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { useApiFeatures } from '../live/use-api-features.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { AccountScopeFields, scopeBody } from '../components/account-scope-fields.tsx';
import type { AccountScope } from '../components/account-scope-fields.tsx';
import { MakeForm } from '../components/make-form.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { ShownOnce } from '../components/shown-once.tsx';
import { DataTable, ValueOptions } from '../components/data-table.tsx';
import { WebhookForm } from '../components/webhook-form.tsx';
import { WebhookList } from '../components/webhook-list.tsx';
import { formatTime } from '../format.ts';

export function AdminPage() {
  const { client, me } = useSession();
  const queryClient = useQueryClient();
  const features = useApiFeatures();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => client.listApiKeys({ limit: 1000 }) });
  const [name, setName] = useState('');
  const [role, setRole] = useState<ApiRole>('viewer');
  const [scope, setScope] = useState<AccountScope>({ allAccounts: false, accounts: '' });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['api-keys'] });

  return (
    <>
      <h1>Admin</h1>
      <section>
        <h2 id="keys-heading">API keys</h2>
        <MakeForm
          legend="Make a key"
          submitLabel="Make key"
          failedWhat="The key was not made"
          make={async () => {
            const created = await client.createApiKey({ name, role, ...scopeBody(scope) });
            setName('');
            await refresh();
            return created;
          }}
          shown={(created) => (
            <ShownOnce id="created-key" label="New API key" copyLabel="Copy the new key" value={created.key}>
              Key <strong>{created.name}</strong> made. Store it now: it is not shown again.
            </ShownOnce>
          )}
        >
          <div>
            <label htmlFor="key-name">Name</label>
            <input id="key-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div>
            <label htmlFor="key-role">Role</label>
            <select id="key-role" value={role} onChange={(e) => setRole(e.target.value as ApiRole)}>
              <ValueOptions values={API_ROLES} />
            </select>
          </div>
          <AccountScopeFields
            idPrefix="key"
            allLabel="Every account"
            accountsLabel="Accounts (UserIds, separated by spaces or commas)"
            scope={scope}
            onChange={setScope}
          />
        </MakeForm>
        <ProblemNote error={keys.error} what="Loading keys failed" />
        <DataTable
          label="API keys"
          columns={['Name', 'Prefix', 'Role', 'Accounts', 'Created', 'Last used', 'Revoked', 'Action']}
        >
          {(keys.data?.items ?? []).map((key) => (
            <tr key={key.id}>
              <th scope="row">{key.name}</th>
              <td className="mono">{key.keyPrefix}</td>
              <td>{key.role}</td>
              <td className="mono">{key.allAccounts ? 'every account' : key.userIds.join(', ')}</td>
              <td>{formatTime(key.createdAt)}</td>
              <td>{formatTime(key.lastUsedAt)}</td>
              <td>{formatTime(key.revokedAt)}</td>
              <td>
                {!key.revokedAt && key.id !== me.keyId && (
                  <ConfirmButton
                    label="Revoke"
                    ariaLabel={`Revoke key ${key.name}`}
                    danger
                    question={`Requests with the key ${key.keyPrefix}… are refused from now on, in every API process.`}
                    onConfirm={async () => {
                      await client.revokeApiKey(key.id);
                      await refresh();
                    }}
                  />
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      </section>
      {features?.webhooks && (
        <section>
          <h2 id="webhooks-heading">Webhooks</h2>
          <WebhookForm />
          <WebhookList />
        </section>
      )}
    </>
  );
}
