import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * A Lua script called by its SHA-1 (EVALSHA): Redis keeps compiled scripts, so each call carries the hash instead of
 * the whole script, and Redis neither hashes nor looks up the text again. Only when Redis does not have it yet (first
 * call, or after a restart or SCRIPT FLUSH) is it sent whole with EVAL, which also loads it for the next calls.
 */
export function luaScript(
  source: string,
): (redis: Redis | Cluster, numberOfKeys: number, ...args: string[]) => Promise<unknown> {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (redis, numberOfKeys, ...args) => {
    try {
      return await redis.evalsha(sha, numberOfKeys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(source, numberOfKeys, ...args);
    }
  };
}
