import type { Database } from '@fleet/db';
import { FLEET_EVENTS_CHANNEL, listEvents } from '@fleet/db';
import { eventView } from '../event-views.ts';
import type { ReadEventsAfter } from './rollout-stream-hub.ts';

/**
 * The events a stream sends, read from the events table by id (listEvents, the read every surface shares), each as
 * the JSON of its public view (as GET /v1/rollouts/:id/events shows it), serialised once for every stream of the
 * rollout.
 */
export function readStreamEventsAfter(db: Database): ReadEventsAfter {
  return async (rolloutId, after, limit) => {
    const page = await listEvents(db, { rolloutId, after, limit });
    return page.events.map((event) => ({ id: event.id, type: event.type, data: JSON.stringify(eventView(event)) }));
  };
}

/** The channel every event's transaction NOTIFYs (LISTENed to by one connection per API process). */
export const ROLLOUT_EVENTS_CHANNEL = FLEET_EVENTS_CHANNEL;
