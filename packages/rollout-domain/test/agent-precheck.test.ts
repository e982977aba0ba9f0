import { describe, expect, it } from 'vitest';
import { decideAgentPrecheck } from '../src/index.ts';

describe('decideAgentPrecheck', () => {
  it('skips only an agent that runs', () => {
    expect(decideAgentPrecheck({ answered: true, status: 'running' })).toBe('skip');
    for (const status of ['not_installed', 'stopped', 'install_faild', 'installing', 'need_to_upgrade', 'unknown'])
      expect(decideAgentPrecheck({ answered: true, status })).toBe('install');
  });

  it('tells an instance CloudMonitor left out of its answer from one whose call failed', () => {
    expect(decideAgentPrecheck({ answered: true, status: null })).toBe('not_found');
    expect(decideAgentPrecheck({ answered: false, status: null })).toBe('unchecked');
  });
});
