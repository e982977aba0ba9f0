import { describe, expect, it } from 'vitest';
import { DEFAULT_SEND_THREAD_NICE, sendThreadNice, sendThreadPriorityLog } from '../src/send-thread-priority.ts';

describe("the send thread's priority", () => {
  it('asks for -10 when SEND_THREAD_NICE is unset, and for what it says when set', () => {
    expect(DEFAULT_SEND_THREAD_NICE).toBe(-10);
    expect(sendThreadNice(undefined)).toBe(-10);
    expect(sendThreadNice(0)).toBe(0);
    expect(sendThreadNice(5)).toBe(5);
  });

  it('logs the nice value it got; a refusal of the default at info level, of an asked value as a warning', () => {
    expect(sendThreadPriorityLog({ nice: -10, asked: -10, refusal: null }, undefined)).toEqual({
      level: 'info',
      message: 'send thread ready',
      fields: { nice: -10 },
    });
    const refused = { nice: 0, asked: -10, refusal: 'EACCES: permission denied' };
    expect(sendThreadPriorityLog(refused, undefined)).toMatchObject({
      level: 'info',
      message: expect.stringContaining('raising it was refused'),
      fields: { nice: 0, asked: -10, refusal: 'EACCES: permission denied' },
    });
    expect(sendThreadPriorityLog(refused, -10)).toMatchObject({
      level: 'warn',
      message: expect.stringContaining('not the one asked'),
      fields: { nice: 0, asked: -10, refusal: 'EACCES: permission denied' },
    });
  });
});
