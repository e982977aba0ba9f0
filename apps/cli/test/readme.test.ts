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

/**
 * The commands of a page's shell blocks (```sh fences), one entry a line in page order, each without its trailing
 * comment: what a newcomer pastes.
 */
function shellCommands(markdown: string): string[] {
  return [...markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)]
    .flatMap((m) => m[1]!.split('\n'))
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);
}

/** The commands that start the product: `npm start`, with or without variables set before it. */
function startCommands(commands: string[]): string[] {
  return commands.filter((command) => /(^|[;&|]\s*)([A-Z_][A-Z0-9_]*=\S*\s+)*npm start\b/.test(command));
}

/**
 * What the commands use that a paste cannot supply: a `<placeholder>`, or a `$VARIABLE` that no earlier command (or
 * earlier part of the line, after `;`, `&&` or `||`) assigned (`ID=$(...)`, `export KEY=...`), in page order.
 */
function uncapturedValues(commands: string[]): string[] {
  const assigned = new Set<string>();
  const missing: string[] = [];
  for (const part of commands.flatMap((command) => command.split(/;|&&|\|\|/))) {
    for (const [placeholder] of part.matchAll(/<[A-Za-z][\w-]*>/g)) missing.push(placeholder);
    for (const [, name] of part.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)/g))
      if (!assigned.has(name!)) missing.push(`$${name}`);
    const assignment = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=/.exec(part);
    if (assignment) assigned.add(assignment[1]!);
  }
  return missing;
}

describe('README.md', () => {
  it(`stays under ${README_MAX_BYTES} bytes`, () => {
    expect(readFileSync(README).byteLength).toBeLessThan(README_MAX_BYTES);
  });

  it('starts the product once, with one npm start and no key to make first (FLEET_ADMIN_API_KEY)', () => {
    const commands = shellCommands(readFileSync(README, 'utf8'));
    expect(startCommands(commands)).toEqual(['npm ci && npm start']);
    expect(commands.filter((command) => command.includes('FLEET_ADMIN_API_KEY'))).toEqual([]);
  });

  it('captures every id its walkthrough uses: no <placeholder>, no $VARIABLE that no earlier command assigned', () => {
    const commands = shellCommands(readFileSync(README, 'utf8'));
    expect(commands.length).toBeGreaterThan(10);
    expect(uncapturedValues(commands)).toEqual([]);
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
  it('finds the starts and the values a paste cannot supply', () => {
    const page = [
      '```sh',
      'npm ci && npm start   # install and start',
      'export K=$(openssl rand -base64 32); npm start',
      'SIM_PROFILE=realistic npm start',
      'ID=$(fleet create --output json | j r.id)',
      'export KEY=$(cat key); H="Bearer $KEY"; fleet get "$ID" && fleet get <id> && fleet flags ack "${FLAG}"',
      'X=$(fleet get "$X")',
      '```',
      '```json',
      '{"a": "$NOT_SHELL"}',
      '```',
    ].join('\n');
    const commands = shellCommands(page);
    expect(commands[0]).toBe('npm ci && npm start');
    expect(startCommands(commands)).toEqual([
      'npm ci && npm start',
      'export K=$(openssl rand -base64 32); npm start',
      'SIM_PROFILE=realistic npm start',
    ]);
    expect(uncapturedValues(commands)).toEqual(['<id>', '$FLAG', '$X']);
  });

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
