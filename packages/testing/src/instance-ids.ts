/**
 * `count` distinct ECS-style instance ids: `prefix` then the index in base 36, five digits (60 million ids before
 * the width grows). A test picks its own prefix so that its ids are its own (and the simulator's seeded fates of
 * them stay the same from run to run).
 */
export function instanceIds(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i.toString(36).padStart(5, '0')}`);
}
