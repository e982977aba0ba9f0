import { describe, expect, it } from 'vitest';
import { instanceIds } from '../src/index.ts';

describe('instanceIds', () => {
  it('makes count distinct ids, each the prefix and five base-36 digits', () => {
    const ids = instanceIds(40_000, 'i-t');
    expect(ids).toHaveLength(40_000);
    expect(new Set(ids).size).toBe(40_000);
    expect(ids.slice(0, 2)).toEqual(['i-t00000', 'i-t00001']);
    expect(ids[36]).toBe('i-t00010');
    for (const id of ids) expect(id).toMatch(/^i-t[0-9a-z]{5}$/);
  });

  it('gives the same ids on every call, so seeded simulator fates repeat', () => {
    expect(instanceIds(100, 'i-s')).toEqual(instanceIds(100, 'i-s'));
  });
});
