import { describe, expect, it } from 'vitest';
import { localUrl, readySummary, readySummaryLines } from '../src/ready-summary.ts';

describe('readySummary', () => {
  it('names the key file relative to the current directory when inside it, with the shell line that reads it', () => {
    const summary = readySummary({
      api: { host: '0.0.0.0', port: 3000 },
      simulator: { host: '127.0.0.1', port: 8787 },
      keyFile: '/home/op/fleet/.fleet/admin-key',
      cwd: '/home/op/fleet',
    });
    expect(summary).toEqual({
      apiUrl: 'http://127.0.0.1:3000',
      consoleUrl: 'http://127.0.0.1:3000/',
      docsUrl: 'http://127.0.0.1:3000/docs',
      openapiUrl: 'http://127.0.0.1:3000/openapi.json',
      simulatorUrl: 'http://127.0.0.1:8787/',
      keyFile: '.fleet/admin-key',
      useKey: 'KEY=$(cat .fleet/admin-key)',
    });
    expect(readySummaryLines(summary).join('\n')).toContain(
      'curl -H "Authorization: Bearer $KEY" http://127.0.0.1:3000/v1/rollouts',
    );
  });

  it('keeps a key file outside the current directory absolute, and quotes a path the shell would split', () => {
    const summary = readySummary({ keyFile: "/srv/fleet keys/it's", cwd: '/home/op/fleet' });
    expect(summary).toEqual({ keyFile: "/srv/fleet keys/it's", useKey: `KEY=$(cat '/srv/fleet keys/it'\\''s')` });
    expect(readySummaryLines(summary).join('\n')).not.toContain('API');
  });

  it('gives the loopback URL of a server listening on every interface', () => {
    expect(localUrl('0.0.0.0', 3000)).toBe('http://127.0.0.1:3000');
    expect(localUrl('::', 3000)).toBe('http://127.0.0.1:3000');
    expect(localUrl('::1', 3000)).toBe('http://[::1]:3000');
    expect(localUrl('10.1.2.3', 80)).toBe('http://10.1.2.3:80');
  });
});
