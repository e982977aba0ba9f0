/**
 * The simulator as its main.ts builds it (loadConfig -> simulatorOptionsFrom -> createSimulator) on port 0, driven
 * over real HTTP by the product's own CMS client: what each SIM_PROFILE makes a fleet meet.
 */
import { createCmsClient, type CallResult, type CmsClient } from '@fleet/cms-client';
import { createSimulator, isFailingInstance, isUnknownInstance, type Simulator } from '@fleet/cms-simulator';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, simulatorOptionsFrom } from '../src/config.ts';

const KEY_ID = 'LTAIprofiletest0001';
const SECRET = 'profile-test-secret-Hq3v';
/**
 * Well above the realistic profile's slowest answer (1.5 x 50 ms + the 1000 ms tail), so that only a hang times out,
 * even on a machine busy with other test runs.
 */
const CALL_TIMEOUT_MS = 5000;

type Running = { sim: Simulator; url: string; cms: CmsClient };
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.sim.stop();
    await r.cms.close();
  }
});

async function start(environment: Record<string, string>): Promise<Running> {
  const config = loadConfig({
    SIMULATOR_PORT: '0',
    CMS_ACCESS_KEY_ID: KEY_ID,
    CMS_ACCESS_KEY_SECRET: SECRET,
    ...environment,
  });
  const sim = createSimulator(simulatorOptionsFrom(config));
  const { url } = await sim.start(config.port, config.host);
  const cms = createCmsClient({
    endpoint: url,
    credentials: { accessKeyId: KEY_ID, accessKeySecret: SECRET },
    timeoutMs: CALL_TIMEOUT_MS,
  });
  const r = { sim, url, cms };
  running.push(r);
  return r;
}

/** 16-digit account UIDs. */
const account = (n: number) => `${1000000000000000 + n}`;
const instanceId = (n: number) => `i-bp1prof${n.toString(36).padStart(6, '0')}`;

/** Runs `calls` with at most `concurrency` in flight. */
async function inParallel<T>(count: number, concurrency: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await call(i);
      }
    }),
  );
  return results;
}

/** What the client saw, reduced to one label per fault kind. */
function faultOf(result: CallResult): string {
  if (result.outcome.kind === 'success') return 'ok';
  if (result.errorCode === 'InternalError') return '500';
  if (result.errorCode === 'ServiceUnavailable') return '503';
  if (result.errorCode === 'Timeout') return 'hang';
  if (result.errorCode === 'MalformedResponse') return 'malformed';
  if (result.errorCode === 'Throttling.User') return 'throttled';
  if (result.errorCode === 'InvalidInstanceId.NotFound') return 'not-found';
  if (result.errorCode === '400' && /Server Guard/.test(result.errorMessage ?? '')) return 'no-agent';
  return `other:${result.errorCode}`;
}

function tally(labels: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

describe('SIM_PROFILE=realistic over real HTTP', () => {
  it('4,000 NodeInstall calls meet every kind of fault at about its rate, as the seed decides', async () => {
    const seed = 'profile-rates';
    // Latency is not what is counted here; without it the run takes seconds instead of tens of them.
    const sim = await start({
      SIM_PROFILE: 'realistic',
      SIM_SEED: seed,
      SIM_LATENCY_MS: '0',
      SIM_LATENCY_TAIL_MS: '0',
    });
    const calls = 4000;
    // 400 accounts, 10 calls each: no account can come near 50 QPS, so throttling stays out of this count.
    const results = await inParallel(calls, 32, (i) =>
      sim.cms.nodeInstall({ userId: account(i % 400), instanceId: instanceId(i), force: true }),
    );
    const labels = results.map(faultOf);
    const seen = tally(labels);

    // Nominal shares; the bounds (half to one and a half times) are wide enough for sampling noise over 4,000 calls
    // and narrow enough that a missing, doubled or mis-wired fault falls outside them.
    const expected: Record<string, number> = {
      '503': 0.02,
      '500': 0.01,
      hang: 0.005,
      malformed: 0.005,
      'no-agent': 0.03,
      'not-found': 0.005,
    };
    for (const [label, share] of Object.entries(expected)) {
      const count = seen[label] ?? 0;
      expect(count, `${label}: ${count} of ${calls}`).toBeGreaterThanOrEqual(Math.floor(calls * share * 0.5));
      expect(count, `${label}: ${count} of ${calls}`).toBeLessThanOrEqual(Math.ceil(calls * share * 1.5));
    }
    expect(seen.throttled ?? 0).toBe(0);
    expect(Object.keys(seen).filter((label) => label.startsWith('other:'))).toEqual([]);
    // Everything else went through: about 95% of the calls.
    expect(seen.ok! / calls).toBeGreaterThan(0.9);
    expect(seen.ok! / calls).toBeLessThan(0.96);

    // The client saw what the simulator says it did.
    const byCode = sim.sim.stats().byCode;
    expect(byCode.InternalError ?? 0).toBe(seen['500']);
    expect(byCode.ServiceUnavailable ?? 0).toBe(seen['503']);
    expect(byCode.Hang ?? 0).toBe(seen.hang);
    expect(byCode.Malformed ?? 0).toBe(seen.malformed);
    expect(byCode['InvalidInstanceId.NotFound'] ?? 0).toBe(seen['not-found']);

    // Instance fates are the seed's: every no-agent answer came from an instance isFailingInstance names, and every
    // not-found one from an instance isUnknownInstance names.
    labels.forEach((label, i) => {
      if (label === 'no-agent') expect(isFailingInstance(seed, instanceId(i), 0.03)).toBe(true);
      if (label === 'not-found') expect(isUnknownInstance(seed, instanceId(i), 0.005)).toBe(true);
    });
    // The transient faults are seeded too: the same calls after a reset meet the same faults (a hang stays a hang).
    sim.sim.reset();
    const again = await inParallel(400, 32, (i) =>
      sim.cms.nodeInstall({ userId: account(i % 400), instanceId: instanceId(i), force: true }),
    );
    expect(again.map(faultOf)).toEqual(labels.slice(0, 400));
  }, 60_000);

  it('above 50 QPS one account is throttled with Throttling.User; another account at the same time is not', async () => {
    // No hang, so that the calls' span (the bound on what a one-second window may admit) stays short.
    const sim = await start({
      SIM_PROFILE: 'realistic',
      SIM_SEED: 'profile-throttle',
      SIM_LATENCY_TAIL_MS: '0',
      SIM_HANG_RATE: '0',
    });
    const busy = account(1);
    const quiet = account(2);
    const startedAt = performance.now();
    const [busyResults, quietResults] = await Promise.all([
      // 150 at once from one account: three times its quota inside much less than a second.
      inParallel(150, 150, (i) => sim.cms.nodeInstall({ userId: busy, instanceId: instanceId(i), force: true })),
      inParallel(20, 20, (i) => sim.cms.nodeInstall({ userId: quiet, instanceId: instanceId(1000 + i), force: true })),
    ]);
    const elapsedMs = performance.now() - startedAt;

    const throttled = busyResults.filter((r) => faultOf(r) === 'throttled');
    expect(throttled.length).toBeGreaterThan(0);
    // A sliding one-second window admits at most 50 per second of the span the calls took.
    const admitted = busyResults.length - throttled.length;
    expect(admitted).toBeLessThanOrEqual(50 * (Math.floor(elapsedMs / 1000) + 1));
    for (const r of throttled) {
      expect(r).toMatchObject({
        httpStatus: 400,
        errorCode: 'Throttling.User',
        errorMessage: 'Request was denied due to user flow control.',
        outcome: { kind: 'throttled' },
      });
      expect(r.requestId).toMatch(/^[0-9A-F-]{36}$/);
    }
    expect(quietResults.filter((r) => faultOf(r) === 'throttled')).toEqual([]);
    expect(sim.sim.stats().throttled).toBe(throttled.length);
  }, 30_000);

  it('GET /_sim/scenario shows the profile, the effective knobs, and which of them a SIM_* variable overrode', async () => {
    const sim = await start({ SIM_PROFILE: 'realistic', SIM_THROTTLE_QPS: '0', SIM_ERROR_RATE_503: '1' });
    const response = await fetch(new URL('/_sim/scenario', sim.url));
    expect(await response.json()).toEqual({
      profile: 'realistic',
      overrides: ['errorRate503', 'throttleQps'],
      latencyMs: 50,
      latencyTailMs: 1000,
      errorRate500: 0.01,
      errorRate503: 1,
      hangRate: 0.005,
      malformedRate: 0.005,
      throttleQps: 0,
      failureRate: 0.03,
      agentFailureRate: 0.01,
      notFoundRate: 0.005,
      noCloudAssistantRate: 0.02,
      installDurationMs: 2000,
    });
    // The override is what the calls meet: 503 wherever 500 did not come first, and no throttling at 80 calls at once.
    const results = await inParallel(80, 80, (i) =>
      sim.cms.nodeInstall({ userId: account(7), instanceId: instanceId(i), force: true }),
    );
    const seen = tally(results.map(faultOf));
    expect(seen.throttled ?? 0).toBe(0);
    expect((seen['503'] ?? 0) + (seen['500'] ?? 0)).toBe(80);
  });
});

describe('the default profile over real HTTP', () => {
  it('is deterministic: only the 5% no-agent instances fail, no 5xx, hang, malformed body or throttling', async () => {
    const seed = 'profile-default';
    const sim = await start({ SIM_SEED: seed, SIM_LATENCY_MS: '0' });
    const response = await fetch(new URL('/_sim/scenario', sim.url));
    expect(await response.json()).toMatchObject({ profile: 'deterministic', overrides: ['latencyMs'] });
    // One account, 1,000 calls as fast as they go: far above any realistic quota, and nothing but fates.
    const results = await inParallel(1000, 32, (i) =>
      sim.cms.nodeInstall({ userId: account(1), instanceId: instanceId(i), force: true }),
    );
    results.forEach((r, i) =>
      expect(faultOf(r)).toBe(isFailingInstance(seed, instanceId(i), 0.05) ? 'no-agent' : 'ok'),
    );
    const failed = results.filter((r) => faultOf(r) === 'no-agent').length;
    expect(failed).toBeGreaterThan(25);
    expect(failed).toBeLessThan(75);
  }, 30_000);
});
