import { describe, expect, it } from 'vitest';
import { capturingLogger } from '../src/index.ts';

describe('capturingLogger', () => {
  it('keeps every line the logger wrote, raw and parsed, at debug level by default', () => {
    const { logger, lines, entries } = capturingLogger({ service: 'capture-test' });
    logger.debug('first', { rolloutId: 'r-1' });
    logger.warn('second');
    expect(lines).toHaveLength(2);
    expect(entries()).toMatchObject([
      { level: 'debug', message: 'first', service: 'capture-test', rolloutId: 'r-1' },
      { level: 'warn', message: 'second', service: 'capture-test' },
    ]);
  });

  it("redacts the secrets it is given, as the product's logger does", () => {
    const secret = 'capture-test-secret-Zq81';
    const { logger, lines } = capturingLogger({ service: 'capture-test', secrets: [secret] });
    logger.info(`signing with ${secret}`, { accessKeySecret: secret });
    expect(lines.join('')).not.toContain(secret);
  });

  it('honours a level: lines below it are not written', () => {
    const { logger, lines } = capturingLogger({ service: 'capture-test', level: 'info' });
    logger.debug('hidden');
    logger.info('shown');
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(['shown']);
  });
});
