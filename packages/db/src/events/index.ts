export { FLEET_EVENTS_CHANNEL, DIRECT_WRITER, recordEvents, recordEventsWithClient } from './record-events.ts';
export type { FleetEventNotice } from './record-events.ts';
export { listEvents } from './list-events.ts';
export type { FleetEventRecord, FleetEventPage, ListEventsOptions } from './list-events.ts';
