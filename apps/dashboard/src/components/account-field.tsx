import { useSession } from '../session.tsx';

/**
 * An account (a 16-digit Alibaba Cloud UserId): a choice among the key's accounts, or a text field for a key of
 * every account.
 */
export function AccountField(props: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  /** Offers "any" (a filter) rather than requiring one (a form). */
  optional?: boolean;
}) {
  const { me } = useSession();
  return (
    <div>
      <label htmlFor={props.id}>Account</label>
      {me.allAccounts ? (
        <input
          id={props.id}
          inputMode="numeric"
          pattern="\d{16}"
          placeholder={props.optional ? 'any (16-digit UserId)' : '16-digit UserId'}
          required={!props.optional}
          defaultValue={props.value}
          onChange={(event) => props.onChange(event.target.value.trim())}
        />
      ) : (
        <select
          id={props.id}
          value={props.value}
          required={!props.optional}
          onChange={(event) => props.onChange(event.target.value)}
        >
          <option value="">{props.optional ? 'any' : 'choose an account'}</option>
          {me.userIds.map((userId) => (
            <option key={userId} value={userId}>
              {userId}
            </option>
          ))}
        </select>
      )}
    </div>
  );
}
