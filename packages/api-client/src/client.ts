import { readSseFrames } from './sse.ts';
import type { SseFrame } from './sse.ts';
import { createTransport } from './transport.ts';
import type { ApiAnswer, RequestOptions, TransportOptions } from './transport.ts';
import type {
  ApiKey,
  ChangedRollout,
  CreateApiKeyBody,
  CreateRolloutBody,
  CreatedApiKey,
  CreatedRollout,
  FailureReport,
  FlagStatus,
  FleetEvent,
  Instance,
  InstanceDetail,
  InstanceState,
  ManualInstallFlag,
  Me,
  Page,
  PatchRolloutBody,
  RetriedRollout,
  Rollout,
  RolloutPlan,
  RolloutStatus,
  RolloutSummary,
  RolloutWaves,
} from './types.ts';

export type FleetApiClientOptions = TransportOptions;

type Query = RequestOptions['query'];
export type FlagAction = 'acknowledge' | 'resolve' | 'close';
export type RolloutAction = 'pause' | 'resume' | 'cancel';

const enc = encodeURIComponent;

/** A typed client of the fleet API's /v1 routes (docs/api.md), for the CLI and the console alike. */
export class FleetApiClient {
  private readonly transport;
  readonly baseUrl: string;

  constructor(options: FleetApiClientOptions) {
    this.transport = createTransport(options);
    this.baseUrl = this.transport.baseUrl;
  }

  /** Any request; the answer's JSON body (null when empty). */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return parseJson<T>(await this.transport.send(method, path, options));
  }

  /** Any request; its raw answer (status, headers, text). */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<ApiAnswer> {
    return this.transport.send(method, path, options);
  }

  /**
   * POST /v1/rollouts. `idempotencyKey` makes the call safe to retry after a network error (the API answers the
   * rollout it made); without one, a network error is not retried.
   */
  createRollout(body: CreateRolloutBody, options: { idempotencyKey?: string; signal?: AbortSignal } = {}) {
    return this.request<CreatedRollout>('POST', '/v1/rollouts', {
      body,
      ...(options.idempotencyKey ? { headers: { 'idempotency-key': options.idempotencyKey } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** POST /v1/rollouts with `dryRun: true`: the plan, nothing recorded; harmless twice, so a network error is retried. */
  planRollout(body: CreateRolloutBody, options: { signal?: AbortSignal } = {}) {
    return this.request<RolloutPlan>('POST', '/v1/rollouts', {
      body: { ...body, dryRun: true },
      idempotent: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  listRollouts(
    query: { userId?: string; status?: RolloutStatus; instanceId?: string; limit?: number; cursor?: string } = {},
    options: { signal?: AbortSignal } = {},
  ) {
    return this.request<Page<RolloutSummary>>('GET', '/v1/rollouts', { query, ...options });
  }

  /** GET /v1/me: the key making the requests (its role and accounts). */
  me() {
    return this.request<Me>('GET', '/v1/me');
  }

  getRollout(id: string, options: { signal?: AbortSignal } = {}) {
    return this.request<Rollout>('GET', `/v1/rollouts/${enc(id)}`, options);
  }

  patchRollout(id: string, patch: PatchRolloutBody) {
    return this.request<Rollout>('PATCH', `/v1/rollouts/${enc(id)}`, { body: patch });
  }

  /** POST /v1/rollouts/:id/start-now: a scheduled or waiting rollout runs now; harmless twice (`changed: false`). */
  startRolloutNow(id: string) {
    return this.request<ChangedRollout>('POST', `/v1/rollouts/${enc(id)}/start-now`, { idempotent: true });
  }

  /** pause, resume or cancel: each is harmless twice (`changed: false`), so a network error is retried. */
  changeRollout(id: string, action: RolloutAction, reason?: string) {
    return this.request<ChangedRollout>('POST', `/v1/rollouts/${enc(id)}/${action}`, {
      body: reason === undefined ? {} : { reason },
      idempotent: true,
    });
  }

  retryRollout(id: string, body: { cause?: string; instanceIds?: string[]; force?: boolean; concurrency?: number }) {
    return this.request<RetriedRollout>('POST', `/v1/rollouts/${enc(id)}/retry`, { body });
  }

  /** GET /v1/rollouts/:id/waves: each wave's counts per state. */
  getWaves(id: string, options: { signal?: AbortSignal } = {}) {
    return this.request<RolloutWaves>('GET', `/v1/rollouts/${enc(id)}/waves`, options);
  }

  listInstances(
    id: string,
    query: { state?: InstanceState; limit?: number; cursor?: string } = {},
    options: { signal?: AbortSignal } = {},
  ) {
    return this.request<Page<Instance>>('GET', `/v1/rollouts/${enc(id)}/instances`, { query, ...options });
  }

  getInstance(id: string, instanceId: string) {
    return this.request<InstanceDetail>('GET', `/v1/rollouts/${enc(id)}/instances/${enc(instanceId)}`);
  }

  getReport(id: string, query: { instancesPerGroup?: number } = {}) {
    return this.request<FailureReport>('GET', `/v1/rollouts/${enc(id)}/report`, {
      query: { ...query, format: 'json' },
    });
  }

  /** The report as CSV text: every failure, or every instance with `scope: 'all'`. */
  async getReportCsv(id: string, scope: 'failures' | 'all' = 'failures'): Promise<string> {
    return (await this.raw('GET', `/v1/rollouts/${enc(id)}/report`, { query: { format: 'csv', scope } })).text;
  }

  /** A page of a rollout's event timeline, oldest first, after the event id `after`. */
  listRolloutEvents(id: string, query: Query = {}, options: { signal?: AbortSignal } = {}) {
    return this.request<{ items: FleetEvent[]; nextCursor: string | null }>('GET', `/v1/rollouts/${enc(id)}/events`, {
      query,
      ...options,
    });
  }

  /**
   * The rollout's live event stream (GET /v1/rollouts/:id/events/stream) from after `lastEventId`: each stored event
   * as a frame named by its type with the event as JSON, and `progress` frames with the rollout as GET answers it.
   * Null when the rollout is finished and nothing is left after the cursor (204). The iteration ends when the server
   * ends the stream (after the final event, or when it stops: reconnect with the last id).
   */
  async openRolloutStream(
    id: string,
    options: { lastEventId?: string | undefined; signal?: AbortSignal } = {},
  ): Promise<AsyncGenerator<SseFrame> | null> {
    const body = await this.transport.openStream(`/v1/rollouts/${enc(id)}/events/stream`, {
      ...(options.lastEventId ? { headers: { 'last-event-id': options.lastEventId } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return body === null ? null : readSseFrames(body);
  }

  listFlags(query: { userId?: string; status?: FlagStatus; rolloutId?: string; limit?: number; cursor?: string } = {}) {
    return this.request<Page<ManualInstallFlag>>('GET', '/v1/manual-install-flags', { query });
  }

  moveFlag(flagId: string, action: FlagAction, note?: string) {
    return this.request<ManualInstallFlag>('POST', `/v1/manual-install-flags/${enc(flagId)}/${action}`, {
      body: note === undefined ? {} : { note },
    });
  }

  createApiKey(body: CreateApiKeyBody) {
    return this.request<CreatedApiKey>('POST', '/v1/api-keys', { body });
  }

  listApiKeys(query: { limit?: number } = {}) {
    return this.request<{ items: ApiKey[] }>('GET', '/v1/api-keys', { query });
  }

  async revokeApiKey(id: string): Promise<void> {
    await this.raw('DELETE', `/v1/api-keys/${enc(id)}`);
  }
}

function parseJson<T>(answer: ApiAnswer): T {
  return (answer.text === '' ? null : JSON.parse(answer.text)) as T;
}
