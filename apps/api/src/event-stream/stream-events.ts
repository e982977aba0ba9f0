import type { Database } from '@fleet/db';
import type { ReadEventsAfter } from './rollout-stream-hub.ts';

/**
 * The events a stream sends, read from the events table by id (TODO: listEvents of @fleet/db once it lands), each as
 * the JSON of its public view, serialised once for every stream of the rollout.
 */
export function readStreamEventsAfter(_db: Database): ReadEventsAfter {
  return async () => [];
}

/** The channel the events table's writers NOTIFY on (TODO: the constant of @fleet/db). */
export const ROLLOUT_EVENTS_CHANNEL = 'fleet_rollout_events';
