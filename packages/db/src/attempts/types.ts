import type {
  AttemptOutcomeClass,
  AttemptVerdict,
  InstanceState,
  InstanceTransitionCause,
} from '@fleet/rollout-domain';

/** What an attempt's request is signed with: fixed at claim, so the very same request can be sent again. */
export type AttemptSigning = { nonce: string; timestamp: Date };

export type ClaimResult =
  /** A new attempt: make the call, signed with `signing` when the claim was given a nonce. */
  | {
      kind: 'claimed';
      attemptId: bigint;
      attemptNo: number;
      abandonedAttemptNo: number | null;
      signing: AttemptSigning | null;
    }
  /**
   * The instance's last attempt belongs to a worker that died after claiming it: whether its call reached
   * CloudMonitor is unknown. Send exactly its request again (`signing`, no re-sign). `SignatureNonceUsed` means the
   * first copy arrived: record that with markAttemptAnswerLost and claim again (attempt N+1). Any other answer is
   * this attempt's one real call: record it on this attempt.
   */
  | {
      kind: 'replay';
      attemptId: bigint;
      attemptNo: number;
      signing: AttemptSigning;
      /** The account credentials the attempt was signed with (account_credentials.id); null: the workers' own pair. */
      credentialsId: bigint | null;
    }
  /** The instance is final: nothing to do (a duplicate delivery, or a repair raced us). */
  | { kind: 'final'; state: InstanceState }
  /** The claim itself ended the instance: its rollout was cancelled, or its in-progress timeout passed. */
  | { kind: 'closed'; to: InstanceState; cause: InstanceTransitionCause; reason: string }
  /** Another worker's call for this instance may still be in flight; look again at `retryAt`. */
  | { kind: 'busy'; retryAt: Date }
  /** The rollout is paused: start nothing. */
  | { kind: 'paused' }
  | { kind: 'missing' };

export type ClaimInput = {
  rolloutInstanceId: bigint;
  rolloutId: string;
  workerId: string;
  /**
   * SignatureNonce for the new attempt's request (its Timestamp is `now`), stored on the attempt row so the request
   * can be replayed. Without one the attempt cannot be replayed, and a dead worker's attempt is simply abandoned.
   */
  signatureNonce?: string;
  /**
   * The account credentials the request is signed with (account_credentials.id), stored on the attempt so a replay
   * signs with the same ones; absent or null: the workers' own pair.
   */
  credentialsId?: bigint | null;
  staleAfterMs: number;
  /** The rollout's per-instance in-progress timeout, in ms (null: none). */
  instanceTimeoutMs?: number | null;
  now?: Date;
  /**
   * The time a maintenance window's end (the rollout's calls_until) is compared with: Postgres's, on the scheduler's
   * clock (the same clock as `now` in production; a test may run it fast while calls are signed on real time).
   * Default `now`.
   */
  windowNow?: Date;
};

export type AttemptAnswer = {
  finishedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  success: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  outcome: AttemptOutcomeClass;
  /** The client's finer classification (throttled, fleet_wide, ...). */
  outcomeKind: string;
  /**
   * When the request went out, by the worker's clock: the attempt's `started_at` becomes it (the claim wrote the
   * start reserved for the call, and a call late for its start takes another). Null (a replay, whose row keeps the
   * first request's start): `started_at` is left as claimed.
   */
  sentAt?: Date | null;
};

export type FinishResult =
  /** The instance moved (`to`): succeeded, failed, or back to pending for a retry. */
  | { kind: 'transitioned'; to: InstanceState; cause: InstanceTransitionCause; reason: string }
  /** The answer was recorded on its attempt row, but the instance had moved on (a newer attempt, or final). */
  | { kind: 'recorded_only' }
  /** This attempt's answer was already recorded: a duplicate delivery. Nothing changed. */
  | { kind: 'duplicate' };

export type FinishInput = {
  rolloutInstanceId: bigint;
  attemptId: bigint;
  attemptNo: number;
  maxAttempts: number;
  answer: AttemptAnswer;
  /** For a retry: when the next attempt is due. */
  nextAttemptAt: Date | null;
  manualInstallReason?: string | null;
  /** What the answer means for the instance; default the answer's outcome. `deferred` for fleet-wide errors. */
  verdict?: AttemptVerdict;
  /** The rollout's per-instance in-progress timeout, in ms (null: none). */
  instanceTimeoutMs?: number | null;
};

/** What the one-statement path left to do: `general` (it did not apply) or `recorded` (answer stored, instance not moved). */
export type FastFinish = FinishResult | 'general' | 'recorded';

/** The claim of one InstallMonitoringAgent call (claimInstallCall, claim-install-call.ts). */
export type InstallCallInput = {
  /** The leader: the instance whose job makes this claim. */
  rolloutInstanceId: bigint;
  rolloutId: string;
  workerId: string;
  /** The new call's id (install_attempt.call_id) and the SignatureNonce its request is signed with. */
  callId: string;
  signatureNonce: string;
  credentialsId: bigint | null;
  /** Most instances in one call (InstallMonitoringAgent takes 1 to 10). */
  maxInstances: number;
  staleAfterMs: number;
  instanceTimeoutMs: number | null;
  /** Co-claimed instances must have had their status check first (policy skipInstalled). */
  skipInstalled: boolean;
  now: Date;
  /** The time the rollout's calls_until is compared with (see ClaimInput.windowNow). */
  windowNow: Date;
};

/** One instance of a call: its attempt row. */
export type CallMember = { rolloutInstanceId: bigint; instanceId: string; attemptId: bigint; attemptNo: number };

export type InstallCallClaim =
  /** A new call: `members` (the leader first) each have a new attempt row; send InstallMonitoringAgent for them. */
  | {
      kind: 'claimed';
      callId: string;
      signing: AttemptSigning;
      members: CallMember[];
      /** The leader's previous attempt, abandoned by this claim (its worker died too long ago to ask). */
      abandonedAttemptNo: number | null;
    }
  /**
   * The leader's attempt is one instance of a call whose worker died: send exactly that request again
   * (`instanceIds` in order, `signing`, the credentials it was signed with). `members` are its attempts still
   * unfinished, which the answer resolves; the others of `instanceIds` were settled otherwise meanwhile.
   */
  | {
      kind: 'replay';
      callId: string;
      signing: AttemptSigning;
      credentialsId: bigint | null;
      instanceIds: string[];
      members: CallMember[];
    }
  | { kind: 'final'; state: InstanceState }
  | { kind: 'closed'; to: InstanceState; cause: InstanceTransitionCause; reason: string }
  | { kind: 'busy'; retryAt: Date }
  | { kind: 'paused' }
  | { kind: 'missing' }
  /** Every instance the rollout's concurrency allows is in flight: look again soon. */
  | { kind: 'full' }
  /** The leader waits for its retry backoff until `at` (its job ran early: a co-claim moved it since). */
  | { kind: 'not_due'; at: Date };
