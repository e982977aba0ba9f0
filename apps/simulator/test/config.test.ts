import { DEFAULT_SCENARIO, SCENARIO_PROFILES } from '@fleet/cms-simulator';
import { ConfigError } from '@fleet/errors';
import { describe, expect, it } from 'vitest';
import { loadConfig, simulatorOptionsFrom } from '../src/config.ts';

describe('simulator config', () => {
  it('runs locally with nothing set: port 8787 on loopback, the local key pair, the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      port: 8787,
      host: '127.0.0.1',
      seed: 'fleet',
      accessKeyId: 'LTAIsimulatorkey0001',
      accessKeySecret: 'simulator-secret-not-for-production',
      accounts: [],
      logLevel: 'info',
      profile: 'deterministic',
      logFormat: undefined,
      noColor: false,
      scenario: {
        latencyMs: 50,
        latencyTailMs: 0,
        failureRate: 0.05,
        agentFailureRate: 0,
        notFoundRate: 0,
        noCloudAssistantRate: 0,
        installDurationMs: 2000,
        errorRate500: 0,
        errorRate503: 0,
        hangRate: 0,
        malformedRate: 0,
        throttleQps: 0,
      },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      SIMULATOR_PORT: '0',
      SIMULATOR_HOST: '0.0.0.0',
      SIM_LATENCY_MS: '5',
      SIM_LATENCY_TAIL_MS: '500',
      SIM_FAILURE_RATE: '0.1',
      SIM_AGENT_FAILURE_RATE: '0.02',
      SIM_NOT_FOUND_RATE: '0.01',
      SIM_NO_CLOUD_ASSISTANT_RATE: '0.05',
      SIM_INSTALL_DURATION_MS: '100',
      SIM_SEED: 'load-test',
      SIM_ERROR_RATE_500: '0.03',
      SIM_ERROR_RATE_503: '0.04',
      SIM_HANG_RATE: '0.001',
      SIM_MALFORMED_RATE: '0.002',
      SIM_THROTTLE_QPS: '50',
      CMS_ACCESS_KEY_ID: 'LTAIother',
      CMS_ACCESS_KEY_SECRET: 'other-secret',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      port: 0,
      host: '0.0.0.0',
      seed: 'load-test',
      accessKeyId: 'LTAIother',
      logLevel: 'debug',
    });
    expect(config.scenario).toEqual({
      latencyMs: 5,
      latencyTailMs: 500,
      failureRate: 0.1,
      agentFailureRate: 0.02,
      notFoundRate: 0.01,
      noCloudAssistantRate: 0.05,
      installDurationMs: 100,
      errorRate500: 0.03,
      errorRate503: 0.04,
      hangRate: 0.001,
      malformedRate: 0.002,
      throttleQps: 50,
    });
    const options = simulatorOptionsFrom(config);
    expect(options.accessKeys).toEqual({ LTAIother: 'other-secret' });
    expect(options.faults).toMatchObject({ throttleQps: 50, hangRate: 0.001 });
  });

  it('the default profile is deterministic, the same knobs with SIM_PROFILE=deterministic as with nothing set', () => {
    expect(loadConfig({}).scenario).toEqual(DEFAULT_SCENARIO);
    expect(loadConfig({ SIM_PROFILE: 'deterministic' })).toEqual(loadConfig({}));
    expect(loadConfig({ SIM_PROFILE: '' }).profile).toBe('deterministic');
  });

  it('SIM_PROFILE=realistic takes every unset knob from the realistic preset', () => {
    const config = loadConfig({ SIM_PROFILE: 'realistic' });
    expect(config.profile).toBe('realistic');
    expect(config.scenario).toEqual({
      latencyMs: 50,
      latencyTailMs: 1000,
      failureRate: 0.03,
      agentFailureRate: 0.01,
      notFoundRate: 0.005,
      noCloudAssistantRate: 0.02,
      installDurationMs: 2000,
      errorRate500: 0.01,
      errorRate503: 0.02,
      hangRate: 0.005,
      malformedRate: 0.005,
      throttleQps: 50,
    });
    expect(config.scenario).toEqual(SCENARIO_PROFILES.realistic);
    expect(simulatorOptionsFrom(config)).toMatchObject({ profile: 'realistic', faults: SCENARIO_PROFILES.realistic });
  });

  it('an explicit SIM_* variable wins over the profile, an empty one does not', () => {
    const config = loadConfig({
      SIM_PROFILE: 'realistic',
      SIM_THROTTLE_QPS: '0',
      SIM_ERROR_RATE_503: '0.25',
      SIM_FAILURE_RATE: '0',
      SIM_HANG_RATE: '',
    });
    expect(config.scenario).toEqual({
      ...SCENARIO_PROFILES.realistic,
      throttleQps: 0,
      errorRate503: 0.25,
      failureRate: 0,
    });
    // And under the default profile, a set variable wins over the deterministic preset the same way.
    expect(loadConfig({ SIM_HANG_RATE: '0.5' }).scenario).toEqual({ ...DEFAULT_SCENARIO, hangRate: 0.5 });
  });

  it.each(['chaos', 'Realistic', '1'])(
    'SIM_PROFILE=%s is refused naming the variable and the allowed values',
    (value) => {
      let thrown: unknown;
      try {
        loadConfig({ SIM_PROFILE: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).variable).toBe('SIM_PROFILE');
      expect((thrown as ConfigError).message).toBe(
        `SIM_PROFILE: must be one of deterministic, realistic; got "${value}"`,
      );
    },
  );

  it('an empty variable counts as unset, not as zero', () => {
    expect(loadConfig({ SIM_FAILURE_RATE: '', SIMULATOR_PORT: '' })).toMatchObject({
      port: 8787,
      scenario: { failureRate: 0.05 },
    });
  });

  it.each([
    ['SIM_FAILURE_RATE', '1.5'],
    ['SIM_FAILURE_RATE', 'often'],
    ['SIMULATOR_PORT', '70000'],
    ['SIM_LATENCY_MS', '-1'],
    ['SIM_THROTTLE_QPS', '2.5'],
    ['LOG_LEVEL', 'loud'],
  ])('%s=%s fails with a ConfigError naming the variable', (variable, value) => {
    let thrown: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
    expect((thrown as ConfigError).message).toMatch(new RegExp(`^${variable}: `));
  });

  it('reads SIM_ACCOUNTS, and names the entry and field at fault without showing the value (it holds secrets)', () => {
    const accounts = [
      { accessKeyId: 'LTAIa', accessKeySecret: 'secret-a', userId: '1111111111111111', qps: 5 },
      {
        accessKeyId: 'STS.b',
        accessKeySecret: 'secret-b',
        userId: '2222222222222222',
        securityToken: 'tok',
        tokenExpiresAt: '2030-01-01T00:00:00Z',
      },
    ];
    const config = loadConfig({ SIM_ACCOUNTS: JSON.stringify(accounts) });
    expect(config.accounts).toEqual([
      accounts[0],
      { ...accounts[1], tokenExpiresAt: Date.parse('2030-01-01T00:00:00Z') },
    ]);
    expect(simulatorOptionsFrom(config).accounts).toHaveLength(2);
    let error: unknown;
    try {
      loadConfig({ SIM_ACCOUNTS: JSON.stringify([{ ...accounts[0], userId: 'abc' }]) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('accounts[0].userId');
    expect((error as ConfigError).shownValue).not.toContain('secret-a');
  });
});
