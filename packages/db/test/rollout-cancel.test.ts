import { describe, expect, it } from 'vitest';
import { instanceIds } from '@fleet/testing';
import type { EventSource } from '@fleet/rollout-domain';
import { useTestDatabase } from './support.ts';
import { countInstances, insertRollout, listEvents, transitionRollout } from '../src/index.ts';
import type { Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 4 }, (opened) => (db = opened));

const OPERATOR: EventSource = {
  actor: { kind: 'api_key', id: '00000000-0000-4000-8000-00000000000b', name: 'on-call' },
  requestId: 'req-cancel',
};

describe('cancelling a large rollout', () => {
  // Found by the fleet CLI test: the cancel of a 100,000-instance rollout ran past the 5 s a Prisma interactive
  // transaction is given by default on a loaded machine, and the API answered 500.
  it('cancels every pending instance of 100,000 in the transaction of the status change, with its event', async () => {
    const { rollout } = await insertRollout(db, {
      userId: '1234567898765432',
      force: false,
      concurrency: 1,
      maxAttempts: 1,
      policy: {},
      instanceIds: instanceIds(100_000, 'i-cx'),
    });
    const started = Date.now();
    const result = await transitionRollout(
      db,
      rollout.id,
      { type: 'cancel', reason: 'change freeze' },
      { by: OPERATOR },
    );
    console.info(`cancel of 100,000 pending instances took ${Date.now() - started} ms`);
    expect(result).toMatchObject({ kind: 'changed', to: 'cancelled', rollout: { statusReason: 'change freeze' } });
    const counts = await countInstances(db, rollout.id);
    expect(counts).toMatchObject({ pending: 0, cancelled: 100_000 });
    const events = await listEvents(db, { rolloutId: rollout.id, limit: 10 });
    expect(events.events.map((event) => event.type)).toContain('rollout.cancelled');
  }, 120_000);
});
