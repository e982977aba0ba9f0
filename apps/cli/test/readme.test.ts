import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@fleet/testing';

const root = repoRoot();
const README = path.join(root, 'README.md');
/** The pages the README must lead to (issue 15): a newcomer finds the rest of the house from there. */
const REQUIRED_PAGES = [
  'docs/architecture.md',
  'docs/operations.md',
  'docs/api.md',
  'docs/simulator.md',
  'docs/performance.md',
];
/** README.md is for a user's first ten minutes; everything else lives in docs/. */
const README_MAX_BYTES = 12_000;

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = !inFence && /^#{1,6} (.+)$/.exec(line);
    if (heading) anchors.add(slug(heading[1]!));
  }
  return anchors;
}

/** Relative link targets of a page (outside code), `docs/api.md#auth` or `#auth`; URLs with a scheme left out. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

/** The relative links of `file` that lead nowhere: a missing file, or an anchor no heading of its page makes. */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  for (const target of relativeLinks(readFileSync(file, 'utf8'))) {
    const [filePart, anchor] = target.split('#');
    const resolved = filePart ? path.resolve(path.dirname(file), filePart) : file;
    if (!existsSync(resolved)) broken.push(target);
    else if (anchor && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor))
      broken.push(target);
  }
  return broken;
}

describe('README.md', () => {
  it(`stays under ${README_MAX_BYTES} bytes`, () => {
    expect(readFileSync(README).byteLength).toBeLessThan(README_MAX_BYTES);
  });

  it('links to every page of docs/ a newcomer needs next', () => {
    const links = new Set(relativeLinks(readFileSync(README, 'utf8')).map((t) => t.split('#')[0]));
    expect(REQUIRED_PAGES.filter((page) => !links.has(page))).toEqual([]);
  });

  it('has no relative link to a missing file or heading, nor has any page of docs/', () => {
    const pages = [README, ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md'))].map((f) =>
      path.isAbsolute(f) ? f : path.join(root, 'docs', f),
    );
    const broken = pages.flatMap((page) => brokenLinks(page).map((link) => `${path.relative(root, page)}: ${link}`));
    expect(broken).toEqual([]);
  });
});

describe('the link check itself', () => {
  it('reports a link to a missing page and to a missing heading', () => {
    expect(relativeLinks('see [a](docs/nope.md) and [b](#here) and [c](https://example.com) `[d](x.md)`')).toEqual([
      'docs/nope.md',
      '#here',
    ]);
    expect(anchorsOf('# Quick start\n## `GET /v1/x` (viewer)\n```\n# not a heading\n```')).toEqual(
      new Set(['quick-start', 'get-v1x-viewer']),
    );
  });
});
