import type { ReactNode } from 'react';
import { CopyButton } from './copy-button.tsx';

/**
 * A secret the API answers once (a new API key, a webhook's signing secret): what was made, the secret in a
 * read-only field named `label`, and a copy button. It lives in the page's state only: a reload loses it.
 */
export function ShownOnce(props: { id: string; label: string; copyLabel: string; value: string; children: ReactNode }) {
  return (
    <div className="created-key" role="status">
      <p>{props.children}</p>
      <label htmlFor={props.id}>{props.label}</label>
      <input id={props.id} readOnly value={props.value} className="mono" />
      <CopyButton text={props.value} label={props.copyLabel} />
    </div>
  );
}
