import { ApiNetworkError, ApiProblemError } from '@fleet/api-client';

/** An error the API answered (its problem document, the fields at fault, the RequestId), or any other error. */
export function ProblemNote(props: { error: unknown; what?: string }) {
  const { error } = props;
  if (!error) return null;
  const prefix = props.what ? `${props.what}: ` : '';
  if (error instanceof ApiProblemError)
    return (
      <div className="problem" role="alert">
        <p>
          {prefix}
          <strong>{error.title}</strong> — {error.detail}
        </p>
        {error.errors.length > 0 && (
          <ul>
            {error.errors.map((field) => (
              <li key={`${field.field}:${field.message}`}>
                <code>{field.field}</code>: {field.message}
              </li>
            ))}
          </ul>
        )}
        {error.requestId && <p className="muted">Request id {error.requestId}</p>}
      </div>
    );
  const message =
    error instanceof ApiNetworkError
      ? `the API could not be reached (${error.message})`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <div className="problem" role="alert">
      <p>
        {prefix}
        {message}
      </p>
    </div>
  );
}
