import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@fleet/logger';
import { ACTIONS, KNOWN_ACTIONS, type ActionAnswer } from './actions.ts';
import { checkGateway, SIGNATURE_WINDOW_MS } from './gateway.ts';
import { createInstanceDirectory, type InstanceReport } from './instance-directory.ts';
import { createNonceStore } from './nonce-store.ts';
import {
  BAD_GATEWAY_HTML,
  gatewayErrorDocument,
  newRequestId,
  renderDocument,
  responseFormat,
  type RenderedBody,
  type ResponseFormat,
} from './render.ts';
import { emptyParams, normaliseRequestTarget, parseParams, type RequestParams } from './request-params.ts';
import { createScriptedDraws, createSeededDraws } from './request-draws.ts';
import { ScenarioError, validateScenarioPatch, type Scenario } from './scenario.ts';
import {
  DEFAULT_SCENARIO_PROFILE,
  isScenarioProfile,
  SCENARIO_PROFILE_NAMES,
  SCENARIO_PROFILES,
  scenarioOverrides,
  type ScenarioProfile,
} from './scenario-profiles.ts';
import { createStatsRecorder, type SimulatorStats } from './stats.ts';
import { createThrottle } from './throttle.ts';

export type SimulatorOptions = {
  /** AccessKeyId -> AccessKeySecret pairs the gateway accepts. */
  accessKeys: Record<string, string>;
  /**
   * The preset every scenario knob starts from (scenario-profiles.ts); the options below and `faults` are applied
   * over it. Default `deterministic`.
   */
  profile?: ScenarioProfile;
  /** Mean simulated latency per API answer, ms. Default: the profile's (50). */
  latencyMs?: number;
  /** Extra latency added to about 1% of answers, ms. Default: the profile's (deterministic 0, realistic 1000). */
  latencyTailMs?: number;
  /** Share of instances without a Server Guard agent (NodeInstall fails on them every time). Default: the profile's. */
  failureRate?: number;
  /** Share of instances where NodeInstall is accepted but the agent ends in `install_faild`. Default: the profile's. */
  agentFailureRate?: number;
  /** Share of instance ids that do not exist (HTTP 404). Default: the profile's. */
  notFoundRate?: number;
  /** Time from an accepted NodeInstall until NodeStatus leaves `installing`, ms. Default: the profile's (2000). */
  installDurationMs?: number;
  /**
   * Seed of the per-instance fates (see `isFailingInstance`) and of the per-request fault draws (request-draws.ts).
   * Default `fleet`.
   */
  seed?: string;
  /** Any scenario field (fault rates, throttleQps, ...), applied over the options above. */
  faults?: Partial<Scenario>;
  /** HostId in gateway error documents. Default `metrics.cn-hangzhou.aliyuncs.com`. */
  hostId?: string;
  /** Default: a `warn`-level logger that redacts the configured secrets. */
  logger?: Logger;
  /** Epoch ms; drives timestamp checks, nonce expiry, throttling and install progress. Default `Date.now`. */
  now?: () => number;
  /**
   * Uniform [0, 1). Drives latency; when given, it also drives the injected faults in call order (tests script it).
   * Default: `Math.random` for latency, and faults drawn from the seed per (action, instance, n-th call).
   */
  random?: () => number;
};

export type Simulator = {
  /** Listens on `port` (default 0 = any free port) and `host` (default 127.0.0.1). */
  start(port?: number, host?: string): Promise<{ port: number; url: string }>;
  /** Stops listening, drops open and hung connections and pending delayed answers. Idempotent. */
  stop(): Promise<void>;
  stats(): SimulatorStats;
  /** The profile the scenario started from. */
  readonly profile: ScenarioProfile;
  /**
   * Zeroes the stats and forgets install state, nonces, throttle windows and the per-request draw counts (so the
   * same calls after a reset meet the same seeded faults again). The scenario stays.
   */
  reset(): void;
  scenario(): Scenario;
  /** Merges `partial` into the scenario and returns the result; throws ScenarioError on a bad field. */
  setScenario(partial: Partial<Scenario>): Scenario;
  /** What `GET /_sim/scenario` answers: the profile, the knobs that differ from it, and every knob's value. */
  scenarioReport(): ScenarioReport;
  instance(instanceId: string): InstanceReport;
  readonly server: http.Server;
};

const MAX_BODY_BYTES = 1024 * 1024;
/** Enough for any realistic test or load run; see nonce-store.ts for what happens beyond it. */
const NONCE_CAPACITY = 500_000;
const TAIL_PROBABILITY = 0.01;

type Outcome = { status: number; code: string; rendered: RenderedBody };

export type ScenarioReport = Scenario & {
  profile: ScenarioProfile;
  /** Knobs whose value is not the profile's, set by an option, a SIM_* variable or `POST /_sim/scenario`. */
  overrides: (keyof Scenario)[];
};

export function createSimulator(options: SimulatorOptions): Simulator {
  const accessKeys = new Map(Object.entries(options.accessKeys));
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

  function write(res: http.ServerResponse, status: number, rendered: RenderedBody, requestId?: string): void {
    if (res.destroyed || res.writableEnded) return;
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': rendered.contentType,
      'Content-Length': Buffer.byteLength(rendered.body),
    };
    if (requestId !== undefined) headers['x-acs-request-id'] = requestId;
    res.writeHead(status, headers);
    res.end(rendered.body);
  }

  /** Answers after the simulated latency; the timer is dropped by stop(). */
  function answerLater(res: http.ServerResponse, outcome: Outcome, requestId: string): void {
    stats.answered(outcome.code);
    const delay = latency();
    if (delay <= 0) {
      write(res, outcome.status, outcome.rendered, requestId);
      return;
    }
    const timer = setTimeout(() => {
      pendingAnswers.delete(timer);
      write(res, outcome.status, outcome.rendered, requestId);
    }, delay);
    pendingAnswers.add(timer);
  }

  function gatewayError(
    format: ResponseFormat,
    requestId: string,
    status: number,
    code: string,
    message: string,
  ): Outcome {
    return {
      status,
      code,
      rendered: renderDocument(format, 'Error', gatewayErrorDocument(requestId, hostId, code, message)),
    };
  }

  function actionOutcome(format: ResponseFormat, requestId: string, answer: ActionAnswer): Outcome {
    if (answer.kind === 'error') return gatewayError(format, requestId, answer.status, answer.code, answer.message);
    return {
      status: 200,
      code: String(answer.errorCode),
      rendered: renderDocument(format, answer.rootName, answer.document),
    };
  }

  /** A broken answer: half of the real body under its real status (200), or a load balancer's HTML page (502). */
  function malformed(outcome: Outcome, draw: () => number): Outcome {
    if (draw() < 0.5) {
      const body = outcome.rendered.body;
      return {
        status: 200,
        code: 'Malformed',
        rendered: { ...outcome.rendered, body: body.slice(0, Math.floor(body.length / 2)) },
      };
    }
    return { status: 502, code: 'Malformed', rendered: { contentType: 'text/html', body: BAD_GATEWAY_HTML } };
  }

  function serveApi(res: http.ServerResponse, method: 'GET' | 'POST', params: RequestParams): void {
    const requestId = newRequestId();
    const format = responseFormat(params.Format);
    const action = params.Action;
    if (action !== undefined && action !== '') stats.actionArrived(action);
    if (action === 'NodeInstall') res.once('close', stats.nodeInstallArrived(params.UserId));

    const nowMs = now();
    const verdict = checkGateway({ method, params, accessKeys, nonces, knownActions: KNOWN_ACTIONS, nowMs });
    if (verdict.kind === 'rejected') {
      stats.rejected(false);
      logAnswer(params, requestId, verdict.status, verdict.code);
      answerLater(res, gatewayError(format, requestId, verdict.status, verdict.code, verdict.message), requestId);
      return;
    }

    // Flow control counts per account; a request without UserId is counted against its AccessKey instead.
    const throttleKey = params.UserId ?? `AccessKeyId:${verdict.accessKeyId}`;
    if (throttle.isThrottled(throttleKey, scenario.throttleQps, nowMs)) {
      stats.rejected(true);
      logAnswer(params, requestId, 400, 'Throttling.User');
      answerLater(
        res,
        gatewayError(format, requestId, 400, 'Throttling.User', 'Request was denied due to user flow control.'),
        requestId,
      );
      return;
    }

    const instanceId = params.InstanceId;
    if (action === 'NodeInstall') {
      stats.nodeInstallReachedAction(instanceId);
      if (instanceId !== undefined && instanceId !== '') instances.rememberRequestId(instanceId, requestId);
    }

    // Injected faults stand for the backend failing: 500/503/hang happen before the action runs (nothing changes),
    // a malformed answer after it (the install may have started although the client cannot read that it did).
    // Drawn only now, past the throttle: throttling depends on timing, and must not shift an instance's seeded draws.
    const current = scenario;
    const draw = draws.forRequest(verdict.action, instanceId);
    let injected: Outcome | undefined;
    if (current.errorRate500 > 0 && draw() < current.errorRate500) {
      injected = gatewayError(
        format,
        requestId,
        500,
        'InternalError',
        'The request processing has failed due to some unknown error, exception or failure.',
      );
    } else if (current.errorRate503 > 0 && draw() < current.errorRate503) {
      injected = gatewayError(
        format,
        requestId,
        503,
        'ServiceUnavailable',
        'The request has failed due to a temporary failure of the server.',
      );
    } else if (current.hangRate > 0 && draw() < current.hangRate) {
      // Never answered: the socket stays open until the client gives up or stop() closes it. No timer is involved.
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
    let outcome = actionOutcome(format, requestId, answer);
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

  function readBody(req: http.IncomingMessage, res: http.ServerResponse, then: (body: string) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        res.writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' });
        res.end('request body too large');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size <= MAX_BODY_BYTES) then(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', () => {
      // The client went away while sending; nothing to answer.
    });
  }

  function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
    const body = JSON.stringify(value);
    res.writeHead(status, {
      'Content-Type': 'application/json;charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  /** The test control plane under /_sim/: unsigned, not counted, never delayed or failed. */
  function serveControl(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const method = req.method ?? 'GET';
    if (path === '/_sim/stats' && method === 'GET') return sendJson(res, 200, stats.snapshot());
    if (path === '/_sim/scenario' && method === 'GET') return sendJson(res, 200, simulator.scenarioReport());
    if (path === '/_sim/scenario' && method === 'POST') {
      return readBody(req, res, (body) => {
        let patch: unknown;
        try {
          patch = body.trim() === '' ? {} : JSON.parse(body);
        } catch {
          return sendJson(res, 400, { error: 'the body must be a JSON object' });
        }
        try {
          simulator.setScenario(validateScenarioPatch(patch));
          sendJson(res, 200, simulator.scenarioReport());
        } catch (error) {
          if (error instanceof ScenarioError) return sendJson(res, 400, { error: error.message });
          throw error;
        }
      });
    }
    if (path === '/_sim/reset' && method === 'POST') {
      // Drain the body (if any) before answering so the keep-alive connection stays usable.
      return readBody(req, res, () => {
        simulator.reset();
        res.writeHead(204);
        res.end();
      });
    }
    if (path.startsWith('/_sim/instances/') && method === 'GET') {
      const instanceId = parseParams(`id=${path.slice('/_sim/instances/'.length)}`, false).id ?? '';
      return sendJson(res, 200, simulator.instance(instanceId));
    }
    sendJson(res, 404, {
      error: `no control endpoint ${method} ${path}`,
      endpoints: ['GET /_sim/stats', 'GET|POST /_sim/scenario', 'POST /_sim/reset', 'GET /_sim/instances/:instanceId'],
    });
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = normaliseRequestTarget(req.url ?? '/');
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const query = q === -1 ? '' : target.slice(q + 1);
    if (path === '/_sim' || path.startsWith('/_sim/')) return serveControl(req, res, path);

    if (req.method === 'GET') return serveApi(res, 'GET', parseParams(query, false));
    if (req.method === 'POST') {
      const contentType = (req.headers['content-type'] ?? '').toLowerCase();
      const isForm = contentType === '' || contentType.includes('application/x-www-form-urlencoded');
      return readBody(req, res, (body) => {
        // Public parameters may sit in the query and the action's in the body; the gateway signs their union.
        const params = parseParams(query, false, emptyParams());
        if (isForm) parseParams(body, true, params);
        serveApi(res, 'POST', params);
      });
    }
    const params = parseParams(query, false);
    const requestId = newRequestId();
    stats.rejected(false);
    answerLater(
      res,
      gatewayError(
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
    instance(instanceId) {
      return instances.describe(instanceId, now(), {
        installCalls: stats.installCalls(instanceId),
        installs: stats.installs(instanceId),
      });
    },
  };
  return simulator;
}
