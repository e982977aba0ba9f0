/**
 * Makes a webhook subscription (POST /v1/webhooks): URL, kind, event types and accounts. The answer's signing
 * secret is shown once, as a new API key is: the API stores it sealed and never shows it again.
 */
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { FLEET_EVENT_TYPES } from '@fleet/rollout-domain';
import { useSession } from '../session.tsx';
import { CopyButton } from './copy-button.tsx';
import { ProblemNote } from './problem-note.tsx';
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
  const { client, me } = useSession();
  const queryClient = useQueryClient();
  const [url, setUrl] = useState('');
  const [kind, setKind] = useState<string>('standard');
  const [events, setEvents] = useState<string[]>([ALL_EVENTS]);
  const [allAccounts, setAllAccounts] = useState(false);
  const [accounts, setAccounts] = useState('');
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  return (
    <>
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
              await client.request<CreatedWebhook>('POST', '/v1/webhooks', {
                body: { url, kind, events, ...(allAccounts ? { allAccounts: true } : { userIds }) },
              }),
            );
            setUrl('');
            await queryClient.invalidateQueries({ queryKey: ['webhooks'] });
          } catch (caught) {
            setError(caught);
          } finally {
            setBusy(false);
          }
        }}
      >
        <fieldset>
          <legend>Make a webhook</legend>
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
          {me.allAccounts && (
            <div className="checkbox">
              <input
                id="webhook-all"
                type="checkbox"
                checked={allAccounts}
                onChange={(e) => setAllAccounts(e.target.checked)}
              />
              <label htmlFor="webhook-all">Events of every account</label>
            </div>
          )}
          {!allAccounts && (
            <div>
              <label htmlFor="webhook-accounts">Accounts of the webhook (UserIds, spaces or commas between)</label>
              <input id="webhook-accounts" required value={accounts} onChange={(e) => setAccounts(e.target.value)} />
            </div>
          )}
          <button type="submit" className="primary" disabled={busy}>
            Make webhook
          </button>
        </fieldset>
      </form>
      <ProblemNote error={error} what="The webhook was not made" />
      {created && (
        <div className="created-key" role="status">
          <p>
            Webhook to <span className="mono">{created.url}</span> made. Store its signing secret now: it is not shown
            again.
          </p>
          <label htmlFor="created-webhook-secret">Signing secret</label>
          <input id="created-webhook-secret" readOnly value={created.secret} className="mono" />
          <CopyButton text={created.secret} label="Copy the signing secret" />
        </div>
      )}
    </>
  );
}
