import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chooseLogOutput, createLogger, withLogContext } from '../src/index.ts';
import type { LogFormat } from '../src/index.ts';

function capture(secrets: string[] = [], options: { format?: LogFormat; color?: boolean } = {}) {
  const lines: string[] = [];
  const logger = createLogger({
    service: 'test',
    level: 'debug',
    secrets,
    ...options,
    stream: new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  return {
    logger,
    lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    texts: () => lines.map((l) => l.replace(/\n$/, '')),
    raw: () => lines.join(''),
  };
}

const SECRET = 'kT9#secretValue-AccessKey';

describe.each(['json', 'pretty'] as const)('logger, %s lines', (format) => {
  it('never writes the AccessKey secret, wherever it hides', () => {
    const { logger, raw } = capture([SECRET], { format });
    logger.info(`message with ${SECRET} inside`);
    logger.warn('nested', { request: { params: { AccessKeySecret: SECRET, other: `x${SECRET}y` } }, list: [SECRET] });
    logger.error('error object', { error: new Error(`failed with key ${SECRET}`, { cause: new Error(SECRET) }) });
    logger.info('by key name', { accessKeySecret: 'another-unknown-value', password: 'pw', token: 'tk' });
    const text = raw();
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('another-unknown-value');
    expect(text.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(7);
  });
});

describe('logger, settings about a secret', () => {
  it('shows a duration, a version or a file path whose name mentions a secret, and still hides the secrets', () => {
    const { logger, lines } = capture();
    const config = {
      API_KEY_CACHE_MS: 5000,
      CMS_SIGNATURE_VERSION: '1.0',
      FLEET_ENCRYPTION_KEY_FILE: '/run/secrets/fleet-key',
      signatureVersion: '1.0',
      FLEET_ADMIN_API_KEY: 'admin-key-value',
      CMS_SECURITY_TOKEN: 'sts-token-value',
      signature: 'sig-value',
    };
    logger.info('starting', { config });
    expect(lines()[0]!.config).toEqual({
      API_KEY_CACHE_MS: 5000,
      CMS_SIGNATURE_VERSION: '1.0',
      FLEET_ENCRYPTION_KEY_FILE: '/run/secrets/fleet-key',
      signatureVersion: '1.0',
      FLEET_ADMIN_API_KEY: '[redacted]',
      CMS_SECURITY_TOKEN: '[redacted]',
      signature: '[redacted]',
    });
  });
});

describe('logger, json lines', () => {
  it('writes JSON lines carrying the context of the operation across awaits', async () => {
    const { logger, lines } = capture();
    await withLogContext({ requestId: 'req-1', rolloutId: 'r-1' }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      await withLogContext({ instanceId: 'i-abc' }, async () => logger.info('inside'));
    });
    logger.info('outside');
    const [inside, outside] = lines();
    expect(inside).toMatchObject({
      message: 'inside',
      service: 'test',
      requestId: 'req-1',
      rolloutId: 'r-1',
      instanceId: 'i-abc',
      level: 'info',
    });
    expect(outside!.requestId).toBeUndefined();
  });
});

describe('logger, pretty lines', () => {
  const TIME = /^\d\d:\d\d:\d\d\.\d{3} /;

  it('writes one line an entry: time, app, level, message, then the context and other fields as k=v', async () => {
    const { logger, texts } = capture([], { format: 'pretty' });
    await withLogContext({ requestId: 'req-1', rolloutId: 'r-1' }, async () =>
      logger.info('rollout paused', { by: 'key 42', waves: [1, 2], done: false }),
    );
    const [line] = texts();
    expect(line).toMatch(TIME);
    expect(line!.slice(13)).toBe(
      'test       info  rollout paused rolloutId=r-1 requestId=req-1 by="key 42" waves=[1,2] done=false',
    );
  });

  it('shows an error by its message and code, keeps a multi-line message on one line, and writes no colour unless asked', () => {
    const { logger, texts } = capture([], { format: 'pretty' });
    logger.error('call failed', {
      error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    });
    logger.warn('two\nlines');
    const [error, warn] = texts();
    expect(error!.slice(13)).toBe(
      'test       error call failed error="connect ECONNREFUSED 127.0.0.1:5432" errorCode=ECONNREFUSED',
    );
    expect(warn!.slice(13)).toBe('test       warn  two\\nlines');
    expect(texts().join('')).not.toContain('\u001b[');
  });

  it('colours the level, and only the level, when color is set', () => {
    const { logger, texts } = capture([], { format: 'pretty', color: true });
    logger.error('bad');
    logger.info('fine');
    expect(texts()[0]!.slice(13)).toBe('test       \u001b[31merror\u001b[39m bad');
    expect(texts()[1]!.slice(13)).toBe('test       \u001b[32minfo \u001b[39m fine');
  });

  it('never colours JSON lines', () => {
    const { logger, raw } = capture([], { format: 'json', color: true });
    logger.error('bad');
    expect(raw()).not.toContain('\u001b[');
  });
});

describe('chooseLogOutput', () => {
  it.each([
    [
      { format: undefined, stdoutIsTTY: true, noColor: false },
      { format: 'pretty', color: true },
    ],
    [
      { format: undefined, stdoutIsTTY: false, noColor: false },
      { format: 'json', color: false },
    ],
    [
      { format: undefined, stdoutIsTTY: true, noColor: true },
      { format: 'pretty', color: false },
    ],
    [
      { format: 'json', stdoutIsTTY: true, noColor: false },
      { format: 'json', color: false },
    ],
    [
      { format: 'pretty', stdoutIsTTY: false, noColor: false },
      { format: 'pretty', color: false },
    ],
  ] as const)('%o gives %o', (input, expected) => {
    expect(chooseLogOutput(input)).toEqual(expected);
  });
});
