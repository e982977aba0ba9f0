export {
  InstanceState,
  RolloutStatus,
  INSTANCE_STATES,
  ROLLOUT_STATUSES,
  FINAL_INSTANCE_STATES,
  OPEN_INSTANCE_STATES,
  OPEN_ROLLOUT_STATUSES,
  isFinalInstanceState,
  isFinalRolloutStatus,
  decideInstance,
  decideRollout,
  InstanceTransitionCause,
} from './states.ts';
export type {
  AttemptOutcomeClass,
  AttemptVerdict,
  InstanceEvent,
  InstanceDecision,
  InstanceIgnoreCause,
  InstanceWaitCause,
  RolloutEvent,
  RolloutDecision,
} from './states.ts';
export { DEFAULT_RETRY_POLICY, THROTTLE_DELAY_FACTOR, retryDelayMs } from './retry-policy.ts';
export type { RetryPolicy, RetryReason } from './retry-policy.ts';
export { ManualInstallReason, manualInstallReasonFor } from './manual-install.ts';
export type { FailedCallFacts } from './manual-install.ts';
export {
  defaultPolicy,
  resolveCount,
  planWaveSizes,
  waveNumbers,
  decideWaveGate,
  shouldAbort,
  DEFAULT_WAVE_SUCCESS_THRESHOLD_PERCENT,
  INSTALL_DRIVERS,
  agentStatusActionOf,
} from './policy.ts';
export type { InstallDriver, CountSpec, WavePlan, AbortPolicy, RolloutPolicy, WaveGateDecision } from './policy.ts';
export {
  ManualFlagStatus,
  MANUAL_FLAG_STATUSES,
  CURRENT_MANUAL_FLAG_STATUSES,
  decideManualFlag,
  isFinalManualFlagStatus,
  manualFlagStatusesAllowing,
} from './manual-install-flag.ts';
export type { ManualFlagAction, ManualFlagEvent, ManualFlagDecision } from './manual-install-flag.ts';
export { InstallVerification, decideVerification } from './install-verification.ts';
export type { AgentLookup, VerificationDecision, VerificationFailureReason } from './install-verification.ts';
export { normaliseErrorMessage, failureCauseOf, manualInstallAction, MANUAL_INSTALL_ACTIONS } from './failure-cause.ts';
export type { FailureCause, FailureFacts, FailureKind } from './failure-cause.ts';
export { computeProgress } from './rollout-progress.ts';
export type { RolloutProgress } from './rollout-progress.ts';
export {
  decideAdmission,
  decideAfterAgentCheck,
  decideAfterRecord,
  decideAnswer,
  decideClaim,
  decideJobStart,
  HOLD_FOR_RATE_MAX_MS,
  LATE_START_TOLERANCE_MS,
} from './attempt-decision.ts';
export type {
  AccountRateSignal,
  AdmissionDecision,
  AdmissionFacts,
  AfterRecordDecision,
  AnswerDecision,
  AnswerLost,
  AnswerFacts,
  AnswerKind,
  ClaimDecision,
  ClaimFacts,
  JobDelay,
  JobDelayReason,
  JobStartDecision,
  RecordAnswer,
  RecordedFacts,
} from './attempt-decision.ts';
export { decideCallClaim, decideCallPeek, INSTALL_CALL_MAX_INSTANCES } from './install-call-decision.ts';
export type { CallClaimFacts, CallPeekDecision, CallPeekFacts } from './install-call-decision.ts';
export { FLEET_EVENT_TYPES, EVENT_ACTOR_KINDS, isFleetEventType } from './fleet-events.ts';
export type {
  EventActor,
  EventActorKind,
  EventSource,
  FleetEventData,
  FleetEventType,
  NewFleetEvent,
  PauseCause,
  WebhookDisabledReason,
} from './fleet-events.ts';
export { ESTIMATE_FORMULA, estimateRolloutDuration } from './rollout-estimate.ts';
export type { DurationEstimate, EstimateInput, WaveEstimate } from './rollout-estimate.ts';
export { decideAgentPrecheck } from './agent-precheck.ts';
export {
  decideSchedule,
  initialRolloutStatus,
  maintenanceWindowProblem,
  nextWindowEnd,
  windowPosition,
} from './schedule.ts';
export type {
  EndBehavior,
  MaintenanceWindow,
  RolloutSchedule,
  ScheduleDecision,
  ScheduleFacts,
  WindowPosition,
} from './schedule.ts';
export type { AgentPrecheck } from './agent-precheck.ts';
