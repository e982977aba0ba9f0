import type { RequestHandler } from 'express';
import type { RedisClient } from '@fleet/queue';
import { ApiError } from '@fleet/errors';
import type { Logger } from '@fleet/logger';
import { apiRateLimitKey } from '@fleet/queue';
import { requireAuth } from './auth.ts';

export type RateLimitOptions = {
  /** Requests one API key may make per window; 0 turns the limit off. */
  limit: number;
  /** Window length, in ms. Default 60,000. */
  windowMs?: number;
  /** Redis key prefix (the deployment's QUEUE_PREFIX), so several deployments can share one Redis. */
  prefix: string;
  /** Longest wait for Redis before letting the request through, in ms. Default 250. */
  timeoutMs?: number;
  /** Clock, in ms since the epoch; tests pass their own. */
  now?: () => number;
};

/** Counts one request in the key's current window; the first count of a window sets its expiry. */
const COUNT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/**
 * Per-key rate limit in a fixed window counted in Redis, so it holds across every API process. Over the limit:
 * 429 problem+json with `Retry-After` (seconds until the window ends). Every answer carries `RateLimit-Limit`,
 * `RateLimit-Remaining` and `RateLimit-Reset`.
 *
 * Redis unreachable or slow: the request goes through unlimited (fail open). Reads keep working while Redis is
 * away, and a POST that needs Redis answers 503 on its own check; refusing everything because the counter is
 * unavailable would turn a Redis outage into a full API outage.
 */
export function rateLimitPerKey(
  deps: { redis: RedisClient; logger: Logger },
  options: RateLimitOptions,
): RequestHandler {
  const windowMs = options.windowMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 250;
  const now = options.now ?? Date.now;
  let lastWarnedAt = 0;
  const warn = (message: string, error?: unknown) => {
    // One line per 10 s at most: while Redis is down, every request would otherwise log.
    if (now() - lastWarnedAt < 10_000) return;
    lastWarnedAt = now();
    deps.logger.warn(message, error === undefined ? {} : { error });
  };
  return async (req, res, next) => {
    if (options.limit <= 0) return next();
    const principal = requireAuth(req);
    if (deps.redis.status !== 'ready') {
      warn('rate limit not enforced: redis is not connected');
      return next();
    }
    const at = now();
    const window = Math.floor(at / windowMs);
    const resetMs = (window + 1) * windowMs - at;
    let count: number;
    let timer: NodeJS.Timeout | undefined;
    try {
      count = Number(
        await Promise.race([
          deps.redis.eval(
            COUNT_SCRIPT,
            1,
            apiRateLimitKey(options.prefix, principal.keyId, window),
            String(windowMs * 2),
          ),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`rate limit counter did not answer within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]),
      );
    } catch (error) {
      warn('rate limit not enforced: redis failed', error);
      return next();
    } finally {
      clearTimeout(timer);
    }
    const resetSeconds = Math.max(1, Math.ceil(resetMs / 1000));
    res.setHeader('RateLimit-Limit', String(options.limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, options.limit - count)));
    res.setHeader('RateLimit-Reset', String(resetSeconds));
    if (count > options.limit) {
      res.setHeader('Retry-After', String(resetSeconds));
      deps.logger.info('rate limit exceeded', { keyPrefix: principal.keyPrefix, limit: options.limit, windowMs });
      throw new ApiError(
        429,
        'rate_limited',
        'Too many requests',
        `This API key may make ${options.limit} requests per ${windowMs / 1000} s; retry after ${resetSeconds} s`,
      );
    }
    next();
  };
}
