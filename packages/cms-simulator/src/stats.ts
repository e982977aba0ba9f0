import { createSlidingSecond } from './sliding-second.ts';

/** Counters a test (or a person watching a load test) reads from `stats()` or `GET /_sim/stats`. */
export type SimulatorStats = {
  /** NodeInstall requests that passed the gateway and reached the action (injected faults included). */
  requests: number;
  /** NodeInstall requests in progress now: from arrival (body read) until the answer is written or the socket closes. */
  inFlight: number;
  /** Highest `inFlight` seen since start or the last reset. */
  maxInFlight: number;
  /** `inFlight` per UserId parameter. */
  inFlightByUserId: Record<string, number>;
  /** Highest `inFlight` per UserId since start or the last reset. */
  maxInFlightByUserId: Record<string, number>;
  /**
   * Most NodeInstall requests of one UserId that arrived within any one second (a sliding window of 1000 ms), since
   * start or the last reset: what an account's rate limit is judged by. Throttled requests count (they arrived).
   */
  maxPerSecondByUserId: Record<string, number>;
  /** Every API request that named an Action, by that Action, counted on arrival whatever the outcome. */
  byAction: Record<string, number>;
  /**
   * Every answered API request by outcome: the gateway Code of an error answer (`SignatureDoesNotMatch`,
   * `Throttling.User`, `InternalError`, ...), the ErrorCode of an action result (`200`, `400`), `Malformed` for a
   * broken answer and `Hang` for one never given.
   */
  byCode: Record<string, number>;
  /** Requests refused with `Throttling.User` (also counted in `rejected`). */
  throttled: number;
  /** Requests the gateway refused before any action ran: auth, timestamp, nonce, public params, version, action, throttling. */
  rejected: number;
  /** NodeInstall requests that reached the action, per InstanceId. */
  callsByInstance: Record<string, number>;
  /** Installs actually started (accepted NodeInstall that was not a no-op), per InstanceId. */
  installsByInstance: Record<string, number>;
  /**
   * InstallMonitoringAgent (2019-01-01, up to 10 instances a call): `requests` that reached the action;
   * `callsByInstance`, per InstanceId, those requests that named it; `inFlight` / `maxInFlight`, requests in progress
   * (arrival to answer, as for NodeInstall) and `instancesInFlight` / `maxInstancesInFlight`, the instances they name;
   * `maxPerSecond`, most requests that arrived within any one second (a sliding window), throttled ones included.
   */
  monitoringAgent: {
    requests: number;
    callsByInstance: Record<string, number>;
    inFlight: number;
    maxInFlight: number;
    instancesInFlight: number;
    maxInstancesInFlight: number;
    maxPerSecond: number;
  };
  /** Every API request by its AccessKeyId parameter, counted on arrival whatever the outcome. */
  callsByAccessKeyId: Record<string, number>;
  /**
   * Most API requests of one AccessKeyId, every action together, that arrived within any one second (a sliding
   * window of 1000 ms), since start or the last reset, refused ones included: an account's whole call rate, status
   * calls too (NodeStatusList and DescribeMonitoringAgentStatuses name no UserId, so maxPerSecondByUserId misses them).
   */
  maxPerSecondByAccessKeyId: Record<string, number>;
  /** Every API request naming a UserId, by that UserId, counted on arrival whatever the outcome. */
  callsByUserId: Record<string, number>;
  /** The two above together: per UserId, its requests by AccessKeyId (which key acted for which account). */
  callsByUserIdAndAccessKeyId: Record<string, Record<string, number>>;
};

export type StatsRecorder = {
  /** `nowMs`: the simulator's clock at arrival, epoch ms. */
  nodeInstallArrived(userId: string | undefined, nowMs: number): () => void;
  actionArrived(action: string): void;
  /** Any API request, by the AccessKeyId and UserId it names (either may be absent); `nowMs` as for NodeInstall. */
  callArrived(accessKeyId: string | undefined, userId: string | undefined, nowMs: number): void;
  answered(code: string): void;
  rejected(throttled: boolean): void;
  nodeInstallReachedAction(instanceId: string | undefined): void;
  installStarted(instanceId: string): void;
  /** An InstallMonitoringAgent request arrived naming `instances` instances; the answer calls the function returned. */
  monitoringAgentArrived(instances: number, nowMs: number): () => void;
  monitoringAgentReachedAction(instanceIds: readonly string[]): void;
  installCalls(instanceId: string): number;
  installs(instanceId: string): number;
  snapshot(): SimulatorStats;
  /** Zeroes every counter; requests still in flight stay counted in `inFlight` and become the new maxima. */
  reset(): void;
};

function bump(map: Map<string, number>, key: string, by = 1): number {
  const next = (map.get(key) ?? 0) + by;
  map.set(key, next);
  return next;
}

export function createStatsRecorder(): StatsRecorder {
  const arrivals = createSlidingSecond();
  const maxPerSecondByUserId = new Map<string, number>();
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let throttled = 0;
  let rejected = 0;
  const inFlightByUserId = new Map<string, number>();
  const maxInFlightByUserId = new Map<string, number>();
  const byAction = new Map<string, number>();
  const byCode = new Map<string, number>();
  const callsByInstance = new Map<string, number>();
  const installsByInstance = new Map<string, number>();
  const callsByAccessKeyId = new Map<string, number>();
  const keyArrivals = createSlidingSecond();
  const maxPerSecondByAccessKeyId = new Map<string, number>();
  const callsByUserId = new Map<string, number>();
  const callsByUserIdAndAccessKeyId = new Map<string, Map<string, number>>();
  const agent = {
    requests: 0,
    inFlight: 0,
    maxInFlight: 0,
    instancesInFlight: 0,
    maxInstancesInFlight: 0,
    maxPerSecond: 0,
  };
  const agentCallsByInstance = new Map<string, number>();
  const agentArrivals = createSlidingSecond();

  return {
    nodeInstallArrived(userId, nowMs) {
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      if (userId !== undefined) {
        const current = bump(inFlightByUserId, userId);
        if (current > (maxInFlightByUserId.get(userId) ?? 0)) maxInFlightByUserId.set(userId, current);
        const inSecond = arrivals.record(userId, nowMs);
        if (inSecond > (maxPerSecondByUserId.get(userId) ?? 0)) maxPerSecondByUserId.set(userId, inSecond);
      }
      let done = false;
      return () => {
        if (done) return;
        done = true;
        inFlight--;
        if (userId !== undefined) bump(inFlightByUserId, userId, -1);
      };
    },
    actionArrived(action) {
      bump(byAction, action);
    },
    callArrived(accessKeyId, userId, nowMs) {
      const keyId = accessKeyId === undefined || accessKeyId === '' ? undefined : accessKeyId;
      if (keyId !== undefined) {
        bump(callsByAccessKeyId, keyId);
        const inSecond = keyArrivals.record(keyId, nowMs);
        if (inSecond > (maxPerSecondByAccessKeyId.get(keyId) ?? 0)) maxPerSecondByAccessKeyId.set(keyId, inSecond);
      }
      if (userId === undefined || userId === '') return;
      bump(callsByUserId, userId);
      if (keyId === undefined) return;
      const byKey = callsByUserIdAndAccessKeyId.get(userId) ?? new Map<string, number>();
      callsByUserIdAndAccessKeyId.set(userId, byKey);
      bump(byKey, keyId);
    },
    answered(code) {
      bump(byCode, code);
    },
    rejected(wasThrottled) {
      rejected++;
      if (wasThrottled) throttled++;
    },
    nodeInstallReachedAction(instanceId) {
      requests++;
      if (instanceId !== undefined && instanceId !== '') bump(callsByInstance, instanceId);
    },
    installStarted(instanceId) {
      bump(installsByInstance, instanceId);
    },
    monitoringAgentArrived(instances, nowMs) {
      agent.inFlight++;
      agent.instancesInFlight += instances;
      agent.maxInFlight = Math.max(agent.maxInFlight, agent.inFlight);
      agent.maxInstancesInFlight = Math.max(agent.maxInstancesInFlight, agent.instancesInFlight);
      agent.maxPerSecond = Math.max(agent.maxPerSecond, agentArrivals.record('InstallMonitoringAgent', nowMs));
      let done = false;
      return () => {
        if (done) return;
        done = true;
        agent.inFlight--;
        agent.instancesInFlight -= instances;
      };
    },
    monitoringAgentReachedAction(instanceIds) {
      agent.requests++;
      for (const id of new Set(instanceIds)) bump(agentCallsByInstance, id);
    },
    installCalls: (instanceId) => callsByInstance.get(instanceId) ?? 0,
    installs: (instanceId) => installsByInstance.get(instanceId) ?? 0,
    snapshot() {
      return {
        requests,
        inFlight,
        maxInFlight,
        inFlightByUserId: Object.fromEntries(inFlightByUserId),
        maxInFlightByUserId: Object.fromEntries(maxInFlightByUserId),
        maxPerSecondByUserId: Object.fromEntries(maxPerSecondByUserId),
        byAction: Object.fromEntries(byAction),
        byCode: Object.fromEntries(byCode),
        throttled,
        rejected,
        callsByInstance: Object.fromEntries(callsByInstance),
        installsByInstance: Object.fromEntries(installsByInstance),
        monitoringAgent: { ...agent, callsByInstance: Object.fromEntries(agentCallsByInstance) },
        callsByAccessKeyId: Object.fromEntries(callsByAccessKeyId),
        maxPerSecondByAccessKeyId: Object.fromEntries(maxPerSecondByAccessKeyId),
        callsByUserId: Object.fromEntries(callsByUserId),
        callsByUserIdAndAccessKeyId: Object.fromEntries(
          [...callsByUserIdAndAccessKeyId].map(([userId, byKey]) => [userId, Object.fromEntries(byKey)]),
        ),
      };
    },
    reset() {
      requests = 0;
      throttled = 0;
      rejected = 0;
      maxInFlight = inFlight;
      maxInFlightByUserId.clear();
      arrivals.clear();
      maxPerSecondByUserId.clear();
      for (const [userId, current] of inFlightByUserId) {
        if (current > 0) maxInFlightByUserId.set(userId, current);
        else inFlightByUserId.delete(userId);
      }
      byAction.clear();
      byCode.clear();
      callsByInstance.clear();
      installsByInstance.clear();
      agent.requests = 0;
      agent.maxInFlight = agent.inFlight;
      agent.maxInstancesInFlight = agent.instancesInFlight;
      agent.maxPerSecond = 0;
      agentArrivals.clear();
      agentCallsByInstance.clear();
      callsByAccessKeyId.clear();
      keyArrivals.clear();
      maxPerSecondByAccessKeyId.clear();
      callsByUserId.clear();
      callsByUserIdAndAccessKeyId.clear();
    },
  };
}
