import { ApiProblemError } from '@fleet/api-client';
import type { FleetApiClient, FleetEvent, Rollout } from '@fleet/api-client';

/**
 * The events of one rollout as a watch sees them, oldest first, each once: read from the rollout's event timeline
 * (GET /v1/rollouts/:id/events) after the last one seen. An API without the timeline (route_not_found) leaves the
 * watch with events derived from what GET /v1/rollouts/:id shows changing: a new wave, a new status.
 */
export type EventFeed = {
  /** Events since the last call, given the rollout as just read. */
  next(rollout: Rollout): Promise<FleetEvent[]>;
};

export function createEventFeed(client: FleetApiClient, rolloutId: string, signal?: AbortSignal): EventFeed {
  let after: string | undefined;
  let timeline = true;
  let previous: Rollout | undefined;

  async function fromTimeline(): Promise<FleetEvent[]> {
    const events: FleetEvent[] = [];
    for (;;) {
      const page = await client.listRolloutEvents(rolloutId, after ? { after } : {}, signal ? { signal } : {});
      const items = page.items ?? [];
      events.push(...items);
      if (items.length > 0) after = items[items.length - 1]!.id;
      if (!page.nextCursor || items.length === 0) return events;
      after = page.nextCursor;
    }
  }

  return {
    async next(rollout) {
      const seenBefore = previous;
      previous = rollout;
      if (timeline) {
        try {
          return await fromTimeline();
        } catch (error) {
          if (!(error instanceof ApiProblemError && error.code === 'route_not_found')) throw error;
          timeline = false;
        }
      }
      return derivedEvents(seenBefore, rollout);
    },
  };
}

function derivedEvents(before: Rollout | undefined, now: Rollout): FleetEvent[] {
  const at = now.updatedAt;
  const event = (type: string, data: Record<string, unknown>): FleetEvent => ({
    id: `${type}:${at}`,
    type,
    rolloutId: now.id,
    userId: now.userId,
    data,
    createdAt: at,
  });
  const events: FleetEvent[] = [];
  if (before && now.wave.current > before.wave.current)
    events.push(event('rollout.wave_started', { wave: now.wave.current, waveCount: now.wave.count }));
  if (before?.status !== now.status && (before || now.status !== 'running'))
    events.push(event(`rollout.${now.status === 'running' ? 'resumed' : now.status}`, { reason: now.statusReason }));
  return events;
}
