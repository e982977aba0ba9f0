/**
 * The clients of a load on the API, as people watching a large rollout make it (issue 23's load test and the reads
 * bench share them): pollers reading a rollout's status, a page of its instance list and its failure report in turn,
 * and creators posting small rollouts. Each request's outcome is handed to `onSample`; a request without an answer
 * (refused, reset, past its deadline) is status 0. Both loops end once `running()` is false.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export type RolloutReadKind = 'status' | 'list' | 'report';

/** One request: its latency (ms, the whole answer read), HTTP status (0: no answer), start (ms after `originMs`). */
export type LoadSample = { ms: number; status: number; atMs: number };

export type RolloutReadSample = LoadSample & { kind: RolloutReadKind };

export type LoadClientOptions = {
  /** The API's base URL, without a trailing slash. */
  apiUrl: string;
  /** A bearer key that may read (pollers) or create (creators) the rollouts. */
  apiKey: string;
  /** How often the client starts a request, in ms (a slower answer makes the next start at once). */
  intervalMs: number;
  /** `performance.now()` of the run's start: samples' `atMs` count from it. */
  originMs: number;
  running: () => boolean;
  /** Deadline of one request in ms, after which it counts as unanswered (status 0). Default none. */
  requestTimeoutMs?: number;
};

async function timed(
  url: string,
  init: RequestInit,
  timeoutMs: number | undefined,
  read: (res: Response) => Promise<void>,
): Promise<{ ms: number; status: number; started: number }> {
  const started = performance.now();
  // An answer whose body then fails to read (not JSON, cut off) still counts as answered with its status.
  let status = 0;
  try {
    const res = await fetch(url, timeoutMs === undefined ? init : { ...init, signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
    await read(res);
  } catch {
    // No answer, or an unreadable body: the status says which.
  }
  return { ms: performance.now() - started, status, started };
}

/**
 * One poller: status, list page, report in turn (starting at `firstTurn` % 3, so pollers started together spread
 * over the three), one request per interval, keeping each URL's ETag (If-None-Match) and walking the list's cursor.
 */
export async function pollRolloutReads(
  options: LoadClientOptions & { rolloutId: string; listLimit: number; firstTurn: number },
  onSample: (sample: RolloutReadSample) => void,
): Promise<void> {
  const etags = new Map<string, string>();
  let cursor: string | null = null;
  const headers = { authorization: `Bearer ${options.apiKey}` };
  const rollout = `/v1/rollouts/${options.rolloutId}`;
  for (let turn = options.firstTurn; options.running(); turn++) {
    const kind = (['status', 'list', 'report'] as const)[turn % 3]!;
    const url =
      kind === 'status'
        ? rollout
        : kind === 'report'
          ? `${rollout}/report`
          : `${rollout}/instances?limit=${options.listLimit}${cursor ? `&cursor=${cursor}` : ''}`;
    const etag = etags.get(url);
    const sample = await timed(
      `${options.apiUrl}${url}`,
      { headers: etag ? { ...headers, 'if-none-match': etag } : headers },
      options.requestTimeoutMs,
      async (res) => {
        if (kind === 'list' && res.status === 200)
          cursor = ((await res.json()) as { nextCursor: string | null }).nextCursor;
        else await res.arrayBuffer();
        const answered = res.headers.get('etag');
        if (answered) etags.set(url, answered);
      },
    );
    onSample({ kind, ms: sample.ms, status: sample.status, atMs: sample.started - options.originMs });
    await sleep(Math.max(0, options.intervalMs - (performance.now() - sample.started)));
  }
}

/**
 * One creator: `POST /v1/rollouts` of `instanceIds(n)` (n = 0, 1, ...) for `userId`, with `force` and `concurrency`,
 * one per interval.
 */
export async function postRollouts(
  options: LoadClientOptions & {
    userId: string;
    /** The rollouts' `force`: with it, every NodeInstall call installs again, a retried one too. */
    force: boolean;
    concurrency: number;
    instanceIds: (n: number) => string[];
  },
  onSample: (sample: LoadSample & { rolloutId: string | null }) => void,
): Promise<void> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` };
  for (let n = 0; options.running(); n++) {
    let rolloutId: string | null = null;
    const body = JSON.stringify({
      userId: options.userId,
      instanceIds: options.instanceIds(n),
      force: options.force,
      concurrency: options.concurrency,
    });
    const sample = await timed(
      `${options.apiUrl}/v1/rollouts`,
      { method: 'POST', headers, body },
      options.requestTimeoutMs,
      async (res) => {
        const answer = (await res.json()) as { id?: string };
        if (res.status === 202) rolloutId = answer.id ?? null;
      },
    );
    onSample({ ms: sample.ms, status: sample.status, atMs: sample.started - options.originMs, rolloutId });
    await sleep(Math.max(0, options.intervalMs - (performance.now() - sample.started)));
  }
}
