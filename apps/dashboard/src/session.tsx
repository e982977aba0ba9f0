/**
 * Signing in: the API key is checked with GET /v1/me and then kept in sessionStorage (this tab only, gone when it
 * closes; never in a URL, a cookie or a log). Every request of the console carries it as `Authorization: Bearer`.
 * The key's role decides which controls are shown; the API decides every request by itself all the same.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { ApiNetworkError, ApiProblemError, FleetApiClient } from '@fleet/api-client';
import type { Me } from '@fleet/api-client';

const KEY_STORAGE = 'fleet.console.apiKey';

export type Session = {
  client: FleetApiClient;
  me: Me;
  /** operator or admin: may create, pause, resume, cancel and retry rollouts and move flags. */
  canOperate: boolean;
  isAdmin: boolean;
  signOut(): void;
};

const SessionContext = createContext<Session | null>(null);

/** The signed-in session; only used below SessionGate, which renders the sign-in page until there is one. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in SessionGate');
  return session;
}

function clientFor(apiKey: string): FleetApiClient {
  // Few retries: a person is waiting, and the page polls again anyway.
  return new FleetApiClient({ baseUrl: window.location.origin, apiKey, retries: 2, maxDelayMs: 4000 });
}

/** What a failed sign-in says: never the key. */
function signInError(error: unknown): string {
  if (error instanceof ApiProblemError && error.status === 401)
    return 'This API key is not valid (unknown or revoked).';
  if (error instanceof ApiProblemError) return `${error.title}: ${error.detail}`;
  if (error instanceof ApiNetworkError) return `The API could not be reached (${error.message}).`;
  return 'Signing in failed.';
}

type GateState =
  { kind: 'checking' } | { kind: 'signed-out'; error?: string } | { kind: 'signed-in'; client: FleetApiClient; me: Me };

export function SessionGate(props: {
  signIn: (submit: (key: string) => Promise<void>, error?: string) => ReactNode;
  children: ReactNode;
}) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<GateState>(() =>
    sessionStorage.getItem(KEY_STORAGE) ? { kind: 'checking' } : { kind: 'signed-out' },
  );

  const submit = useCallback(async (key: string) => {
    const client = clientFor(key.trim());
    try {
      const me = await client.me();
      sessionStorage.setItem(KEY_STORAGE, key.trim());
      setState({ kind: 'signed-in', client, me });
    } catch (error) {
      sessionStorage.removeItem(KEY_STORAGE);
      setState({ kind: 'signed-out', error: signInError(error) });
    }
  }, []);

  useEffect(() => {
    if (state.kind !== 'checking') return;
    void submit(sessionStorage.getItem(KEY_STORAGE) ?? '');
  }, [state.kind, submit]);

  const signOut = useCallback(() => {
    sessionStorage.removeItem(KEY_STORAGE);
    queryClient.clear();
    setState({ kind: 'signed-out' });
  }, [queryClient]);

  const session = useMemo<Session | null>(
    () =>
      state.kind === 'signed-in'
        ? {
            client: state.client,
            me: state.me,
            canOperate: state.me.role !== 'viewer',
            isAdmin: state.me.role === 'admin',
            signOut,
          }
        : null,
    [state, signOut],
  );

  if (state.kind === 'checking') return <p className="loading">Signing in…</p>;
  if (!session) return <>{props.signIn(submit, state.kind === 'signed-out' ? state.error : undefined)}</>;
  return <SessionContext.Provider value={session}>{props.children}</SessionContext.Provider>;
}
