/**
 * The queue board at `/admin/queues`: bull-board over the install queue of every open rollout the caller's admin key
 * may see.
 *
 * Queues come and go with rollouts (one BullMQ queue per rollout, named by @fleet/queue), so the board's list is
 * refreshed from Postgres on each request of the page or its JSON API: a rollout that opened is added, one that
 * closed is removed (bull-board's replaceQueues). Concurrent requests of one board share the refresh in flight.
 *
 * Tenancy: bull-board serves whatever queues it was given, so there is one board per account scope (every account,
 * or one set of accounts), each with only its accounts' rollouts; a queue of another account is not on it, and
 * bull-board answers 404 for it like a queue that does not exist. Scopes are few (one per distinct set of accounts
 * of the admin keys in use).
 *
 * Read-only for everyone: pausing, retrying, cleaning or adding jobs here would change Redis behind the rollout's
 * back (no guarded write, no state change in Postgres); those actions are the `/v1` rollout routes. Every queue is
 * registered with bull-board's readOnlyMode, which answers 405 to each action.
 */
import type { RequestHandler } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Database } from '@fleet/db';
import { listOpenRolloutsOfAccounts } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { InstallQueue, RedisClient } from '@fleet/queue';
import { openInstallQueue } from '@fleet/queue';
import { requireAuth } from './http/auth.ts';
import { setContentSecurityPolicy } from './http/security-headers.ts';

export const QUEUE_BOARD_PATH = '/admin/queues';

/** bull-board's page loads its own scripts and styles (and sets inline styles); nothing from another origin. */
const BOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export type QueueBoardDeps = { db: Database; redis: RedisClient; logger: Logger; queuePrefix: string };

export type QueueBoard = {
  /** Mounted at QUEUE_BOARD_PATH, after authenticateAdmin (it reads `req.auth`). */
  handler: RequestHandler;
  /** Closes every queue the boards opened (not the Redis connection, which is the caller's). Idempotent. */
  close(): Promise<void>;
};

type ShownQueue = { queue: InstallQueue; adapter: BullMQAdapter };

type ScopeBoard = {
  userIds: readonly string[] | null;
  router: RequestHandler;
  replaceQueues: ReturnType<typeof createBullBoard>['replaceQueues'];
  shown: Map<string, ShownQueue>;
  refreshing: Promise<void> | undefined;
};

function makeScopeBoard(userIds: readonly string[] | null): ScopeBoard {
  const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
  const { replaceQueues } = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Fleet install queues' } },
  });
  return { userIds, router: serverAdapter.getRouter(), replaceQueues, shown: new Map(), refreshing: undefined };
}

async function refresh(deps: QueueBoardDeps, board: ScopeBoard): Promise<void> {
  const open = await listOpenRolloutsOfAccounts(deps.db, board.userIds);
  const openIds = new Set(open.map((rollout) => rollout.id));
  const closed = [...board.shown].filter(([rolloutId]) => !openIds.has(rolloutId));
  for (const [rolloutId] of closed) board.shown.delete(rolloutId);
  for (const rollout of open) {
    if (board.shown.has(rollout.id)) continue;
    const queue = openInstallQueue(
      deps.redis,
      rollout.id,
      deps.queuePrefix,
      deps.logger.child({ rolloutId: rollout.id }),
    );
    const adapter = new BullMQAdapter(queue, {
      readOnlyMode: true,
      allowRetries: false,
      description: `Rollout ${rollout.id} of account ${rollout.userId}`,
    });
    board.shown.set(rollout.id, { queue, adapter });
  }
  board.replaceQueues([...board.shown.values()].map((shown) => shown.adapter));
  // The queue objects only; the connection is shared and stays open.
  await Promise.allSettled(closed.map(([, shown]) => shown.queue.close()));
}

export function createQueueBoard(deps: QueueBoardDeps): QueueBoard {
  const boards = new Map<string, ScopeBoard>();
  const boardFor = (userIds: readonly string[] | null): ScopeBoard => {
    const scope = userIds === null ? '*' : [...userIds].sort().join(',');
    let board = boards.get(scope);
    if (!board) boards.set(scope, (board = makeScopeBoard(userIds)));
    return board;
  };
  return {
    handler: async (req, res, next) => {
      const principal = requireAuth(req);
      const board = boardFor(principal.allAccounts ? null : [...principal.userIds]);
      // Static files (scripts, styles, images) need no queue list.
      if (!req.path.startsWith('/static/')) {
        board.refreshing ??= refresh(deps, board).finally(() => (board.refreshing = undefined));
        await board.refreshing;
      }
      setContentSecurityPolicy(res, BOARD_CONTENT_SECURITY_POLICY);
      board.router(req, res, next);
    },
    async close() {
      const queues = [...boards.values()].flatMap((board) => [...board.shown.values()].map((shown) => shown.queue));
      for (const board of boards.values()) board.shown.clear();
      await Promise.allSettled(queues.map((queue) => queue.close()));
    },
  };
}
