import pRetry, { AbortError } from 'p-retry';
import { ApiNetworkError, ApiProblemError, problemFromBody } from './errors.ts';
import { retryAfterMs } from './retry-after.ts';

export type RetryOptions = {
  /** Retries after the first try, for network errors and 429/503. Default 4. */
  retries?: number;
  /** First backoff, in ms (doubles each retry, with jitter). Default 250. */
  minDelayMs?: number;
  /** Longest backoff, and longest Retry-After honoured, in ms. Default 10000. */
  maxDelayMs?: number;
};

export type TransportOptions = RetryOptions & {
  /** The API's base URL, e.g. `http://127.0.0.1:3000` (a trailing slash is ignored). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`; never kept in an error. */
  apiKey: string;
  /** Each try's deadline, in ms. Default 30000. */
  requestTimeoutMs?: number;
  userAgent?: string;
  /** Told before each retry (e.g. to print "retrying in 2 s"). */
  onRetry?: (info: { request: string; attempt: number; reason: string; delayMs: number | undefined }) => void;
};

export type RequestOptions = {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Whether a network error may be retried: a call that might have reached the server is repeated only when doing
   * it twice is harmless. Default: every method but POST; a POST with an Idempotency-Key header is too.
   */
  idempotent?: boolean;
  signal?: AbortSignal;
};

export type ApiAnswer = { status: number; headers: Headers; text: string };

/** A 429 or 503 worth another try, with the wait its Retry-After asks for. */
class RetryableStatus extends Error {
  constructor(
    readonly answer: ApiAnswer,
    readonly waitMs: number | undefined,
  ) {
    super(`HTTP ${answer.status}`);
  }
}

/** An error that stops the retries at once (p-retry's AbortError wraps it). */
function permanent(error: Error): AbortError {
  return new AbortError(error);
}

/** One HTTP transport to the API: fetch, JSON bodies, retries with backoff, problem+json errors. */
export function createTransport(options: TransportOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const retries = options.retries ?? 4;
  const minDelayMs = options.minDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;

  function urlOf(path: string, query: RequestOptions['query']): string {
    const url = new URL(base + path);
    for (const [name, value] of Object.entries(query ?? {}))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url.toString();
  }

  async function once(method: string, path: string, request: string, opts: RequestOptions): Promise<ApiAnswer> {
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json, text/csv',
      authorization: `Bearer ${options.apiKey}`,
      ...(options.userAgent ? { 'user-agent': options.userAgent } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    };
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    let res: Response;
    try {
      res = await fetch(urlOf(path, opts.query), {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      if (opts.signal?.aborted) throw permanent(new ApiNetworkError('stopped', request, 1, { cause: error }));
      const reason = describeFetchError(error);
      const networkError = new ApiNetworkError(reason, request, 1, { cause: error });
      const idempotent = opts.idempotent ?? (method !== 'POST' || hasHeader(opts.headers, 'idempotency-key'));
      throw idempotent ? networkError : permanent(networkError);
    }
    const answer: ApiAnswer = { status: res.status, headers: res.headers, text: await res.text() };
    if (res.status === 429 || res.status === 503)
      throw new RetryableStatus(answer, retryAfterMs(res.headers.get('retry-after'), Date.now(), maxDelayMs));
    if (res.status >= 400) throw permanent(problemError(answer, res.statusText, request));
    return answer;
  }

  function problemError(answer: ApiAnswer, statusText: string, request: string): ApiProblemError {
    const problem = problemFromBody(answer.status, statusText, answer.text);
    return new ApiProblemError(problem, request, answer.headers.get('x-request-id') ?? undefined);
  }

  /** Sends the request, retrying as above; resolves with a 2xx/3xx answer or rejects with an error of errors.ts. */
  async function send(method: string, path: string, opts: RequestOptions = {}): Promise<ApiAnswer> {
    const request = `${method} ${path}`;
    let attempts = 0;
    try {
      return await pRetry(
        () => {
          attempts += 1;
          return once(method, path, request, opts);
        },
        {
          retries,
          minTimeout: minDelayMs,
          maxTimeout: maxDelayMs,
          randomize: true,
          ...(opts.signal ? { signal: opts.signal } : {}),
          onFailedAttempt: async ({ error, retriesLeft }) => {
            const waitMs = error instanceof RetryableStatus ? error.waitMs : undefined;
            if (retriesLeft === 0) return;
            options.onRetry?.({ request, attempt: attempts, reason: error.message, delayMs: waitMs });
            // Retry-After is a floor: p-retry's own (short) backoff follows it.
            if (waitMs) await new Promise((resolve) => setTimeout(resolve, waitMs));
          },
        },
      );
    } catch (error) {
      if (error instanceof RetryableStatus) {
        const statusText = error.answer.status === 429 ? 'Too Many Requests' : 'Service Unavailable';
        throw problemError(error.answer, statusText, request);
      }
      if (error instanceof ApiNetworkError)
        throw new ApiNetworkError(error.message, request, attempts, { cause: error.cause });
      throw error;
    }
  }

  /**
   * Opens a long-lived GET (an event stream) once, no retries: the caller reconnects as the stream's protocol says.
   * The request timeout bounds only the wait for the answer's headers. Resolves with the body, or null for a 204
   * (nothing to send, ever); rejects with ApiProblemError for an error status, ApiNetworkError when unreachable.
   */
  async function openStream(
    path: string,
    opts: { query?: RequestOptions['query']; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array> | null> {
    const request = `GET ${path}`;
    const headersDeadline = new AbortController();
    const timer = setTimeout(() => headersDeadline.abort(), timeoutMs);
    let res: Response;
    try {
      res = await fetch(urlOf(path, opts.query), {
        headers: {
          accept: 'text/event-stream, application/problem+json',
          authorization: `Bearer ${options.apiKey}`,
          ...(options.userAgent ? { 'user-agent': options.userAgent } : {}),
          ...opts.headers,
        },
        signal: AbortSignal.any([headersDeadline.signal, ...(opts.signal ? [opts.signal] : [])]),
      });
    } catch (error) {
      const reason = headersDeadline.signal.aborted
        ? 'no answer within the request timeout'
        : describeFetchError(error);
      throw new ApiNetworkError(reason, request, 1, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 204) return null;
    if (res.status >= 400 || !res.body) {
      const answer: ApiAnswer = { status: res.status, headers: res.headers, text: await res.text() };
      throw problemError(answer, res.statusText, request);
    }
    return res.body;
  }

  return { send, openStream, baseUrl: base };
}

function hasHeader(headers: Record<string, string> | undefined, name: string): boolean {
  return Object.keys(headers ?? {}).some((h) => h.toLowerCase() === name);
}

/** "connect ECONNREFUSED 127.0.0.1:1" rather than fetch's bare "fetch failed". */
function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer within the request timeout';
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
