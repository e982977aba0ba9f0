import { seededFraction } from './seeded-fraction.ts';

/**
 * Where the injected faults of a request (500, 503, hang, malformed and which kind of malformed) get their random
 * numbers. The simulator asks for one draw source per request that passed the gateway and the throttle, then takes
 * its draws in a fixed order.
 *
 * Seeded (the default): the n-th request of an action for an instance draws from
 * sha256(`${seed}:request:${action}:${instanceId}:${n}:${k}`) for its k-th number. So a run is repeatable whatever
 * order concurrent calls arrive in: instance i-x's first NodeInstall gets the same answer on every run with the same
 * seed, and its retry (n = 2) draws afresh. Requests without an InstanceId (NodeStatusList) count per action, which
 * repeats only when they arrive in the same order. `clear()` (the simulator's reset) starts every count again.
 *
 * Scripted: when a caller injects `random()` (tests), every draw is simply the next value of it, in call order.
 */
export type RequestDraws = {
  /** The draws of one request, in the order it asks for them. */
  forRequest(action: string, instanceId: string | undefined): () => number;
  clear(): void;
};

export function createSeededDraws(seed: string): RequestDraws {
  const counts = new Map<string, number>();
  return {
    forRequest(action, instanceId) {
      const key = `${action}:${instanceId ?? ''}`;
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      let k = 0;
      // Hashed lazily: most requests under a zero rate never ask for a draw.
      return () => seededFraction(`${seed}:request:${key}:${n}:${++k}`);
    },
    clear() {
      counts.clear();
    },
  };
}

export function createScriptedDraws(random: () => number): RequestDraws {
  return {
    forRequest: () => random,
    clear() {
      // Nothing is counted.
    },
  };
}
