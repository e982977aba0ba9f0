import pg from 'pg';

/**
 * One dedicated Postgres connection that LISTENs on a channel, outside every pool: a LISTEN lives as long as its
 * session, and a pooled connection is handed to other queries and closed when idle. An API process holds one of these
 * and fans each notification out to its many stream clients (apps/api/src/event-stream/), so 200 clients cost one
 * connection, not 200.
 *
 * A lost connection (Postgres restarted, the backend terminated, the network cut) is re-opened with a capped backoff
 * and LISTENs again; `onListening` is called after every successful LISTEN (the first and each re-listen) so the
 * caller can catch up by id on whatever was notified while nobody listened: NOTIFY is not queued for a session that
 * is not there.
 */
export type EventListener = {
  /** Opens the connection and LISTENs (resolves once listening). Idempotent; later calls wait for the first. */
  start(): Promise<void>;
  /** True while the connection is up and listening. */
  isListening(): boolean;
  /** The listening session's backend pid (pg_stat_activity.pid), null while not connected. */
  backendPid(): number | null;
  /** Ends the connection and stops re-connecting. Idempotent. */
  stop(): Promise<void>;
};

export type EventListenerOptions = {
  /** postgresql:// URL of the system of record. */
  url: string;
  /** The channel to LISTEN on (an identifier: letters, digits, underscores). */
  channel: string;
  /** Called with each notification's payload (the empty string when it has none). */
  onNotification: (payload: string) => void;
  /** Called after each LISTEN succeeds, the first time and after every re-connect. */
  onListening?: () => void;
  /** Called when the connection fails or is lost; it is re-opened after a delay. */
  onConnectionLost?: (error: Error) => void;
  /** `application_name` of the session. */
  applicationName?: string;
  /** First re-connect delay, in ms; doubled each failure up to `maxReconnectDelayMs`. Default 250. */
  reconnectDelayMs?: number;
  /** Longest re-connect delay, in ms. Default 5000. */
  maxReconnectDelayMs?: number;
  /** How long to wait for a connection before counting the attempt failed, in ms. Default 5000. */
  connectionTimeoutMs?: number;
};

const CHANNEL = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function createEventListener(options: EventListenerOptions): EventListener {
  if (!CHANNEL.test(options.channel)) throw new Error(`not a channel name: ${JSON.stringify(options.channel)}`);
  const firstDelay = options.reconnectDelayMs ?? 250;
  const maxDelay = options.maxReconnectDelayMs ?? 5000;
  let client: pg.Client | null = null;
  let listening = false;
  let pid: number | null = null;
  let stopped = false;
  let delay = firstDelay;
  let retryTimer: NodeJS.Timeout | undefined;
  let started: Promise<void> | undefined;
  let resolveFirst: (() => void) | undefined;

  const lost = (failed: pg.Client, error: Error) => {
    if (client !== failed) return;
    client = null;
    listening = false;
    pid = null;
    failed.removeAllListeners('notification');
    failed.end().catch(() => undefined);
    if (stopped) return;
    options.onConnectionLost?.(error);
    retryTimer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, maxDelay);
  };

  const connect = () => {
    retryTimer = undefined;
    if (stopped) return;
    const next = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
    });
    client = next;
    next.on('error', (error) => lost(next, error));
    next.on('end', () => lost(next, new Error('the listen connection ended')));
    next.on('notification', (message) => {
      if (message.channel === options.channel) options.onNotification(message.payload ?? '');
    });
    next
      .connect()
      .then(() => next.query(`LISTEN ${options.channel}`))
      .then(() => next.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
      .then((result) => {
        if (client !== next) return;
        listening = true;
        pid = result.rows[0]?.pid ?? null;
        delay = firstDelay;
        resolveFirst?.();
        resolveFirst = undefined;
        options.onListening?.();
      })
      .catch((error: unknown) => lost(next, error instanceof Error ? error : new Error(String(error))));
  };

  return {
    start() {
      started ??= new Promise<void>((resolve) => {
        resolveFirst = resolve;
        connect();
      });
      return started;
    },
    isListening: () => listening,
    backendPid: () => pid,
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      // A start() still waiting for its first LISTEN must not hang its caller.
      resolveFirst?.();
      resolveFirst = undefined;
      const current = client;
      client = null;
      listening = false;
      pid = null;
      if (!current) return;
      // end() waits for the socket's 'end', which never comes again for a connection that already went away.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        current.end().catch(() => undefined),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000))),
      ]);
      clearTimeout(timer);
      current.connection?.stream?.destroy();
    },
  };
}
