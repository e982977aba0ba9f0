import { describe, expect, it } from 'vitest';
import type { Database } from '../src/index.ts';
import { SEALED_COLUMNS } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 2 }, (opened) => (db = opened));

describe('SEALED_COLUMNS', () => {
  it('names text columns that exist, with their keys and the columns their contexts are made of', async () => {
    expect(SEALED_COLUMNS.length).toBeGreaterThan(0);
    for (const sealed of SEALED_COLUMNS) {
      const { rows } = await db.pool.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1`,
        [sealed.table],
      );
      const types = new Map(rows.map((r) => [r.column_name, r.data_type]));
      expect(types.get(sealed.column), `${sealed.table}.${sealed.column}`).toBe('text');
      expect(types.has(sealed.key), `${sealed.table}.${sealed.key}`).toBe(true);
      for (const column of sealed.contextColumns) expect(types.has(column), `${sealed.table}.${column}`).toBe(true);
    }
  });

  it("seals a webhook's signing and robot secrets under the contexts the API and the notifier use", () => {
    const contexts = SEALED_COLUMNS.filter((s) => s.table === 'webhook').map((s) => [
      s.column,
      s.context({ id: 'w1' }),
    ]);
    expect(contexts).toEqual([
      ['secret_sealed', 'webhook:w1:secret'],
      ['previous_secret_sealed', 'webhook:w1:secret'],
      ['robot_secret_sealed', 'webhook:w1:robotSecret'],
    ]);
  });
});
