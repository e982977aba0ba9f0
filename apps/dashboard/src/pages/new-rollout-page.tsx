/**
 * A new rollout: the account, the instance ids (pasted, or a file in the CLI's formats: text, CSV with an
 * instance_id column, JSON), the policy with the API's defaults shown, and, where the API offers it, the dry-run
 * plan. Bad ids are shown with their line before anything is sent; the create carries an Idempotency-Key, so a
 * second click or a retried request makes one rollout.
 */
import { useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import { InstanceFileError, parseInstanceFile } from '@fleet/api-client';
import type { InstanceFile } from '@fleet/api-client';
import { planWaveSizes } from '@fleet/rollout-domain';
import { useSession } from '../session.tsx';
import { useApiFeatures } from '../live/use-api-features.ts';
import { AccountField } from '../components/account-field.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { PolicyFieldset } from '../components/policy-fieldset.tsx';
import { PlanView } from '../components/plan-view.tsx';
import type { RolloutPlanView } from '../components/plan-view.tsx';
import { formatCount } from '../format.ts';
import { EMPTY_POLICY, createBodyOf, wavePlanOf } from '../policy-form.ts';
import type { PolicyFields } from '../policy-form.ts';

const LISTED_BAD_IDS = 20;

type Source = { name: string; text: string };
type Parsed = { file: InstanceFile } | { error: string } | null;

function parse(source: Source): Parsed {
  if (source.text.trim() === '') return null;
  try {
    return { file: parseInstanceFile(source.name, source.text) };
  } catch (error) {
    if (error instanceof InstanceFileError) return { error: error.message };
    throw error;
  }
}

export function NewRolloutPage() {
  const { client, me } = useSession();
  const navigate = useNavigate();
  const features = useApiFeatures();
  const [userId, setUserId] = useState(me.allAccounts ? '' : me.userIds.length === 1 ? me.userIds[0]! : '');
  const [source, setSource] = useState<Source>({ name: 'pasted', text: '' });
  const [policy, setPolicy] = useState<PolicyFields>(EMPTY_POLICY);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [plan, setPlan] = useState<RolloutPlanView | null>(null);
  // One key per filled-in form: sent again on a retry of the same request, new once anything changes.
  const idempotencyKey = useMemo(() => crypto.randomUUID(), [userId, source, policy]);

  const parsed = useMemo(() => parse(source), [source]);
  const file = parsed && 'file' in parsed ? parsed.file : null;
  const ready = file !== null && file.bad.length === 0 && file.instanceIds.length > 0 && /^\d{16}$/.test(userId);
  const distinct = file ? new Set(file.instanceIds).size : 0;
  const previewWaves = useMemo(() => {
    try {
      const plan = wavePlanOf(policy.waves);
      return distinct > 0 ? planWaveSizes(plan ?? null, distinct) : [];
    } catch {
      return [];
    }
  }, [policy.waves, distinct]);

  const body = () => createBodyOf(userId, file!.instanceIds, policy);

  return (
    <>
      <h1>New rollout</h1>
      <form
        className="stack"
        onSubmit={async (event) => {
          event.preventDefault();
          if (!ready) return;
          setBusy(true);
          setError(null);
          try {
            const created = await client.createRollout(body(), { idempotencyKey });
            navigate(`/rollouts/${created.id}`);
          } catch (caught) {
            setError(caught);
          } finally {
            setBusy(false);
          }
        }}
      >
        <AccountField id="new-account" value={userId} onChange={setUserId} />
        <fieldset>
          <legend>Instances</legend>
          <label htmlFor="new-ids">Instance ids</label>
          <textarea
            id="new-ids"
            rows={6}
            spellCheck={false}
            aria-describedby="new-ids-help"
            placeholder={'i-bp1abc\ni-bp1def'}
            value={source.name === 'pasted' ? source.text : ''}
            onChange={(event) => setSource({ name: 'pasted', text: event.target.value })}
          />
          <p id="new-ids-help" className="muted">
            One id a line (# comments allowed), or upload a file: text, CSV with an instance_id or InstanceId column, or
            JSON (an array or {'{ "instanceIds": [...] }'}).
          </p>
          <label htmlFor="new-file">Upload a file of instance ids</label>
          <input
            id="new-file"
            type="file"
            accept=".txt,.csv,.json,text/plain,text/csv,application/json"
            onChange={async (event) => {
              const chosen = event.target.files?.[0];
              if (chosen) setSource({ name: chosen.name, text: await chosen.text() });
            }}
          />
          <div aria-live="polite">
            {parsed && 'error' in parsed && (
              <p className="problem" role="alert">
                {parsed.error}
              </p>
            )}
            {file && (
              <p>
                {source.name === 'pasted' ? 'Pasted' : source.name}: {formatCount(file.instanceIds.length)} valid id
                {file.instanceIds.length === 1 ? '' : 's'}
                {distinct < file.instanceIds.length ? ` (${formatCount(distinct)} distinct)` : ''}
                {file.bad.length > 0 ? `, ${formatCount(file.bad.length)} bad` : ''}.
              </p>
            )}
            {file && file.bad.length > 0 && (
              <div className="problem" role="alert">
                <p>
                  Bad instance ids (an ECS id is "i-" and lowercase letters and digits); nothing is sent until they are
                  fixed:
                </p>
                <ul>
                  {file.bad.slice(0, LISTED_BAD_IDS).map((bad) => (
                    <li key={`${bad.line}:${bad.value}`}>
                      line {bad.line}: <code>{JSON.stringify(bad.value.slice(0, 80))}</code>
                    </li>
                  ))}
                  {file.bad.length > LISTED_BAD_IDS && (
                    <li>and {formatCount(file.bad.length - LISTED_BAD_IDS)} more</li>
                  )}
                </ul>
              </div>
            )}
          </div>
        </fieldset>
        <PolicyFieldset value={policy} onChange={setPolicy} waveSizes={previewWaves} />
        <ProblemNote error={error} />
        <div className="actions">
          {features?.dryRun && (
            <button
              type="button"
              disabled={!ready || busy}
              onClick={async () => {
                setBusy(true);
                setError(null);
                try {
                  setPlan(await client.planRollout(body()));
                } catch (caught) {
                  setError(caught);
                } finally {
                  setBusy(false);
                }
              }}
            >
              Show the dry-run plan
            </button>
          )}
          <button type="submit" className="primary" disabled={!ready || busy}>
            Create rollout
          </button>
        </div>
      </form>
      {plan && <PlanView plan={plan} />}
    </>
  );
}
