export { createDatabase, isDatabaseReachable, isDatabaseUnavailableError } from './client.ts';
export type { Database, DatabaseOptions } from './client.ts';
export { insertRollout, findRollout, markRolloutEnqueued, countInstances, listRolloutsByStatus, completeRolloutIfDone } from './rollouts.ts';
export type { NewRollout, RolloutRecord, InstanceCounts } from './rollouts.ts';
export { listInstances, findInstance, findInstanceWithAttempts, listOpenInstanceIds } from './instances.ts';
export type { InstanceRecord, AttemptRecord, InstancePage } from './instances.ts';
export { claimAttempt, finishAttempt } from './attempts.ts';
export type { ClaimResult, AttemptAnswer, FinishResult } from './attempts.ts';
export { Prisma } from './generated/prisma/client.ts';
