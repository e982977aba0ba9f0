-- An attempt in flight holds its delivery until this time (the notifier sets it before it sends, recordDeliveryAttempt
-- clears it): a redelivery asked for meanwhile is refused (409 delivery_in_flight) instead of racing the attempt, and a
-- second run of the same job does not send beside it. A lease, not a flag: a notifier that dies mid-attempt holds it
-- only until it runs out.
ALTER TABLE "webhook_delivery" ADD COLUMN "attempt_lease_until" TIMESTAMPTZ(3);
