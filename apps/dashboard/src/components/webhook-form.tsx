/**
 * Makes a webhook subscription (POST /v1/webhooks): URL, kind, event types and accounts. The answer's signing
 * secret is shown once, as a new API key is: the API stores it sealed and never shows it again.
 */
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { FLEET_EVENT_TYPES } from '@fleet/rollout-domain';
import { useSession } from '../session.tsx';
import { AccountScopeFields, scopeBody } from './account-scope-fields.tsx';
import type { AccountScope } from './account-scope-fields.tsx';
import { MakeForm } from './make-form.tsx';
import { ShownOnce } from './shown-once.tsx';
import { ValueOptions } from './data-table.tsx';

/**
 * The kinds POST /v1/webhooks takes (docs/api.md#webhooks). @fleet/webhooks owns the list, but it is a server
 * package (node:crypto, node:dns) that the browser build cannot import; the API refuses any other value by name.
 */
const WEBHOOK_KINDS = ['standard', 'slack', 'dingtalk'] as const;
/** Every event type, also those added later. */
const ALL_EVENTS = '*';

type CreatedWebhook = { id: string; url: string; kind: string; secret: string };

export function WebhookForm() {
  const { client } = useSession();
  const queryClient = useQueryClient();
  const [url, setUrl] = useState('');
  const [kind, setKind] = useState<string>('standard');
  const [events, setEvents] = useState<string[]>([ALL_EVENTS]);
  const [scope, setScope] = useState<AccountScope>({ allAccounts: false, accounts: '' });

  return (
    <MakeForm
      legend="Make a webhook"
      submitLabel="Make webhook"
      failedWhat="The webhook was not made"
      make={async () => {
        const created = await client.request<CreatedWebhook>('POST', '/v1/webhooks', {
          body: { url, kind, events, ...scopeBody(scope) },
        });
        setUrl('');
        await queryClient.invalidateQueries({ queryKey: ['webhooks'] });
        return created;
      }}
      shown={(created) => (
        <ShownOnce
          id="created-webhook-secret"
          label="Signing secret"
          copyLabel="Copy the signing secret"
          value={created.secret}
        >
          Webhook to <span className="mono">{created.url}</span> made. Store its signing secret now: it is not shown
          again.
        </ShownOnce>
      )}
    >
      <div>
        <label htmlFor="webhook-url">Webhook URL</label>
        <input
          id="webhook-url"
          type="url"
          required
          maxLength={2048}
          placeholder="https://hooks.example.com/fleet"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
        />
      </div>
      <div>
        <label htmlFor="webhook-kind">Kind</label>
        <select id="webhook-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <ValueOptions values={WEBHOOK_KINDS} />
        </select>
      </div>
      <div>
        <label htmlFor="webhook-events">Events</label>
        <select
          id="webhook-events"
          multiple
          required
          size={6}
          value={events}
          onChange={(e) => setEvents([...e.target.selectedOptions].map((o) => o.value))}
        >
          <option value={ALL_EVENTS}>every type (*)</option>
          <ValueOptions values={FLEET_EVENT_TYPES} />
        </select>
      </div>
      <AccountScopeFields
        idPrefix="webhook"
        allLabel="Events of every account"
        accountsLabel="Accounts of the webhook (UserIds, spaces or commas between)"
        scope={scope}
        onChange={setScope}
      />
    </MakeForm>
  );
}
