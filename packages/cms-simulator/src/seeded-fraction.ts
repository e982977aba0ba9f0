import { createHash } from 'node:crypto';

/**
 * A uniform fraction in [0, 1) from a text: the top 53 bits of its sha256. Every seeded decision of the simulator
 * (instance fates, per-request faults) comes from here, so a seed means the same thing wherever it is used.
 */
export function seededFraction(text: string): number {
  const digest = createHash('sha256').update(text, 'utf8').digest();
  // 53 bits so the division is exact in a double and the result is strictly below 1 (a rate of 1 hits every draw).
  return Number(digest.readBigUInt64BE(0) >> 11n) / 2 ** 53;
}
