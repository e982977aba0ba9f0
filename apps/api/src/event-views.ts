import type { FleetEventRecord } from '@fleet/db';

/** The API shape of an event: the id as a string (it is a 64-bit integer), times as ISO 8601. */
export function eventView(event: FleetEventRecord) {
  return {
    id: event.id.toString(),
    type: event.type,
    rolloutId: event.rolloutId,
    userId: event.userId,
    actor: event.actor,
    requestId: event.requestId,
    data: event.data,
    createdAt: event.createdAt.toISOString(),
  };
}
