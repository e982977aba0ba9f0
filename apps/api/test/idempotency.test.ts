import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const body = (ids: string[]) => ({ userId: USER_ID, instanceIds: ids, concurrency: 5 });

async function rolloutCount() {
  return api.db.prisma.rollout.count();
}

describe('Idempotency-Key on POST /v1/rollouts', () => {
  it('the same key and body return the original rollout, marked as replayed, and create nothing more', async () => {
    const first = await api.request('POST', '/v1/rollouts', body(['i-idem1', 'i-idem2', 'i-idem1']), {
      'idempotency-key': 'deploy-2024-06-01-a',
    });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const count = await rolloutCount();
    // Same body with keys in another order: the same request.
    const again = await api.request(
      'POST',
      '/v1/rollouts',
      JSON.stringify({ concurrency: 5, instanceIds: ['i-idem1', 'i-idem2', 'i-idem1'], userId: USER_ID }),
      {
        'content-type': 'application/json',
        'idempotency-key': 'deploy-2024-06-01-a',
      },
    );
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(`/v1/rollouts/${first.body.id}`);
    expect(again.body).toMatchObject({ id: first.body.id, duplicatesRemoved: 1, counts: { total: 2 } });
    expect(await rolloutCount()).toBe(count);
    const record = await api.db.prisma.idempotencyRecord.findFirstOrThrow({ where: { key: 'deploy-2024-06-01-a' } });
    expect(record).toMatchObject({ resourceId: first.body.id, status: 202 });
  });

  it('the same key with another body answers 422 problem+json and creates nothing', async () => {
    const first = await api.request('POST', '/v1/rollouts', body(['i-idem3']), { 'idempotency-key': 'k-422' });
    expect(first.status).toBe(202);
    const count = await rolloutCount();
    const other = await api.request('POST', '/v1/rollouts', body(['i-idem4']), { 'idempotency-key': 'k-422' });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(other.body).toMatchObject({ code: 'idempotency_key_reused', errors: [{ field: 'Idempotency-Key' }] });
    expect(await rolloutCount()).toBe(count);
  });

  it('ten concurrent requests with one key create exactly one rollout, and all answer it', async () => {
    const count = await rolloutCount();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        api.request('POST', '/v1/rollouts', body(['i-race1', 'i-race2']), { 'idempotency-key': 'race-1' }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(202));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    expect(await rolloutCount()).toBe(count + 1);
    expect(await api.db.prisma.rolloutInstance.count({ where: { rolloutId: answers[0]!.body.id } })).toBe(2);
  });

  it('concurrent requests with one key and different bodies: one rollout, the others 422', async () => {
    const count = await rolloutCount();
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        api.request('POST', '/v1/rollouts', body([`i-racediff${i}`]), { 'idempotency-key': 'race-2' }),
      ),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 422)).toHaveLength(5);
    expect(await rolloutCount()).toBe(count + 1);
  });

  it('keys are per API key: another key may use the same Idempotency-Key for its own rollout', async () => {
    const other = await api.createKey('operator', [USER_ID]);
    const mine = await api.request('POST', '/v1/rollouts', body(['i-scope1']), { 'idempotency-key': 'shared-name' });
    const theirs = await api.requestAs(other.key, 'POST', '/v1/rollouts', body(['i-scope1']), {
      'idempotency-key': 'shared-name',
    });
    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it('a refused request records no key: after fixing the body, the same key creates the rollout', async () => {
    const bad = await api.request(
      'POST',
      '/v1/rollouts',
      { userId: USER_ID, instanceIds: ['NOT-AN-ID'] },
      { 'idempotency-key': 'fix-then-retry' },
    );
    expect(bad.status).toBe(400);
    expect(await api.db.prisma.idempotencyRecord.count({ where: { key: 'fix-then-retry' } })).toBe(0);
    const good = await api.request('POST', '/v1/rollouts', body(['i-fixed1']), { 'idempotency-key': 'fix-then-retry' });
    expect(good.status).toBe(202);
    expect(good.headers.get('idempotent-replayed')).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['with a space', 'two words'],
    ['256 characters', 'k'.repeat(256)],
    ['with a non-ASCII character', 'clé'],
    ['with a tab', 'a\tb'],
  ])('refuses an Idempotency-Key %s with 400 naming the header, and writes nothing', async (_name, value) => {
    const count = await rolloutCount();
    const res = await api.request('POST', '/v1/rollouts', body(['i-badkey1']), { 'idempotency-key': value });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('Idempotency-Key');
    expect(await rolloutCount()).toBe(count);
  });

  it('accepts a 255-character key of visible ASCII', async () => {
    const key = Array.from({ length: 255 }, (_, i) => String.fromCharCode(0x21 + (i % 94))).join('');
    const res = await api.request('POST', '/v1/rollouts', body(['i-longkey1']), { 'idempotency-key': key });
    expect(res.status).toBe(202);
  });

  it('replays while Redis is down (nothing new to enqueue), and a new key then answers 503 and writes nothing', async () => {
    const first = await api.request('POST', '/v1/rollouts', body(['i-redisdown1']), {
      'idempotency-key': 'before-outage',
    });
    expect(first.status).toBe(202);
    const down = await startApi({ sharedWith: api, redisUrl: 'redis://127.0.0.1:1' });
    try {
      const count = await rolloutCount();
      const replay = await down.request('POST', '/v1/rollouts', body(['i-redisdown1']), {
        'idempotency-key': 'before-outage',
      });
      expect(replay.status).toBe(202);
      expect(replay.body.id).toBe(first.body.id);
      const fresh = await down.request('POST', '/v1/rollouts', body(['i-redisdown2']), {
        'idempotency-key': 'during-outage',
      });
      expect(fresh.status).toBe(503);
      expect(fresh.body.code).toBe('redis_unavailable');
      expect(await rolloutCount()).toBe(count);
      expect(await api.db.prisma.idempotencyRecord.count({ where: { key: 'during-outage' } })).toBe(0);
    } finally {
      await down.close();
    }
  });
});
