/**
 * Which subscriptions receive which events, as a pure function. A subscription sees exactly the events its accounts
 * would see in the audit trail (listEvents in @fleet/db): an account's events when the account is its own, an API
 * key's or a subscription's events (no account of their own, their accounts in `data.userIds`) when every one of
 * those accounts is its own, everything when it has every account. It receives only events after its own
 * webhook.created (no history), and a webhook.test event only when it is the one tested.
 */

/** `*` in a subscription's `events`: every type, also types added later. */
export const ALL_EVENTS = '*';

export type SubscriptionScope = {
  id: string;
  events: readonly string[];
  userIds: readonly string[];
  allAccounts: boolean;
  /** Its webhook.created event's id. */
  startAfterEventId: bigint;
};

export type EventForMatch = {
  id: bigint;
  type: string;
  userId: string | null;
  data: unknown;
};

function dataField(data: unknown, field: string): unknown {
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[field] : undefined;
}

function accountsVisible(subscription: SubscriptionScope, event: EventForMatch): boolean {
  if (subscription.allAccounts) return true;
  if (event.userId !== null) return subscription.userIds.includes(event.userId);
  const userIds = dataField(event.data, 'userIds');
  return (
    Array.isArray(userIds) &&
    userIds.length > 0 &&
    userIds.every((u) => typeof u === 'string' && subscription.userIds.includes(u))
  );
}

export function subscriptionReceives(subscription: SubscriptionScope, event: EventForMatch): boolean {
  if (event.type === 'webhook.test') return dataField(event.data, 'webhookId') === subscription.id;
  if (event.id <= subscription.startAfterEventId) return false;
  if (!subscription.events.includes(ALL_EVENTS) && !subscription.events.includes(event.type)) return false;
  return accountsVisible(subscription, event);
}
