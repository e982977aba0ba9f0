/**
 * The console's pages and their URLs. The API answers each of these paths with this page (apps/api
 * routes/console.ts, CONSOLE_PAGES): a new path here needs its pattern there.
 */
import { NavLink, Route, Routes } from 'react-router';
import { SessionGate, useSession } from './session.tsx';
import { SignInPage } from './pages/sign-in-page.tsx';
import { RolloutsPage } from './pages/rollouts-page.tsx';
import { RolloutPage } from './pages/rollout-page.tsx';
import { FailuresPage } from './pages/failures-page.tsx';
import { InstancePage } from './pages/instance-page.tsx';
import { FlagsPage } from './pages/flags-page.tsx';
import { NewRolloutPage } from './pages/new-rollout-page.tsx';
import { AdminPage } from './pages/admin-page.tsx';

export function App() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <SessionGate signIn={(submit, error) => <SignInPage submit={submit} error={error} />}>
        <Shell />
      </SessionGate>
    </>
  );
}

function Shell() {
  const { me, canOperate, isAdmin, signOut } = useSession();
  return (
    <>
      <header className="top">
        <span className="brand">Fleet console</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Rollouts
          </NavLink>
          <NavLink to="/flags">Manual install</NavLink>
          {canOperate && <NavLink to="/new">New rollout</NavLink>}
          {isAdmin && <NavLink to="/settings">Admin</NavLink>}
        </nav>
        <span className="who">
          <span title={`key ${me.keyPrefix}`}>{me.keyName}</span> <span className="role">{me.role}</span>
          <button type="button" className="small" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<RolloutsPage />} />
          <Route path="/rollouts" element={<RolloutsPage />} />
          <Route path="/sign-in" element={<RolloutsPage />} />
          <Route path="/rollouts/:id" element={<RolloutPage />} />
          <Route path="/rollouts/:id/failures" element={<FailuresPage />} />
          <Route path="/rollouts/:id/instances/:instanceId" element={<InstancePage />} />
          <Route path="/flags" element={<FlagsPage />} />
          <Route path="/new" element={canOperate ? <NewRolloutPage /> : <NotAllowed />} />
          <Route path="/settings" element={isAdmin ? <AdminPage /> : <NotAllowed />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </>
  );
}

function NotAllowed() {
  const { me } = useSession();
  return (
    <>
      <h1>Not for this key</h1>
      <p>This page needs a role above {me.role}.</p>
    </>
  );
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        <NavLink to="/">All rollouts</NavLink>
      </p>
    </>
  );
}
