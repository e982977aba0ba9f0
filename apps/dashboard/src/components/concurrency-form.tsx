import { useId, useState } from 'react';
import type { Rollout } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { ConfirmButton } from './confirm-button.tsx';

/** PATCH /v1/rollouts/:id { concurrency }: takes effect at once across all workers. */
export function ConcurrencyForm(props: { rollout: Rollout; onChanged: () => Promise<unknown> }) {
  const { client } = useSession();
  const id = useId();
  const [value, setValue] = useState(String(props.rollout.concurrency));
  const wanted = Number(value);
  const valid = Number.isInteger(wanted) && wanted >= 1 && wanted <= 10_000;
  return (
    <span className="inline-form">
      <label htmlFor={id}>Concurrency</label>
      <input
        id={id}
        type="number"
        min={1}
        max={10000}
        value={value}
        onChange={(event) => setValue(event.target.value)}
      />
      <ConfirmButton
        label="Change concurrency"
        disabled={!valid || wanted === props.rollout.concurrency}
        question={`At most ${value} install calls in flight for this rollout, from now on (it is ${props.rollout.concurrency}).`}
        onConfirm={async () => {
          await client.patchRollout(props.rollout.id, { concurrency: wanted });
          await props.onChanged();
        }}
      />
    </span>
  );
}
