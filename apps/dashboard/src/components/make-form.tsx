import { useState } from 'react';
import type { ReactNode } from 'react';
import { ProblemNote } from './problem-note.tsx';

/**
 * A form that makes one thing through the API (an API key, a webhook) and shows what the answer holds once (its
 * secret, with ShownOnce): the fields are the children; while `make` runs the button is disabled; its error is
 * shown under the form as a problem.
 */
export function MakeForm<T>(props: {
  legend: string;
  /** The submit button's text and accessible name ("Make key"). */
  submitLabel: string;
  /** Says what failed, above the problem's title ("The key was not made"). */
  failedWhat: string;
  make: () => Promise<T>;
  /** What to show of the made thing, until the next submit or a reload. */
  shown: (made: T) => ReactNode;
  children: ReactNode;
}) {
  const [made, setMade] = useState<T | null>(null);
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
          setMade(null);
          try {
            setMade(await props.make());
          } catch (caught) {
            setError(caught);
          } finally {
            setBusy(false);
          }
        }}
      >
        <fieldset>
          <legend>{props.legend}</legend>
          {props.children}
          <button type="submit" className="primary" disabled={busy}>
            {props.submitLabel}
          </button>
        </fieldset>
      </form>
      <ProblemNote error={error} what={props.failedWhat} />
      {made !== null && props.shown(made)}
    </>
  );
}
