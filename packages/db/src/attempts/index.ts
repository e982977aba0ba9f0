/**
 * The install path's writes. Delivery is at-least-once (a job can run twice), so both steps are idempotent:
 * an attempt row is unique per (instance, attempt number), and every instance transition is guarded on the state
 * and attempt count it was decided from.
 */
export { claimAttempt } from './claim-attempt.ts';
export { REPLAY_WINDOW_MS } from './claim-locked.ts';
export { claimInstallCall, peekInstallCall } from './claim-install-call.ts';
export type { InstallCallPeek } from './claim-install-call.ts';
export type { CallMember, InstallCallClaim, InstallCallInput } from './types.ts';
export { finishAttempt } from './finish-attempt.ts';
export { markAttemptAnswerLost } from './mark-answer-lost.ts';
export { needsStatusCheck, recordStatusCheck } from './status-check.ts';
export type { StatusCheckInput, StatusCheckResult } from './status-check.ts';
export { createAttemptWriter } from './attempt-writer.ts';
export type { AttemptWriter } from './attempt-writer.ts';
export { warmInstallPath } from './warm-install-path.ts';
export type { AttemptAnswer, AttemptSigning, ClaimInput, ClaimResult, FinishInput, FinishResult } from './types.ts';
