import { useState } from 'react';

/**
 * The one form a signed-out visitor sees, at whatever URL they opened (the page follows once signed in). The key
 * goes to GET /v1/me in a header, never into the URL: the form is handled by script and has no action.
 */
export function SignInPage(props: { submit: (key: string) => Promise<void>; error?: string | undefined }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" className="sign-in" tabIndex={-1}>
      <h1>Fleet console</h1>
      <p>Sign in with an API key. It is kept in this tab only, until you sign out or close it.</p>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          await props.submit(key);
          setBusy(false);
        }}
      >
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={key}
          onChange={(event) => setKey(event.target.value)}
          aria-describedby={props.error ? 'sign-in-error' : undefined}
        />
        <button type="submit" className="primary" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
      </form>
      {props.error && (
        <p id="sign-in-error" className="problem" role="alert">
          {props.error}
        </p>
      )}
    </main>
  );
}
