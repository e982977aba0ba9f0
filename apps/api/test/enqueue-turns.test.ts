import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { InTurn } from '../src/enqueue-thread/enqueue-turns.ts';
import { createEnqueueTurns } from '../src/enqueue-thread/enqueue-turns.ts';

/** A rollout's pages as the database hands them over: `count` pages, each a turn of the event loop to read. */
async function* pagesOf(rollout: string, count: number): AsyncGenerator<string[], void, void> {
  for (let page = 1; page <= count; page++) {
    await tick();
    yield [`${rollout}:${page}`];
  }
}

/** An enqueue as the thread runs one: every page handed over (a turn of the loop each), noted in `sent`. */
function enqueueInto(sent: string[], rollout: string, pages: number) {
  return async (inTurn: InTurn) => {
    for await (const page of inTurn(pagesOf(rollout, pages))) {
      sent.push(...page);
      await tick();
    }
    return rollout;
  };
}

const pageNo = (sent: string) => Number(sent.split(':')[1]);

describe('the enqueue thread’s turns', () => {
  it('sends every rollout’s first page before the large pages of those posted before it, two of them going on at a time', async () => {
    const turns = createEnqueueTurns({ firstPagesAtOnce: 32, enqueuesAtOnce: 2 });
    const sent: string[] = [];
    const rollouts = ['a', 'b', 'c', 'd', 'e', 'f'];
    const done = Promise.all(rollouts.map((r) => turns.run(enqueueInto(sent, r, 4))));
    expect(turns.pending()).toBe(6);
    expect(await done).toEqual(rollouts);
    expect(turns.pending()).toBe(0);
    expect(sent).toHaveLength(24);
    // All six first pages, then the rest: no rollout waited for a whole wave of another to get its first jobs.
    expect(sent.slice(0, 6).map(pageNo)).toEqual([1, 1, 1, 1, 1, 1]);
    // Past the first page, two rollouts side by side, in the order their first pages went: a and b, then c and d...
    const later = sent.slice(6).map((s) => s.split(':')[0]);
    expect(later.slice(0, 6).sort()).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
    expect(later.slice(6, 12).sort()).toEqual(['c', 'c', 'c', 'd', 'd', 'd']);
    expect(later.slice(12).sort()).toEqual(['e', 'e', 'e', 'f', 'f', 'f']);
  });

  it('starts at most firstPagesAtOnce at once, and the next as soon as one has sent its first page, not its last', async () => {
    const turns = createEnqueueTurns({ firstPagesAtOnce: 2, enqueuesAtOnce: 1 });
    const sent: string[] = [];
    await Promise.all(['a', 'b', 'c'].map((r) => turns.run(enqueueInto(sent, r, 3))));
    // c starts once a has passed its first page: its first page goes before a's last.
    expect(sent.indexOf('c:1')).toBeLessThan(sent.indexOf('a:3'));
    expect(sent.indexOf('c:1')).toBeGreaterThan(sent.indexOf('a:1'));
    expect(sent).toHaveLength(9);
  });

  it('gives its places back when an enqueue fails, so the others go on; one page alone needs no turn', async () => {
    const turns = createEnqueueTurns({ firstPagesAtOnce: 1, enqueuesAtOnce: 1 });
    const sent: string[] = [];
    const failing = turns.run(async (inTurn) => {
      for await (const page of inTurn(pagesOf('x', 3))) {
        sent.push(...page);
        if (pageNo(page[0]!) === 2) throw new Error('Redis went away');
      }
    });
    const single = turns.run(enqueueInto(sent, 'y', 1));
    const after = turns.run(enqueueInto(sent, 'z', 2));
    await expect(failing).rejects.toThrow('Redis went away');
    expect(await single).toBe('y');
    expect(await after).toBe('z');
    expect(sent).toEqual(['x:1', 'y:1', 'x:2', 'z:1', 'z:2']);
    expect(turns.pending()).toBe(0);
  });
});
