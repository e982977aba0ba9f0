export { createDatabase, isDatabaseReachable, isDatabaseUnavailableError, INSTALL_PATH_SESSION } from './client.ts';
export type { Database, DatabaseOptions } from './client.ts';
export { createEventListener } from './event-listener.ts';
export type { EventListener, EventListenerOptions } from './event-listener.ts';
export {
  DatabaseError,
  IdempotencyKeyTakenError,
  GuardedWriteRaceError,
  WaveSizesMismatchError,
  AccountExistsError,
  AccountHasOpenRolloutsError,
} from './errors.ts';
export type { DatabaseErrorCode } from './errors.ts';
export {
  insertRollout,
  recordRollout,
  INSERT_CHUNK,
  findRollout,
  markRolloutEnqueued,
  countInstances,
  listRolloutsByStatus,
  listOpenRolloutsForWork,
  listOpenRolloutsOfAccounts,
  checkRolloutDone,
  completeRolloutIfDone,
} from './rollouts.ts';
export type { NewRollout, RolloutRecord, InstanceCounts } from './rollouts.ts';
export {
  listInstances,
  findInstance,
  findInstanceWithAttempts,
  listOpenInstanceIds,
  iterateRolloutInstances,
} from './instances.ts';
export type { InstanceRecord, AttemptRecord, AttemptWithCall, InstancePage, InstancePageItem } from './instances.ts';
export {
  claimAttempt,
  claimInstallCall,
  peekInstallCall,
  finishAttempt,
  createAttemptWriter,
  markAttemptAnswerLost,
  needsStatusCheck,
  recordStatusCheck,
  warmInstallPath,
  REPLAY_WINDOW_MS,
} from './attempts/index.ts';
export type {
  ClaimResult,
  AttemptSigning,
  ClaimInput,
  AttemptAnswer,
  FinishInput,
  FinishResult,
  AttemptWriter,
  StatusCheckInput,
  StatusCheckResult,
  CallMember,
  InstallCallClaim,
  InstallCallInput,
  InstallCallPeek,
} from './attempts/index.ts';
export { createGroupCommit } from './group-commit.ts';
export type { GroupCommit, GroupCommitOptions } from './group-commit.ts';
export { Prisma } from './generated/prisma/client.ts';
export {
  transitionRollout,
  updateRolloutPolicy,
  countWave,
  advanceWaveIfDone,
  listRunnableInstances,
} from './rollout-transitions.ts';
export type { RolloutChange, RolloutTransitionResult, WaveCounts, WaveStep } from './rollout-transitions.ts';
export {
  API_KEY_PREFIX,
  API_ROLES,
  hashApiKey,
  apiKeyShownPrefix,
  generateApiKey,
  createApiKey,
  findActiveApiKeyByHash,
  findApiKey,
  listApiKeys,
  revokeApiKey,
  touchApiKeyLastUsed,
  ensureBootstrapAdminKey,
} from './api-keys.ts';
export type { ApiRole, ApiKeyRecord, NewApiKey, BootstrapKeyResult } from './api-keys.ts';
export { findIdempotencyRecord, claimIdempotencyKey, deleteIdempotencyRecordsBefore } from './idempotency.ts';
export type { IdempotencyRecord } from './idempotency.ts';
export { apiKeyNamesOf, countInstancesOfRollouts, listRollouts } from './rollout-list.ts';
export { countInstancesPerWave } from './wave-progress.ts';
export type { WaveProgress } from './wave-progress.ts';
export { readMetricsSnapshot } from './metrics-snapshot.ts';
export type { MetricsSnapshotRows } from './metrics-snapshot.ts';
export type { RolloutListPosition, RolloutListPage } from './rollout-list.ts';
export {
  listOpenInstancesForRepair,
  iterateOpenInstancesForRepair,
  findInstanceStates,
  listRolloutsClosedSince,
  listCallsInFlight,
} from './reconcile-queries.ts';
export type { CallInFlightRecord, OpenInstanceForRepair, RolloutForSweep } from './reconcile-queries.ts';
export { RECONCILER_ACTOR } from './manual-install-flag-raise.ts';
export type { FlagRaiseCounts } from './manual-install-flag-raise.ts';
export {
  raiseMissingManualInstallFlags,
  listManualInstallFlags,
  findManualInstallFlag,
  transitionManualInstallFlag,
  countManualInstallFlags,
} from './manual-install-flags.ts';
export type {
  ManualInstallFlagRecord,
  ManualInstallFlagEventRecord,
  ManualInstallFlagPage,
  ManualInstallFlagDetail,
  ManualInstallFlagTransitionResult,
} from './manual-install-flags.ts';
export {
  armInstallVerification,
  armReverification,
  listPendingVerifications,
  markInstancesVerified,
  recordAgentStatuses,
  failInstallVerification,
} from './verification.ts';
export type { PendingVerification, VerificationFailureResult } from './verification.ts';
export {
  iterateReportInstances,
  rolloutProgress,
  deleteFinishSecondsBefore,
  countVerifications,
  listRetryRollouts,
  setParentRollout,
  PROGRESS_WINDOW_SECONDS,
  PROGRESS_MIN_WINDOW_SECONDS,
} from './reports.ts';
export type { ReportScope, VerificationCounts } from './reports.ts';
export { readRolloutStatusFigures } from './rollout-status-read.ts';
export { readReportFigures } from './report-figures.ts';
export type { ReportFigures } from './report-figures.ts';
export type { RolloutStatusFigures } from './rollout-status-read.ts';
export type { ReportInstanceRow } from './report-rows.ts';
export { summariseOldAttempts } from './attempt-retention.ts';
export type { AttemptRetentionOptions, AttemptRetentionResult, AttemptSummary } from './attempt-retention.ts';
export {
  FLEET_EVENTS_CHANNEL,
  DIRECT_WRITER,
  recordEvents,
  recordEventsWithClient,
  listEvents,
} from './events/index.ts';
export type { FleetEventNotice, FleetEventRecord, FleetEventPage, ListEventsOptions } from './events/index.ts';
export { listFailureCauseCounts, listFailureCauseInstances } from './failure-counts.ts';
export type { FailureCauseCount } from './failure-counts.ts';
export { recentCallLatency } from './call-latency.ts';
export type { RecentCallLatency } from './call-latency.ts';
export {
  createWebhook,
  findWebhook,
  listWebhooks,
  listEnabledWebhooks,
  updateWebhook,
  rotateWebhookSecret,
  deleteWebhook,
  recordWebhookTest,
  disableWebhook,
  countWebhooks,
} from './webhooks/subscriptions.ts';
export type { WebhookRecord, NewWebhook, WebhookChanges, WebhookKindName } from './webhooks/subscriptions.ts';
export { sealClearSecretUrls } from './webhooks/url-sealing.ts';
export type { SecretUrlSealing } from './webhooks/url-sealing.ts';
export { DISPATCH_CURSOR, dispatchWebhookEvents } from './webhooks/dispatch.ts';
export type { NewDelivery, DeliveryPlanner, DispatchStep } from './webhooks/dispatch.ts';
export {
  findDelivery,
  loadDeliveryForAttempt,
  hasEarlierUnattemptedDelivery,
  claimDeliveryAttempt,
  recordDeliveryAttempt,
  listDueDeliveries,
  markForRedelivery,
  listDeliveries,
} from './webhooks/deliveries.ts';
export type {
  WebhookDeliveryRecord,
  WebhookDeliveryStatusName,
  WebhookAttemptRecord,
  DeliveryWithAttempts,
  FinishedAttempt,
  RedeliveryResult,
} from './webhooks/deliveries.ts';
export { listScheduledRollouts, markPausedRolloutScheduleEnded, updateRolloutWindow } from './rollout-schedules.ts';
export { createDatabaseClock } from './database-clock.ts';
export type { DatabaseClock } from './database-clock.ts';
export {
  createAccount,
  findAccount,
  listAccounts,
  updateAccount,
  rotateAccountCredentials,
  deleteAccount,
  maskAccessKeyId,
  RETIRED_CREDENTIALS_KEPT_MS,
} from './accounts.ts';
export type { AccountRecord, AccountSettings, NewAccount, SealedCredentials } from './accounts.ts';
export { findAccountCalling, findAccountCredentials, findAccountRateLimit } from './account-calling.ts';
export type { AccountCallingRecord, StoredCredentials } from './account-calling.ts';
export {
  SEALED_COLUMNS,
  webhookSecretContext,
  webhookRobotSecretContext,
  webhookUrlContext,
  accountSecretContext,
  accountTokenContext,
} from './sealed-columns.ts';
export type { SealedColumn } from './sealed-columns.ts';
export { resealColumns } from './reseal-columns.ts';
export type { Resealer, ResealColumnResult, ResealOptions } from './reseal-columns.ts';
