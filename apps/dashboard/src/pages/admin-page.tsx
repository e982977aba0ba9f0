/**
 * Admin: API keys (made here and shown once; revoked) and, where the API has them, webhook subscriptions (made here
 * with their signing secret shown once; deleted).
 */
import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { API_ROLES } from '@fleet/api-client';
import type { ApiRole, CreatedApiKey } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { useApiFeatures } from '../live/use-api-features.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { CopyButton } from '../components/copy-button.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
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
  const [allAccounts, setAllAccounts] = useState(false);
  const [accounts, setAccounts] = useState('');
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['api-keys'] });

  return (
    <>
      <h1>Admin</h1>
      <section>
        <h2 id="keys-heading">API keys</h2>
        <form
          className="stack"
          onSubmit={async (event) => {
            event.preventDefault();
            setBusy(true);
            setError(null);
            setCreated(null);
            try {
              const userIds = accounts.split(/[\s,]+/).filter((s) => s !== '');
              setCreated(
                await client.createApiKey(allAccounts ? { name, role, allAccounts: true } : { name, role, userIds }),
              );
              setName('');
              await refresh();
            } catch (caught) {
              setError(caught);
            } finally {
              setBusy(false);
            }
          }}
        >
          <fieldset>
            <legend>Make a key</legend>
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
            {me.allAccounts && (
              <div className="checkbox">
                <input
                  id="key-all"
                  type="checkbox"
                  checked={allAccounts}
                  onChange={(e) => setAllAccounts(e.target.checked)}
                />
                <label htmlFor="key-all">Every account</label>
              </div>
            )}
            {!allAccounts && (
              <div>
                <label htmlFor="key-accounts">Accounts (UserIds, separated by spaces or commas)</label>
                <input id="key-accounts" required value={accounts} onChange={(e) => setAccounts(e.target.value)} />
              </div>
            )}
            <button type="submit" className="primary" disabled={busy}>
              Make key
            </button>
          </fieldset>
        </form>
        <ProblemNote error={error} what="The key was not made" />
        {created && (
          <div className="created-key" role="status">
            <p>
              Key <strong>{created.name}</strong> made. Store it now: it is not shown again.
            </p>
            <label htmlFor="created-key">New API key</label>
            <input id="created-key" readOnly value={created.key} className="mono" />
            <CopyButton text={created.key} label="Copy the new key" />
          </div>
        )}
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
