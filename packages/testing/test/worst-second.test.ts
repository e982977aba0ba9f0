import { describe, expect, it } from 'vitest';
import { worstSecond } from '../src/index.ts';

describe('worstSecond', () => {
  it('counts the most times within any window [t, t + 1000) ms, whatever their order', () => {
    expect(worstSecond([])).toBe(0);
    expect(worstSecond([5])).toBe(1);
    // [400, 1400) holds 400, 999, 1000 and 1100; 1999 shares no window with 999.
    expect(worstSecond([1999, 0, 1000, 400, 1100, 999])).toBe(4);
    expect(worstSecond([0, 1000, 2000, 3000])).toBe(1);
    expect(worstSecond([7, 7, 7])).toBe(3);
  });
});
