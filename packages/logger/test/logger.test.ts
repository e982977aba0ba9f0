import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, withLogContext } from '../src/index.ts';

function capture(secrets: string[] = []) {
  const lines: string[] = [];
  const logger = createLogger({
    service: 'test',
    level: 'debug',
    secrets,
    stream: new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  return { logger, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), raw: () => lines.join('') };
}

const SECRET = 'kT9#secretValue-AccessKey';

describe('logger', () => {
  it('never writes the AccessKey secret, wherever it hides', () => {
    const { logger, raw } = capture([SECRET]);
    logger.info(`message with ${SECRET} inside`);
    logger.warn('nested', { request: { params: { AccessKeySecret: SECRET, other: `x${SECRET}y` } }, list: [SECRET] });
    logger.error('error object', { error: new Error(`failed with key ${SECRET}`, { cause: new Error(SECRET) }) });
    logger.info('by key name', { accessKeySecret: 'another-unknown-value', password: 'pw', token: 'tk' });
    const text = raw();
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('another-unknown-value');
    expect(text.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(7);
  });

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
