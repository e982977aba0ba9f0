import { useId, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ProblemNote } from './problem-note.tsx';

/**
 * A button whose action is asked about first, in a modal <dialog> (focus moves into it, Escape closes it). The
 * dialog's buttons are "Confirm" and "Back"; an error of the action is shown in the dialog, which then stays open.
 */
export function ConfirmButton(props: {
  /** The button's text and accessible name: the action ("Pause", "Cancel", "Retry failures"). */
  label: string;
  /** What the dialog asks. */
  question: ReactNode;
  onConfirm: () => Promise<unknown>;
  danger?: boolean;
  disabled?: boolean;
  /** Accessible name, when the visible label is not enough on its own (several alike on a page). */
  ariaLabel?: string;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const titleId = useId();
  const close = () => {
    setError(null);
    dialog.current?.close();
  };
  return (
    <>
      <button
        type="button"
        className={props.danger ? 'danger' : undefined}
        disabled={props.disabled || busy}
        aria-label={props.ariaLabel}
        onClick={() => dialog.current?.showModal()}
      >
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} onClose={() => setError(null)}>
        <h2 id={titleId}>{props.ariaLabel ?? props.label}?</h2>
        <div>{props.question}</div>
        <ProblemNote error={error} />
        <div className="dialog-buttons">
          <button
            type="button"
            className={props.danger ? 'danger' : 'primary'}
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              setError(null);
              try {
                await props.onConfirm();
                dialog.current?.close();
              } catch (caught) {
                setError(caught);
              } finally {
                setBusy(false);
              }
            }}
          >
            Confirm
          </button>
          <button type="button" onClick={close} disabled={busy}>
            Back
          </button>
        </div>
      </dialog>
    </>
  );
}
