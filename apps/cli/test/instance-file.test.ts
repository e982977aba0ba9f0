import { describe, expect, it } from 'vitest';
import { detectFormat, parseInstanceFile } from '../src/fleet/instance-file.ts';

describe('parseInstanceFile', () => {
  it('reads plain text, leaving out comments and blank lines, and numbers bad ids by their line', () => {
    const parsed = parseInstanceFile('ids', '# hosts\ni-abc\n\n  i-def   # web\nI-BAD\r\ni-ghi\n');
    expect(parsed).toEqual({
      format: 'text',
      instanceIds: ['i-abc', 'i-def', 'i-ghi'],
      bad: [{ line: 5, value: 'I-BAD' }],
    });
  });

  it('reads the instance_id or InstanceId column of a CSV, quoted cells included, with the file line of each', () => {
    const parsed = parseInstanceFile('x.csv', 'Name,InstanceId\r\n"web, main",i-abc\r\n\r\ndb,i_bad\r\n');
    expect(parsed).toEqual({ format: 'csv', instanceIds: ['i-abc'], bad: [{ line: 4, value: 'i_bad' }] });
    expect(parseInstanceFile('x.csv', 'instance_id\ni-one\n').instanceIds).toEqual(['i-one']);
    expect(() => parseInstanceFile('x.csv', 'name,zone\na,b\n')).toThrow(/instance_id or InstanceId column/);
  });

  it('reads a JSON array or { instanceIds }, numbering bad ids by the line they are on', () => {
    expect(parseInstanceFile('a.json', '[\n "i-a",\n 7,\n "BAD"\n]').bad).toEqual([
      { line: 0, value: '7' },
      { line: 4, value: 'BAD' },
    ]);
    const object = parseInstanceFile('o.json', '{\n "name": "x",\n "instanceIds": [\n  "i-a",\n  "nope"\n ]\n}');
    expect(object).toEqual({ format: 'json', instanceIds: ['i-a'], bad: [{ line: 5, value: 'nope' }] });
    expect(() => parseInstanceFile('b.json', '{"ids": []}')).toThrow(/an array of instance ids/);
  });

  it('tells the format from the extension, else from the content', () => {
    expect(detectFormat('<stdin>', '  ["i-a"]')).toBe('json');
    expect(detectFormat('<stdin>', 'InstanceId\ni-a')).toBe('csv');
    expect(detectFormat('<stdin>', 'i-a\ni-b')).toBe('text');
    expect(detectFormat('hosts.txt', '["i-a"]')).toBe('text');
  });

  it('refuses a file with no id at all', () => {
    expect(() => parseInstanceFile('empty', '# nothing\n\n')).toThrow(/no instance ids/);
  });
});
