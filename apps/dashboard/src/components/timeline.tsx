import type { FleetEvent } from '@fleet/api-client';
import { formatCount, formatTime } from '../format.ts';

/** What an event's data says, in a line (the whole event is in the API: GET /v1/rollouts/:id/events). */
function summary(event: FleetEvent): string {
  const data = event.data;
  const parts: string[] = [];
  for (const key of ['reason', 'wave', 'waveCount', 'instanceId', 'from', 'to', 'note', 'childRolloutId']) {
    const value = data[key];
    if (value !== undefined && value !== null && value !== '') parts.push(`${key} ${String(value)}`);
  }
  const cause = data.cause as { kind?: string; code?: string } | undefined;
  if (cause?.kind) parts.push(`cause ${cause.kind}${cause.code ? ` ${cause.code}` : ''}`);
  if (typeof data.totalInstances === 'number') parts.push(`${formatCount(data.totalInstances)} instances`);
  return parts.join(', ');
}

function actorOf(event: FleetEvent): string {
  if (!event.actor) return '';
  return event.actor.kind === 'api_key'
    ? `key ${event.actor.name ?? event.actor.id}`
    : `${event.actor.kind} ${event.actor.id}`;
}

/** The rollout's events, newest first: the latest few hundred (a huge rollout's flags would be thousands). */
export function Timeline(props: { events: readonly FleetEvent[]; total: number }) {
  if (props.events.length === 0) return <p className="muted">No event yet.</p>;
  return (
    <>
      {props.total > props.events.length && (
        <p className="muted">
          The latest {formatCount(props.events.length)} of {formatCount(props.total)} events.
        </p>
      )}
      <ol className="timeline" reversed>
        {props.events.map((event) => (
          <li key={event.id}>
            <time dateTime={event.createdAt}>{formatTime(event.createdAt)}</time> <code>{event.type}</code>{' '}
            <span className="muted">{actorOf(event)}</span> {summary(event)}
          </li>
        ))}
      </ol>
    </>
  );
}
