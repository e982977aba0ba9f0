import { describe, expect, it } from 'vitest';
import {
  CURRENT_MANUAL_FLAG_STATUSES,
  decideManualFlag,
  isFinalManualFlagStatus,
  MANUAL_FLAG_STATUSES,
  manualFlagStatusesAllowing,
} from '../src/index.ts';
import type { ManualFlagEvent, ManualFlagStatus } from '../src/index.ts';

const EVENTS: ManualFlagEvent[] = [
  { type: 'acknowledge' },
  { type: 'resolve' },
  { type: 'close' },
  { type: 'reverify_passed' },
  { type: 'reverify_failed' },
  { type: 'needed_again' },
];

describe('manual-install flag state machine', () => {
  it('follows the documented transitions for every status and event', () => {
    const table = Object.fromEntries(
      MANUAL_FLAG_STATUSES.map((status) => [
        status,
        Object.fromEntries(
          EVENTS.map((event) => {
            const d = decideManualFlag(status, event);
            return [event.type, d.type === 'transition' ? `${d.to} (${d.action})` : d.type];
          }),
        ),
      ]),
    );
    expect(table).toEqual({
      open: {
        acknowledge: 'acknowledged (acknowledged)',
        resolve: 'resolved (resolved)',
        close: 'closed (closed)',
        reverify_passed: 'ignore',
        reverify_failed: 'ignore',
        needed_again: 'open (reflagged)',
      },
      acknowledged: {
        acknowledge: 'unchanged',
        resolve: 'resolved (resolved)',
        close: 'closed (closed)',
        reverify_passed: 'ignore',
        reverify_failed: 'ignore',
        needed_again: 'acknowledged (reflagged)',
      },
      resolved: {
        acknowledge: 'refuse',
        resolve: 'unchanged',
        close: 'closed (closed)',
        reverify_passed: 'resolved (reverified)',
        reverify_failed: 'open (reopened)',
        needed_again: 'open (reopened)',
      },
      closed: {
        acknowledge: 'refuse',
        resolve: 'refuse',
        close: 'unchanged',
        reverify_passed: 'ignore',
        reverify_failed: 'ignore',
        needed_again: 'ignore',
      },
    });
  });

  it('never leaves closed, the only final status', () => {
    for (const event of EVENTS) expect(decideManualFlag('closed', event).type).not.toBe('transition');
    expect(MANUAL_FLAG_STATUSES.filter(isFinalManualFlagStatus)).toEqual(['closed']);
  });

  it("keeps a host's current flag through a later rollout's failure, except a closed one, which a new flag replaces", () => {
    expect(CURRENT_MANUAL_FLAG_STATUSES).toEqual(['open', 'acknowledged', 'resolved']);
    expect(manualFlagStatusesAllowing({ type: 'needed_again' })).toEqual(CURRENT_MANUAL_FLAG_STATUSES);
    expect(decideManualFlag('closed', { type: 'needed_again' })).toMatchObject({ type: 'ignore' });
  });

  it('names the statuses each event may move a flag from (the guard of the write)', () => {
    expect(manualFlagStatusesAllowing({ type: 'acknowledge' })).toEqual(['open']);
    expect(manualFlagStatusesAllowing({ type: 'resolve' })).toEqual(['open', 'acknowledged']);
    expect(manualFlagStatusesAllowing({ type: 'close' })).toEqual(['open', 'acknowledged', 'resolved']);
    expect(manualFlagStatusesAllowing({ type: 'reverify_failed' })).toEqual(['resolved']);
  });

  it('explains a refusal with the status it came from', () => {
    expect(decideManualFlag('closed' as ManualFlagStatus, { type: 'resolve' })).toEqual({
      type: 'refuse',
      status: 'closed',
      reason: 'a closed flag cannot be resolved',
    });
  });
});
