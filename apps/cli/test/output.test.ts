import { describe, expect, it } from 'vitest';
import { renderTable } from '../src/fleet/output.ts';

const rows = [
  {
    id: 'i-aaaaaaaaaaaaaaaaaaaa',
    error: 'NoServerGuardAgent: the Server Guard agent is not installed on the instance',
  },
  { id: 'i-b', error: null },
];
const columns = [
  { header: 'instance', value: (r: (typeof rows)[number]) => r.id },
  { header: 'error', value: (r: (typeof rows)[number]) => r.error },
];

describe('renderTable', () => {
  it('aligns columns under upper-case headers, a missing value as -', () => {
    expect(renderTable(rows, columns, undefined).split('\n')).toEqual([
      'INSTANCE                ERROR',
      `i-aaaaaaaaaaaaaaaaaaaa  ${rows[0]!.error}`,
      'i-b                     -',
      '',
    ]);
  });

  it('cuts the widest column with an ellipsis so that no line is wider than the terminal', () => {
    const lines = renderTable(rows, columns, 50).trimEnd().split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(50);
    expect(lines[1]).toMatch(/^i-aaaaaaaaaaaaaaaaaaaa {2}NoServerGuardAgent.*…$/);
  });
});
