export {
  pauseRollout,
  resumeRollout,
  cancelRollout,
  changeRolloutPolicy,
  advanceWaves,
  abortIfThresholdCrossed,
} from './rollout-control.ts';
export type { RolloutControlDeps } from './rollout-control.ts';
export { readPolicy } from './policy-view.ts';
export { applySchedules, startRolloutNow } from './schedules.ts';
export type { ScheduleMove } from './schedules.ts';
