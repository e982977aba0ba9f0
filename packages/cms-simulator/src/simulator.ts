import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@fleet/logger';
import { ACTIONS } from './actions.ts';
import { checkAccountAccess } from './account-access.ts';
import { createAccountRegistry, parseSimAccounts } from './accounts.ts';
import { readApiRequest, type ApiRequest } from './api-request.ts';
import { serveControl } from './control-plane.ts';
import { checkGateway, SIGNATURE_WINDOW_MS } from './gateway.ts';
import { readBody, sendJson, writeAnswer } from './http-io.ts';
import { createInstanceDirectory } from './instance-directory.ts';
import { createNonceStore } from './nonce-store.ts';
import { actionOutcome, gatewayError, injectedFault, malformed, type Outcome } from './outcomes.ts';
import { newRequestId, responseFormat } from './render.ts';
import { normaliseRequestTarget, parseParams, type RequestParams } from './request-params.ts';
import { createScriptedDraws, createSeededDraws } from './request-draws.ts';
import { ScenarioError, validateScenarioPatch, type Scenario } from './scenario.ts';
import {
  DEFAULT_SCENARIO_PROFILE,
  isScenarioProfile,
  SCENARIO_PROFILE_NAMES,
  SCENARIO_PROFILES,
  scenarioOverrides,
} from './scenario-profiles.ts';
import type { Simulator, SimulatorOptions } from './simulator-types.ts';
import { createStatsRecorder } from './stats.ts';
import { createThrottle } from './throttle.ts';

/** Enough for any realistic test or load run; see nonce-store.ts for what happens beyond it. */
const NONCE_CAPACITY = 500_000;
const TAIL_PROBABILITY = 0.01;

export function createSimulator(options: SimulatorOptions): Simulator {
  const accounts = createAccountRegistry(options.accessKeys, options.accounts ?? []);
  const accessKeys = accounts.secrets;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const hostId = options.hostId ?? 'metrics.cn-hangzhou.aliyuncs.com';
  const logger = (
    options.logger ?? createLogger({ service: 'cms-simulator', level: 'warn', secrets: [...accessKeys.values()] })
  ).child({ component: 'cms-simulator' });

  const profile = options.profile ?? DEFAULT_SCENARIO_PROFILE;
  // Options may come from untyped code (a JSON file, a script); a wrong name must not start a default simulator.
  if (!isScenarioProfile(profile)) {
    throw new ScenarioError(`unknown profile "${String(profile)}"; known: ${SCENARIO_PROFILE_NAMES.join(', ')}`);
  }
  const seed = options.seed ?? 'fleet';
  let scenario: Scenario = {
    ...SCENARIO_PROFILES[profile],
    ...validateScenarioPatch({
      latencyMs: options.latencyMs,
      latencyTailMs: options.latencyTailMs,
      failureRate: options.failureRate,
      agentFailureRate: options.agentFailureRate,
      notFoundRate: options.notFoundRate,
      installDurationMs: options.installDurationMs,
    }),
    ...validateScenarioPatch(options.faults ?? {}),
  };

  const stats = createStatsRecorder();
  const nonces = createNonceStore(SIGNATURE_WINDOW_MS, NONCE_CAPACITY);
  const throttle = createThrottle();
  const instances = createInstanceDirectory(seed, () => scenario);
  const draws = options.random ? createScriptedDraws(options.random) : createSeededDraws(seed);
  const pendingAnswers = new Set<NodeJS.Timeout>();

  function latency(): number {
    let ms = scenario.latencyMs > 0 ? scenario.latencyMs * (0.5 + random()) : 0;
    if (scenario.latencyTailMs > 0 && random() < TAIL_PROBABILITY) ms += scenario.latencyTailMs;
    return ms;
  }

  /** Answers after the simulated latency; the timer is dropped by stop(). */
  function answerLater(res: http.ServerResponse, outcome: Outcome, requestId: string): void {
    stats.answered(outcome.code);
    const delay = latency();
    if (delay <= 0) {
      writeAnswer(res, outcome.status, outcome.rendered, requestId);
      return;
    }
    const timer = setTimeout(() => {
      pendingAnswers.delete(timer);
      writeAnswer(res, outcome.status, outcome.rendered, requestId);
    }, delay);
    pendingAnswers.add(timer);
  }

  function serveApi(res: http.ServerResponse, request: ApiRequest): void {
    const { method, params } = request;
    const requestId = newRequestId();
    const format = responseFormat(params.Format);
    const action = params.Action;
    if (action !== undefined && action !== '') stats.actionArrived(action);
    if (action === 'NodeInstall') res.once('close', stats.nodeInstallArrived(params.UserId, now()));
    const namedInstances = action === 'InstallMonitoringAgent' ? indexedList(params, 'InstanceIds') : [];
    if (action === 'InstallMonitoringAgent')
      res.once('close', stats.monitoringAgentArrived(namedInstances.length, now()));
    stats.callArrived(params.AccessKeyId, params.UserId, now());

    const nowMs = now();
    const verdict = checkGateway({ method, params, v3: request.v3, accessKeys, nonces, nowMs });
    if (verdict.kind === 'rejected') {
      stats.rejected(false);
      logAnswer(params, requestId, verdict.status, verdict.code);
      answerLater(
        res,
        gatewayError(hostId, format, requestId, verdict.status, verdict.code, verdict.message),
        requestId,
      );
      return;
    }

    const account = accounts.accountOf(verdict.accessKeyId);
    const refused = checkAccountAccess(account, params, nowMs);
    if (refused) {
      stats.rejected(false);
      logAnswer(params, requestId, refused.status, refused.code);
      answerLater(
        res,
        gatewayError(hostId, format, requestId, refused.status, refused.code, refused.message),
        requestId,
      );
      return;
    }

    // Flow control counts per account, at the account's own quota when one was given; a request without UserId is
    // counted against its AccessKey instead.
    const throttleKey = params.UserId ?? `AccessKeyId:${verdict.accessKeyId}`;
    const qps = (params.UserId !== undefined ? accounts.qpsOf(params.UserId) : account?.qps) ?? scenario.throttleQps;
    if (throttle.isThrottled(throttleKey, qps, nowMs)) {
      stats.rejected(true);
      logAnswer(params, requestId, 400, 'Throttling.User');
      answerLater(
        res,
        gatewayError(hostId, format, requestId, 400, 'Throttling.User', 'Request was denied due to user flow control.'),
        requestId,
      );
      return;
    }

    const instanceId = params.InstanceId;
    if (action === 'InstallMonitoringAgent') stats.monitoringAgentReachedAction(namedInstances);
    if (action === 'NodeInstall') {
      stats.nodeInstallReachedAction(instanceId);
      if (instanceId !== undefined && instanceId !== '') instances.rememberRequestId(instanceId, requestId);
    }

    // Injected faults stand for the backend failing: 500/503/hang happen before the action runs (nothing changes),
    // a malformed answer after it (the install may have started although the client cannot read that it did).
    // Drawn only now, past the throttle: throttling depends on timing, and must not shift an instance's seeded draws.
    const current = scenario;
    const draw = draws.forRequest(verdict.action, instanceId);
    const injected = injectedFault(hostId, current, draw, format, requestId);
    if (injected === 'hang') {
      stats.answered('Hang');
      logAnswer(params, requestId, 0, 'Hang');
      return;
    }
    if (injected) {
      logAnswer(params, requestId, injected.status, injected.code);
      answerLater(res, injected, requestId);
      return;
    }
    const breakAnswer = current.malformedRate > 0 && draw() < current.malformedRate;

    const handler = ACTIONS[verdict.action]!;
    const answer = handler({
      params,
      requestId,
      nowMs,
      scenario: current,
      instances,
      onInstallStarted: (id) => stats.installStarted(id),
    });
    let outcome = actionOutcome(hostId, format, requestId, answer);
    if (breakAnswer) outcome = malformed(outcome, draw);
    logAnswer(params, requestId, outcome.status, outcome.code);
    answerLater(res, outcome, requestId);
  }

  function logAnswer(params: RequestParams, requestId: string, status: number, code: string): void {
    // Never the whole parameter map: it holds the Signature. Debug only, the hot path must stay cheap.
    if (!logger.isDebugEnabled()) return;
    logger.debug('answered', {
      requestId,
      action: params.Action,
      instanceId: params.InstanceId,
      userId: params.UserId,
      accessKeyId: params.AccessKeyId,
      status,
      code,
    });
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = normaliseRequestTarget(req.url ?? '/');
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const query = q === -1 ? '' : target.slice(q + 1);
    if (path === '/_sim' || path.startsWith('/_sim/')) return serveControl(simulator, req, res, path);

    if (req.method === 'GET') return serveApi(res, readApiRequest(req, 'GET', path, query, undefined));
    if (req.method === 'POST') {
      return readBody(req, res, (text, bytes) =>
        serveApi(res, readApiRequest(req, 'POST', path, query, { text, bytes })),
      );
    }
    const params = parseParams(query, false);
    const requestId = newRequestId();
    stats.rejected(false);
    answerLater(
      res,
      gatewayError(
        hostId,
        responseFormat(params.Format),
        requestId,
        405,
        'UnsupportedHTTPMethod',
        `Specified http method ${req.method ?? ''} is not supported.`,
      ),
      requestId,
    );
  }

  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (error) {
      logger.error('simulator failed to answer a request', { error });
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: 'simulator internal error' });
    }
  });

  let stopping: Promise<void> | undefined;

  const simulator: Simulator = {
    server,
    async start(port = 0, host = '127.0.0.1') {
      if (server.listening) throw new Error('the simulator is already listening');
      stopping = undefined;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const urlHost =
        host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      const url = `http://${urlHost}:${address.port}/`;
      logger.info('cms simulator listening', { url, profile, scenario });
      return { port: address.port, url };
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const timer of pendingAnswers) clearTimeout(timer);
        pendingAnswers.clear();
        if (!server.listening) return resolve();
        server.close(() => {
          logger.info('cms simulator stopped');
          resolve();
        });
        // Keep-alive and hung connections would otherwise hold close() open.
        server.closeAllConnections();
      });
      return stopping;
    },
    stats: () => stats.snapshot(),
    profile,
    reset() {
      stats.reset();
      instances.clear();
      nonces.clear();
      throttle.clear();
      draws.clear();
      logger.info('cms simulator reset');
    },
    scenario: () => ({ ...scenario }),
    setScenario(partial) {
      scenario = { ...scenario, ...validateScenarioPatch(partial) };
      logger.info('cms simulator scenario changed', { scenario });
      return { ...scenario };
    },
    scenarioReport: () => ({ profile, overrides: scenarioOverrides(profile, scenario), ...scenario }),
    accounts: () => accounts.list(),
    defineAccounts(list) {
      const parsed = parseSimAccounts(list);
      accounts.define(parsed);
      logger.info('cms simulator accounts defined', { accessKeyIds: parsed.map((a) => a.accessKeyId) });
      return accounts.list();
    },
    instance(instanceId) {
      return instances.describe(instanceId, now(), {
        installCalls: stats.installCalls(instanceId),
        installs: stats.installs(instanceId),
      });
    },
  };
  return simulator;
}

/** `Name.1`, `Name.2`, ... as sent, up to the first gap (what the stats count; the action validates the list). */
function indexedList(params: RequestParams, name: string): string[] {
  const values: string[] = [];
  for (let i = 1; params[`${name}.${i}`] !== undefined; i++) values.push(params[`${name}.${i}`]!.trim());
  return values;
}
