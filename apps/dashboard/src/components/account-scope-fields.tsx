/**
 * Whose events or rollouts a new API key or webhook is for: some accounts (UserIds typed in, separated by spaces or
 * commas) or, for a key of every account, every account. The body fields the API takes for it: scopeBody.
 */
import { useSession } from '../session.tsx';

export type AccountScope = { allAccounts: boolean; accounts: string };

/** `{ allAccounts: true }` or `{ userIds }`, as POST /v1/api-keys and POST /v1/webhooks take them. */
export function scopeBody(scope: AccountScope): { allAccounts: true } | { userIds: string[] } {
  if (scope.allAccounts) return { allAccounts: true };
  return { userIds: scope.accounts.split(/[\s,]+/).filter((s) => s !== '') };
}

export function AccountScopeFields(props: {
  /** The ids of the two fields start with it. */
  idPrefix: string;
  /** The labels of the checkbox (shown to a key of every account only) and of the accounts field. */
  allLabel: string;
  accountsLabel: string;
  scope: AccountScope;
  onChange: (scope: AccountScope) => void;
}) {
  const { me } = useSession();
  const { scope, onChange } = props;
  return (
    <>
      {me.allAccounts && (
        <div className="checkbox">
          <input
            id={`${props.idPrefix}-all`}
            type="checkbox"
            checked={scope.allAccounts}
            onChange={(e) => onChange({ ...scope, allAccounts: e.target.checked })}
          />
          <label htmlFor={`${props.idPrefix}-all`}>{props.allLabel}</label>
        </div>
      )}
      {!scope.allAccounts && (
        <div>
          <label htmlFor={`${props.idPrefix}-accounts`}>{props.accountsLabel}</label>
          <input
            id={`${props.idPrefix}-accounts`}
            required
            value={scope.accounts}
            onChange={(e) => onChange({ ...scope, accounts: e.target.value })}
          />
        </div>
      )}
    </>
  );
}
